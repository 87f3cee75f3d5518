// Package trigger is the HTTP front door of cicada: POST /runs accepts a
// plan, stores it and publishes one message per shard; GET /runs/<id> tells
// a run's phase and progress; GET /runs/<id>/<file> serves its report
// files; DELETE /runs/<id> cancels it. functions/trigger registers it as a
// Cloud Function, and the local composition serves it on 127.0.0.1.
//
// Statuses, in one place:
//
//	202 run accepted (POST), cancel recorded (DELETE, also when repeated)
//	200 status or file (GET); the same run again for a repeated Idempotency-Key (POST)
//	400 body not a valid plan (every problem with its field path), bad Idempotency-Key
//	403 target host not in the allow-list (the host and the list are named)
//	404 unknown path, invalid or unknown run id, absent file
//	405 method not allowed here (Allow header says which are)
//	409 DELETE of a run that already finished
//	413 body larger than Config.MaxBody
//	422 valid plan over an operator limit (rate, users, duration, shards;
//	    every field path with its limit), or an Idempotency-Key reused
//	    with another plan
//	503 the bucket or the bus failed; a run whose shards were only partly
//	    published stays, and the aggregator's failure detector publishes
//	    the shards nobody took by the start time
//
// Every error body is JSON {"error": "..."}; plan problems add
// "problems": [{"path", "reason"}].
//
// An Idempotency-Key header (at most MaxIdempotencyKey characters) binds
// the key to the run in the object IdempotencyPath(key), written only if
// absent before anything else: of two requests with one key, exactly one
// stores and publishes a run, and the other answers 200 with that run's
// run_id, start_at and status_url and publishes nothing. The same plan in
// another format is the same request (the normalized plan is compared);
// another plan is refused with 422. A key whose request died before
// storing its run is taken over after a minute.
package trigger

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/store"
)

// Deps is what the handler works with. Store and Bus are required; Now
// defaults to time.Now and Log to a no-op logger.
type Deps struct {
	Store  store.Store
	Bus    bus.Bus
	Config Config
	Now    func() time.Time
	Log    *zap.Logger
}

// handler serves the trigger's routes.
type handler struct {
	st    store.Store
	bus   bus.Bus
	cfg   Config
	allow allowList
	now   func() time.Time
	log   *zap.Logger
	// allowErr is a configuration error found at construction: every
	// request answers it, since NewHandler cannot fail.
	allowErr error
}

// NewHandler returns the trigger's HTTP handler. It has no side effects:
// nothing is read or written until a request comes. A configuration error
// (a bad allow-list pattern, a missing Store or Bus) makes every request
// answer 500 naming it; call Config.Check first to catch it early.
func NewHandler(d Deps) http.Handler {
	h := &handler{st: d.Store, bus: d.Bus, cfg: d.Config, now: d.Now, log: d.Log}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.cfg.MaxBody <= 0 {
		h.cfg.MaxBody = 1 << 20
	}
	var err error
	h.allow, err = newAllowList(d.Config.AllowedTargets)
	switch {
	case err != nil:
		h.allowErr = err
	case d.Store == nil || d.Bus == nil:
		h.allowErr = errors.New("trigger: Deps.Store and Deps.Bus are required")
	}
	return h
}

// files served under /runs/<id>/, with their content types. Nothing else
// under a run (leases, slices, markers) is served.
var files = map[string]string{
	"report.json":   "application/json",
	"report.html":   "text/html; charset=utf-8",
	"report.csv":    "text/csv; charset=utf-8",
	"summary.txt":   "text/plain; charset=utf-8",
	"junit.xml":     "application/xml",
	"histogram.hdr": "application/octet-stream",
	"live.json":     "application/json",
	"plan.json":     "application/json",
}

// linkOrder is the order report links are looked for in; JSON objects are
// written with sorted keys anyway.
var linkOrder = []string{"report.json", "report.html", "report.csv", "summary.txt", "junit.xml", "histogram.hdr", "live.json", "plan.json"}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.allowErr != nil {
		writeError(w, http.StatusInternalServerError, h.allowErr.Error())
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] != "runs" || len(parts) > 3 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such path %q: the trigger serves POST /runs, GET and DELETE /runs/<id>, GET /runs/<id>/<report file>", r.URL.Path))
		return
	}
	switch len(parts) {
	case 1:
		if !allowMethod(w, r, http.MethodPost) {
			return
		}
		h.create(w, r)
	case 2:
		if !allowMethod(w, r, http.MethodGet, http.MethodHead, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodDelete {
			h.cancel(w, r, parts[1])
			return
		}
		h.status(w, r, parts[1])
	case 3:
		ct, ok := files[parts[2]]
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no such file %q under a run: served are %s", parts[2], strings.Join(linkOrder, ", ")))
			return
		}
		if !allowMethod(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.file(w, r, parts[1], parts[2], ct)
	}
}

// allowMethod answers 405 with the Allow header unless r's method is one
// of methods.
func allowMethod(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := strings.Join(methods, ", ")
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	return false
}

// errorBody is every error's JSON.
type errorBody struct {
	Error    string         `json:"error"`
	Problems []plan.Problem `json:"problems,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// Only our own types are written; this is a programming error.
		code = http.StatusInternalServerError
		b = []byte(`{"error": "encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// baseURL is where clients reach the trigger: Config.PublicURL, or the
// scheme and host the request came to.
func (h *handler) baseURL(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return strings.TrimSuffix(h.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// Cloud Run and Cloud Functions terminate TLS in front of us and say so.
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

func (h *handler) runURL(r *http.Request, id string) string {
	return h.baseURL(r) + "/runs/" + id
}
