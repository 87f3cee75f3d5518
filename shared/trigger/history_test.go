package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/triggerapi"
)

// callCounter is a store with every List prefix and Get name recorded, to
// prove what a route read.
type callCounter struct {
	store.Store
	mu    sync.Mutex
	lists []string
	gets  []string
}

func (c *callCounter) List(ctx context.Context, prefix string) ([]string, error) {
	c.mu.Lock()
	c.lists = append(c.lists, prefix)
	c.mu.Unlock()
	return c.Store.List(ctx, prefix)
}

func (c *callCounter) Get(ctx context.Context, name string) (store.Object, error) {
	c.mu.Lock()
	c.gets = append(c.gets, name)
	c.mu.Unlock()
	return c.Store.Get(ctx, name)
}

// touchedRuns lists the calls that read under runs/.
func (c *callCounter) touchedRuns() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, p := range c.lists {
		if strings.HasPrefix(runs.Root, p) || strings.HasPrefix(p, runs.Root) {
			out = append(out, "List "+p)
		}
	}
	for _, n := range c.gets {
		if strings.HasPrefix(n, runs.Root) {
			out = append(out, "Get "+n)
		}
	}
	return out
}

var night0 = time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)

// nightReport is a finished run of plan on night n.
func nightReport(plan string, n int, verdict string) *report.Report {
	start := night0.Add(time.Duration(n) * 24 * time.Hour)
	rep := &report.Report{
		RunID: fmt.Sprintf("%s-%06x", start.Format("20060102-150405"), n), PlanName: plan, Status: report.StatusCompleted,
		Start: start, End: start.Add(time.Minute), Shards: 2, Verdict: verdict,
		Summary: report.Summary{
			Intended: 6000, Completed: 5990, Errors: 10, ErrorRate: 10.0 / 5990, RPS: 99.8, PlannedRPS: 100,
			LatencyMS: slice.Percentiles{P50: 10 + float64(n), P90: 20, P99: 40 + float64(n), Max: 90},
		},
	}
	if verdict == report.VerdictFail {
		rep.VerdictReasons = []string{"threshold p99 < 45ms failed"}
	}
	return rep
}

// historyEnv is a trigger over a disk bucket holding the index rows of 10
// nights of "nightly/bert" (every third fails) and 3 of "other".
func historyEnv(t *testing.T) (http.Handler, *callCounter) {
	t.Helper()
	disk, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for n := range 10 {
		v := report.VerdictPass
		if n%3 == 2 {
			v = report.VerdictFail
		}
		if err := index.Write(ctx, disk, nightReport("nightly/bert", n, v), []byte(`{"name":"nightly/bert"}`)); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 3 {
		if err := index.Write(ctx, disk, nightReport("other", n+20, report.VerdictPass), []byte(`{"name":"other"}`)); err != nil {
			t.Fatal(err)
		}
	}
	b, closeBus, err := bus.NewInProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeBus)
	cs := &callCounter{Store: disk}
	return NewHandler(Deps{Store: cs, Bus: b, Config: testConfig(), Now: func() time.Time { return night0.Add(40 * 24 * time.Hour) }}), cs
}

func night(plan string, n int) string { return nightReport(plan, n, "").RunID }

