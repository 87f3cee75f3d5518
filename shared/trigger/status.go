package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/redact"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/triggerapi"
)

// Phases of a run, as GET /runs/<id> tells them; triggerapi holds them,
// with the answers' bodies, for the trigger's clients.
const (
	PhaseScheduled  = triggerapi.PhaseScheduled
	PhaseRunning    = triggerapi.PhaseRunning
	PhaseFinalizing = triggerapi.PhaseFinalizing
	PhaseDone       = triggerapi.PhaseDone
	PhaseCancelled  = triggerapi.PhaseCancelled
	PhaseFailed     = triggerapi.PhaseFailed
)

// Status is the body of GET /runs/<id>.
type Status = triggerapi.Status

// Cancelled is the body of DELETE /runs/<id>'s answer.
type Cancelled = triggerapi.Cancelled

// statusReaders bounds the lease objects read at once.
const statusReaders = 16

// loadRun answers 404 itself for an invalid or unknown id, 503 when the
// bucket fails.
func (h *handler) loadRun(ctx context.Context, w http.ResponseWriter, id string) (runs.Run, bool) {
	if err := runid.Valid(id); err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such run: %v", err))
		return runs.Run{}, false
	}
	obj, err := h.st.Get(ctx, runs.RunPath(id))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("run %s not found", id))
		return runs.Run{}, false
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("read run %s: %v", id, err))
		return runs.Run{}, false
	}
	run, err := runs.DecodeRun(obj.Data)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("read run %s: corrupt %s: %v", id, runs.RunPath(id), err))
		return runs.Run{}, false
	}
	return run, true
}

// getOptional reads name, giving nil data (and no error) when it is absent.
func (h *handler) getOptional(ctx context.Context, name string) ([]byte, error) {
	obj, err := h.st.Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if obj.Data == nil {
		obj.Data = []byte{} // present but empty is still present
	}
	return obj.Data, nil
}

// exists reports whether name is in the bucket, by listing it as a prefix:
// a report file may be large, and only its presence matters here.
func (h *handler) exists(ctx context.Context, name string) (bool, error) {
	names, err := h.st.List(ctx, name)
	if err != nil {
		return false, fmt.Errorf("list %s: %w", name, err)
	}
	return slices.Contains(names, name), nil
}

