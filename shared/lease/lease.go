// Package lease is the only truth about who drives a shard: an object in the
// bucket (runs/<id>/leases/<shard>) that names its holder and an expiry. It
// is created only if absent and renewed only at the generation its holder
// last wrote, so at most one worker holds it at a time; a worker that cannot
// renew stops sending. Pub/Sub delivers at least once, so two workers may
// both get a shard's message: the lease decides.
//
// A holder that stops on purpose hands the lease over (HandOver): it names
// the time until which it keeps sending, and a successor may take the lease
// at once but sends nothing before that time. The two never send at the
// same time, and the shard's load goes on without a gap.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cicadaload/cicada/shared/store"
)

// ErrHeld is returned by Acquire when another holder's lease is live.
var ErrHeld = errors.New("lease held by another worker")

// ErrLost is returned by Renew when the lease was taken over or deleted:
// the holder must stop at once.
var ErrLost = errors.New("lease lost")

// Record is the lease object's content.
type Record struct {
	Holder   string    `json:"holder"`
	Expires  time.Time `json:"expires"`
	Acquired time.Time `json:"acquired"`
	// Released is set when the holder gave the lease up on purpose (a
	// graceful stop): anyone may take it at once.
	Released bool `json:"released,omitempty"`
	// HandOverAt is set when the holder hands the shard over (HandOver):
	// it sends until then and no longer renews. A successor may take the
	// lease at once and sends from HandOverAt on.
	HandOverAt time.Time `json:"hand_over_at,omitzero"`
	// From is set by a holder that took the lease before the hand-over
	// time of its predecessor: it sends nothing before From, when the
	// predecessor stops. A later taker inherits it.
	From time.Time `json:"from,omitzero"`
}

// Live reports whether the record still binds others at now: not
// released, not expired, and not past its hand-over time. A lease that is
// not live is one a worker may take at once, and one the aggregator's
// failure detector publishes again.
func (r Record) Live(now time.Time) bool {
	return !r.Released && now.Before(r.Expires) && (r.HandOverAt.IsZero() || now.Before(r.HandOverAt))
}

// handedOver reports whether a successor may take the lease although it
// may still be live: its holder announced when it stops.
func (r Record) handedOver() bool { return !r.HandOverAt.IsZero() }

// notBefore is when a successor of r may start sending: the later of the
// hand-over time and the time r's own holder was told to start from.
func (r Record) notBefore() time.Time {
	if r.From.After(r.HandOverAt) {
		return r.From
	}
	return r.HandOverAt
}

// Lease is a held lease.
type Lease struct {
	st     store.Store
	name   string
	holder string
	ttl    time.Duration
	gen    int64
	rec    Record
}

// Acquire takes the lease at name for holder until now+ttl. It succeeds if
// the object is absent, released, expired, handed over (even before its
// hand-over time), or already holder's own (a retried create whose first
// response was lost answers "exists" although the object is ours).
// Otherwise it returns ErrHeld, wrapped with who holds it until when.
//
// The new holder must send nothing before Lease.From: a predecessor that
// handed the lease over sends until then.
func Acquire(ctx context.Context, st store.Store, name, holder string, ttl time.Duration, now time.Time) (*Lease, error) {
	l := &Lease{st: st, name: name, holder: holder, ttl: ttl}
	rec := Record{Holder: holder, Expires: now.Add(ttl), Acquired: now}
	gen, err := st.Create(ctx, name, encode(rec), "application/json")
	if err == nil {
		l.gen, l.rec = gen, rec
		return l, nil
	}
	if !errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	cur, gen, err := read(ctx, st, name)
	if err != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	if cur.Holder == holder && !cur.Released && !cur.handedOver() {
		l.gen, l.rec = gen, cur // our own create, answered 412 on retry
		return l.renew(ctx, now)
	}
	if cur.Live(now) && !cur.handedOver() {
		return nil, fmt.Errorf("acquire lease %s: %w: %s until %s", name, ErrHeld, cur.Holder, cur.Expires.Format(time.RFC3339))
	}
	// Expired, released or handed over: take it over at the generation we
	// read, so that of two takers exactly one wins. A hand-over time still
	// ahead binds the new holder, and whoever takes the lease after it.
	if nb := cur.notBefore(); nb.After(now) {
		rec.From = nb
	}
	gen, err = st.Replace(ctx, name, gen, encode(rec), "application/json")
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("acquire lease %s: %w: taken over meanwhile", name, ErrHeld)
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	l.gen, l.rec = gen, rec
	return l, nil
}

