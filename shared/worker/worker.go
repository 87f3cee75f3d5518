// Package worker drives shards: it pulls shard work from the bus, takes the
// shard's lease, runs the shard's load with the engine from the first slice
// not yet written, writes each slice to the bucket once, and tells the
// aggregator.
//
// A worker takes fresh work ("start") up to its capacity. Beyond it, up to a
// hard maximum and while its CPU allows, it still takes shards whose worker
// died ("resume") or stops ("handover"), so that a fleet at capacity never
// leaves a shard orphaned (Config.takes). On SIGTERM it hands each shard
// over at a slice boundary a little ahead (shardRun.handOver), and the
// successor sends from that boundary on: no slice is lost.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/load"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// Reasons of a runs.ShardWork message (defined in shared/runs).
const (
	ReasonStart    = runs.ReasonStart
	ReasonResume   = runs.ReasonResume
	ReasonHandOver = runs.ReasonHandOver
)

// Config is the worker's own configuration, the field Worker of Env
// (CICADA_WORKER_*). New fills what is left zero.
type Config struct {
	ID       string `envconfig:"ID" desc:"this worker's name in leases and slices; default host name and PID"`
	Capacity int    `envconfig:"CAPACITY" default:"1" desc:"shards of fresh work (reason start) driven at once"`
	// MaxShards and CPUBound let a worker at capacity take a shard whose
	// worker died or stops: see Config.takes.
	MaxShards  int           `envconfig:"MAX_SHARDS" default:"0" desc:"most shards driven at once, counting shards resumed or handed over beyond the capacity; 0 = four times the capacity"`
	CPUBound   float64       `envconfig:"CPU_BOUND" default:"0.6" desc:"beyond the capacity, a resumed or handed-over shard is taken only while the process's CPU use plus one shard's average share stays under this fraction of its CPUs"`
	LeaseTTL   time.Duration `envconfig:"LEASE_TTL" default:"6s" desc:"how long a lease binds others without renewal"`
	RenewEvery time.Duration `envconfig:"RENEW_EVERY" default:"2s" desc:"lease renewal period (real GCS allows about one write per second per object)"`
	// HandOverLead is the successor's time to get the message, take the
	// lease and open its connections before the boundary.
	HandOverLead time.Duration `envconfig:"HANDOVER_LEAD" default:"2s" desc:"on SIGTERM a shard is handed over at the first slice boundary at least this far ahead"`
	StopGrace    time.Duration `envconfig:"STOP_GRACE" default:"15s" desc:"time between SIGTERM and SIGKILL (15 s for a Spot VM's pods on GKE); a hand-over boundary beyond it is not waited for: the shard is then handed over inside the slice"`
	Warmup       time.Duration `envconfig:"WARMUP" default:"500ms" desc:"a shard resumed in mid-run starts sending this long after its lease is taken, inside the current slice when that slice is not written"`
	AckExtend    time.Duration `envconfig:"ACK_EXTEND" default:"60s" desc:"ack deadline kept on the shard message while it is driven"`
	// MemoryLimit bounds the heap while a shard is prepared (memory.go).
	MemoryLimit int64 `envconfig:"MEMORY_LIMIT" default:"0" desc:"bytes the heap may reach while a shard reads its corpus and renders its requests, beyond which the shard fails with the reason instead of the worker being OOM-killed; 0 = 85% of the container's memory limit (none without one), negative = no check"`
	// Rules are the worker's own policy (CICADA_WORKER_ALLOWED_TARGETS,
	// CICADA_WORKER_MAX_*, CICADA_WORKER_LITERAL_SECRETS,
	// CICADA_WORKER_ALLOW_INSECURE_TLS), which every plan is held to
	// before it runs (see policy.go); nil means policy.DefaultRules.
	*policy.Rules
	MaxPlanShards int `envconfig:"MAX_PLAN_SHARDS" default:"100" desc:"most shards a plan may ask for (the trigger's CICADA_TRIGGER_MAX_SHARDS); 0 = no operator limit"`
	// Resolver resolves target names for the dial checks; nil is the
	// system's (tests set a stub).
	Resolver *net.Resolver `ignored:"true"`
	// Corpora opens the buckets of data.uri (corpus.go); nil means those
	// the Store's client reaches (store.BucketsOf).
	Corpora store.Buckets `ignored:"true"`
}

