package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/load"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

// shardRun is one shard being driven by this worker.
type shardRun struct {
	w     *Worker
	id    string
	shard int
	lease *lease.Lease
	log   *zap.Logger
	p     *plan.Plan
	run   runs.Run
	first int       // the first slice this worker sends
	begin time.Time // when it sends its first request: first's start, or From

	leaseMu sync.Mutex  // orders the lease's writes: renewals and the hand-over
	lost    atomic.Bool // the lease went elsewhere: stopped at once

	// The lease is renewed while the engine is prepared: a stop asked for
	// before the engine exists waits for it (setEngine).
	engMu      sync.Mutex
	e          *load.Engine
	pending    int  // the lowest slice a stop asked for before e
	hasPending bool // whether one did

	handOnce sync.Once
	handAt   time.Time   // when the successor starts; set before handing
	handing  atomic.Bool // stopping to hand the shard over
	// announced: the lease says when this worker stops (HandOverAt), so
	// renewals have stopped and a successor may take the lease at any time.
	announced atomic.Bool
}

// write stores a closed slice, once: a slice object is never overwritten,
// so a resumed or duplicated shard cannot count a slice twice.
func (r *shardRun) write(res *slice.Result) {
	// Slices closed before a lost lease are still written: they were
	// measured by this worker alone, and a resuming worker starts after
	// them (write-once settles any race).
	ctx := context.Background()
	b, err := slice.Marshal(res)
	if err != nil {
		r.log.Error("encode slice", zap.Int("slice", res.Index), zap.Error(err))
		return
	}
	name := runs.SlicePath(r.id, r.shard, res.Index)
	if _, err := r.w.st.Create(ctx, name, b, "application/x-protobuf"); err != nil {
		if errors.Is(err, store.ErrExists) {
			r.log.Warn("slice already written", zap.Int("slice", res.Index))
		} else {
			r.log.Error("write slice: it will show as a gap", zap.Int("slice", res.Index), zap.Error(err))
		}
		return
	}
	r.w.publish(runs.Event{Type: runs.EventSlice, RunID: r.id, Shard: r.shard, Slice: res.Index}, r.log)
}

// guard renews the lease and watches for a cancel until the returned stop
// is called. A lost lease stops the shard at once; a cancel stops it at
// the next slice boundary. Once the hand-over is announced it renews no
// more: the successor's takeover is expected, not a loss.
func (r *shardRun) guard(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.w.cfg.RenewEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := r.w.now()
			err := r.renew(ctx, now)
			switch {
			case errors.Is(err, lease.ErrLost):
				r.stopNow(now)
				return
			case err != nil && !now.Add(r.w.cfg.RenewEvery).Before(r.lease.Expires()):
				// Renewals keep failing and the lease is about to lapse:
				// someone else may take it, so stop before they start.
				r.log.Error("cannot renew lease", zap.Error(err))
				r.stopNow(now)
				return
			case err != nil:
				r.log.Warn("renew lease", zap.Error(err))
			}
			if r.cancelled(ctx) {
				r.log.Info("run cancelled: stopping at the next slice boundary")
				r.stopAt(max(r.sliceAt(now)+1, 0))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// renew renews the lease within the renewal period: the store retries
// within its context's deadline, and a renewal left hanging would keep this
// shard sending past the lease's expiry, when another worker may already
// drive it. After the hand-over is announced it does nothing.
func (r *shardRun) renew(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, r.w.cfg.RenewEvery)
	defer cancel()
	r.leaseMu.Lock()
	defer r.leaseMu.Unlock()
	if r.announced.Load() {
		return nil
	}
	return r.lease.Renew(ctx, now)
}

// cancelled reports whether the run's cancel marker is there, asking no
// longer than a renewal period so that the next renewal is not delayed.
func (r *shardRun) cancelled(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, r.w.cfg.RenewEvery)
	defer cancel()
	return r.w.exists(ctx, runs.CancelPath(r.id))
}

// stopNow stops sending at once: the current slice is not written.
func (r *shardRun) stopNow(now time.Time) {
	r.lost.Store(true)
	r.stopAt(max(r.sliceAt(now), 0))
}

// sliceAt is the slice the wall-clock time t falls in, negative before the
// run's start, as the engine's SliceAt says.
func (r *shardRun) sliceAt(t time.Time) int {
	d := t.Sub(r.run.StartAt)
	if d < 0 {
		return -1
	}
	return int(d / r.p.SliceDuration())
}

// stopAt stops the engine at the start of slice k (the lowest k wins);
// before the engine exists, when it is set.
func (r *shardRun) stopAt(k int) {
	r.engMu.Lock()
	defer r.engMu.Unlock()
	switch {
	case r.e != nil:
		r.e.StopAt(k)
	case !r.hasPending || k < r.pending:
		r.pending, r.hasPending = k, true
	}
}