// Renew extends the lease to now+ttl. ErrLost means someone else has it
// (or it was deleted): stop. Any other error is transient as far as the
// lease knows; the holder decides how long to keep sending without a
// successful renewal (never past Expires).
func (l *Lease) Renew(ctx context.Context, now time.Time) error {
	_, err := l.renew(ctx, now)
	return err
}

func (l *Lease) renew(ctx context.Context, now time.Time) (*Lease, error) {
	rec := l.rec
	rec.Expires = now.Add(l.ttl)
	gen, err := l.st.Replace(ctx, l.name, l.gen, encode(rec), "application/json")
	if err == nil {
		l.gen, l.rec = gen, rec
		return l, nil
	}
	if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("renew lease %s: %w", l.name, err)
	}
	if l.resync(ctx) {
		return l, nil
	}
	return nil, fmt.Errorf("renew lease %s: %w", l.name, ErrLost)
}

// resync is called when a write at l.gen found another generation: maybe our
// own earlier write went through and its answer was lost. If the object is
// still this holding (same holder, same acquisition), it takes the current
// generation and record and reports true.
func (l *Lease) resync(ctx context.Context) bool {
	cur, gen, err := read(ctx, l.st, l.name)
	if err != nil || cur.Holder != l.holder || cur.Released || !cur.Acquired.Equal(l.rec.Acquired) {
		return false
	}
	l.gen, l.rec = gen, cur
	return true
}

// HandOver announces that the holder stops sending at at, and stops
// renewing: the lease is live until at (its expiry becomes at), and a
// successor may take it at once, to send from at on (Acquire). ErrLost
// means someone else has the lease already: stop at once. After HandOver
// the holder must not call Renew; a successor's takeover is expected and
// not a loss.
func (l *Lease) HandOver(ctx context.Context, at, now time.Time) error {
	write := func() error {
		rec := l.rec
		rec.HandOverAt, rec.Expires = at, at
		gen, err := l.st.Replace(ctx, l.name, l.gen, encode(rec), "application/json")
		if err == nil {
			l.gen, l.rec = gen, rec
		}
		return err
	}
	err := write()
	if errors.Is(err, store.ErrConflict) && l.resync(ctx) {
		err = write() // still ours at a generation a lost answer hid
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("hand over lease %s: %w", l.name, ErrLost)
	default:
		return fmt.Errorf("hand over lease %s: %w", l.name, err)
	}
}

// Release gives the lease up so that another worker may take it at once.
// Releasing a lease already lost is not an error.
func (l *Lease) Release(ctx context.Context) error {
	release := func() error {
		rec := l.rec
		rec.Released = true
		_, err := l.st.Replace(ctx, l.name, l.gen, encode(rec), "application/json")
		return err
	}
	err := release()
	if errors.Is(err, store.ErrConflict) && l.resync(ctx) {
		// Still ours at a generation a lost answer hid: without this the
		// lease would bind others until it expires.
		err = release()
	}
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("release lease %s: %w", l.name, err)
	}
	return nil
}

// Expires is when the lease lapses unless renewed.
func (l *Lease) Expires() time.Time { return l.rec.Expires }

// From is the time before which the holder must send nothing, because a
// predecessor that handed the lease over sends until then; zero when no
// hand-over is under way.
func (l *Lease) From() time.Time { return l.rec.From }

// Holder is the holder's name, as Acquire was given it.
func (l *Lease) Holder() string { return l.holder }

// Read returns the lease record at name, for observers (the aggregator's
// failure detector, the trigger's status).
func Read(ctx context.Context, st store.Store, name string) (Record, error) {
	r, _, err := read(ctx, st, name)
	return r, err
}

func read(ctx context.Context, st store.Store, name string) (Record, int64, error) {
	obj, err := st.Get(ctx, name)
	if err != nil {
		return Record{}, 0, err
	}
	var r Record
	if err := json.Unmarshal(obj.Data, &r); err != nil {
		// A corrupt lease binds nobody: it is taken over like an expired
		// one, at its generation.
		return Record{}, obj.Generation, nil
	}
	return r, obj.Generation, nil
}

func encode(r Record) []byte {
	b, _ := json.Marshal(r) // a Record always marshals
	return b
}