// passOnPause is how long a worker that could not take a message waits
// before it pulls again, so that a full worker does not spin on work it
// refuses.
const passOnPause = time.Second

// passesAttr is the message attribute counting how often shard work was
// passed on (Worker.passOn). After maxPasses it is dropped, as Pub/Sub's
// dead letter policy would drop a message nacked as often: the aggregator
// publishes a shard nobody drives again, so work for a fleet without room
// does not pile up.
const (
	passesAttr = "passes"
	maxPasses  = bus.MaxDeliveryAttempts
)

// stopMargin is the time left before the kill (Config.StopGrace) for the
// last slice's in-flight requests and its write.
const stopMargin = time.Second

// Worker pulls and drives shards.
type Worker struct {
	cfg Config
	st  store.Store
	b   bus.Bus
	log *zap.Logger
	now func() time.Time
	// cpuUse is the process's recent CPU use as a fraction of its CPUs;
	// false when it cannot be measured.
	cpuUse func() (float64, bool)
	cpu    *cpuMeter

	mu       sync.Mutex
	held     int                  // messages taken and not yet finished
	freed    chan struct{}        // a place was freed
	active   map[string]*shardRun // by run/shard, for a graceful stop
	attempts atomic.Int64         // lease attempts, to name each holder
	events   *eventSender
}

// New returns a worker. now may be nil for time.Now. Every log line of
// the worker names it (the field "worker").
func New(cfg Config, st store.Store, b bus.Bus, log *zap.Logger, now func() time.Time) *Worker {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.withDefaults()
	w := &Worker{cfg: cfg, st: st, b: b, log: log.With(zap.String("worker", cfg.ID)), now: now,
		cpu: newCPUMeter(), freed: make(chan struct{}, 1), active: map[string]*shardRun{}}
	w.cpuUse = w.cpu.use
	w.events = newEventSender(b, w.log)
	return w
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
	if c.MaxShards <= 0 {
		c.MaxShards = 4 * c.Capacity
	}
	c.MaxShards = max(c.MaxShards, c.Capacity)
	if c.CPUBound <= 0 {
		c.CPUBound = 0.6
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 6 * time.Second
	}
	if c.RenewEvery <= 0 || c.RenewEvery >= c.LeaseTTL {
		c.RenewEvery = c.LeaseTTL / 3
	}
	if c.HandOverLead <= 0 {
		c.HandOverLead = 2 * time.Second
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 15 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = 500 * time.Millisecond
	}
	if c.AckExtend <= 0 {
		c.AckExtend = 60 * time.Second
	}
	return c
}

// takes decides whether a worker driving n shards, with a CPU use of cpu
// (a fraction of its CPUs; ok false when unknown), takes one more shard
// published for reason, and says why not:
//
//   - below the capacity it takes anything;
//   - at or beyond it, only a shard whose worker died or stops (resume,
//     handover): fresh work belongs to a worker with room;
//   - never more than MaxShards;
//   - and only while the CPU use, plus one more shard's share of it (the
//     average of the shards it drives), stays within CPUBound: a shard is
//     worth taking only if the worker can still send it on time. The
//     engine's self-check (lateness, drops) still marks a worker that
//     turned out saturated.
func (c Config) takes(reason string, n int, cpu float64, ok bool) (bool, string) {
	switch {
	case n < c.Capacity:
		return true, ""
	case reason != ReasonResume && reason != ReasonHandOver:
		return false, "at capacity"
	case n >= c.MaxShards:
		return false, "at the most shards"
	case !ok:
		return false, "at capacity, CPU use unknown"
	}
	projected := cpu
	if n > 0 {
		projected += cpu / float64(n)
	}
	if projected > c.CPUBound {
		return false, fmt.Sprintf("CPU use %.0f%%, %.0f%% with one more shard, over %.0f%%", 100*cpu, 100*projected, 100*c.CPUBound)
	}
	return true, ""
}

