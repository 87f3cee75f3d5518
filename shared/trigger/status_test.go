package trigger

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/runs"
)

const testRun = "20261127-040512-0a0b0c"

// putRun writes a run.json that starts at t0+10s and ends at t0+40s.
func (e *env) putRun(t *testing.T, id string, shards int) runs.Run {
	t.Helper()
	run := runs.Run{ID: id, PlanName: "stored", Shards: shards, Created: t0,
		StartAt: t0.Add(10 * time.Second), End: t0.Add(40 * time.Second)}
	e.put(t, runs.RunPath(id), mustJSON(t, run))
	e.put(t, runs.PlanPath(id), planJSON(shards, ""))
	return run
}

func leaseJSON(holder string, expires time.Time, released bool) string {
	return fmt.Sprintf(`{"holder": %q, "expires": %q, "acquired": %q, "released": %v}`,
		holder, expires.Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano), released)
}

func TestStatusPhases(t *testing.T) {
	t.Parallel()
	report := func(status string) string {
		return `{"run_id": "` + testRun + `", "status": "` + status + `", "summary": {"sent": 600, "completed": 600}, "slices": []}`
	}
	base := "http://example.com/runs/" + testRun + "/"
	tests := []struct {
		name        string
		now         time.Time
		objects     map[string]string
		phase       string
		leased      int
		done        int
		cancelled   bool
		summary     string // JSON, compacted
		links       []string
		description string
	}{
		{name: "scheduled", now: t0.Add(time.Second), phase: PhaseScheduled, summary: "null", links: []string{"plan.json"}},
		{
			name: "running with leases and live figures",
			now:  t0.Add(20 * time.Second),
			objects: map[string]string{
				runs.LeasePath(testRun, 0): leaseJSON("w1", t0.Add(30*time.Second), false), // live
				runs.LeasePath(testRun, 1): leaseJSON("w2", t0.Add(15*time.Second), false), // expired
				runs.LeasePath(testRun, 2): leaseJSON("w3", t0.Add(30*time.Second), true),  // released
				runs.LeasePath(testRun, 3): `not json`,                                     // unreadable: not counted
				runs.DonePath(testRun, 2):  `{}`,
				runs.LivePath(testRun):     `{"summary": {"sent": 100}, "slices": []}`,
			},
			phase: PhaseRunning, leased: 1, done: 1, summary: `{"sent":100}`, links: []string{"live.json", "plan.json"},
		},
		{name: "finalizing past the end", now: t0.Add(41 * time.Second), phase: PhaseFinalizing, summary: "null", links: []string{"plan.json"}},
		{
			name: "finalizing once every shard is done",
			now:  t0.Add(30 * time.Second),
			objects: map[string]string{
				runs.DonePath(testRun, 0): `{}`, runs.DonePath(testRun, 1): `{}`, runs.DonePath(testRun, 2): `{}`, runs.DonePath(testRun, 3): `{}`,
				runs.DonePrefix(testRun) + "notes.txt": "not a marker",
			},
			phase: PhaseFinalizing, done: 4, summary: "null", links: []string{"plan.json"},
		},
		{
			name: "done with report files",
			now:  t0.Add(time.Minute),
			objects: map[string]string{
				runs.ReportPath(testRun, "report.json"): report("completed"),
				runs.ReportPath(testRun, "report.html"): "<html></html>",
				runs.ReportPath(testRun, "summary.txt"): "run ...",
				runs.LivePath(testRun):                  `{"summary": {"sent": 100}}`,
			},
			phase: PhaseDone, summary: `{"completed":600,"sent":600}`,
			links: []string{"live.json", "plan.json", "report.html", "report.json", "summary.txt"},
		},
		{
			name:    "failed",
			now:     t0.Add(time.Minute),
			objects: map[string]string{runs.ReportPath(testRun, "report.json"): report("failed")},
			phase:   PhaseFailed, summary: `{"completed":600,"sent":600}`, links: []string{"plan.json", "report.json"},
		},
		{
			name:    "cancelled while running",
			now:     t0.Add(20 * time.Second),
			objects: map[string]string{runs.CancelPath(testRun): `{}`},
			phase:   PhaseCancelled, cancelled: true, summary: "null", links: []string{"plan.json"},
		},
		{
			name:    "cancelled before the start",
			now:     t0,
			objects: map[string]string{runs.CancelPath(testRun): `{}`},
			phase:   PhaseCancelled, cancelled: true, summary: "null", links: []string{"plan.json"},
		},
		{
			name: "cancelled and reported",
			now:  t0.Add(time.Minute),
			objects: map[string]string{
				runs.CancelPath(testRun):                `{}`,
				runs.ReportPath(testRun, "report.json"): report("cancelled"),
			},
			phase: PhaseCancelled, cancelled: true, summary: `{"completed":600,"sent":600}`, links: []string{"plan.json", "report.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig())
			run := e.putRun(t, testRun, 4)
			for name, data := range tt.objects {
				e.put(t, name, data)
			}
			e.clock.Set(tt.now)
			w := e.do(t, http.MethodGet, "/runs/"+testRun, "", "")
			if w.Code != http.StatusOK {
				t.Fatalf("GET = %d %s, want 200", w.Code, w.Body)
			}
			got := decode[Status](t, w)
			if got.Phase != tt.phase || got.ShardsLeased != tt.leased || got.ShardsDone != tt.done || got.Cancelled != tt.cancelled {
				t.Errorf("phase %s leased %d done %d cancelled %v, want %s %d %d %v",
					got.Phase, got.ShardsLeased, got.ShardsDone, got.Cancelled, tt.phase, tt.leased, tt.done, tt.cancelled)
			}
			if got.RunID != testRun || got.PlanName != "stored" || got.Shards != 4 || !got.StartAt.Equal(run.StartAt) || !got.End.Equal(run.End) {
				t.Errorf("status = %+v, want the stored run %+v", got, run)
			}
			if s := compact(t, got.Summary); s != tt.summary {
				t.Errorf("summary = %s, want %s", s, tt.summary)
			}
			var links []string
			for _, f := range tt.links {
				links = append(links, f)
				if got.Links[f] != base+f {
					t.Errorf("links[%s] = %q, want %q", f, got.Links[f], base+f)
				}
			}
			if len(got.Links) != len(tt.links) {
				t.Errorf("links = %v, want only %v", got.Links, links)
			}
		})
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if raw == nil {
		return "null"
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("summary %s: %v", raw, err)
	}
	return mustJSON(t, v)
}

func TestStatusPublicURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, publicURL, proto, want string
	}{
		{"configured", "https://trigger.example.run.app/", "", "https://trigger.example.run.app/runs/" + testRun + "/plan.json"},
		{"from the request", "", "", "http://example.com/runs/" + testRun + "/plan.json"},
		{"behind a TLS front end", "", "https", "https://example.com/runs/" + testRun + "/plan.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.PublicURL = tt.publicURL
			e := newEnv(t, cfg)
			e.putRun(t, testRun, 1)
			var hdr []string
			if tt.proto != "" {
				hdr = []string{"X-Forwarded-Proto", tt.proto}
			}
			w := e.do(t, http.MethodGet, "/runs/"+testRun, "", "", hdr...)
			if got := decode[Status](t, w).Links["plan.json"]; got != tt.want {
				t.Errorf("plan.json link = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.putRun(t, testRun, 1)
	tests := []struct {
		method, path string
		want         string // in the error
	}{
		{http.MethodGet, "/runs/20261127-040512-ffffff", "not found"},
		{http.MethodGet, "/runs/not-an-id", "want the form"},
		{http.MethodGet, "/runs/..%2F..%2Fetc", "no such path"},
		{http.MethodGet, "/runs/..%2Fx", "no such file"},
		{http.MethodGet, "/runs//report.json", "want the form"},
		{http.MethodGet, "/runs/20261127-040512-ffffff/report.json", "not found"},
		{http.MethodGet, "/runs/" + testRun + "/report.json", "report.json of run " + testRun + " not found"},
		{http.MethodGet, "/runs/" + testRun + "/run.json", "no such file"},
		{http.MethodGet, "/runs/" + testRun + "/leases", "no such file"},
		{http.MethodGet, "/runs/" + testRun + "/leases/0", "no such path"},
		{http.MethodGet, "/runs/" + testRun + "/cancel", "no such file"},
		{http.MethodGet, "/", "no such path"},
		{http.MethodGet, "/healthz", "no such path"},
		{http.MethodDelete, "/runs/20261127-040512-ffffff", "not found"},
		{http.MethodDelete, "/runs/x", "want the form"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			w := e.do(t, tt.method, tt.path, "", "")
			if w.Code != http.StatusNotFound {
				t.Fatalf("%s %s = %d %s, want 404", tt.method, tt.path, w.Code, w.Body)
			}
			if got := decode[errorBody](t, w).Error; !strings.Contains(got, tt.want) {
				t.Errorf("error %q, want it to say %q", got, tt.want)
			}
		})
	}
	if objs := e.objects(t); len(objs) != 2 {
		t.Errorf("objects after 404s = %v, want only the run's two", objs)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodDelete, "/runs", "GET, HEAD, POST"},
		{http.MethodPut, "/runs/", "GET, HEAD, POST"},
		{http.MethodPost, "/plans/nightly%2Fbert", "GET, HEAD"},
		{http.MethodPost, "/runs/" + testRun, "GET, HEAD, DELETE"},
		{http.MethodPatch, "/runs/" + testRun, "GET, HEAD, DELETE"},
		{http.MethodDelete, "/runs/" + testRun + "/report.json", "GET, HEAD"},
		{http.MethodPut, "/runs/" + testRun + "/plan.json", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			w := e.do(t, tt.method, tt.path, "application/json", planJSON(1, ""))
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != tt.allow {
				t.Fatalf("%s %s = %d Allow %q, want 405 Allow %q", tt.method, tt.path, w.Code, w.Header().Get("Allow"), tt.allow)
			}
			if got := decode[errorBody](t, w).Error; !strings.Contains(got, tt.method) {
				t.Errorf("error %q does not name the method", got)
			}
		})
	}
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("objects written by refused methods: %v", objs)
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.putRun(t, testRun, 1)
	tests := []struct {
		file, contentType, data string
	}{
		{"report.json", "application/json", `{"status": "completed"}`},
		{"report.html", "text/html; charset=utf-8", "<!doctype html><title>r</title>"},
		{"report.csv", "text/csv; charset=utf-8", "slice,rps\n0,10\n"},
		{"summary.txt", "text/plain; charset=utf-8", "run 1\n"},
		{"junit.xml", "application/xml", "<testsuites/>"},
		{"histogram.hdr", "application/octet-stream", "HISTFAAAA\x00\x01"},
		{"live.json", "application/json", `{"summary": {}}`},
	}
	for _, tt := range tests {
		e.put(t, runs.ReportPath(testRun, tt.file), tt.data)
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				w := e.do(t, method, "/runs/"+testRun+"/"+tt.file, "", "")
				if w.Code != http.StatusOK {
					t.Fatalf("%s %s = %d %s, want 200", method, tt.file, w.Code, w.Body)
				}
				if got := w.Header().Get("Content-Type"); got != tt.contentType {
					t.Errorf("%s Content-Type = %q, want %q", method, got, tt.contentType)
				}
				if got := w.Header().Get("Content-Length"); got != fmt.Sprint(len(tt.data)) {
					t.Errorf("%s Content-Length = %s, want %d", method, got, len(tt.data))
				}
				// The recorder keeps what a HEAD handler writes; net/http drops it.
				if method == http.MethodGet && w.Body.String() != tt.data {
					t.Errorf("body = %q, want %q", w.Body, tt.data)
				}
			}
		})
	}
	t.Run("plan.json", func(t *testing.T) {
		t.Parallel()
		w := e.do(t, http.MethodGet, "/runs/"+testRun+"/plan.json", "", "")
		if w.Code != http.StatusOK || w.Body.String() != planJSON(1, "") {
			t.Errorf("plan.json = %d %q, want the stored plan", w.Code, w.Body)
		}
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.putRun(t, testRun, 2)
	e.clock.Set(t0.Add(20 * time.Second))
	for i := range 2 {
		w := e.do(t, http.MethodDelete, "/runs/"+testRun, "", "")
		if w.Code != http.StatusAccepted {
			t.Fatalf("DELETE #%d = %d %s, want 202", i+1, w.Code, w.Body)
		}
		want := Cancelled{RunID: testRun, Phase: PhaseCancelled, StatusURL: "http://example.com/runs/" + testRun}
		if got := decode[Cancelled](t, w); got != want {
			t.Errorf("DELETE #%d = %+v, want %+v", i+1, got, want)
		}
	}
	var marker map[string]time.Time
	if err := json.Unmarshal(e.get(t, runs.CancelPath(testRun)), &marker); err != nil || !marker["cancelled_at"].Equal(t0.Add(20*time.Second)) {
		t.Errorf("cancel marker = %v (%v), want cancelled_at %v", marker, err, t0.Add(20*time.Second))
	}
	if got := decode[Status](t, e.do(t, http.MethodGet, "/runs/"+testRun, "", "")); got.Phase != PhaseCancelled || !got.Cancelled {
		t.Errorf("after DELETE: phase %s cancelled %v, want cancelled", got.Phase, got.Cancelled)
	}

	t.Run("finished run", func(t *testing.T) {
		t.Parallel()
		const done = "20261127-040512-d0d0d0"
		e.putRun(t, done, 1)
		e.put(t, runs.ReportPath(done, "report.json"), `{"status": "completed"}`)
		w := e.do(t, http.MethodDelete, "/runs/"+done, "", "")
		if w.Code != http.StatusConflict || !strings.Contains(decode[errorBody](t, w).Error, "already finished") {
			t.Errorf("DELETE of a finished run = %d %s, want 409", w.Code, w.Body)
		}
		if _, err := e.st.Get(t.Context(), runs.CancelPath(done)); err == nil {
			t.Errorf("cancel marker written for a finished run")
		}
	})
}
