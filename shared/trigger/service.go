package trigger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
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
	st  store.Store
	bus bus.Bus
	cfg Config
	pol *policy.Policy
	now func() time.Time
	log *zap.Logger
	// admit serializes the concurrent-run check with the store of the
	// run it admits (checkActive).
	admit sync.Mutex
	// corpora opens data.uri's bucket; nil refuses data.uri.
	corpora store.Buckets
}

// NewService returns the Service over d. It fails on an allow-list
// pattern that cannot match and on a missing Store or Bus.
func NewService(d Deps) (*Service, error) {
	s := &Service{st: d.Store, corpora: d.Corpora, bus: d.Bus, cfg: d.Config, now: d.Now, log: d.Log}
	if s.corpora == nil {
		s.corpora = store.BucketsOf(d.Store)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	var err error
	if s.pol, err = newPolicy(d.Config); err != nil {
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
	// SubmittedBy is the caller's principal, recorded in run.json and the
	// report; "" for the local user (see Access).
	SubmittedBy string
}

// Created is a run that Service.Create started, or, Replayed, the run an
// earlier request with the same Idempotency-Key started.
type Created struct {
	RunID   string
	StartAt time.Time
	// Replayed says nothing was stored or published by this call.
	Replayed bool
	// Note says what the client should know of an accepted run whose
	// shard messages did not all go out: the run stands, and the
	// aggregator publishes them at its start time. "" when all went out.
	Note string
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
// allow-list, literal credentials, the operator's limits, its template
// rendered against every text: see check), pins data.uri's generation
// (pinCorpus), claims the Idempotency-Key, stores
// plan.json, the active-run marker and run.json, and publishes one message
// per shard. It refuses with an *Error saying why. The work is not cut
// short when ctx is cancelled, only bounded by its deadline and
// writeTimeout.
//
// A run it answers is published eventually, or was not accepted at all:
// when publishing fails before any shard message went out (and before the
// start time, when the aggregator's pick-up sweep may already act), the
// run is withdrawn (see withdraw) and Create fails with KindUnavailable,
// nothing started; once one message went out, or when the run cannot be
// withdrawn, the run stands and Created.Note says that the aggregator
// publishes what is missing at the start time.
func (s *Service) Create(ctx context.Context, sub Submission) (Created, error) {
	key, p := sub.IdempotencyKey, sub.Plan
	if err := checkKey(key); err != nil {
		return Created{}, err
	}
	if p == nil {
		return Created{}, &Error{Kind: KindInvalid, Message: "no plan"}
	}
	if err := s.check(p); err != nil {
		return Created{}, err
	}
	planJSON, err := json.Marshal(p)
	if err != nil {
		return Created{}, fmt.Errorf("encode plan: %w", err)
	}
	sum := sha256.Sum256(planJSON)

	ctx, cancel := detach(ctx, writeTimeout)
	defer cancel()
	corpus, err := s.pinCorpus(ctx, p)
	if err != nil {
		return Created{}, err
	}
	now := s.now().UTC()
	run := runs.Run{
		ID:             runid.New(now),
		PlanName:       p.Name,
		Shards:         p.Shards,
		Created:        now,
		StartAt:        now.Add(max(s.cfg.LeadTime, p.StartDelay.D())).Truncate(time.Millisecond),
		IdempotencyKey: key,
		SubmittedBy:    sub.SubmittedBy,
		Corpus:         corpus,
	}
	run.End = run.StartAt.Add(p.Duration())
	log := s.log.With(zap.String("run_id", run.ID))

	var w written // what this request wrote, to withdraw it
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
		w.add(IdempotencyPath(key), gen)
	}

	// Counting the runs going and storing this one are one step on this
	// instance, so that two posts cannot both take the last place.
	s.admit.Lock()
	if err := s.checkActive(ctx, normPrincipal(sub.SubmittedBy), now); err != nil {
		s.admit.Unlock()
		s.remove(ctx, w, log) // the key, so that a retry starts afresh
		return Created{}, err
	}
	err = s.storeRun(ctx, run, planJSON, &w)
	s.admit.Unlock()
	if err != nil {
		// The run could not be stored: release the key, so that the
		// client's retry starts afresh instead of finding a run that
		// does not exist.
		s.remove(ctx, w, log)
		log.Error("store run", zap.Error(err))
		return Created{}, &Error{Kind: KindUnavailable, Err: err}
	}
	created := Created{RunID: run.ID, StartAt: run.StartAt}
	published, err := s.publish(ctx, run)
	if err != nil {
		log.Error("publish shards", zap.Int("published", published), zap.Int("shards", run.Shards), zap.Error(err))
		if published == 0 && s.now().Before(run.StartAt) {
			werr := s.withdraw(ctx, run.ID, w, log)
			if werr == nil {
				return Created{}, &Error{Kind: KindUnavailable, Err: err, Message: fmt.Sprintf(
					"could not publish the run's shards, so nothing was started and the run was not kept; retry the request: %v", err)}
			}
			log.Error("withdraw run", zap.Error(werr))
		}
		created.Note = fmt.Sprintf("%d of %d shard messages published before the bus failed (%v); the run stands, and the aggregator publishes every shard nobody has taken at the start time",
			published, run.Shards, err)
		return created, nil
	}
	log.Info("run accepted", zap.String("plan", p.Name), zap.Int("shards", run.Shards),
		zap.Time("start_at", run.StartAt), zap.Bool("idempotency_key", key != ""))
	return created, nil
}

// written lists the objects a request wrote, in order, with their
// generations, so that it can take back exactly those.
type written struct {
	names []string
	gens  []int64
}

func (w *written) add(name string, gen int64) {
	w.names = append(w.names, name)
	w.gens = append(w.gens, gen)
}

// gen is the generation written of name, 0 when none.
func (w written) gen(name string) int64 {
	for i, n := range w.names {
		if n == name {
			return w.gens[i]
		}
	}
	return 0
}

// remove deletes what w lists, newest first, each at the generation
// written; a failure is logged and the rest still deleted.
func (s *Service) remove(ctx context.Context, w written, log *zap.Logger) {
	for i := len(w.names) - 1; i >= 0; i-- {
		if err := s.st.Delete(ctx, w.names[i], w.gens[i]); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("remove object of a run not started", zap.String("object", w.names[i]), zap.Error(err))
		}
	}
}

// withdraw takes back a stored run none of whose shards were published:
// run.json first, at the generation written, since its deletion is what
// makes the run not exist; then the rest of w (the active-run marker,
// plan.json and the Idempotency-Key's record). It fails, leaving the run
// standing, only when run.json could not be deleted.
func (s *Service) withdraw(ctx context.Context, id string, w written, log *zap.Logger) error {
	name := runs.RunPath(id)
	if err := s.st.Delete(ctx, name, w.gen(name)); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	var rest written
	for i, n := range w.names {
		if n != name {
			rest.add(n, w.gens[i])
		}
	}
	s.remove(ctx, rest, log)
	return nil
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

// renderTimeout bounds rendering a plan's template against its texts.
const renderTimeout = 5 * time.Second

// check holds p to the trigger's rules, each kind of refusal with every
// problem of its kind: the policy's (shared/policy) data.file and a target
// that cannot be read (400), then a target outside the allow-list (403) or
// not verified (checkInsecureTLS, 403), literal credentials (checkSecrets,
// 400), the policy's limits (422); last it renders p's template against
// every text, within the policy's limits and renderTimeout, and refuses
// the first text that fails (400, at data.texts[i]). A search
// (load.search) is first shrunk to the limits it can obey (policy.Fit),
// which the stored plan then says.
func (s *Service) check(p *plan.Plan) error {
	s.pol.Fit(p)
	byKind := map[policy.Kind][]plan.Problem{}
	var forbidden string
	for _, pr := range s.pol.Check(p) {
		byKind[pr.Kind] = append(byKind[pr.Kind], pr.Plan())
		if pr.Kind == policy.KindForbidden && forbidden == "" {
			forbidden = pr.Reason
		}
	}
	switch {
	case len(byKind[policy.KindInvalid]) > 0:
		return &Error{Kind: KindInvalid, Message: "invalid plan", Problems: byKind[policy.KindInvalid]}
	case len(byKind[policy.KindForbidden]) > 0:
		return &Error{Kind: KindForbidden, Message: forbidden, Problems: byKind[policy.KindForbidden]}
	}
	if err := s.checkInsecureTLS(p); err != nil {
		return err
	}
	if err := s.checkSecrets(p); err != nil {
		return err
	}
	if probs := byKind[policy.KindOverLimit]; len(probs) > 0 {
		return &Error{Kind: KindOverLimit, Message: "plan over this trigger's limits", Problems: probs}
	}
	if pr := s.pol.CheckRender(p, time.Now().Add(renderTimeout)); pr != nil {
		return &Error{Kind: KindInvalid, Message: "invalid plan: its template does not render every text", Problems: []plan.Problem{pr.Plan()}}
	}
	return nil
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

// storeRun writes plan.json, then the active-run marker, then run.json,
// each only if absent, and adds each to w: a run.json always has its plan,
// and its marker until the aggregator has written its report, so that the
// aggregator finds every stored run (a marker without run.json is a run
// being stored or withdrawn). When a write fails, what was written is
// deleted again.
func (s *Service) storeRun(ctx context.Context, run runs.Run, planJSON []byte, w *written) error {
	data, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("encode run %s: %w", run.ID, err)
	}
	objects := []struct {
		name, what string
		data       []byte
	}{
		{runs.PlanPath(run.ID), "plan", planJSON},
		// The marker holds run.json's content, so that a listing's reader
		// learns the run's times without reading run.json.
		{runs.ActivePath(run.ID), "active-run marker", data},
		{runs.RunPath(run.ID), "run", data},
	}
	var mine written
	for _, o := range objects {
		gen, err := s.createOwn(ctx, o.name, o.data)
		if err != nil {
			s.remove(ctx, mine, s.log.With(zap.String("run_id", run.ID)))
			return fmt.Errorf("store %s of run %s: %w", o.what, run.ID, err)
		}
		mine.add(o.name, gen)
	}
	for i, n := range mine.names {
		w.add(n, mine.gens[i])
	}
	return nil
}

// createOwn writes name only if absent and returns its generation. The
// store retries a write whose answer was lost, and the retry answers
// ErrExists although the object is this request's own: an object already
// there with exactly data is taken as written (see store.Store), so that
// run.json is not taken for failed and its plan deleted from under it.
func (s *Service) createOwn(ctx context.Context, name string, data []byte) (int64, error) {
	gen, err := s.st.Create(ctx, name, data, "application/json")
	if !errors.Is(err, store.ErrExists) {
		return gen, err
	}
	if obj, gerr := s.st.Get(ctx, name); gerr == nil && bytes.Equal(obj.Data, data) {
		return obj.Generation, nil
	}
	return 0, err
}

// publish sends one ShardWork per shard and returns how many went out.
// Shard 0 goes alone first, so that a bus that fails is most often found
// before any message is out, when the run can still be withdrawn; then the
// others, publishers at a time. After a failure no further publish starts,
// and the first error is returned.
func (s *Service) publish(ctx context.Context, run runs.Run) (int, error) {
	one := func(ctx context.Context, shard int) error {
		msg := runs.Encode(runs.ShardWork{RunID: run.ID, Shard: shard, Reason: runs.ReasonStart})
		attrs := map[string]string{"run_id": run.ID, "shard": strconv.Itoa(shard)}
		if _, err := s.bus.Publish(ctx, bus.ShardsTopic, msg, attrs); err != nil {
			return fmt.Errorf("publish shard %d of run %s: %w", shard, run.ID, err)
		}
		return nil
	}
	if run.Shards == 0 {
		return 0, nil
	}
	if err := one(ctx, 0); err != nil {
		return 0, err
	}
	var published atomic.Int64
	published.Add(1)
	g, failed := errgroup.WithContext(ctx)
	g.SetLimit(publishers)
	for shard := 1; shard < run.Shards; shard++ {
		g.Go(func() error {
			// failed ends at the first error (or ctx's end); publishes
			// already under way use ctx, so that they are not cut short.
			if err := failed.Err(); err != nil {
				return fmt.Errorf("publish shard %d of run %s: %w", shard, run.ID, err)
			}
			if err := one(ctx, shard); err != nil {
				return err
			}
			published.Add(1)
			return nil
		})
	}
	err := g.Wait()
	return int(published.Load()), err
}
