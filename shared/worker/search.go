package worker

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// rater is what following a search needs of a shard's engine
// (load.Engine): the rate of slices not yet started, and the stop.
type rater interface {
	// SetRate sets the whole plan's rate from slice from on and returns
	// the first slice it applies to: from, or a later one when from has
	// started already.
	SetRate(from int, rate float64) int
	StopAt(k int)
}

// searchFollower makes one shard of a search run (load.search) follow the
// run's control object (runs.Control), which the aggregator writes: each
// probe's rate from the slice it names, and EndSlice, where the search is
// over. It reads the object before the engine runs, so that a resumed
// shard numbers its requests as the shards that ran the earlier probes
// did, then at every slice boundary: the aggregator names a probe's slice
// at least two slices ahead, so every shard learns it a whole slice before
// it starts and switches at the same boundary. Without a control object the
// shard sends at load.search.from; when it cannot be read, at the last
// rates it knows, and it tries again at the next boundary.
type searchFollower struct {
	r       *shardRun
	e       rater
	to      float64             // the plan's load.search.to: no probe goes above it
	applied []runs.ControlProbe // the probes given to e so far
	end     *int                // the EndSlice given to e
	read    func(context.Context) (runs.Control, error)
}

// newSearchFollower returns the follower of r's search, driving e.
func newSearchFollower(r *shardRun, e rater) *searchFollower {
	f := &searchFollower{r: r, e: e, to: r.p.Load.Search.To}
	f.read = func(ctx context.Context) (runs.Control, error) {
		c, _, err := runs.ReadControl(ctx, r.w.st, r.id)
		return c, err
	}
	return f
}

// controlTimeout bounds one read of the control object: a read left
// hanging would delay the next boundary's.
const controlTimeout = 2 * time.Second

// poll reads the control object once and applies what is new. A missing
// object changes nothing; an unreadable one is logged and changes nothing.
func (f *searchFollower) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, min(controlTimeout, f.r.p.SliceDuration()))
	defer cancel()
	c, err := f.read(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		f.r.log.Warn("read the search's control object: keeping the last rates, trying again at the next slice", zap.Error(err))
		return
	}
	f.apply(c)
}

// apply gives e the probes of c it does not have yet, in order (each sets
// the rate from its slice on, the next one overrides it from its own), at
// most load.search.to, and EndSlice.
func (f *searchFollower) apply(c runs.Control) {
	i := 0
	for i < len(f.applied) && i < len(c.Probes) && f.applied[i] == c.Probes[i] {
		i++
	}
	for _, p := range c.Probes[i:] {
		rate := p.Rate
		if f.to > 0 && rate > f.to {
			f.r.log.Warn("probe above load.search.to: sending at to", zap.Int("probe", p.N), zap.Float64("rate", rate), zap.Float64("to", f.to))
			rate = f.to
		}
		at := f.e.SetRate(p.From, rate)
		if at != p.From {
			f.r.log.Warn("probe learned after its slice started: this shard switches later",
				zap.Int("probe", p.N), zap.Int("from_slice", p.From), zap.Int("applied_from", at))
		} else {
			f.r.log.Info("search probe", zap.Int("probe", p.N), zap.Float64("rate", rate), zap.Int("from_slice", p.From))
		}
	}
	f.applied = slices.Clone(c.Probes)
	if c.EndSlice != nil && (f.end == nil || *c.EndSlice < *f.end) {
		end := *c.EndSlice
		f.end = &end
		f.r.log.Info("search over: stopping at its end slice", zap.Int("end_slice", end))
		f.e.StopAt(end)
	}
}

// followSearch makes r's engine e follow the run's control object when
// r's plan is a search: one read now, before e runs, then one at every
// slice boundary until the returned stop is called. For other plans it
// does nothing.
func (r *shardRun) followSearch(ctx context.Context, e rater) (stop func()) {
	if r.p.Load.Search == nil {
		return func() {}
	}
	f := newSearchFollower(r, e)
	f.poll(ctx)
	return f.follow(ctx)
}

// follow polls at every slice boundary of the run, from the one after now,
// until the returned stop is called.
func (f *searchFollower) follow(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start, d := f.r.run.StartAt, f.r.p.SliceDuration()
		t := time.NewTimer(0)
		defer t.Stop()
		<-t.C
		for {
			next := max(f.r.sliceAt(f.r.w.now())+1, 0)
			t.Reset(start.Add(time.Duration(next) * d).Sub(f.r.w.now()))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			f.poll(ctx)
		}
	}()
	return func() { cancel(); <-done }
}
