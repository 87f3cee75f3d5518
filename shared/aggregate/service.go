package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/verdict"
)

// Config is the aggregator's configuration (prefix CICADA_AGGREGATOR).
type Config struct {
	Grace       time.Duration `envconfig:"GRACE" default:"30s" desc:"how long after a run's end (or a cancel) stragglers may still write slices"`
	PickupGrace time.Duration `envconfig:"PICKUP_GRACE" default:"2s" desc:"a shard nobody leased this long after the start is published again (workers lease a shard as soon as they receive it, before the start)"`
	Sweep       time.Duration `envconfig:"SWEEP" default:"2s" desc:"how often every active run is checked, events or not"`
	LiveEvery   time.Duration `envconfig:"LIVE_EVERY" default:"1s" desc:"how often live.json of a run with new events is rewritten"`
	Republish   time.Duration `envconfig:"REPUBLISH" default:"15s" desc:"least time between two republications of one shard"`
	Relist      time.Duration `envconfig:"RELIST" default:"30s" desc:"how often a run's whole slice listing is read again (events name new slices in between)"`
	MetricsAddr string        `envconfig:"METRICS_ADDR" default:":9090" desc:"address of /metrics (each active run's figures, Prometheus text format) and /healthz; empty serves none"`
}

// Service listens to worker events, keeps live.json current, writes final
// reports, and republishes shards whose worker vanished.
//
// It keeps one Tracker per active run, so that each slice object is read
// once per aggregator lifetime: an event names the slice object to read,
// and the whole slice listing is read again only every Relist (the events
// are a hint; the bucket is the truth) and before a final report. A
// restarted aggregator starts from the run's sealed slices.
type Service struct {
	cfg Config
	st  store.Store
	b   bus.Bus
	log *zap.Logger
	now func() time.Time
	// metrics is what /metrics shows: each active run's last live update.
	metrics *liveMetrics

	mu        sync.Mutex
	dirty     map[string][]report.ShardSlice // run -> slices named by events since the last update
	republish map[string]time.Time           // run/shard -> last republication (a hint only)
	// unplaced is, per run, each shard nobody drives and since when, as
	// the last sweep saw it.
	unplaced map[string][]report.Unplaced

	// trackers and listed are touched only by Run's goroutine.
	trackers map[string]*Tracker
	listed   map[string]time.Time // run -> last full listing of its slices
	nextLive map[string]time.Time // run -> earliest next live update
}

// NewService returns an aggregator; now may be nil for time.Now.
func NewService(cfg Config, st store.Store, b bus.Bus, log *zap.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Grace, 30*time.Second)
	def(&cfg.PickupGrace, 2*time.Second)
	def(&cfg.Sweep, 2*time.Second)
	def(&cfg.LiveEvery, time.Second)
	def(&cfg.Republish, 15*time.Second)
	def(&cfg.Relist, 30*time.Second)
	return &Service{
		cfg: cfg, st: st, b: b, log: log, now: now, metrics: &liveMetrics{},
		dirty: map[string][]report.ShardSlice{}, republish: map[string]time.Time{},
		unplaced: map[string][]report.Unplaced{},
		trackers: map[string]*Tracker{}, listed: map[string]time.Time{}, nextLive: map[string]time.Time{},
	}
}

// Run serves until ctx ends, and serves /metrics on cfg.MetricsAddr when
// set.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.cfg.MetricsAddr != "" {
		l, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("aggregator metrics: %w", err)
		}
		s.log.Info("serving metrics", zap.String("addr", l.Addr().String()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ServeMetrics(ctx, l); err != nil {
				s.log.Error("metrics server", zap.Error(err))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.listen(ctx)
	}()
	live := time.NewTicker(s.cfg.LiveEvery)
	sweep := time.NewTicker(s.cfg.Sweep)
	defer live.Stop()
	defer sweep.Stop()
	s.sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-live.C:
			s.mu.Lock()
			dirty := s.dirty
			s.dirty = map[string][]report.ShardSlice{}
			s.mu.Unlock()
			for id, hints := range dirty {
				if time.Now().Before(s.nextLive[id]) {
					// Too soon after a costly update: keep the hints for
					// the next tick.
					s.mu.Lock()
					s.dirty[id] = append(s.dirty[id], hints...)
					s.mu.Unlock()
					continue
				}
				began := time.Now()
				s.update(ctx, id, hints, false)
				// Decoding new objects costs in proportion to them, but a
				// live report costs in proportion to the run's slices: a
				// long, wide run updates less often, so the aggregator
				// spends at most a fifth of its time on live reports.
				s.nextLive[id] = began.Add(5 * time.Since(began))
			}
		case <-sweep.C:
			s.sweep(ctx)
		}
	}
}

