package lease

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/store"
)

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, _, cleanup, err := store.NewInProcess("leases")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return st
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestAcquire(t *testing.T) {
	t.Parallel()
	const ttl = 10 * time.Second
	tests := []struct {
		name    string
		setup   func(t *testing.T, st store.Store) // the state before "b" acquires at t0
		wantErr error
	}{
		{"absent", func(*testing.T, store.Store) {}, nil},
		{"held by another, live", func(t *testing.T, st store.Store) {
			if _, err := Acquire(context.Background(), st, "l", "a", ttl, t0.Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
		}, ErrHeld},
		{"held by another, expired", func(t *testing.T, st store.Store) {
			if _, err := Acquire(context.Background(), st, "l", "a", ttl, t0.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"released by another", func(t *testing.T, st store.Store) {
			l, err := Acquire(context.Background(), st, "l", "a", ttl, t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Release(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"our own create answered exists on retry", func(t *testing.T, st store.Store) {
			if _, err := st.Create(context.Background(), "l", encode(Record{Holder: "b", Expires: t0.Add(ttl), Acquired: t0}), "application/json"); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"corrupt lease object", func(t *testing.T, st store.Store) {
			if _, err := st.Create(context.Background(), "l", []byte("{not json"), "application/json"); err != nil {
				t.Fatal(err)
			}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			tt.setup(t, st)
			l, err := Acquire(context.Background(), st, "l", "b", ttl, t0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Acquire = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			rec, err := Read(context.Background(), st, "l")
			if err != nil || rec.Holder != "b" || !rec.Live(t0) {
				t.Errorf("after Acquire the record is %+v (%v), want held by b and live", rec, err)
			}
			if !l.Expires().Equal(t0.Add(ttl)) {
				t.Errorf("Expires = %v, want %v", l.Expires(), t0.Add(ttl))
			}
		})
	}
}

// TestOneWinner races many workers for one stale lease: exactly one wins.
func TestOneWinner(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	if _, err := Acquire(context.Background(), st, "l", "dead", time.Second, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	winners := 0
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Acquire(context.Background(), st, "l", string(rune('a'+i)), time.Minute, t0)
			if err == nil {
				mu.Lock()
				winners++
				mu.Unlock()
			} else if !errors.Is(err, ErrHeld) {
				t.Errorf("Acquire: %v", err)
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Errorf("%d workers took the lease, want exactly 1", winners)
	}
}

func TestRenewAndLose(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	a, err := Acquire(ctx, st, "l", "a", 10*time.Second, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Renew(ctx, t0.Add(5*time.Second)); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if want := t0.Add(15 * time.Second); !a.Expires().Equal(want) {
		t.Errorf("after Renew Expires = %v, want %v", a.Expires(), want)
	}
	// a stalls past its expiry; b takes over; a's renewal must fail.
	if _, err := Acquire(ctx, st, "l", "b", 10*time.Second, t0.Add(20*time.Second)); err != nil {
		t.Fatalf("b: %v", err)
	}
	if err := a.Renew(ctx, t0.Add(21*time.Second)); !errors.Is(err, ErrLost) {
		t.Errorf("a.Renew after takeover = %v, want ErrLost", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("releasing a lost lease = %v, want nil", err)
	}
	if rec, _ := Read(ctx, st, "l"); rec.Holder != "b" || rec.Released {
		t.Errorf("a's release touched b's lease: %+v", rec)
	}
}
