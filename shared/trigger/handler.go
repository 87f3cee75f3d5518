// Package trigger is the HTTP front door of cicada: POST /runs accepts a
// plan, stores it and publishes one message per shard; GET /runs/<id> tells
// a run's phase and progress; GET /runs/<id>/<file> serves its report
// files; DELETE /runs/<id> cancels it. GET /runs lists finished runs and
// GET /plans/<name> shows a plan's history, from the runs index
// (history.go). functions/trigger registers it as a
// Cloud Function, and the local composition serves it on 127.0.0.1.
//
// Service.Create is POST /runs apart from HTTP: it takes a parsed plan and
// answers a run or an *Error whose Kind says why not; httpStatus maps each
// Kind to its status.
//
// Statuses:
//
//	202 run accepted (POST), cancel recorded (DELETE, also when repeated);
//	    an accepted run whose shard messages did not all go out says so
//	    in "note": it stands, and the aggregator publishes them at its
//	    start time
//	200 status or file (GET); the same run again for a repeated Idempotency-Key (POST);
//	    the runs list or a plan's history (GET /runs, GET /plans/<name>)
//	400 body not a valid plan (every problem with its field path), bad Idempotency-Key,
//	    a bad query parameter of GET /runs or /plans/<name> (each named);
//	    a plan with a literal credential (a credential header, a secret
//	    query parameter or userinfo in the URL) unless the operator
//	    allows literal secrets (Config.LiteralSecrets): target.auth instead
//	401 no caller identity where the trigger takes it from the platform
//	    (Access.TrustPlatformIdentity)
//	403 target host not in the allow-list (the host and the list are named),
//	    or target.tls.insecure_skip_verify unless Config.AllowInsecureTLS;
//	    a cross-site request (Origin, Sec-Fetch-Site) that changes
//	    something; DELETE /runs/<id> or GET /runs/<id>/plan.json by
//	    another principal than the run's submitter or an admin
//	404 unknown path, invalid or unknown run id, absent file, a plan without
//	    a run in the runs index
//	405 method not allowed here (Allow header says which are)
//	409 DELETE of a run that already finished
//	413 body larger than Config.MaxBody
//	415 POST body declared neither JSON nor YAML (Content-Type)
//	421 a Host the trigger does not answer to (Access.AllowedHosts)
//	422 valid plan over an operator limit (rate, users, duration, shards;
//	    every field path with its limit), or an Idempotency-Key reused
//	    with another plan
//	429 over the operator's limit of runs at once, in all or per
//	    submitter (Retry-After says when the first counted run ends)
//	503 the bucket or the bus failed before any shard message went out:
//	    nothing was started and nothing kept (the run was withdrawn), so
//	    the client may retry
//
// Every error body is JSON {"error": "..."}; plan problems add
// "problems": [{"path", "reason"}]. Nothing served holds a credential:
// plan.json is served redacted (redact.PlanJSON), and so are error
// messages, which may quote the plan's URL.
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
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/redact"
	"github.com/cicadaload/cicada/shared/store"
)

// Deps is what the trigger works with. Store and Bus are required; Now
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
	svc *Service
	mux *http.ServeMux
	st  store.Store
	cfg Config
	now func() time.Time
	log *zap.Logger
	// allowErr is a configuration error found at construction: every
	// request answers it, since NewHandler cannot fail.
	allowErr error
	// hosts is the Host and Origin check (origin.go).
	hosts hostGuard
}