// Run pulls shard work until ctx ends, then stops gracefully: each shard is
// handed over at a slice boundary shortly ahead and driven until then, and
// Run returns once every shard has stopped and written its slices.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("worker capacity", zap.Int("capacity", w.cfg.Capacity), zap.Int("max_shards", w.cfg.MaxShards),
		zap.Float64("cpu_bound", w.cfg.CPUBound))
	stopCPU := w.cpu.run(ctx)
	defer stopCPU()
	softLimit(w.cfg, w.log)
	var wg sync.WaitGroup
	for w.waitRoom(ctx) {
		msg, err := w.b.Pull(ctx, bus.ShardsSub, w.cfg.AckExtend)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("pull shard work", zap.Error(err))
			sleep(ctx, time.Second)
			continue
		}
		work, ok := w.decode(ctx, msg)
		if !ok {
			continue
		}
		if why := w.admit(work.Reason); why != "" {
			w.log.Info("shard work passed on", zap.String("run_id", work.RunID), zap.Int("shard", work.Shard),
				zap.String("reason", work.Reason), zap.String("why", why))
			w.passOn(context.WithoutCancel(ctx), msg, work, w.log)
			sleep(ctx, passOnPause)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.done()
			w.handle(ctx, msg, work)
		}()
	}
	w.handOverAll()
	wg.Wait()
	w.events.close()
	return nil
}

// waitRoom waits until the worker may pull: below its capacity, or below
// its most shards with CPU to spare (then it takes only shards whose worker
// died or stops). It reports false when ctx ends.
func (w *Worker) waitRoom(ctx context.Context) bool {
	for {
		w.mu.Lock()
		n := w.held
		w.mu.Unlock()
		cpu, ok := w.cpuUse()
		if take, _ := w.cfg.takes(ReasonResume, n, cpu, ok); take {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-w.freed:
		case <-time.After(passOnPause): // the CPU use may have dropped
		}
	}
}

// admit takes a place for work published for reason, or says why not.
func (w *Worker) admit(reason string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	cpu, ok := w.cpuUse()
	take, why := w.cfg.takes(reason, w.held, cpu, ok)
	if !take {
		return why
	}
	w.held++
	return ""
}

