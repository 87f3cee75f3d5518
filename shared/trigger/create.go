package trigger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// MaxIdempotencyKey is the longest Idempotency-Key header accepted.
const MaxIdempotencyKey = 200

// idempotencyStale is how long a key's record may stand without its run:
// past it, the request that wrote the record died before storing the run,
// and a retry takes the key over instead of answering a run that will
// never exist.
const idempotencyStale = time.Minute

// writeTimeout bounds storing and publishing a run (a request's own,
// shorter deadline wins). The work goes on when the client hangs up, so
// that a run is not left half published because a curl was interrupted.
const writeTimeout = time.Minute

// publishers is how many shard messages are in flight at once.
const publishers = 16

// idempotencyKey is the request's Idempotency-Key, or, for a Cloud
// Scheduler job (which cannot send a header that changes per run), its job
// name and schedule time: Scheduler sends the same pair on each retry of one
// run, so a retried nightly post returns the run instead of starting a
// second one.
func idempotencyKey(r *http.Request) string {
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		return k
	}
	job, at := r.Header.Get("X-CloudScheduler-JobName"), r.Header.Get("X-CloudScheduler-ScheduleTime")
	if job != "" && at != "" {
		return "cloudscheduler:" + job + "@" + at
	}
	return ""
}

// IdempotencyPath is the object that ties an Idempotency-Key to its run.
// The key is hashed: it is the client's text, not a safe object name.
func IdempotencyPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "idempotency/" + hex.EncodeToString(sum[:])
}

// Accepted is the body of POST /runs's answer.
type Accepted struct {
	RunID     string    `json:"run_id"`
	StartAt   time.Time `json:"start_at"`
	StatusURL string    `json:"status_url"`
}

// publishFailure is the 503 body when a run was stored but not every
// shard message went out.
type publishFailure struct {
	Error     string    `json:"error"`
	RunID     string    `json:"run_id"`
	StartAt   time.Time `json:"start_at"`
	StatusURL string    `json:"status_url"`
	Shards    int       `json:"shards"`
	Published int       `json:"published"`
	Note      string    `json:"note"`
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

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	key := idempotencyKey(r)
	if n := len(key); n > MaxIdempotencyKey {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Idempotency-Key: at most %d characters, got %d", MaxIdempotencyKey, n))
		return
	}
	p, ok := h.readPlan(w, r)
	if !ok {
		return
	}
	if !h.checkTarget(w, p) {
		return
	}
	if probs := h.limits(p); len(probs) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: "plan over this trigger's limits", Problems: probs})
		return
	}
	planJSON, err := json.Marshal(p)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("encode plan: %v", err))
		return
	}
	sum := sha256.Sum256(planJSON)

	ctx, cancel := detach(r.Context(), writeTimeout)
	defer cancel()
	now := h.now().UTC()
	run := runs.Run{
		ID:             runid.New(now),
		PlanName:       p.Name,
		Shards:         p.Shards,
		Created:        now,
		StartAt:        now.Add(max(h.cfg.LeadTime, p.StartDelay.D())).Truncate(time.Millisecond),
		IdempotencyKey: key,
	}
	run.End = run.StartAt.Add(p.Duration())
	log := h.log.With(zap.String("run_id", run.ID))

	// release undoes the key's claim when the run could not be stored, so
	// that the client's retry starts afresh instead of finding a run that
	// does not exist.
	release := func() {}
	if key != "" {
		rec := idempotencyRecord{RunID: run.ID, StartAt: run.StartAt, PlanSHA256: hex.EncodeToString(sum[:]), Created: now}
		prev, gen, err := h.claimKey(ctx, key, rec, now)
		switch {
		case errors.Is(err, errKeyReused):
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%v (run %s)", err, prev.RunID))
			return
		case err != nil:
			log.Error("claim idempotency key", zap.Error(err))
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		case gen == 0:
			// Someone else's request with this key won: answer its run.
			w.Header().Set("Location", h.runURL(r, prev.RunID))
			w.Header().Set("Idempotent-Replayed", "true")
			writeJSON(w, http.StatusOK, Accepted{RunID: prev.RunID, StartAt: prev.StartAt, StatusURL: h.runURL(r, prev.RunID)})
			return
		}
		name := IdempotencyPath(key)
		release = func() {
			if err := h.st.Delete(ctx, name, gen); err != nil {
				log.Warn("release idempotency key", zap.String("object", name), zap.Error(err))
			}
		}
	}

	if err := h.storeRun(ctx, run, planJSON); err != nil {
		release()
		log.Error("store run", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}

	statusURL := h.runURL(r, run.ID)
	w.Header().Set("Location", statusURL)
	published, err := h.publish(ctx, run)
	if err != nil {
		log.Error("publish shards", zap.Int("published", published), zap.Int("shards", run.Shards), zap.Error(err))
		writeJSON(w, http.StatusServiceUnavailable, publishFailure{
			Error:     err.Error(),
			RunID:     run.ID,
			StartAt:   run.StartAt,
			StatusURL: statusURL,
			Shards:    run.Shards,
			Published: published,
			Note:      "the run is stored; the aggregator's failure detector publishes the shards nobody took by the start time",
		})
		return
	}
	log.Info("run accepted", zap.String("plan", p.Name), zap.Int("shards", run.Shards),
		zap.Time("start_at", run.StartAt), zap.Bool("idempotency_key", key != ""))
	writeJSON(w, http.StatusAccepted, Accepted{RunID: run.ID, StartAt: run.StartAt, StatusURL: statusURL})
}

