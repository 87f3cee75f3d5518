// Package worker drives shards: it pulls shard work from the bus, takes the
// shard's lease, runs the shard's load with the engine from the first slice
// not yet written, writes each slice to the bucket once, and tells the
// aggregator. A worker takes only as many shards as it is configured to
// drive at once, pulling one message per free place.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/load"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// Config is the worker's own configuration, the field Worker of Env
// (CICADA_WORKER_*). New fills what is left zero.
type Config struct {
	ID         string        `envconfig:"ID" desc:"this worker's name in leases and slices; default host name and PID"`
	Capacity   int           `envconfig:"CAPACITY" default:"1" desc:"shards driven at once"`
	LeaseTTL   time.Duration `envconfig:"LEASE_TTL" default:"15s" desc:"how long a lease binds others without renewal"`
	RenewEvery time.Duration `envconfig:"RENEW_EVERY" default:"4s" desc:"lease renewal period (real GCS allows about one write per second per object)"`
	AckExtend  time.Duration `envconfig:"ACK_EXTEND" default:"60s" desc:"ack deadline kept on the shard message while it is driven"`
}

// Worker pulls and drives shards.
type Worker struct {
	cfg Config
	st  store.Store
	b   bus.Bus
	log *zap.Logger
	now func() time.Time

	mu       sync.Mutex
	active   map[string]*shardRun // by run/shard, for a graceful stop
	attempts atomic.Int64         // lease attempts, to name each holder
}

// New returns a worker. now may be nil for time.Now. Every log line of
// the worker names it (the field "worker").
func New(cfg Config, st store.Store, b bus.Bus, log *zap.Logger, now func() time.Time) *Worker {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.withDefaults()
	return &Worker{cfg: cfg, st: st, b: b, log: log.With(zap.String("worker", cfg.ID)), now: now, active: map[string]*shardRun{}}
}

// withDefaults fills the zero fields of c, and keeps the renewal period
// within the lease's life.
func (c Config) withDefaults() Config {
	if c.ID == "" {
		// Unique among the pods of a deployment and the processes of a
		// machine.
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.Capacity < 1 {
		c.Capacity = 1
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 15 * time.Second
	}
	if c.RenewEvery <= 0 || c.RenewEvery >= c.LeaseTTL {
		c.RenewEvery = c.LeaseTTL / 4
	}
	if c.AckExtend <= 0 {
		c.AckExtend = 60 * time.Second
	}
	return c
}

// Run pulls shard work until ctx ends, then stops gracefully: each shard
// finishes and writes its current slice, releases its lease, and its
// message is handed back so another worker resumes it at once.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("worker capacity", zap.Int("capacity", w.cfg.Capacity))
	sem := make(chan struct{}, w.cfg.Capacity)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			w.stopAll()
			return nil
		}
		msg, err := w.b.Pull(ctx, bus.ShardsSub, w.cfg.AckExtend)
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				w.stopAll()
				return nil
			}
			w.log.Warn("pull shard work", zap.Error(err))
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w.handle(ctx, msg)
		}()
	}
}

// stopAll asks every shard in progress to stop after its current slice.
func (w *Worker) stopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.active {
		r.stopAfterCurrent()
	}
}

// handle drives one shard message to its end.
func (w *Worker) handle(ctx context.Context, msg bus.Message) {
	// Message handling must outlive ctx: a graceful stop still writes the
	// current slice, releases the lease and hands the message back.
	bg := context.WithoutCancel(ctx)
	var work runs.ShardWork
	if err := json.Unmarshal(msg.Data(), &work); err != nil || work.RunID == "" || work.Shard < 0 {
		w.log.Error("drop malformed shard message", zap.String("message_id", msg.ID()), zap.ByteString("data", msg.Data()), zap.Error(err))
		_ = msg.Ack(bg) // it will not get better
		return
	}
	log := w.log.With(zap.String("run_id", work.RunID), zap.Int("shard", work.Shard))

	// Keep the message from redelivery while we work on it; the lease,
	// not the message, guards against a second driver.
	stopExtend := w.keepExtending(bg, msg, log)
	outcome := w.drive(ctx, work, log)
	stopExtend()
	switch outcome {
	case handedBack:
		if err := msg.Nack(bg); err != nil {
			log.Warn("hand shard message back", zap.Error(err))
		}
	default:
		if err := msg.Ack(bg); err != nil {
			log.Warn("ack shard message", zap.Error(err))
		}
	}
}