// done frees the place of a finished message.
func (w *Worker) done() {
	w.mu.Lock()
	w.held--
	w.mu.Unlock()
	select {
	case w.freed <- struct{}{}:
	default:
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// handOverAll hands every shard in progress over (shardRun.handOver), all
// at once: each announces its hand-over with a write and a publish.
func (w *Worker) handOverAll() {
	now := w.now()
	w.mu.Lock()
	rs := make([]*shardRun, 0, len(w.active))
	for _, r := range w.active {
		rs = append(rs, r)
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { r.handOver(now) })
	}
	wg.Wait()
}

// decode reads a shard message; a malformed one is acked and dropped.
func (w *Worker) decode(ctx context.Context, msg bus.Message) (runs.ShardWork, bool) {
	var work runs.ShardWork
	if err := json.Unmarshal(msg.Data(), &work); err != nil || work.RunID == "" || work.Shard < 0 {
		w.log.Error("drop malformed shard message", zap.String("message_id", msg.ID()), zap.ByteString("data", msg.Data()), zap.Error(err))
		_ = msg.Ack(context.WithoutCancel(ctx)) // it will not get better
		return work, false
	}
	return work, true
}

// handle drives one shard message to its end.
func (w *Worker) handle(ctx context.Context, msg bus.Message, work runs.ShardWork) {
	// Message handling must outlive ctx: a graceful stop still drives the
	// shard until its hand-over and writes its slices.
	bg := context.WithoutCancel(ctx)
	log := w.log.With(zap.String("run_id", work.RunID), zap.Int("shard", work.Shard))

	// Keep the message from redelivery while we work on it; the lease,
	// not the message, guards against a second driver.
	stopExtend := w.keepExtending(bg, msg, log)
	outcome := w.drive(ctx, work, log)
	stopExtend()
	switch outcome {
	case passedOn:
		w.passOn(bg, msg, work, log)
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

// passOn hands a message this worker will not drive to another worker at
// once: published again, then acked. A nack would do on the emulators, but
// on Pub/Sub the subscription's retry policy delays a nacked message by a
// growing backoff, and its dead letter policy drops it after a few
// deliveries. Work for a run that is over, or passed on maxPasses times
// already, is dropped.
func (w *Worker) passOn(ctx context.Context, msg bus.Message, work runs.ShardWork, log *zap.Logger) {
	passes, _ := strconv.Atoi(msg.Attributes()[passesAttr])
	if passes >= maxPasses {
		log.Warn("shard work dropped: no worker took it", zap.Int("passes", passes), zap.String("reason", work.Reason))
		_ = msg.Ack(ctx)
		return
	}
	if w.runOver(ctx, work.RunID) {
		_ = msg.Ack(ctx)
		return
	}
	if err := w.publishWork(ctx, work, passesAttr, strconv.Itoa(passes+1)); err != nil {
		log.Warn("pass shard work on", zap.Error(err))
		_ = msg.Nack(ctx)
		return
	}
	if err := msg.Ack(ctx); err != nil {
		log.Warn("ack shard message passed on", zap.Error(err)) // a duplicate at worst: the lease decides
	}
}

// runOver reports whether run id is over or gone, so that its work needs no
// driver; an error reading it says no.
func (w *Worker) runOver(ctx context.Context, id string) bool {
	obj, err := w.st.Get(ctx, runs.RunPath(id))
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	var run runs.Run
	if err != nil || json.Unmarshal(obj.Data, &run) != nil {
		return false
	}
	return !w.now().Before(run.End)
}

// publishWork publishes work on the shards topic, with the attributes the
// aggregator gives it and extra key-value pairs.
func (w *Worker) publishWork(ctx context.Context, work runs.ShardWork, extra ...string) error {
	attrs := map[string]string{"run_id": work.RunID, "shard": strconv.Itoa(work.Shard)}
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = extra[i+1]
	}
	_, err := w.b.Publish(ctx, bus.ShardsTopic, runs.Encode(work), attrs)
	return err
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
	finished   outcome = iota // done, handed over, or nothing to do: ack
	handedBack                // could not start: nack so another worker tries
	passedOn                  // stopping before the shard started: publish again, ack
)

// drive runs one shard if this worker gets its lease.
func (w *Worker) drive(ctx context.Context, work runs.ShardWork, log *zap.Logger) outcome {
	if ctx.Err() != nil {
		return passedOn // stopping: take no new lease
	}
	bg := context.WithoutCancel(ctx)
	id, shard := work.RunID, work.Shard
	// Leniently, so that a plan.json no trigger accepted (written into
	// the bucket) ends its shard failed with the reason rather than
	// unread; it is never run.
	stored, err := runs.ReadLenient(bg, w.st, id)
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
	if why := stored.InvalidReason(); why != "" {
		w.failShard(bg, id, shard, "refused by the worker: "+why, log)
		return finished
	}
	now := w.now()
	if !now.Before(run.End) {
		log.Info("shard message after the run's end; nothing to drive")
		return finished
	}
	if w.refuse(bg, work, p, run, now, log) {
		return finished // the shard ends failed, with the reason
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
	w.publish(runs.Event{Type: runs.EventLeased, RunID: id, Shard: shard}, log)

	// Before the start point: the time it takes must not eat into the
	// warm-up of a shard resumed in mid-run.
	auth, ok := w.credentials(bg, id, shard, p, log)
	if !ok {
		_ = l.Release(bg)
		return finished // the shard's failed marker says why
	}
	defer auth.Close()
	if auth != nil {
		now = w.now()
	}
	first, from, err := w.startPoint(bg, p, run, shard, l.From(), now)
	if err != nil {
		log.Error("list written slices", zap.Error(err))
		_ = l.Release(bg)
		return handedBack
	}
	begin := run.StartAt.Add(time.Duration(first) * p.SliceDuration())
	if !from.IsZero() {
		begin = from
	}
	log.Info("driving shard", zap.String("reason", work.Reason), zap.Int("first_slice", first), zap.Time("from", begin),
		zap.Duration("after_taking", begin.Sub(now)), zap.Time("start_at", run.StartAt))

	r := &shardRun{w: w, id: id, shard: shard, lease: l, log: log, p: p, run: run, first: first, begin: begin}
	if first < p.NumSlices() {
		// The lease is renewed from before the preparation on, which
		// prepare bounds (see policy.go).
		stopGuard := r.guard(bg)
		var e *load.Engine
		corpus, err := w.readCorpus(bg, p, run)
		if err == nil {
			e, err = w.prepare(r, load.Options{
				Plan: p, RunID: id, Shard: shard, Shards: p.Shards, Start: run.StartAt,
				FirstSlice: first, From: from, Writer: w.cfg.ID, Sink: r.write, Auth: auth, ReadSecret: credential.ReadSecret,
				Corpus: corpus,
			})
		}
		if err != nil {
			stopGuard()
			w.failShard(bg, id, shard, err.Error(), log)
			_ = l.Release(bg)
			return finished // the plan cannot run here: retrying will not help
		}
		r.setEngine(e)
		stopFollow := r.followSearch(bg, e)
		w.track(r, true)
		if ctx.Err() != nil {
			// The stop came before this shard was tracked: handOverAll
			// missed it.
			r.handOver(w.now())
		}
		_ = e.Run(bg)
		stopFollow()
		stopGuard()
		w.track(r, false)
	}
	switch {
	case r.lost.Load():
		log.Warn("lease lost: stopped sending")
		w.publish(runs.Event{Type: runs.EventLost, RunID: id, Shard: shard}, log)
		return finished
	case r.handing.Load():
		r.finishHandOver(bg)
		return finished
	}
	if _, err := w.st.Create(bg, runs.DonePath(id, shard), runs.Encode(map[string]any{"worker": w.cfg.ID, "time": w.now()}), "application/json"); err != nil && !errors.Is(err, store.ErrExists) {
		log.Error("write done marker", zap.Error(err))
	}
	w.publish(runs.Event{Type: runs.EventDone, RunID: id, Shard: shard}, log)
	if err := l.Release(bg); err != nil {
		log.Warn("release lease", zap.Error(err))
	}
	return finished
}

// startPoint is where a shard (re)starts: the first slice to send, and,
// when it starts inside that slice, the time from which it sends (zero for
// the whole slice).
//
// Before the run's start, that is slice 0. Once the run is going, it is
// Warmup from now (time to build the engine and open connections), inside
// the slice under way: only the time until then is lost, not the rest of
// the slice. Never before notBefore, the hand-over time of a predecessor
// that is still sending. A slice already written is never sent again: the
// shard then starts at the next slice not written, whole. Slices missed in
// between stay gaps.
func (w *Worker) startPoint(ctx context.Context, p *plan.Plan, run runs.Run, shard int, notBefore, now time.Time) (int, time.Time, error) {
	names, err := w.st.List(ctx, runs.ShardSlicePrefix(run.ID, shard))
	if err != nil {
		return 0, time.Time{}, err
	}
	written := map[int]bool{}
	for _, n := range names {
		if _, k, err := runs.ParseSlicePath(run.ID, n); err == nil {
			written[k] = true
		}
	}
	at := run.StartAt
	if now.After(run.StartAt) {
		at = now.Add(w.cfg.Warmup)
	}
	if notBefore.After(at) {
		at = notBefore
	}
	if !at.Before(run.End) {
		return p.NumSlices(), time.Time{}, nil
	}
	d := p.SliceDuration()
	off := at.Sub(run.StartAt)
	first := int(off / d)
	var from time.Time
	if off%d != 0 {
		from = at
	}
	if written[first] {
		from = time.Time{}
		for written[first] {
			first++
		}
	}
	return first, from, nil
}

func (w *Worker) exists(ctx context.Context, name string) bool {
	_, err := w.st.Get(ctx, name)
	return err == nil
}

// publish queues ev for the bus (see eventSender): it never blocks.
func (w *Worker) publish(ev runs.Event, log *zap.Logger) {
	ev.Worker, ev.Time = w.cfg.ID, w.now()
	w.events.send(ev, log)
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
