package trigger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 200

// idempotencyStale is how long a key's record may stand without its run:
// past it, the request that wrote the record died before storing the run,
// and a retry takes the key over instead of answering a run that will
// never exist.
const idempotencyStale = time.Minute

// writeTimeout bounds storing and publishing a run (the caller's own,
// shorter deadline wins). The work goes on when the caller gives up, so
// that a run is not left half published because a curl was interrupted.
const writeTimeout = time.Minute

// publishers is how many shard messages are in flight at once.
const publishers = 16

// Service is the trigger's use case apart from HTTP: it checks a plan
// against the operator's configuration, binds an Idempotency-Key, stores
// the run and publishes its shards. NewHandler serves it over HTTP.
type Service struct {
	st    store.Store
	bus   bus.Bus
	cfg   Config
	allow allowList
	now   func() time.Time
	log   *zap.Logger
}

// NewService returns the Service over d. It fails on an allow-list
// pattern that cannot match and on a missing Store or Bus.
func NewService(d Deps) (*Service, error) {
	s := &Service{st: d.Store, bus: d.Bus, cfg: d.Config, now: d.Now, log: d.Log}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	var err error
	if s.allow, err = newAllowList(d.Config.AllowedTargets); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Bus == nil {
		return nil, errors.New("trigger: Deps.Store and Deps.Bus are required")
	}
	return s, nil
}

// Submission is a request to start a run.
type Submission struct {
	// Plan is a plan as plan.Parse returns it: valid, defaults applied.
	Plan *plan.Plan
	// IdempotencyKey binds the request to its run, so that a retry gets
	// the run back instead of starting another; "" for none.
	IdempotencyKey string
}

// Created is a run that Service.Create started, or, Replayed, the run an
// earlier request with the same Idempotency-Key started.
type Created struct {
	RunID   string
	StartAt time.Time
	// Replayed says nothing was stored or published by this call.
	Replayed bool
}

// idempotencyRecord is the content of IdempotencyPath(key).
type idempotencyRecord struct {
	RunID   string    `json:"run_id"`
	StartAt time.Time `json:"start_at"`
	// PlanSHA256 is the hash of the normalized plan, so that a key reused
	// with another plan is refused rather than answered with the wrong run.
	PlanSHA256 string    `json:"plan_sha256"`
	Created    time.Time `json:"created"`
}

// errKeyReused is a key already bound to another plan.
var errKeyReused = errors.New("Idempotency-Key already used for a different plan")

// IdempotencyPath is the object that ties an Idempotency-Key to its run.
func IdempotencyPath(key string) string { return runs.IdempotencyPath(key) }

// Create starts the run of sub: it checks the plan (data.file, the
// allow-list, the operator's limits), claims the Idempotency-Key, stores
// plan.json and run.json and publishes one message per shard. It refuses
// with an *Error saying why, or fails with a *PublishError once the run is
// stored. The work is not cut short when ctx is cancelled, only bounded by
// its deadline and writeTimeout.
func (s *Service) Create(ctx context.Context, sub Submission) (Created, error) {
	key, p := sub.IdempotencyKey, sub.Plan
	if err := checkKey(key); err != nil {
		return Created{}, err
	}
	if p == nil {
		return Created{}, &Error{Kind: KindInvalid, Message: "no plan"}
	}
	if err := checkData(p); err != nil {
		return Created{}, err
	}
	if err := s.checkTarget(p); err != nil {
		return Created{}, err
	}
	if probs := s.limits(p); len(probs) > 0 {
		return Created{}, &Error{Kind: KindOverLimit, Message: "plan over this trigger's limits", Problems: probs}
	}
	planJSON, err := json.Marshal(p)
	if err != nil {
		return Created{}, fmt.Errorf("encode plan: %w", err)
	}
	sum := sha256.Sum256(planJSON)

	ctx, cancel := detach(ctx, writeTimeout)
	defer cancel()
	now := s.now().UTC()
	run := runs.Run{
		ID:             runid.New(now),
		PlanName:       p.Name,
		Shards:         p.Shards,
		Created:        now,
		StartAt:        now.Add(max(s.cfg.LeadTime, p.StartDelay.D())).Truncate(time.Millisecond),
		IdempotencyKey: key,
	}
	run.End = run.StartAt.Add(p.Duration())
	log := s.log.With(zap.String("run_id", run.ID))

	// release undoes the key's claim when the run could not be stored, so
	// that the client's retry starts afresh instead of finding a run that
	// does not exist.
	release := func() {}
	if key != "" {
		rec := idempotencyRecord{RunID: run.ID, StartAt: run.StartAt, PlanSHA256: hex.EncodeToString(sum[:]), Created: now}
		prev, gen, err := s.claimKey(ctx, key, rec, now)
		switch {
		case errors.Is(err, errKeyReused):
			return Created{}, &Error{Kind: KindKeyReused, Message: fmt.Sprintf("%v (run %s)", err, prev.RunID), Err: err}
		case err != nil:
			log.Error("claim idempotency key", zap.Error(err))
			return Created{}, &Error{Kind: KindUnavailable, Err: err}
		case gen == 0:
			// Someone else's request with this key won: answer its run.
			return Created{RunID: prev.RunID, StartAt: prev.StartAt, Replayed: true}, nil
		}
		name := IdempotencyPath(key)
		release = func() {
			if err := s.st.Delete(ctx, name, gen); err != nil {
				log.Warn("release idempotency key", zap.String("object", name), zap.Error(err))
			}
		}
	}

	if err := s.storeRun(ctx, run, planJSON); err != nil {
		release()
		log.Error("store run", zap.Error(err))
		return Created{}, &Error{Kind: KindUnavailable, Err: err}
	}
	created := Created{RunID: run.ID, StartAt: run.StartAt}
	published, err := s.publish(ctx, run)
	if err != nil {
		log.Error("publish shards", zap.Int("published", published), zap.Int("shards", run.Shards), zap.Error(err))
		return created, &PublishError{RunID: run.ID, StartAt: run.StartAt, Shards: run.Shards, Published: published, Err: err}
	}
	log.Info("run accepted", zap.String("plan", p.Name), zap.Int("shards", run.Shards),
		zap.Time("start_at", run.StartAt), zap.Bool("idempotency_key", key != ""))
	return created, nil
}