// NewHandler returns the trigger's HTTP handler. It has no side effects:
// nothing is read or written until a request comes. A configuration error
// (a bad allow-list pattern, a missing Store or Bus) makes every request
// answer 500 naming it; call Config.Check first to catch it early.
func NewHandler(d Deps) http.Handler {
	h := &handler{st: d.Store, cfg: d.Config, now: d.Now, log: d.Log}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.cfg.MaxBody <= 0 {
		h.cfg.MaxBody = 1 << 20
	}
	// What this process shows and logs is redacted with the operator's
	// names too (the set is process-wide).
	redact.AddHeaders(h.cfg.SecretHeaders...)
	h.svc, h.allowErr = NewService(d)
	var err error
	if h.hosts, err = newHostGuard(h.cfg.Access, h.cfg.PublicURL); err != nil && h.allowErr == nil {
		h.allowErr = err
	}
	h.mux = h.routes()
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

// routes is the trigger's mux. A GET pattern serves HEAD too. The
// patterns without a method take every other method of a route, to answer
// 405 with its Allow header, and "/" takes every other path.
func (h *handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /runs", h.create)
	mux.HandleFunc("GET /runs", h.listRuns)
	mux.HandleFunc("GET /plans/{name...}", h.planHistory)
	mux.HandleFunc("GET /runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		h.status(w, r, segment(r, "id"))
	})
	mux.HandleFunc("DELETE /runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		h.cancel(w, r, segment(r, "id"))
	})
	mux.HandleFunc("GET /runs/{id}/{file}", func(w http.ResponseWriter, r *http.Request) {
		if name, ct, ok := h.servedFile(w, r); ok {
			h.file(w, r, segment(r, "id"), name, ct)
		}
	})

	mux.HandleFunc("/runs", h.notAllowed(http.MethodGet, http.MethodHead, http.MethodPost))
	mux.HandleFunc("/plans/{name...}", h.notAllowed(http.MethodGet, http.MethodHead))
	mux.HandleFunc("/runs/{id}", h.notAllowed(http.MethodGet, http.MethodHead, http.MethodDelete))
	notAllowedFile := h.notAllowed(http.MethodGet, http.MethodHead)
	mux.HandleFunc("/runs/{id}/{file}", func(w http.ResponseWriter, r *http.Request) {
		// An unknown file is 404 whatever the method.
		if _, _, ok := h.servedFile(w, r); ok {
			notAllowedFile(w, r)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, &Error{Kind: KindNotFound, Message: fmt.Sprintf("no such path %q: the trigger serves GET and POST /runs, GET and DELETE /runs/<id>, GET /runs/<id>/<report file>, GET /plans/<name>", requestPath(r))})
	})
	return mux
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.allowErr != nil {
		h.fail(w, r, &Error{Kind: KindInternal, Err: h.allowErr})
		return
	}
	if err := h.hosts.check(r); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.hosts.checkOrigin(r); err != nil {
		h.fail(w, r, err)
		return
	}
	h.mux.ServeHTTP(w, muxRequest(r))
}

// muxRequest is r with its path rewritten for the mux, which would
// redirect a path with an empty or a dot segment to its cleaned form, and
// would keep an escaped slash inside a segment. The trigger rather splits
// the unescaped path at every slash, ignores those at either end, and
// answers 404 for an id or file that cannot exist. So each segment is
// escaped on its own, dots included, and an empty one, which the mux
// cannot carry, travels as two escaped slashes (emptySegment), which no
// segment holds; segment turns it back. The path as sent stays for messages
// (requestPath).
func muxRequest(r *http.Request) *http.Request {
	var raw strings.Builder
	if trimmed := strings.Trim(r.URL.Path, "/"); trimmed != "" {
		for _, seg := range strings.Split(trimmed, "/") {
			raw.WriteByte('/')
			switch seg {
			case "":
				raw.WriteString(url.PathEscape(emptySegment))
			case ".", "..":
				raw.WriteString(strings.Repeat("%2E", len(seg)))
			default:
				raw.WriteString(url.PathEscape(seg))
			}
		}
	} else {
		raw.WriteByte('/')
	}
	path, err := url.PathUnescape(raw.String())
	if err != nil {
		return r // cannot happen: every segment was escaped above
	}
	r2 := r.WithContext(context.WithValue(r.Context(), sentPath{}, r.URL.Path))
	u := *r.URL
	u.Path, u.RawPath = path, raw.String()
	r2.URL = &u
	// The mux answers a bare 400 to the request-target "*" (as in
	// "GET *"); rewritten, it is the path "/*", which is no route.
	r2.RequestURI = u.RequestURI()
	return r2
}

// emptySegment stands for an empty path segment in the mux. A lone "/"
// would not do: to the mux it is a trailing slash, not a segment.
const emptySegment = "//"

// sentPath is the context key of the path a request came with.
type sentPath struct{}

// requestPath is the path r came with, before muxRequest.
func requestPath(r *http.Request) string {
	if p, ok := r.Context().Value(sentPath{}).(string); ok {
		return p
	}
	return r.URL.Path
}

// segment is the path value name of a request routed by muxRequest.
func segment(r *http.Request, name string) string {
	if v := r.PathValue(name); v != emptySegment {
		return v
	}
	return ""
}

// servedFile is the file a request under /runs/<id>/ names, with its
// content type, or answers 404 when that file is not served.
func (h *handler) servedFile(w http.ResponseWriter, r *http.Request) (name, contentType string, ok bool) {
	name = segment(r, "file")
	contentType, ok = files[name]
	if !ok {
		h.fail(w, r, &Error{Kind: KindNotFound, Message: fmt.Sprintf("no such file %q under a run: served are %s", name, strings.Join(linkOrder, ", "))})
	}
	return name, contentType, ok
}

// notAllowed answers 405 with the Allow header naming methods.
func (h *handler) notAllowed(methods ...string) http.HandlerFunc {
	allow := strings.Join(methods, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		h.fail(w, r, &Error{Kind: KindMethodNotAllowed, Message: fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, requestPath(r), allow)})
	}
}

// errorBody is every error's JSON.
type errorBody struct {
	Error    string         `json:"error"`
	Problems []plan.Problem `json:"problems,omitempty"`
}

// writeError answers msg, redacted: a message may quote the plan's URL.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: redact.Text(msg)})
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