// detach returns a context that outlives the client's hanging up but ends
// after at most d, or at the request's own deadline when it has one.
func detach(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// readPlan reads and parses the body, answering 413 or 400 itself when it
// cannot.
func (h *handler) readPlan(w http.ResponseWriter, r *http.Request) (*plan.Plan, bool) {
	limit := h.cfg.MaxBody
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("plan body of %d bytes is larger than this trigger's limit of %d bytes", r.ContentLength, limit))
		return nil, false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("plan body is larger than this trigger's limit of %d bytes", limit))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("read plan body: %v", err))
		return nil, false
	case len(strings.TrimSpace(string(data))) == 0:
		writeError(w, http.StatusBadRequest, "empty body: POST a plan as JSON or YAML")
		return nil, false
	}
	p, err := plan.Parse(data, formatOf(r.Header.Get("Content-Type")))
	var ve *plan.ValidationError
	switch {
	case errors.As(err, &ve):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid plan", Problems: ve.Problems})
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid plan: %v", err))
		return nil, false
	}
	if p.Data.File != "" {
		// A worker would read that path on its own disk: the submitter's
		// file is not there, and anything else must not be readable.
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid plan", Problems: []plan.Problem{{
			Path:   "data.file",
			Reason: "not accepted by the trigger, which cannot read the submitter's files: inline the texts as data.texts",
		}}})
		return nil, false
	}
	return p, true
}

// formatOf maps a Content-Type to plan.Parse's format; anything else is
// sniffed.
func formatOf(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return "json"
	case mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml" || mt == "text/x-yaml" || strings.HasSuffix(mt, "+yaml"):
		return "yaml"
	}
	return ""
}

// checkTarget answers 403 when the plan aims at a host not allowed.
func (h *handler) checkTarget(w http.ResponseWriter, p *plan.Plan) bool {
	path, host, port, err := targetHost(p.Target)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid plan", Problems: []plan.Problem{{Path: path, Reason: err.Error()}}})
		return false
	}
	if h.allow.allows(host, port) {
		return true
	}
	msg := fmt.Sprintf("target host %s of %s (%s) is not allowed by this trigger; allowed targets: %s",
		host, path, net.JoinHostPort(host, port), h.allow)
	writeJSON(w, http.StatusForbidden, errorBody{Error: msg, Problems: []plan.Problem{{Path: path, Reason: msg}}})
	return false
}