func (h *handler) status(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	run, ok := h.loadRun(ctx, w, id)
	if !ok {
		return
	}
	now := h.now()
	var (
		cancel, live, rep []byte
		leased, done      int
		present           = map[string]bool{"plan.json": true}
		mu                sync.Mutex
		wg                sync.WaitGroup
		errs              []error
	)
	// The bucket is read by independent calls; in the cloud each is a round
	// trip, so they go out together.
	do := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	getInto := func(name string, dst *[]byte) func() error {
		return func() (err error) { *dst, err = h.getOptional(ctx, name); return err }
	}
	do(getInto(runs.CancelPath(id), &cancel))
	do(getInto(runs.LivePath(id), &live))
	do(getInto(runs.ReportPath(id, "report.json"), &rep))
	for _, f := range linkOrder {
		if f == "plan.json" || f == "report.json" || f == "live.json" {
			continue
		}
		do(func() error {
			ok, err := h.exists(ctx, runs.ReportPath(id, f))
			mu.Lock()
			present[f] = ok
			mu.Unlock()
			return err
		})
	}
	do(func() (err error) { done, err = h.countDone(ctx, id); return err })
	do(func() (err error) { leased, err = h.countLeased(ctx, id, now); return err })
	wg.Wait()
	if len(errs) > 0 {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("status of run %s: %v", id, errors.Join(errs...)))
		return
	}
	present["report.json"], present["live.json"] = rep != nil, live != nil

	st := Status{
		RunID:        run.ID,
		PlanName:     run.PlanName,
		StartAt:      run.StartAt,
		End:          run.End,
		Shards:       run.Shards,
		ShardsLeased: leased,
		ShardsDone:   done,
		Cancelled:    cancel != nil,
		Links:        map[string]string{},
	}
	var repStatus string
	switch {
	case rep != nil:
		st.Summary, repStatus = summaryOf(rep)
	case live != nil:
		st.Summary, _ = summaryOf(live)
	}
	st.Phase = phase(now, run, rep != nil, repStatus, st.Cancelled, done)
	base := h.runURL(r, id)
	for _, f := range linkOrder {
		if present[f] {
			st.Links[f] = base + "/" + f
		}
	}
	w.Header().Set("Vary", "Accept") // browsers get the live view (live.go)
	if wantsHTML(r) {
		h.liveView(w, r, st, rep, live)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// phase decides a run's phase from what the bucket holds.
func phase(now time.Time, run runs.Run, hasReport bool, reportStatus string, cancelled bool, shardsDone int) string {
	switch {
	case hasReport && reportStatus == report.StatusFailed:
		return PhaseFailed
	case cancelled || reportStatus == report.StatusCancelled:
		return PhaseCancelled
	case hasReport:
		return PhaseDone
	case now.Before(run.StartAt):
		return PhaseScheduled
	case run.Shards > 0 && shardsDone >= run.Shards:
		return PhaseFinalizing // the aggregator is writing the report
	case now.Before(run.End):
		return PhaseRunning
	default:
		return PhaseFinalizing
	}
}

// summaryOf takes the "summary" object and "status" of a report or of
// live.json. A document without a summary is passed whole; an unreadable
// one gives null, since the status must still answer.
func summaryOf(doc []byte) (json.RawMessage, string) {
	var v struct {
		Status  string          `json:"status"`
		Summary json.RawMessage `json:"summary"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, ""
	}
	if len(v.Summary) > 0 && string(v.Summary) != "null" {
		return v.Summary, v.Status
	}
	return json.RawMessage(doc), v.Status
}

// countDone counts the shards' done markers.
func (h *handler) countDone(ctx context.Context, id string) (int, error) {
	names, err := h.st.List(ctx, runs.DonePrefix(id))
	if err != nil {
		return 0, fmt.Errorf("list done markers: %w", err)
	}
	n := 0
	for _, name := range names {
		if _, err := runs.ParseDonePath(id, name); err == nil {
			n++
		}
	}
	return n, nil
}

// countLeased reads every lease object and counts those live at now.
func (h *handler) countLeased(ctx context.Context, id string, now time.Time) (int, error) {
	names, err := h.st.List(ctx, runs.LeasePrefix(id))
	if err != nil {
		return 0, fmt.Errorf("list leases: %w", err)
	}
	var (
		mu       sync.Mutex
		live     int
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, statusReaders)
	)
	for _, name := range names {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			data, err := h.getOptional(ctx, name)
			var rec lease.Record
			isLive := err == nil && data != nil && json.Unmarshal(data, &rec) == nil && rec.Live(now)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if isLive {
				live++
			}
		}()
	}
	wg.Wait()
	return live, firstErr
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	run, ok := h.loadRun(ctx, w, id)
	if !ok {
		return
	}
	if err := h.authorize(r, run, "cancelling"); err != nil {
		h.fail(w, r, err)
		return
	}
	answer := Cancelled{RunID: run.ID, Phase: PhaseCancelled, StatusURL: h.runURL(r, id)}
	cancelled, err := h.exists(ctx, runs.CancelPath(id))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cancel run %s: %v", id, err))
		return
	}
	if cancelled {
		writeJSON(w, http.StatusAccepted, answer)
		return
	}
	finished, err := h.exists(ctx, runs.ReportPath(id, "report.json"))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cancel run %s: %v", id, err))
		return
	}
	if finished {
		writeError(w, http.StatusConflict, fmt.Sprintf("run %s already finished: its report is written, nothing to cancel", id))
		return
	}
	marker := runs.Encode(runs.Cancel{CancelledAt: h.now().UTC()})
	if _, err := h.st.Create(ctx, runs.CancelPath(id), marker, "application/json"); err != nil && !errors.Is(err, store.ErrExists) {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cancel run %s: %v", id, err))
		return
	}
	h.log.Info("run cancelled", zap.String("run_id", id))
	writeJSON(w, http.StatusAccepted, answer)
}

func (h *handler) file(w http.ResponseWriter, r *http.Request, id, file, contentType string) {
	if err := runid.Valid(id); err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such run: %v", err))
		return
	}
	if file == "plan.json" && h.cfg.TrustPlatformIdentity {
		// The plan may hold what its submitter alone should see (headers,
		// texts): it is the submitter's and the admins' (access.go).
		run, ok := h.loadRun(r.Context(), w, id)
		if !ok {
			return
		}
		if err := h.authorize(r, run, "reading the plan of"); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	name := runs.ReportPath(id, file)
	obj, err := h.st.Get(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		msg := fmt.Sprintf("%s of run %s not found", file, id)
		if file != "plan.json" {
			msg += " (report files are written when the run ends, live.json while it runs)"
		}
		writeError(w, http.StatusNotFound, msg)
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("read %s: %v", name, err))
		return
	}
	if file == "plan.json" {
		// The plan as stored may hold literal credentials (when the
		// operator allows them); it is never served with them.
		obj.Data = redact.PlanJSON(obj.Data)
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.Itoa(len(obj.Data)))
	hd.Set("X-Content-Type-Options", "nosniff")
	if file == "report.html" {
		// The report may run its own scripts, but not as the trigger's origin.
		hd.Set("Content-Security-Policy", "sandbox allow-scripts")
	}
	if file == "live.json" {
		hd.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(obj.Data)
}