// setEngine gives r its engine, with any stop asked for meanwhile.
func (r *shardRun) setEngine(e *load.Engine) {
	r.engMu.Lock()
	defer r.engMu.Unlock()
	r.e = e
	if r.hasPending {
		e.StopAt(r.pending)
	}
}

// handOver stops the shard to hand it over, asked at now (a SIGTERM): it
// picks the slice boundary to stop at (handOverPoint), writes it into the
// lease (lease.HandOver) and publishes the shard for a successor at once,
// then keeps sending until that boundary and writes its last slices. The
// successor takes the lease meanwhile and starts at the boundary. Only
// the first call counts.
func (r *shardRun) handOver(now time.Time) {
	r.handOnce.Do(func() {
		cfg := r.w.cfg
		stop, at := handOverPoint(r.run.StartAt, r.p.SliceDuration(), r.p.Duration(), r.p.NumSlices(), r.first, r.begin, now, cfg.HandOverLead, cfg.StopGrace)
		if at.IsZero() {
			r.log.Info("stopping: the shard's schedule ends before a successor could start; finishing it")
			return
		}
		r.handAt = at
		r.handing.Store(true)
		r.stopAt(stop)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.HandOverLead)
		defer cancel()
		r.leaseMu.Lock()
		err := r.lease.HandOver(ctx, at, now)
		if err == nil {
			r.announced.Store(true)
		}
		r.leaseMu.Unlock()
		switch {
		case errors.Is(err, lease.ErrLost):
			r.log.Warn("hand over: the lease is lost already", zap.Error(err))
			r.stopNow(r.w.now())
			return
		case err != nil:
			// The lease stays ours, renewed until the stop, then
			// released: the successor starts a little later.
			r.log.Warn("hand over: cannot write the lease; it is released after the stop instead", zap.Error(err))
			return
		}
		r.log.Info("handing shard over", zap.Int("stop_slice", stop), zap.Time("hand_over_at", at), zap.Duration("ahead", at.Sub(now)))
		if err := r.w.publishWork(ctx, runs.ShardWork{RunID: r.id, Shard: r.shard, Reason: ReasonHandOver}); err != nil {
			// At the hand-over time the lease is no longer live, and the
			// aggregator publishes the shard again.
			r.log.Warn("publish shard for its successor", zap.Error(err))
		}
	})
}

// finishHandOver is called once the shard stopped for its hand-over. If the
// lease could not tell the successor when to start, it is released now
// and the shard published: the successor resumes at once.
func (r *shardRun) finishHandOver(ctx context.Context) {
	if r.announced.Load() {
		r.log.Info("stopped: shard handed over", zap.Time("hand_over_at", r.handAt))
		return
	}
	r.leaseMu.Lock()
	err := r.lease.Release(ctx)
	r.leaseMu.Unlock()
	if err != nil {
		r.log.Warn("release lease", zap.Error(err))
	}
	if err := r.w.publishWork(ctx, runs.ShardWork{RunID: r.id, Shard: r.shard, Reason: ReasonHandOver}); err != nil {
		r.log.Warn("publish shard for its successor", zap.Error(err))
	}
	r.log.Info("stopped: lease released, shard published for a successor")
}

// handOverPoint decides where a shard asked at now to stop hands over: the
// slice at whose start it stops sending (stop) and when its successor
// starts (at). The shard's schedule starts at start and lasts dur in
// nSlices slices of d; this worker sends from begin, in slice first.
//
//   - Not sending yet, nor within lead: the successor starts where this
//     worker would have, at begin.
//   - Otherwise at the first slice boundary at least lead ahead: the
//     successor's time to get the message, take the lease and open its
//     connections. Until then this worker sends and writes its slices:
//     no slice is lost.
//   - When the schedule ends before that boundary, the worker finishes it
//     (at zero: no hand-over).
//   - When that boundary comes too late to finish sending before the kill
//     (grace after now, less a margin for the last write), the worker stops
//     at once and the successor starts lead ahead inside the slice under
//     way: that slice's earlier part is lost, its rest is written by the
//     successor.
func handOverPoint(start time.Time, d, dur time.Duration, nSlices, first int, begin, now time.Time, lead, grace time.Duration) (stop int, at time.Time) {
	target := now.Add(lead)
	if !target.After(begin) {
		return first, begin
	}
	end := start.Add(dur)
	deadline := now.Add(grace - stopMargin)
	k := int((target.Sub(start) + d - 1) / d) // the first boundary at or after target
	if k >= nSlices {
		// The schedule ends first: finish it, unless the kill comes
		// before its end and a successor could still send some of it.
		if !end.After(deadline) || !target.Before(end) {
			return nSlices, time.Time{}
		}
	} else if b := start.Add(time.Duration(k) * d); !b.After(deadline) {
		return k, b
	}
	return max(int(now.Sub(start)/d), first), target
}