// limits lists every way p goes over the operator's limits.
func (h *handler) limits(p *plan.Plan) []plan.Problem {
	var probs []plan.Problem
	add := func(path, format string, args ...any) {
		probs = append(probs, plan.Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
	}
	c := h.cfg
	if c.MaxRate > 0 && p.Load.Model == plan.ModelOpen {
		if p.Load.StartRate != nil && *p.Load.StartRate > c.MaxRate {
			add("load.start_rate", "%g req/s is over this trigger's limit of %g req/s", *p.Load.StartRate, c.MaxRate)
		}
		for i, s := range p.Load.Stages {
			if s.Rate > c.MaxRate {
				add(fmt.Sprintf("load.stages[%d].rate", i), "%g req/s is over this trigger's limit of %g req/s", s.Rate, c.MaxRate)
			}
		}
	}
	if c.MaxUsers > 0 && p.Load.Model == plan.ModelClosed {
		if p.Load.StartUsers != nil && *p.Load.StartUsers > c.MaxUsers {
			add("load.start_users", "%d users is over this trigger's limit of %d", *p.Load.StartUsers, c.MaxUsers)
		}
		for i, s := range p.Load.Stages {
			if s.Users > c.MaxUsers {
				add(fmt.Sprintf("load.stages[%d].users", i), "%d users is over this trigger's limit of %d", s.Users, c.MaxUsers)
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
func (h *handler) claimKey(ctx context.Context, key string, rec idempotencyRecord, now time.Time) (idempotencyRecord, int64, error) {
	name := IdempotencyPath(key)
	data, err := json.Marshal(rec)
	if err != nil {
		return idempotencyRecord{}, 0, fmt.Errorf("encode idempotency record: %w", err)
	}
	for range 3 {
		gen, err := h.st.Create(ctx, name, data, "application/json")
		if err == nil {
			return rec, gen, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return idempotencyRecord{}, 0, fmt.Errorf("claim Idempotency-Key: %w", err)
		}
		obj, err := h.st.Get(ctx, name)
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
			_, err := h.st.Get(ctx, runs.RunPath(prev.RunID))
			if err == nil || now.Sub(prev.Created) < idempotencyStale {
				// Stored, or its request is still storing it.
				return prev, 0, nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return idempotencyRecord{}, 0, fmt.Errorf("read run of Idempotency-Key: %w", err)
			}
		}
		gen, err = h.st.Replace(ctx, name, obj.Generation, data, "application/json")
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
func (h *handler) storeRun(ctx context.Context, run runs.Run, planJSON []byte) error {
	if err := h.createOwn(ctx, runs.PlanPath(run.ID), planJSON); err != nil {
		return fmt.Errorf("store plan of run %s: %w", run.ID, err)
	}
	data, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("encode run %s: %w", run.ID, err)
	}
	if err := h.createOwn(ctx, runs.RunPath(run.ID), data); err != nil {
		if derr := h.st.Delete(ctx, runs.PlanPath(run.ID), 0); derr != nil {
			h.log.Warn("remove plan of unstored run", zap.String("run_id", run.ID), zap.Error(derr))
		}
		return fmt.Errorf("store run %s: %w", run.ID, err)
	}
	return nil
}

// createOwn writes name only if absent. The store retries a write whose
// answer was lost, and the retry answers ErrExists although the object is
// this request's own: an object already there with exactly data is taken
// as written (see store.Store), so that run.json is not taken for failed
// and its plan deleted from under it.
func (h *handler) createOwn(ctx context.Context, name string, data []byte) error {
	_, err := h.st.Create(ctx, name, data, "application/json")
	if !errors.Is(err, store.ErrExists) {
		return err
	}
	if obj, gerr := h.st.Get(ctx, name); gerr == nil && bytes.Equal(obj.Data, data) {
		return nil
	}
	return err
}

// publish sends one ShardWork per shard, a few at a time, and returns how
// many went out; on failure it stops starting new ones and returns the
// first error.
func (h *handler) publish(ctx context.Context, run runs.Run) (int, error) {
	var (
		mu        sync.Mutex
		published int
		firstErr  error
		wg        sync.WaitGroup
		sem       = make(chan struct{}, publishers)
	)
	for shard := range run.Shards {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			msg := runs.Encode(runs.ShardWork{RunID: run.ID, Shard: shard, Reason: "start"})
			attrs := map[string]string{"run_id": run.ID, "shard": strconv.Itoa(shard)}
			_, err := h.bus.Publish(ctx, bus.ShardsTopic, msg, attrs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("publish shard %d of run %s: %w", shard, run.ID, err)
				}
				return
			}
			published++
		}()
	}
	wg.Wait()
	return published, firstErr
}