// listen marks runs with new events dirty, with the slices they name.
func (s *Service) listen(ctx context.Context) {
	for {
		msg, err := s.b.Pull(ctx, bus.EventsSub, 30*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("pull events", zap.Error(err))
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
			continue
		}
		var ev runs.Event
		if err := json.Unmarshal(msg.Data(), &ev); err == nil && ev.RunID != "" {
			s.mu.Lock()
			hints := s.dirty[ev.RunID]
			if ev.Type == runs.EventSlice && len(hints) < maxHints {
				hints = append(hints, report.ShardSlice{Shard: ev.Shard, Slice: ev.Slice})
			}
			s.dirty[ev.RunID] = hints
			s.mu.Unlock()
		} else {
			s.log.Warn("drop malformed event", zap.ByteString("data", msg.Data()))
		}
		_ = msg.Ack(context.WithoutCancel(ctx))
	}
}

// maxHints bounds the slices remembered for one run between two updates;
// beyond it, the next update lists the bucket instead.
const maxHints = 100_000

// sweep checks every run without a final report, and runs the failure
// detector on each.
func (s *Service) sweep(ctx context.Context) {
	ids, err := s.activeRuns(ctx)
	if err != nil {
		s.log.Warn("list runs", zap.Error(err))
		return
	}
	active := map[string]bool{}
	for _, id := range ids {
		active[id] = true
		s.update(ctx, id, nil, true)
	}
	for id := range s.trackers {
		if !active[id] {
			s.forget(id)
		}
	}
}

func (s *Service) forget(id string) {
	s.metrics.drop(id)
	delete(s.trackers, id)
	delete(s.listed, id)
	delete(s.nextLive, id)
	s.mu.Lock()
	delete(s.unplaced, id)
	s.mu.Unlock()
}