func (w *Worker) keepExtending(ctx context.Context, msg bus.Message, log *zap.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.cfg.AckExtend / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := msg.Extend(ctx, w.cfg.AckExtend); err != nil && ctx.Err() == nil {
					log.Warn("extend shard message", zap.Error(err))
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

type outcome int

const (
	finished   outcome = iota // done, or nothing to do: ack
	handedBack                // graceful stop: nack so another worker resumes
)

// drive runs one shard if this worker gets its lease.
func (w *Worker) drive(ctx context.Context, work runs.ShardWork, log *zap.Logger) outcome {
	bg := context.WithoutCancel(ctx)
	id, shard := work.RunID, work.Shard
	stored, err := runs.Read(bg, w.st, id)
	if err != nil {
		log.Error("read run", zap.Error(err))
		return finished // a run without plan cannot be driven; the aggregator reports it
	}
	p, run := stored.Plan, stored.Run
	if shard >= p.Shards {
		log.Error("shard out of range", zap.Int("shards", p.Shards))
		return finished
	}
	if w.exists(bg, runs.DonePath(id, shard)) || w.exists(bg, runs.FailedPath(id, shard)) || w.exists(bg, runs.CancelPath(id)) {
		return finished
	}
	now := w.now()
	if !now.Before(run.End) {
		log.Info("shard message after the run's end; nothing to drive")
		return finished
	}
	// The holder names this attempt, not just this worker: a worker that
	// gets a shard's message twice must not take its own lease twice.
	holder := fmt.Sprintf("%s#%d", w.cfg.ID, w.attempts.Add(1))
	l, err := lease.Acquire(bg, w.st, runs.LeasePath(id, shard), holder, w.cfg.LeaseTTL, now)
	if errors.Is(err, lease.ErrHeld) {
		log.Info("shard driven elsewhere", zap.Error(err))
		return finished // a duplicate delivery; the holder has it
	}
	if err != nil {
		log.Error("acquire lease", zap.Error(err))
		return handedBack
	}
	w.publish(bg, runs.Event{Type: runs.EventLeased, RunID: id, Shard: shard}, log)

	first, err := w.firstSlice(bg, p, run, shard, now)
	if err != nil {
		log.Error("list written slices", zap.Error(err))
		_ = l.Release(bg)
		return handedBack
	}
	log.Info("driving shard", zap.Int("first_slice", first), zap.Time("start_at", run.StartAt))

	r := &shardRun{w: w, id: id, shard: shard, lease: l, log: log}
	if first < p.NumSlices() {
		auth, ok := w.credentials(bg, id, shard, p, log)
		if !ok {
			_ = l.Release(bg)
			return finished // the shard's failed marker says why
		}
		defer auth.Close()
		e, err := load.New(load.Options{
			Plan: p, RunID: id, Shard: shard, Shards: p.Shards, Start: run.StartAt,
			FirstSlice: first, Writer: w.cfg.ID, Sink: r.write, Auth: auth,
		})
		if err != nil {
			log.Error("set up load", zap.Error(err))
			_ = l.Release(bg)
			return finished // the plan cannot run here: retrying will not help
		}
		r.e = e
		w.track(r, true)
		if ctx.Err() != nil {
			// The stop came before this shard was tracked: stopAll missed it.
			r.stopAfterCurrent()
		}
		lost := r.guard(bg)
		_ = e.Run(bg)
		lost()
		w.track(r, false)
	}
	switch {
	case r.lost.Load():
		log.Warn("lease lost: stopped sending")
		w.publish(bg, runs.Event{Type: runs.EventLost, RunID: id, Shard: shard}, log)
		return finished
	case r.graceful.Load():
		if err := l.Release(bg); err != nil {
			log.Warn("release lease", zap.Error(err))
		}
		log.Info("stopped gracefully; shard handed back")
		return handedBack
	}
	if _, err := w.st.Create(bg, runs.DonePath(id, shard), runs.Encode(map[string]any{"worker": w.cfg.ID, "time": w.now()}), "application/json"); err != nil && !errors.Is(err, store.ErrExists) {
		log.Error("write done marker", zap.Error(err))
	}
	w.publish(bg, runs.Event{Type: runs.EventDone, RunID: id, Shard: shard}, log)
	if err := l.Release(bg); err != nil {
		log.Warn("release lease", zap.Error(err))
	}
	return finished
}

// firstSlice is where a shard (re)starts: never a slice already under way,
// whose earlier requests are past, and not a slice already written. Slices
// missed in between stay gaps.
func (w *Worker) firstSlice(ctx context.Context, p *plan.Plan, run runs.Run, shard int, now time.Time) (int, error) {
	names, err := w.st.List(ctx, runs.ShardSlicePrefix(run.ID, shard))
	if err != nil {
		return 0, err
	}
	written := map[int]bool{}
	for _, n := range names {
		if _, k, err := runs.ParseSlicePath(run.ID, n); err == nil {
			written[k] = true
		}
	}
	first := 0
	if now.After(run.StartAt) {
		first = int(now.Sub(run.StartAt)/p.SliceDuration()) + 1
	}
	for written[first] {
		first++
	}
	return first, nil
}

func (w *Worker) exists(ctx context.Context, name string) bool {
	_, err := w.st.Get(ctx, name)
	return err == nil
}

func (w *Worker) publish(ctx context.Context, ev runs.Event, log *zap.Logger) {
	ev.Worker, ev.Time = w.cfg.ID, w.now()
	if _, err := w.b.Publish(ctx, bus.EventsTopic, runs.Encode(ev), map[string]string{"run_id": ev.RunID, "type": ev.Type}); err != nil {
		// Events only hurry the aggregator along; it sweeps the bucket anyway.
		log.Warn("publish event", zap.String("type", ev.Type), zap.Error(err))
	}
}

func (w *Worker) track(r *shardRun, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := fmt.Sprintf("%s/%d", r.id, r.shard)
	if on {
		w.active[key] = r
	} else {
		delete(w.active, key)
	}
}
