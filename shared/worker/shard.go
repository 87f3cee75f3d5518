package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/load"
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
	e     *load.Engine

	lost     atomic.Bool // the lease went elsewhere: stopped at once
	graceful atomic.Bool // asked to stop after the current slice
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
	r.w.publish(ctx, runs.Event{Type: runs.EventSlice, RunID: r.id, Shard: r.shard, Slice: res.Index}, r.log)
}

// guard renews the lease and watches for a cancel until the returned stop
// is called. A lost lease stops the shard at once; a cancel stops it at
// the next slice boundary.
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
				r.e.StopAt(max(r.e.SliceAt(now)+1, 0))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// renew renews the lease within the renewal period: the store retries
// within its context's deadline, and a renewal left hanging would keep this
// shard sending past the lease's expiry, when another worker may already
// drive it.
func (r *shardRun) renew(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, r.w.cfg.RenewEvery)
	defer cancel()
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
	r.e.StopAt(max(r.e.SliceAt(now), 0))
}

// stopAfterCurrent finishes and writes the current slice, then stops.
func (r *shardRun) stopAfterCurrent() {
	r.graceful.Store(true)
	r.e.StopAt(max(r.e.SliceAt(r.w.now())+1, 0))
}
