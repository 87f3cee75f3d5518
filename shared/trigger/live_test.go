package trigger

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/runs"
)

// Accept headers as browsers and clients send them.
const (
	acceptChrome  = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	acceptFirefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	acceptSafari  = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

func TestWantsHTML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept []string
		want   bool
	}{
		{[]string{acceptChrome}, true},
		{[]string{acceptFirefox}, true},
		{[]string{acceptSafari}, true},
		{[]string{"text/html"}, true},
		{[]string{"TEXT/HTML; charset=utf-8"}, true},
		{[]string{"application/xhtml+xml"}, true},
		{[]string{"text/*"}, true},
		{[]string{"application/json", "text/html"}, false}, // two headers: a tie keeps JSON
		{[]string{"text/html;q=0.5, application/json"}, false},
		{[]string{"application/json;q=0.4, text/html"}, true},
		{[]string{"text/html, */*"}, false}, // */* covers JSON at the same weight
		{[]string{"text/html, */*;q=0.1"}, true},
		{[]string{"text/html;q=0"}, false},
		{[]string{"text/html;q=bogus"}, false},
		{[]string{"application/json"}, false},
		{[]string{"*/*"}, false}, // curl, Go, most API clients
		{nil, false},
		{[]string{""}, false},
		{[]string{"garbage, ;;, /"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.accept, " | "), func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/runs/"+testRun, nil)
			for _, a := range tt.accept {
				r.Header.Add("Accept", a)
			}
			if got := wantsHTML(r); got != tt.want {
				t.Errorf("wantsHTML(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

// liveDoc is live.json (or report.json) of testRun: two slices, the
// second reported by one shard of four.
const liveDoc = `{"run_id": "` + testRun + `", "plan_name": "stored", "status": "%STATUS%", "verdict": "%VERDICT%",
  "start": "2026-11-27T04:05:22Z", "end": "2026-11-27T04:05:52Z", "slice_seconds": 10, "shards": 4,
  "summary": {"intended": 300, "sent": 300, "completed": 300, "errors": 3, "error_rate": 0.01, "rps": 10,
    "latency_ms": {"p50": 1.5, "p90": 2, "p99": 4, "max": 9}, "outcomes": {"http:200": 297, "error:timeout": 3}},
  "slices": [
    {"index": 0, "start": "2026-11-27T04:05:22Z", "intended": 200, "completed": 200, "errors": 2, "rps": 20, "shards_reporting": 4,
     "latency_ms": {"p50": 1.5, "p90": 2, "p99": 4, "max": 9}, "planned_rps": 20},
    {"index": 1, "start": "2026-11-27T04:05:32Z", "intended": 100, "completed": 100, "errors": 1, "rps": 10, "shards_reporting": 1,
     "latency_ms": {"p50": 1.4, "p90": 2, "p99": 3, "max": 5}, "planned_rps": 20}
  ]}`

func liveJSON(status, verdict string) string {
	return strings.NewReplacer("%STATUS%", status, "%VERDICT%", verdict).Replace(liveDoc)
}

func TestLiveView(t *testing.T) {
	t.Parallel()
	const bucketHTML = "<!DOCTYPE html><html><body>the aggregator's report.html</body></html>"
	refresh := regexp.MustCompile(`(?i)<meta http-equiv="refresh" content="2"\s*/?>`)
	tests := []struct {
		name      string
		now       time.Time
		objects   map[string]string
		accept    string
		wantBody  string   // the whole body, when set
		want      []string // in the body
		unwant    []string
		refreshes bool
	}{
		{
			name: "scheduled, nothing merged yet", now: t0.Add(time.Second), accept: acceptChrome, refreshes: true,
			want: []string{`id="cicada-phase">scheduled<`, "starts in 9s", "leased 0/4 · done 0/4", "no slice has been merged yet"},
		},
		{
			name: "running with live figures", now: t0.Add(25 * time.Second), accept: acceptFirefox, refreshes: true,
			objects: map[string]string{
				runs.LivePath(testRun):     liveJSON("", ""),
				runs.LeasePath(testRun, 0): leaseJSON("w1", t0.Add(40*time.Second), false),
				runs.LeasePath(testRun, 1): leaseJSON("w2", t0.Add(40*time.Second), false),
				runs.DonePath(testRun, 3):  `{}`,
			},
			want: []string{`id="cicada-phase">running<`, "leased 2/4 · done 1/4", "50% · 15s of 30s", `aria-valuenow="50"`,
				"<svg", "chart-latency", "chart-rate", "chart-errors", "reloads every 2 s",
				`href="http://example.com/runs/` + testRun + `/live.json"`},
		},
		{
			name: "finalizing", now: t0.Add(45 * time.Second), accept: "text/html", refreshes: true,
			objects: map[string]string{runs.LivePath(testRun): liveJSON("", "")},
			want:    []string{`id="cicada-phase">finalizing<`, "100% · 30s of 30s"},
		},
		{
			name: "cancelled, report not yet written", now: t0.Add(20 * time.Second), accept: "text/html", refreshes: true,
			objects: map[string]string{runs.CancelPath(testRun): `{}`, runs.LivePath(testRun): liveJSON("", "")},
			want:    []string{`id="cicada-phase">cancelled<`, "· cancelled"},
		},
		{
			name: "unreadable live.json", now: t0.Add(25 * time.Second), accept: "text/html", refreshes: true,
			objects: map[string]string{runs.LivePath(testRun): `{"slices": "no"`},
			want:    []string{`id="cicada-phase">running<`, "live.json could not be read"},
		},
		{
			name: "done: report.html from the bucket", now: t0.Add(time.Minute), accept: acceptSafari,
			objects: map[string]string{
				runs.ReportPath(testRun, "report.json"): liveJSON("completed", "pass"),
				runs.ReportPath(testRun, "report.html"): bucketHTML,
			},
			wantBody: bucketHTML,
		},
		{
			name: "done: the report rendered", now: t0.Add(time.Minute), accept: acceptChrome,
			objects: map[string]string{runs.ReportPath(testRun, "report.json"): liveJSON("completed", "fail")},
			want:    []string{`id="cicada-phase">done<`, "100%", "FAIL", "<svg", "chart-latency"},
			unwant:  []string{"reloads every"},
		},
		{
			name: "failed run", now: t0.Add(time.Minute), accept: acceptChrome,
			objects: map[string]string{runs.ReportPath(testRun, "report.json"): liveJSON("failed", "")},
			want:    []string{`id="cicada-phase">failed<`},
		},
		{
			name: "done: report.json unreadable", now: t0.Add(time.Minute), accept: acceptChrome,
			objects: map[string]string{runs.ReportPath(testRun, "report.json"): `[]`},
			want:    []string{`id="cicada-phase">`, "report.json could not be read"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig())
			e.putRun(t, testRun, 4)
			for name, data := range tt.objects {
				e.put(t, name, data)
			}
			e.clock.Set(tt.now)
			w := e.do(t, http.MethodGet, "/runs/"+testRun, "", "", "Accept", tt.accept)
			body := w.Body.String()
			if w.Code != http.StatusOK {
				t.Fatalf("GET = %d %s, want 200", w.Code, body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
			}
			if v := w.Header().Get("Vary"); v != "Accept" {
				t.Errorf("Vary = %q, want Accept", v)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body = %q, want the bucket's report.html %q", body, tt.wantBody)
			}
			if got := len(refresh.FindAllString(body, -1)); got != map[bool]int{true: 1, false: 0}[tt.refreshes] {
				t.Errorf("%d meta refreshes, want refresh %v:\n%s", got, tt.refreshes, body)
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.unwant {
				if strings.Contains(body, s) {
					t.Errorf("page has %q", s)
				}
			}
			if tt.wantBody == "" {
				checkSelfContained(t, w)
			}
		})
	}
}

// fetching matches what would make a browser fetch something when it
// renders a page: scripts, styles, images, frames, fonts or imports from
// elsewhere. Links followed on a click are not fetches.
var fetching = regexp.MustCompile(`(?i)<(script|img|iframe|frame|embed|object|source|video|audio|track|input)\b[^>]*\b(src|data)\s*=\s*["']?[^"'\s>]|<link\b[^>]*\bhref|url\(\s*["']?[^"')\s]|@import|xlink:href\s*=\s*["']?(https?:|//)`)

// checkSelfContained asserts the page fetches nothing, and that its policy
// would forbid any fetch that slipped in.
func checkSelfContained(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	for _, m := range fetching.FindAllString(w.Body.String(), -1) {
		if !strings.Contains(m, "data:") {
			t.Errorf("page fetches: %s", m)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none'", csp)
	}
}

// TestLiveViewJSON keeps the JSON of API clients.
func TestLiveViewJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.putRun(t, testRun, 4)
	e.put(t, runs.LivePath(testRun), liveJSON("", ""))
	e.clock.Set(t0.Add(25 * time.Second))
	for _, accept := range []string{"", "*/*", "application/json", "application/json, text/html;q=0.9", "text/html, application/json"} {
		t.Run(accept, func(t *testing.T) {
			t.Parallel()
			w := e.do(t, http.MethodGet, "/runs/"+testRun, "", "", "Accept", accept)
			if w.Code != http.StatusOK {
				t.Fatalf("GET = %d %s, want 200", w.Code, w.Body)
			}
			st := decode[Status](t, w) // asserts application/json
			if st.Phase != PhaseRunning || st.RunID != testRun {
				t.Errorf("status = %+v, want run %s running", st, testRun)
			}
			if v := w.Header().Get("Vary"); v != "Accept" {
				t.Errorf("Vary = %q, want Accept", v)
			}
		})
	}
}

// TestLiveViewErrors keeps JSON errors for unknown runs, whatever the
// Accept header.
func TestLiveViewErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	w := e.do(t, http.MethodGet, "/runs/"+testRun, "", "", "Accept", acceptChrome)
	if w.Code != http.StatusNotFound {
		t.Errorf("GET of an unknown run = %d, want 404", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

func TestInsertAfterTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc, want string
		ok        bool
	}{
		{"<html><body><p>x</p></body></html>", "<html><body>[B]<p>x</p></body></html>", true},
		{"<HTML><BODY class=\"a\">x", "<HTML><BODY class=\"a\">[B]x", true},
		{"<bodyguard><body>x", "<bodyguard><body>[B]x", true},
		{"<p>no body</p>", "", false},
		{"<body", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			t.Parallel()
			got, ok := insertAfterTag([]byte(tt.doc), "<body", []byte("[B]"))
			if ok != tt.ok || string(got) != tt.want {
				t.Errorf("insertAfterTag(%q) = %q, %v; want %q, %v", tt.doc, got, ok, tt.want, tt.ok)
			}
		})
	}
}
