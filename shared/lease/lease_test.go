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

func TestLive(t *testing.T) {
	t.Parallel()
	held := Record{Holder: "a", Acquired: t0, Expires: t0.Add(10 * time.Second)}
	handed := held
	handed.HandOverAt, handed.Expires = t0.Add(4*time.Second), t0.Add(4*time.Second)
	// A record written by an older holder that kept a later expiry: the
	// hand-over time still ends it.
	handedLate := held
	handedLate.HandOverAt = t0.Add(4 * time.Second)
	released := held
	released.Released = true
	tests := []struct {
		name string
		rec  Record
		at   time.Duration // after t0
		want bool
	}{
		{"held, before expiry", held, 9 * time.Second, true},
		{"held, at expiry", held, 10 * time.Second, false},
		{"released", released, time.Second, false},
		{"handed over, before the hand-over time", handed, 3 * time.Second, true},
		{"handed over, at the hand-over time", handed, 4 * time.Second, false},
		{"handed over, expiry later than the hand-over time", handedLate, 5 * time.Second, false},
		{"zero record", Record{}, 0, false},
	}
	for _, tt := range tests {
		if got := tt.rec.Live(t0.Add(tt.at)); got != tt.want {
			t.Errorf("%s: Live(t0+%v) = %v, want %v", tt.name, tt.at, got, tt.want)
		}
	}
}

// TestHandOver: a holder hands its lease over at t0+10s (announced at
// t0+2s); successors take it before or after that time, and the old holder
// and later takers see what they must.
func TestHandOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ttl = 6 * time.Second
	handAt := t0.Add(10 * time.Second)
	tests := []struct {
		name string
		// act runs after a handed over; it returns the lease of the last
		// successful taker, or nil.
		act      func(t *testing.T, st store.Store, a *Lease) *Lease
		wantErr  error // of the last step of act
		holder   string
		wantFrom time.Time
		liveAt   map[time.Duration]bool // the record's Live at t0+d
	}{
		{name: "nobody takes it: live until the hand-over time",
			act:    func(*testing.T, store.Store, *Lease) *Lease { return nil },
			holder: "a", liveAt: map[time.Duration]bool{9 * time.Second: true, 10 * time.Second: false}},
		{name: "successor before the hand-over time starts from it",
			act: func(t *testing.T, st store.Store, _ *Lease) *Lease {
				return mustAcquire(t, st, "b", ttl, t0.Add(3*time.Second))
			},
			holder: "b", wantFrom: handAt,
			liveAt: map[time.Duration]bool{5 * time.Second: true, 9 * time.Second: false}},
		{name: "successor after the hand-over time starts when it likes",
			act: func(t *testing.T, st store.Store, _ *Lease) *Lease {
				return mustAcquire(t, st, "b", ttl, t0.Add(11*time.Second))
			},
			holder: "b", liveAt: map[time.Duration]bool{16 * time.Second: true, 17 * time.Second: false}},
		{name: "a second taker finds the successor's live lease",
			act: func(t *testing.T, st store.Store, _ *Lease) *Lease {
				mustAcquire(t, st, "b", ttl, t0.Add(3*time.Second))
				_, err := Acquire(ctx, st, "l", "c", ttl, t0.Add(4*time.Second))
				if !errors.Is(err, ErrHeld) {
					t.Errorf("c's Acquire = %v, want ErrHeld", err)
				}
				return nil
			},
			holder: "b", wantFrom: handAt},
		{name: "the successor died before the hand-over time: the next taker inherits it",
			act: func(t *testing.T, st store.Store, _ *Lease) *Lease {
				mustAcquire(t, st, "b", 2*time.Second, t0.Add(3*time.Second))
				return mustAcquire(t, st, "c", ttl, t0.Add(6*time.Second))
			},
			holder: "c", wantFrom: handAt},
		{name: "the successor hands over in turn",
			act: func(t *testing.T, st store.Store, _ *Lease) *Lease {
				b := mustAcquire(t, st, "b", ttl, t0.Add(3*time.Second))
				if err := b.HandOver(ctx, t0.Add(20*time.Second), t0.Add(4*time.Second)); err != nil {
					t.Fatalf("b.HandOver: %v", err)
				}
				return mustAcquire(t, st, "c", ttl, t0.Add(5*time.Second))
			},
			holder: "c", wantFrom: t0.Add(20 * time.Second)},
		{name: "the old holder's renewal after the takeover is a loss",
			act: func(t *testing.T, st store.Store, a *Lease) *Lease {
				b := mustAcquire(t, st, "b", ttl, t0.Add(3*time.Second))
				if err := a.Renew(ctx, t0.Add(4*time.Second)); !errors.Is(err, ErrLost) {
					t.Errorf("a.Renew after the takeover = %v, want ErrLost", err)
				}
				return b
			},
			holder: "b", wantFrom: handAt},
		{name: "the old holder's release after the takeover leaves it alone",
			act: func(t *testing.T, st store.Store, a *Lease) *Lease {
				b := mustAcquire(t, st, "b", ttl, t0.Add(3*time.Second))
				if err := a.Release(ctx); err != nil {
					t.Errorf("a.Release after the takeover = %v, want nil", err)
				}
				return b
			},
			holder: "b", wantFrom: handAt, liveAt: map[time.Duration]bool{8 * time.Second: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			a := mustAcquire(t, st, "a", ttl, t0)
			if err := a.HandOver(ctx, handAt, t0.Add(2*time.Second)); err != nil {
				t.Fatalf("HandOver: %v", err)
			}
			if !a.Expires().Equal(handAt) {
				t.Errorf("after HandOver Expires = %v, want the hand-over time %v", a.Expires(), handAt)
			}
			last := tt.act(t, st, a)
			rec, err := Read(ctx, st, "l")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Holder != tt.holder {
				t.Errorf("holder %q, want %q (%+v)", rec.Holder, tt.holder, rec)
			}
			if !rec.From.Equal(tt.wantFrom) {
				t.Errorf("record's From = %v, want %v", rec.From, tt.wantFrom)
			}
			if last != nil && !last.From().Equal(tt.wantFrom) {
				t.Errorf("Lease.From = %v, want %v", last.From(), tt.wantFrom)
			}
			for d, want := range tt.liveAt {
				if got := rec.Live(t0.Add(d)); got != want {
					t.Errorf("Live(t0+%v) = %v, want %v (%+v)", d, got, want, rec)
				}
			}
		})
	}
}

func TestHandOverLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	a := mustAcquire(t, st, "a", time.Second, t0)
	mustAcquire(t, st, "b", time.Minute, t0.Add(2*time.Second)) // a expired
	if err := a.HandOver(ctx, t0.Add(5*time.Second), t0.Add(3*time.Second)); !errors.Is(err, ErrLost) {
		t.Errorf("HandOver of a lost lease = %v, want ErrLost", err)
	}
	if rec, _ := Read(ctx, st, "l"); rec.Holder != "b" || !rec.HandOverAt.IsZero() {
		t.Errorf("a's hand-over touched b's lease: %+v", rec)
	}
}

// TestHandOverLostAnswer: a renewal went through but its answer was lost;
// the hand-over still finds the lease its own.
func TestHandOverLostAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	a := mustAcquire(t, st, "a", 10*time.Second, t0)
	obj, err := st.Get(ctx, "l")
	if err != nil {
		t.Fatal(err)
	}
	renewed := Record{Holder: "a", Expires: t0.Add(14 * time.Second), Acquired: t0}
	if _, err := st.Replace(ctx, "l", obj.Generation, encode(renewed), "application/json"); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(8 * time.Second)
	if err := a.HandOver(ctx, at, t0.Add(5*time.Second)); err != nil {
		t.Fatalf("HandOver = %v, want nil", err)
	}
	if rec, _ := Read(ctx, st, "l"); rec.Holder != "a" || !rec.HandOverAt.Equal(at) || !rec.Expires.Equal(at) {
		t.Errorf("record %+v, want a's, handed over and expiring at %v", rec, at)
	}
}

func mustAcquire(t *testing.T, st store.Store, holder string, ttl time.Duration, now time.Time) *Lease {
	t.Helper()
	l, err := Acquire(context.Background(), st, "l", holder, ttl, now)
	if err != nil {
		t.Fatalf("%s's Acquire at %v: %v", holder, now, err)
	}
	return l
}