// detach returns a context that outlives the caller's giving up but ends
// after at most d, or at ctx's own deadline when it has one.
func detach(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// checkKey refuses an Idempotency-Key longer than MaxIdempotencyKey.
func checkKey(key string) error {
	if n := len(key); n > MaxIdempotencyKey {
		return &Error{Kind: KindInvalid, Message: fmt.Sprintf("Idempotency-Key: at most %d characters, got %d", MaxIdempotencyKey, n)}
	}
	return nil
}

// checkData refuses a plan that reads its texts from a file: a worker
// would read that path on its own disk, where the submitter's file is not,
// and anything else must not be readable.
func checkData(p *plan.Plan) error {
	if p.Data.File == "" {
		return nil
	}
	return &Error{Kind: KindInvalid, Message: "invalid plan", Problems: []plan.Problem{{
		Path:   "data.file",
		Reason: "not accepted by the trigger, which cannot read the submitter's files: inline the texts as data.texts",
	}}}
}

// checkTarget refuses a plan aimed at a host the allow-list does not name,
// or that does not verify the target's certificate (checkInsecureTLS).
func (s *Service) checkTarget(p *plan.Plan) error {
	path, host, port, err := targetHost(p.Target)
	if err != nil {
		return &Error{Kind: KindInvalid, Message: "invalid plan", Problems: []plan.Problem{{Path: path, Reason: err.Error()}}, Err: err}
	}
	if s.allow.allows(host, port) {
		return s.checkInsecureTLS(p)
	}
	msg := fmt.Sprintf("target host %s of %s (%s) is not allowed by this trigger; allowed targets: %s",
		host, path, net.JoinHostPort(host, port), s.allow)
	return &Error{Kind: KindForbidden, Message: msg, Problems: []plan.Problem{{Path: path, Reason: msg}}}
}

// limits lists every way p goes over the operator's limits.
func (s *Service) limits(p *plan.Plan) []plan.Problem {
	var probs []plan.Problem
	add := func(path, format string, args ...any) {
		probs = append(probs, plan.Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
	}
	c := s.cfg
	if c.MaxRate > 0 && p.Load.Model == plan.ModelOpen {
		if p.Load.StartRate != nil && *p.Load.StartRate > c.MaxRate {
			add("load.start_rate", "%g req/s is over this trigger's limit of %g req/s", *p.Load.StartRate, c.MaxRate)
		}
		for i, st := range p.Load.Stages {
			if st.Rate > c.MaxRate {
				add(fmt.Sprintf("load.stages[%d].rate", i), "%g req/s is over this trigger's limit of %g req/s", st.Rate, c.MaxRate)
			}
		}
	}
	if c.MaxUsers > 0 && p.Load.Model == plan.ModelClosed {
		if p.Load.StartUsers != nil && *p.Load.StartUsers > c.MaxUsers {
			add("load.start_users", "%d users is over this trigger's limit of %d", *p.Load.StartUsers, c.MaxUsers)
		}
		for i, st := range p.Load.Stages {
			if st.Users > c.MaxUsers {
				add(fmt.Sprintf("load.stages[%d].users", i), "%d users is over this trigger's limit of %d", st.Users, c.MaxUsers)
			}
		}
	}
	if d := p.Duration(); c.MaxDuration > 0 && d > c.MaxDuration {
		add("load.stages", "total duration %v is over this trigger's limit of %v", d, c.MaxDuration)
	}
	if c.MaxShards > 0 && p.Shards > c.MaxShards {
		add("shards", "%d shards is over this trigger's limit of %d", p.Shards, c.MaxShards)
	}
	return probs
}

// claimKey binds key to rec. It returns rec's generation when this request
// won the key, or the record of the run the key already belongs to (and
// generation 0). A record whose run was never stored and that is older than
// idempotencyStale is taken over, at the generation read, so that of two
// retries only one takes it.
func (s *Service) claimKey(ctx context.Context, key string, rec idempotencyRecord, now time.Time) (idempotencyRecord, int64, error) {
	name := IdempotencyPath(key)
	data, err := json.Marshal(rec)
	if err != nil {
		return idempotencyRecord{}, 0, fmt.Errorf("encode idempotency record: %w", err)
	}
	for range 3 {
		gen, err := s.st.Create(ctx, name, data, "application/json")
		if err == nil {
			return rec, gen, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return idempotencyRecord{}, 0, fmt.Errorf("claim Idempotency-Key: %w", err)
		}
		obj, err := s.st.Get(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue // its writer gave it up meanwhile: try again
		}
		if err != nil {
			return idempotencyRecord{}, 0, fmt.Errorf("read Idempotency-Key record: %w", err)
		}
		var prev idempotencyRecord
		if err := json.Unmarshal(obj.Data, &prev); err != nil || runid.Valid(prev.RunID) != nil {
			prev = idempotencyRecord{} // unreadable: treat as stale
		} else {
			if prev.PlanSHA256 != rec.PlanSHA256 {
				return prev, 0, errKeyReused
			}
			_, err := s.st.Get(ctx, runs.RunPath(prev.RunID))
			if err == nil || now.Sub(prev.Created) < idempotencyStale {
				// Stored, or its request is still storing it.
				return prev, 0, nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return idempotencyRecord{}, 0, fmt.Errorf("read run of Idempotency-Key: %w", err)
			}
		}
		gen, err = s.st.Replace(ctx, name, obj.Generation, data, "application/json")
		if err == nil {
			return rec, gen, nil
		}
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return idempotencyRecord{}, 0, fmt.Errorf("take over Idempotency-Key: %w", err)
		}
	}
	return idempotencyRecord{}, 0, errors.New("claim Idempotency-Key: contended by other requests, retry")
}

// storeRun writes plan.json, then run.json: a run.json always has its plan.
func (s *Service) storeRun(ctx context.Context, run runs.Run, planJSON []byte) error {
	if err := s.createOwn(ctx, runs.PlanPath(run.ID), planJSON); err != nil {
		return fmt.Errorf("store plan of run %s: %w", run.ID, err)
	}
	data, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("encode run %s: %w", run.ID, err)
	}
	if err := s.createOwn(ctx, runs.RunPath(run.ID), data); err != nil {
		if derr := s.st.Delete(ctx, runs.PlanPath(run.ID), 0); derr != nil {
			s.log.Warn("remove plan of unstored run", zap.String("run_id", run.ID), zap.Error(derr))
		}
		return fmt.Errorf("store run %s: %w", run.ID, err)
	}
	// The aggregator finds active runs by this marker alone.
	if _, err := s.st.Put(ctx, runs.ActivePath(run.ID), []byte(run.ID), "text/plain"); err != nil {
		return fmt.Errorf("mark run %s active: %w", run.ID, err)
	}
	return nil
}

