package trigger

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/trend"
)

// The runs list and a plan's history are read from the runs index alone
// (shared/index): one listing of index/ (or of one plan's folder) and one
// small read per row shown, never a listing of runs/, so that they cost
// the same after years of nightly runs.
//
//	GET /runs?plan=&status=&verdict=&since=&limit=&cursor=
//	    {"runs": [rows, newest first], "next": "<cursor>" or ""}
//	GET /plans/<name>?limit=
//	    {"plan": "<name>", "runs": [its last rows, newest first]}
//
// A browser (Accept: text/html) gets HTML pages of the same (package
// trend). A parameter the route does not take, given twice or with a bad
// value is 400, each named in "problems"; a plan without a run in the
// index is 404.

// RunsBody is the body of GET /runs.
type RunsBody struct {
	Runs []index.Row `json:"runs"`
	// Next is the cursor of the next page (older runs), "" on the last.
	Next string `json:"next"`
}

// PlanBody is the body of GET /plans/<name>.
type PlanBody struct {
	Plan string      `json:"plan"`
	Runs []index.Row `json:"runs"`
}

// DefaultPlanRuns is how many runs GET /plans/<name> shows without limit=.
const DefaultPlanRuns = 30

// Statuses and verdicts a filter may name: those a report has.
var (
	runStatuses = []string{report.StatusCompleted, report.StatusCancelled, report.StatusFailed, report.StatusIncomplete}
	runVerdicts = []string{report.VerdictPass, report.VerdictFail, report.VerdictIncomplete, report.VerdictError}
)

// params reads a route's query: each parameter once, only those the route
// takes. An empty value counts as absent. Every problem is named.
type params struct {
	v     url.Values
	probs []plan.Problem
}

func newParams(route string, v url.Values, takes ...string) *params {
	p := &params{v: v}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case !slices.Contains(takes, k):
			p.add(k, "unknown parameter: %s takes %s", route, strings.Join(takes, ", "))
		case len(v[k]) > 1:
			p.add(k, "given %d times, want once", len(v[k]))
		}
	}
	return p
}

func (p *params) add(name, format string, a ...any) {
	p.probs = append(p.probs, plan.Problem{Path: name, Reason: fmt.Sprintf(format, a...)})
}

func (p *params) get(name string) string { return p.v.Get(name) }

// oneOf is parameter name, which must be one of allowed when given.
func (p *params) oneOf(name string, allowed []string) string {
	s := p.get(name)
	if s != "" && !slices.Contains(allowed, s) {
		p.add(name, "%q: want one of %s", s, strings.Join(allowed, ", "))
		return ""
	}
	return s
}

// limit is parameter limit: a count of runs from 1 to index.MaxLimit.
func (p *params) limit(def int) int {
	s := p.get("limit")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > index.MaxLimit {
		p.add("limit", "%q: want a whole number of runs from 1 to %d", s, index.MaxLimit)
		return def
	}
	return n
}

// since is parameter since: an RFC 3339 time, or a date (midnight UTC).
func (p *params) since() time.Time {
	s := p.get("since")
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t
	}
	p.add("since", "%q: want an RFC 3339 time (2026-11-27T04:00:00Z) or a date (2026-11-27)", s)
	return time.Time{}
}

// err is the 400 naming every problem, nil when there is none.
func (p *params) err() error {
	if len(p.probs) == 0 {
		return nil
	}
	names := make([]string, len(p.probs))
	for i, pr := range p.probs {
		names[i] = pr.Path + ": " + pr.Reason
	}
	return &Error{Kind: KindInvalid, Message: "bad query parameters: " + strings.Join(names, "; "), Problems: p.probs}
}

// validPlanName reports whether name can be a plan's (plan.Plan's rules),
// so that what is looked up in the index is a name some plan may have.
func validPlanName(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case name == "":
		return fmt.Errorf("empty plan name")
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("plan name %q: must not contain control characters", name)
	case n > plan.MaxNameLen:
		return fmt.Errorf("plan name of %d characters: at most %d", n, plan.MaxNameLen)
	}
	return nil
}

