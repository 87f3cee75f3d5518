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

// TestLostAnswer: a write whose answer was lost went through all the same
// (the store's retry of it answers a conflict), so the holder's generation
// is stale. The holder must still find the lease its own.
func TestLostAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		// written is the record the lost write left at t0+8s.
		written Record
		act     func(l *Lease) error
		want    func(rec Record) bool
	}{
		{"renew retried after its own write went through",
			Record{Holder: "a", Expires: t0.Add(18 * time.Second), Acquired: t0},
			func(l *Lease) error { return l.Renew(ctx, t0.Add(8*time.Second)) },
			func(rec Record) bool {
				return rec.Holder == "a" && !rec.Released && rec.Expires.Equal(t0.Add(18*time.Second))
			}},
		{"release after an earlier renewal went through",
			Record{Holder: "a", Expires: t0.Add(14 * time.Second), Acquired: t0},
			func(l *Lease) error { return l.Release(ctx) },
			func(rec Record) bool { return rec.Holder == "a" && rec.Released }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			l, err := Acquire(ctx, st, "l", "a", 10*time.Second, t0)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := st.Get(ctx, "l")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Replace(ctx, "l", obj.Generation, encode(tt.written), "application/json"); err != nil {
				t.Fatal(err)
			}
			if err := tt.act(l); err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if rec, err := Read(ctx, st, "l"); err != nil || !tt.want(rec) {
				t.Errorf("the record is %+v (%v) afterwards", rec, err)
			}
			if got, want := l.Expires(), tt.written.Expires; !got.Equal(want) {
				t.Errorf("Expires = %v, want %v (what the store holds)", got, want)
			}
		})
	}
}