func get(h http.Handler, path, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestRunsAndPlansRoutes(t *testing.T) {
	t.Parallel()
	h, cs := historyEnv(t)
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	b := func(n int) string { return night("nightly/bert", n) }
	o := func(n int) string { return night("other", n+20) }
	tests := []struct {
		name, path, accept string
		code               int
		ids                []string // JSON: the runs' ids, in order
		next               string   // JSON: the cursor
		want               []string // in the body
	}{
		{"every run, newest first", "/runs", "", 200, []string{o(2), o(1), o(0), b(9), b(8), b(7), b(6), b(5), b(4), b(3), b(2), b(1), b(0)}, "", nil},
		{"one plan, a page", "/runs?plan=nightly%2Fbert&limit=3", "", 200, []string{b(9), b(8), b(7)}, b(7), nil},
		{"the next page", "/runs?plan=nightly%2Fbert&limit=3&cursor=" + b(7), "", 200, []string{b(6), b(5), b(4)}, b(4), nil},
		{"failed nights", "/runs?plan=nightly/bert&verdict=fail", "", 200, []string{b(8), b(5), b(2)}, "", nil},
		{"since a date", "/runs?since=2026-11-09", "", 200, []string{o(2), o(1), o(0), b(9), b(8)}, "", nil},
		{"since a time", "/runs?plan=nightly/bert&since=2026-11-10T01:00:00%2B00:00", "", 200, []string{b(9)}, "", nil},
		{"status", "/runs?plan=other&status=completed", "", 200, []string{o(2), o(1), o(0)}, "", nil},
		{"no match", "/runs?plan=nope", "", 200, []string{}, "", []string{`"runs": []`, `"next": ""`}},
		{"empty values are absent", "/runs?plan=&verdict=&limit=2", "", 200, []string{o(2), o(1)}, o(1), nil},
		{"bad limit", "/runs?limit=0", "", 400, nil, "", []string{`"path": "limit"`, "from 1 to 500"}},
		{"limit over the most", "/runs?limit=501", "", 400, nil, "", []string{`"path": "limit"`}},
		{"bad since", "/runs?since=yesterday", "", 400, nil, "", []string{`"path": "since"`, "RFC 3339"}},
		{"bad verdict and status", "/runs?verdict=good&status=done", "", 400, nil, "", []string{`"path": "status"`, `"path": "verdict"`, "want one of pass, fail, incomplete, error"}},
		{"bad cursor", "/runs?cursor=../x", "", 400, nil, "", []string{`"path": "cursor"`}},
		{"unknown parameter", "/runs?plna=x", "", 400, nil, "", []string{`"path": "plna"`, "unknown parameter"}},
		{"twice", "/runs?plan=a&plan=b", "", 400, nil, "", []string{`"path": "plan"`, "given 2 times"}},
		{"runs page", "/runs?plan=nightly%2Fbert&limit=3", browser, 200, nil, "", []string{
			"<title>cicada runs · plan nightly/bert</title>",
			`<a href="http://example.com/runs/` + b(9) + `">`,
			`<a href="http://example.com/runs/` + b(8) + `/report.html">report</a>`,
			`<a href="http://example.com/plans/nightly%2Fbert">nightly/bert</a>`,
			`<span class="badge fail" title="threshold p99 &lt; 45ms failed">FAIL</span>`,
			`<a id="next" href="http://example.com/runs?cursor=` + b(7) + `&amp;limit=3&amp;plan=nightly%2Fbert">`,
		}},
		{"a plan's rows", "/plans/nightly%2Fbert?limit=4", "", 200, []string{b(9), b(8), b(7), b(6)}, "", []string{`"plan": "nightly/bert"`}},
		{"a plan's rows, slash unescaped", "/plans/nightly/bert", "", 200, []string{b(9), b(8), b(7), b(6), b(5), b(4), b(3), b(2), b(1), b(0)}, "", nil},
		{"a plan without runs", "/plans/nope", "", 404, nil, "", []string{`plan \"nope\" has no run in the runs index`}},
		{"a plan page without runs", "/plans/nope", browser, 404, nil, "", []string{`id="no-runs"`}},
		{"plan limit", "/plans/other?limit=x", "", 400, nil, "", []string{`"path": "limit"`}},
		{"plan parameter", "/plans/other?verdict=fail", "", 400, nil, "", []string{`"path": "verdict"`, `GET /plans/\u003cname\u003e takes limit`}},
		{"trend page", "/plans/nightly%2Fbert", browser, 200, nil, "", []string{
			"<h1>Plan nightly/bert</h1>", `id="chart-latency"`, `id="chart-errors"`, `id="chart-rate"`,
			`href="http://example.com/runs/` + b(5) + `/report.html"><title>run ` + b(5),
			`class="failed"`, "last 10 run(s), 7 passed",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := get(h, tt.path, tt.accept)
			if w.Code != tt.code {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, w.Code, w.Body, tt.code)
			}
			body := w.Body.String()
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("GET %s lacks %q:\n%s", tt.path, s, body)
				}
			}
			if tt.accept != "" {
				if ct, csp := w.Header().Get("Content-Type"), w.Header().Get("Content-Security-Policy"); ct != "text/html; charset=utf-8" || csp != livePolicy {
					t.Errorf("page Content-Type %q CSP %q, want HTML under the live view's policy", ct, csp)
				}
				return
			}
			if tt.ids == nil {
				return
			}
			var got struct {
				Runs []index.Row `json:"runs"`
				Next *string     `json:"next"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			ids := []string{}
			for _, r := range got.Runs {
				ids = append(ids, r.RunID)
			}
			if !reflect.DeepEqual(ids, tt.ids) {
				t.Errorf("GET %s = %v, want %v", tt.path, ids, tt.ids)
			}
			if strings.HasPrefix(tt.path, "/runs") && (got.Next == nil || *got.Next != tt.next) {
				t.Errorf("GET %s next = %v, want %q", tt.path, got.Next, tt.next)
			}
		})
	}
	t.Cleanup(func() {
		if touched := cs.touchedRuns(); len(touched) > 0 {
			t.Errorf("the routes read under runs/: %v", touched)
		}
		for _, p := range cs.lists {
			if !strings.HasPrefix(p, runs.IndexRoot) {
				t.Errorf("the routes listed %q, outside the index", p)
			}
		}
		if len(cs.lists) == 0 || len(cs.gets) == 0 {
			t.Errorf("the routes listed %d prefixes and read %d objects: the counter counts nothing", len(cs.lists), len(cs.gets))
		}
	})
}

// TestRunsPaging follows the cursor through every page: each run once,
// newest first.
func TestRunsPaging(t *testing.T) {
	t.Parallel()
	h, _ := historyEnv(t)
	var all []string
	path := "/runs?limit=4"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the cursor does not end")
		}
		w := get(h, path, "application/json")
		var body RunsBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 {
			t.Fatalf("GET %s = %d %s", path, w.Code, w.Body)
		}
		for _, r := range body.Runs {
			all = append(all, r.RunID)
		}
		if body.Next == "" {
			break
		}
		path = "/runs?limit=4&cursor=" + url.QueryEscape(body.Next)
	}
	if len(all) != 13 {
		t.Fatalf("pages hold %d runs, want 13: %v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i] >= all[i-1] {
			t.Errorf("run %s after %s: not newest first, or twice", all[i], all[i-1])
		}
	}
}

func TestParseRunsQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query string
		want  index.Query
		bad   []string // the parameters named, in order
	}{
		{"", index.Query{Limit: index.DefaultLimit}, nil},
		{"plan=nightly%2Fbert&status=failed&verdict=error&limit=7&cursor=20261127-040512-3f9a1c",
			index.Query{Plan: "nightly/bert", Status: "failed", Verdict: "error", Limit: 7, Cursor: "20261127-040512-3f9a1c"}, nil},
		{"since=2026-11-27", index.Query{Since: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Limit: index.DefaultLimit}, nil},
		{"since=2026-11-27T05:00:00%2B01:00", index.Query{Since: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC), Limit: index.DefaultLimit}, nil},
		{"limit=500", index.Query{Limit: 500}, nil},
		{"limit=-1", index.Query{}, []string{"limit"}},
		{"limit=1e3", index.Query{}, []string{"limit"}},
		{"since=27/11/2026", index.Query{}, []string{"since"}},
		{"status=running", index.Query{}, []string{"status"}},
		{"verdict=PASS", index.Query{}, []string{"verdict"}},
		{"cursor=20261127", index.Query{}, []string{"cursor"}},
		{"plan=" + strings.Repeat("x", 101), index.Query{}, []string{"plan"}},
		{"plan=a%00b", index.Query{}, []string{"plan"}},
		{"zzz=1&limit=0&aaa=2", index.Query{}, []string{"aaa", "zzz", "limit"}},
		{"verdict=pass&verdict=fail", index.Query{}, []string{"verdict"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := parseRunsQuery(v)
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("parseRunsQuery(%s): %v", tt.query, err)
				}
				if !q.Since.Equal(tt.want.Since) {
					t.Errorf("since = %v, want %v", q.Since, tt.want.Since)
				}
				q.Since, tt.want.Since = time.Time{}, time.Time{}
				if q != tt.want {
					t.Errorf("parseRunsQuery(%s) = %+v, want %+v", tt.query, q, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid {
				t.Fatalf("parseRunsQuery(%s) = %v, want a KindInvalid error", tt.query, err)
			}
			var named []string
			for _, p := range e.Problems {
				named = append(named, p.Path)
			}
			if !reflect.DeepEqual(named, tt.bad) {
				t.Errorf("problems name %v, want %v (%v)", named, tt.bad, err)
			}
			for _, p := range tt.bad {
				if !strings.Contains(err.Error(), p+": ") {
					t.Errorf("message %q does not name %s", err, p)
				}
			}
		})
	}
}

func TestParsePlanQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query string
		want  int
		ok    bool
	}{
		{"", DefaultPlanRuns, true},
		{"limit=14", 14, true},
		{"limit=0", 0, false},
		{"limit=14&limit=15", 0, false},
		{"plan=x", 0, false},
	}
	for _, tt := range tests {
		v, _ := url.ParseQuery(tt.query)
		n, err := parsePlanQuery(v)
		if (err == nil) != tt.ok || (tt.ok && n != tt.want) {
			t.Errorf("parsePlanQuery(%q) = %d, %v; want %d, ok %v", tt.query, n, err, tt.want, tt.ok)
		}
	}
}

// TestRunRowMatchesIndex keeps triggerapi.RunRow, what clients decode, in
// step with index.Row, what the routes encode: each field of RunRow is a
// column of the index with the same JSON type.
func TestRunRowMatchesIndex(t *testing.T) {
	t.Parallel()
	cols := func(typ reflect.Type) map[string]reflect.Type {
		out := map[string]reflect.Type{}
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out[name] = f.Type
		}
		return out
	}
	have := cols(reflect.TypeFor[index.Row]())
	for name, typ := range cols(reflect.TypeFor[triggerapi.RunRow]()) {
		if got, ok := have[name]; !ok || got != typ {
			t.Errorf("triggerapi.RunRow field %q (%v) is not an index.Row column of that type (%v)", name, typ, got)
		}
	}
	if len(have) != len(cols(reflect.TypeFor[triggerapi.RunRow]())) {
		t.Errorf("index.Row has %d columns, triggerapi.RunRow %d: add the new ones to RunRow", len(have), len(cols(reflect.TypeFor[triggerapi.RunRow]())))
	}
}