// parseRunsQuery reads GET /runs's parameters into an index query.
func parseRunsQuery(v url.Values) (index.Query, error) {
	p := newParams("GET /runs", v, "plan", "status", "verdict", "since", "limit", "cursor")
	q := index.Query{
		Plan:    p.get("plan"),
		Status:  p.oneOf("status", runStatuses),
		Verdict: p.oneOf("verdict", runVerdicts),
		Since:   p.since(),
		Limit:   p.limit(index.DefaultLimit),
		Cursor:  p.get("cursor"),
	}
	if q.Plan != "" {
		if err := validPlanName(q.Plan); err != nil {
			p.add("plan", "%v", err)
		}
	}
	if q.Cursor != "" {
		if err := runid.Valid(q.Cursor); err != nil {
			p.add("cursor", "%v (the \"next\" of a previous page)", err)
		}
	}
	return q, p.err()
}

// parsePlanQuery reads GET /plans/<name>'s parameters: how many runs.
func parsePlanQuery(v url.Values) (int, error) {
	p := newParams("GET /plans/<name>", v, "limit")
	n := p.limit(DefaultPlanRuns)
	return n, p.err()
}

// describe says what a query selects, for the runs page's title.
func describe(q index.Query) string {
	var parts []string
	for _, f := range []struct{ name, v string }{{"plan", q.Plan}, {"status", q.Status}, {"verdict", q.Verdict}} {
		if f.v != "" {
			parts = append(parts, f.name+" "+f.v)
		}
	}
	if !q.Since.IsZero() {
		parts = append(parts, "since "+q.Since.UTC().Format(time.RFC3339))
	}
	if q.Cursor != "" {
		parts = append(parts, "before "+q.Cursor)
	}
	return strings.Join(parts, ", ")
}

// listRuns answers GET /runs from the index.
func (h *handler) listRuns(w http.ResponseWriter, r *http.Request) {
	q, err := parseRunsQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows, next, err := index.List(r.Context(), h.st, q)
	if err != nil {
		h.fail(w, r, &Error{Kind: KindUnavailable, Err: err})
		return
	}
	if rows == nil {
		rows = []index.Row{}
	}
	if !wantsHTML(r) {
		writeJSON(w, http.StatusOK, RunsBody{Runs: rows, Next: next})
		return
	}
	links := trend.Links{Base: h.baseURL(r)}
	page := trend.RunsPage{Rows: rows, Filters: describe(q), Links: links}
	if next != "" {
		v := r.URL.Query()
		v.Set("cursor", next)
		page.NextURL = links.Base + "/runs?" + v.Encode()
	}
	var buf bytes.Buffer
	if err := trend.WriteRunsHTML(&buf, page); err != nil {
		h.fail(w, r, &Error{Kind: KindInternal, Err: err})
		return
	}
	writeHTMLPage(w, http.StatusOK, buf.Bytes())
}

// planHistory answers GET /plans/<name> from the index: the plan's last
// runs, or its trend page.
func (h *handler) planHistory(w http.ResponseWriter, r *http.Request) {
	// The mux gives the rest of the path unescaped: a name with a "/" may
	// come escaped (/plans/nightly%2Fbert) or not.
	name := r.PathValue("name")
	if err := validPlanName(name); err != nil {
		h.fail(w, r, &Error{Kind: KindNotFound, Message: fmt.Sprintf("no such plan: %v", err)})
		return
	}
	n, err := parsePlanQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows, _, err := index.List(r.Context(), h.st, index.Query{Plan: name, Limit: n})
	if err != nil {
		h.fail(w, r, &Error{Kind: KindUnavailable, Err: err})
		return
	}
	code := http.StatusOK
	if len(rows) == 0 {
		code = http.StatusNotFound
	}
	if !wantsHTML(r) {
		if code == http.StatusNotFound {
			h.fail(w, r, &Error{Kind: KindNotFound, Message: fmt.Sprintf("plan %q has no run in the runs index (a run is indexed when its report is written)", name)})
			return
		}
		writeJSON(w, code, PlanBody{Plan: name, Runs: rows})
		return
	}
	var buf bytes.Buffer
	if err := trend.WritePlanHTML(&buf, trend.PlanPage{Plan: name, Rows: rows, Links: trend.Links{Base: h.baseURL(r)}}); err != nil {
		h.fail(w, r, &Error{Kind: KindInternal, Err: err})
		return
	}
	writeHTMLPage(w, code, buf.Bytes())
}

// writeHTMLPage answers one of the trigger's own pages, under the live
// view's policy: nothing fetched, no script.
func writeHTMLPage(w http.ResponseWriter, code int, page []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", livePolicy)
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(page)
}