// createOwn writes name only if absent. The store retries a write whose
// answer was lost, and the retry answers ErrExists although the object is
// this request's own: an object already there with exactly data is taken
// as written (see store.Store), so that run.json is not taken for failed
// and its plan deleted from under it.
func (s *Service) createOwn(ctx context.Context, name string, data []byte) error {
	_, err := s.st.Create(ctx, name, data, "application/json")
	if !errors.Is(err, store.ErrExists) {
		return err
	}
	if obj, gerr := s.st.Get(ctx, name); gerr == nil && bytes.Equal(obj.Data, data) {
		return nil
	}
	return err
}

// publish sends one ShardWork per shard, publishers at a time, and returns
// how many went out; after a failure no further publish starts, and the
// first error is returned.
func (s *Service) publish(ctx context.Context, run runs.Run) (int, error) {
	var published atomic.Int64
	g, failed := errgroup.WithContext(ctx)
	g.SetLimit(publishers)
	for shard := range run.Shards {
		g.Go(func() error {
			// failed ends at the first error (or ctx's end); publishes
			// already under way use ctx, so that they are not cut short.
			if err := failed.Err(); err != nil {
				return fmt.Errorf("publish shard %d of run %s: %w", shard, run.ID, err)
			}
			msg := runs.Encode(runs.ShardWork{RunID: run.ID, Shard: shard, Reason: "start"})
			attrs := map[string]string{"run_id": run.ID, "shard": strconv.Itoa(shard)}
			if _, err := s.bus.Publish(ctx, bus.ShardsTopic, msg, attrs); err != nil {
				return fmt.Errorf("publish shard %d of run %s: %w", shard, run.ID, err)
			}
			published.Add(1)
			return nil
		})
	}
	err := g.Wait()
	return int(published.Load()), err
}