// activeRuns lists the runs that have no report yet: one short listing
// of the active-run markers, however many runs the bucket holds.
func (s *Service) activeRuns(ctx context.Context) ([]string, error) {
	names, err := s.st.List(ctx, runs.ActivePrefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(names))
	for _, n := range names {
		if id, err := runs.ParseActivePath(n); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// update aggregates one run and, on a sweep, republishes lost shards.
// hints name slice objects that events announced.
func (s *Service) update(ctx context.Context, id string, hints []report.ShardSlice, sweep bool) {
	log := s.log.With(zap.String("run_id", id))
	t := s.trackers[id]
	if t == nil {
		t = NewTracker(s.st, id, true)
		s.trackers[id] = t
	}
	now := s.now()
	list := len(hints) >= maxHints || now.Sub(s.listed[id]) >= s.cfg.Relist
	if err := t.Sync(ctx, hints, list); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.dropStale(ctx, id, now, log)
			return
		}
		log.Warn("read run", zap.Error(err))
		return
	}
	if list {
		s.listed[id] = now
	}
	st, err := t.State(ctx)
	if err != nil {
		log.Warn("load run", zap.Error(err))
		return
	}
	if st.HasReport {
		// Final already (by another aggregator, or a write whose marker
		// delete or index row failed): make sure the run is indexed, then
		// that the marker goes.
		if err := st.ensureIndexed(ctx, s.st); err != nil {
			log.Warn("index run (retried on the next sweep)", zap.Error(err))
			return
		}
		if err := s.st.Delete(ctx, runs.ActivePath(id), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("clear active marker", zap.Error(err))
		}
		s.forget(id)
		return
	}
	final := st.Final(now, s.cfg.Grace)
	if final && !list {
		// A report is final only after a full listing: an event may have
		// been lost.
		if err := t.Sync(ctx, nil, true); err != nil {
			log.Warn("read run", zap.Error(err))
			return
		}
		s.listed[id] = now
		if st, err = t.State(ctx); err != nil {
			log.Warn("load run", zap.Error(err))
			return
		}
	}
	if n, err := t.Seal(ctx, now, time.Duration(st.Plan.Target.Timeout)+s.cfg.Grace); err != nil {
		log.Warn("seal slices", zap.Error(err))
	} else if n > 0 {
		log.Debug("sealed slices", zap.Int("count", n))
	}
	s.steer(ctx, t, st, now, log)
	if sweep {
		if err := st.LoadLeases(ctx, s.st); err != nil {
			log.Warn("read leases", zap.Error(err))
			sweep = false
		} else {
			s.mu.Lock()
			s.unplaced[id] = s.findUnplaced(st, now)
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	st.Unplaced = s.unplaced[id]
	s.mu.Unlock()
	st.Now = now
	rep := st.Report(final)
	if !final {
		leased := -1 // not read this update
		if sweep {
			leased = liveLeases(st, now)
		}
		s.metrics.set(id, rep, leased)
	}
	if final {
		if err := st.CompareBaseline(ctx, s.st, rep); err != nil {
			log.Warn("no comparison with the baseline", zap.Error(err))
		}
	}
	err = st.Write(ctx, s.st, rep, final)
	switch {
	case errors.Is(err, errNotIndexed):
		log.Warn("report written; index run (retried on the next sweep)", zap.Error(err))
		return
	case err != nil && final:
		log.Error("write report", zap.Error(err))
		return
	case err != nil:
		// live.json is a view: failing to write it must not keep the
		// failure detector from publishing shards nobody drives.
		log.Error("write live status", zap.Error(err))
	case final:
		log.Info("run finished", zap.String("status", rep.Status), zap.String("verdict", rep.Verdict),
			zap.Strings("verdict_reasons", rep.VerdictReasons),
			zap.Int("slices_received", rep.Coverage.Received), zap.Int("slices_expected", rep.Coverage.Expected))
		s.forget(id)
		return
	}
	s.abort(ctx, st, rep, now, log)
	if sweep {
		s.detect(ctx, st, now, log)
	}
}

// staleMarker is how long an active-run marker may wait for its run.json:
// the trigger writes the marker just before run.json, and deletes both when
// it withdraws a run.
const staleMarker = time.Minute

// dropStale deletes the active-run marker of a run without run.json once
// it is older than staleMarker (a trigger that died while storing it).
func (s *Service) dropStale(ctx context.Context, id string, now time.Time, log *zap.Logger) {
	s.forget(id)
	obj, err := s.st.Get(ctx, runs.ActivePath(id))
	if err != nil || now.Sub(obj.Updated) < staleMarker {
		return
	}
	if err := s.st.Delete(ctx, runs.ActivePath(id), obj.Generation); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("delete stale active-run marker", zap.Error(err))
		return
	}
	log.Info("deleted an active-run marker without run.json", zap.Time("written", obj.Updated))
}

// findUnplaced lists the shards of a started run that nobody drives at now:
// not done, and never leased, or leased by a worker that stopped renewing
// or handed it back. Since is the lease's expiry, or the run's start.
func (s *Service) findUnplaced(st *State, now time.Time) []report.Unplaced {
	if st.Cancelled || now.Before(st.Run.StartAt.Add(s.cfg.PickupGrace)) || !now.Before(st.Run.End) {
		return nil
	}
	var out []report.Unplaced
	for shard := range st.Plan.Shards {
		if st.Done[shard] {
			continue
		}
		rec, leased := st.Leases[shard]
		switch {
		case !leased:
			out = append(out, report.Unplaced{Shard: shard, Since: st.Run.StartAt, Reason: "never picked up (no worker with room)"})
		case !rec.Live(now):
			out = append(out, report.Unplaced{Shard: shard, Since: rec.Expires, Reason: "no worker with room took it over"})
		}
	}
	return out
}

// abort cancels a running run once a per-slice threshold with
// abort_on_fail N has failed in N slices that every shard reported: the
// cancel marker stops the workers, and its reason makes the final verdict
// fail. A marker already there (a user's cancel, or an earlier abort) wins.
func (s *Service) abort(ctx context.Context, st *State, rep *report.Report, now time.Time, log *zap.Logger) {
	if st.Cancelled {
		return
	}
	reason, ok := verdict.Abort(st.Plan, rep)
	if !ok {
		return
	}
	marker := runs.Encode(runs.Cancel{CancelledAt: now.UTC(), Reason: reason})
	if _, err := s.st.Create(ctx, runs.CancelPath(st.Run.ID), marker, "application/json"); err != nil {
		if !errors.Is(err, store.ErrExists) {
			log.Error("abort run", zap.String("reason", reason), zap.Error(err))
		}
		return
	}
	log.Warn("run aborted", zap.String("reason", reason))
}

// detect publishes again each shard that nobody drives: never leased past
// the pickup grace, or leased by a worker that stopped renewing. Duplicates
// are harmless (the lease decides), so this errs on the side of publishing.
func (s *Service) detect(ctx context.Context, st *State, now time.Time, log *zap.Logger) {
	if st.Cancelled || !now.Before(st.Run.End) {
		return
	}
	for shard := range st.Plan.Shards {
		if st.Done[shard] {
			continue
		}
		rec, leased := st.Leases[shard]
		var why string
		switch {
		case !leased && now.After(st.Run.StartAt.Add(s.cfg.PickupGrace)):
			why = "not picked up"
		case leased && !rec.Live(now):
			why = "lease stale"
			if rec.Released {
				why = "lease released"
			}
		default:
			continue
		}
		key := st.Run.ID + "/" + strconv.Itoa(shard)
		s.mu.Lock()
		last := s.republish[key]
		due := now.Sub(last) >= s.cfg.Republish
		if due {
			s.republish[key] = now
		}
		s.mu.Unlock()
		if !due {
			continue
		}
		// Never picked up is fresh work, within a worker's capacity; a
		// shard whose worker died may be taken beyond it.
		reason := runs.ReasonResume
		if !leased {
			reason = runs.ReasonStart
		}
		work := runs.ShardWork{RunID: st.Run.ID, Shard: shard, Reason: reason}
		if _, err := s.b.Publish(ctx, bus.ShardsTopic, runs.Encode(work), map[string]string{"run_id": st.Run.ID, "shard": strconv.Itoa(shard)}); err != nil {
			log.Warn("republish shard", zap.Int("shard", shard), zap.Error(err))
			continue
		}
		log.Info("shard published again", zap.Int("shard", shard), zap.String("why", why))
	}
}
