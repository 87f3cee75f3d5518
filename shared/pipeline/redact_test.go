package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/triggerapi"
	"github.com/cicadaload/cicada/shared/worker"
)

// Secrets planted in the redaction test's plans: a header value, an
// operator-named header value, a query value.
const (
	plantedAuth   = "PLANTEDAUTHVALUE"
	plantedTenant = "PLANTEDTENANTVALUE"
	plantedQuery  = "PLANTEDQUERYVALUE"
)

var plantedAll = []string{plantedAuth, plantedTenant, plantedQuery}

// lockedBuffer collects the pipeline's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// holdsSecret names the planted secrets in b.
func holdsSecret(b []byte) []string {
	var found []string
	for _, s := range plantedAll {
		if bytes.Contains(b, []byte(s)) {
			found = append(found, s)
		}
	}
	return found
}

// TestEmbeddedRedaction plants credentials in a plan's headers and URL
// query and runs it through the whole pipeline, literal secrets allowed:
// the target gets them, and they appear in no answer of the trigger (status,
// live view, every file), no report file downloaded into out/<run-id>/, no
// object of the run but plan.json, and no log line. One plan succeeds over
// plain HTTP; the other aims https at the plain target, so that every
// request fails with an error quoting the URL, query and all.
func TestEmbeddedRedaction(t *testing.T) {
	t.Parallel()
	var authorized atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+plantedAuth && r.Header.Get("X-Tenant-Token") == plantedTenant &&
			r.URL.Query().Get("api_key") == plantedQuery {
			authorized.Add(1)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"label":"sports"}`)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = target.Serve(ln) }()
	t.Cleanup(func() { target.Close() })

	var logs lockedBuffer
	log, err := logging.NewWriter(&logs, false, "debug")
	if err != nil {
		t.Fatal(err)
	}
	e, stop, err := StartEmbedded(context.Background(), Options{
		Workers:    2,
		Worker:     worker.Config{Capacity: 2, LeaseTTL: 10 * time.Second, RenewEvery: 500 * time.Millisecond},
		Aggregator: aggregate.Config{Grace: 5 * time.Second, Sweep: 300 * time.Millisecond, LiveEvery: 200 * time.Millisecond, PickupGrace: 2 * time.Second, Republish: time.Second},
		Trigger: trigger.Config{Rules: policy.Rules{AllowedTargets: []string{"127.0.0.1"}, LiteralSecrets: true}, LeadTime: time.Second, MaxBody: 1 << 20,
			SecretHeaders: []string{"X-Tenant-Token"}},
		Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop = sync.OnceFunc(stop) // stopped early to read every log line
	t.Cleanup(stop)
	client := triggerapi.New(e.TriggerURL)

	planOf := func(scheme string) string {
		return fmt.Sprintf(`{"name": "redaction %s", "target": {"protocol": "http",
  "url": "%s://%s/v1/predict?api_key=%s&model=m",
  "headers": {"Authorization": "Bearer %s", "X-Tenant-Token": %q, "Content-Type": "application/json"},
  "body": "{\"text\": {{json .Text}}}"},
  "data": {"texts": ["a", "b"]}, "load": {"model": "open", "stages": [{"duration": "2s", "rate": 50}]},
  "slice": "500ms", "shards": 2, "max_lateness": "1s"}`, scheme, scheme, ln.Addr(), plantedQuery, plantedAuth, plantedTenant)
	}
	ids := map[string]string{}
	for _, scheme := range []string{"http", "https"} {
		acc := mustPost(t, e, planOf(scheme))
		ids[scheme] = acc.RunID
	}

	// get answers a trigger request; every answer is checked.
	answers := 0
	get := func(path, accept string) []byte {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.TriggerURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		answers++
		if found := holdsSecret(b); len(found) > 0 {
			t.Errorf("GET %s (Accept %q) holds %v:\n%s", path, accept, found, b)
		}
		for name, vs := range resp.Header {
			if found := holdsSecret([]byte(name + ": " + strings.Join(vs, ", "))); len(found) > 0 {
				t.Errorf("GET %s: header %s holds %v", path, name, found)
			}
		}
		return b
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

	// While the runs go: the status, the live view (which shows the plan)
	// and live.json.
	https := ids["https"]
	deadline := time.Now().Add(20 * time.Second)
	sawLive := false
	for time.Now().Before(deadline) && !sawLive {
		st, err := client.Status(context.Background(), https)
		if err == nil && st.Phase == triggerapi.PhaseRunning && st.Links["live.json"] != "" {
			live := get("/runs/"+https+"/live.json", "")
			page := get("/runs/"+https, browser)
			sawLive = bytes.Contains(live, []byte("REDACTED")) && bytes.Contains(page, []byte("REDACTED"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sawLive {
		t.Error("never saw live.json with a redacted sample error and the live view with the redacted plan while the https run went")
	}

	out := filepath.Join(t.TempDir(), "out")
	for scheme, id := range ids {
		rep, _ := waitReport(t, e, id, 30*time.Second)
		if scheme == "http" && (rep.Summary.Completed == 0 || rep.Summary.Errors != 0) {
			t.Errorf("http run: completed %d errors %d, want successes only", rep.Summary.Completed, rep.Summary.Errors)
		}
		if scheme == "https" && (rep.Summary.Errors == 0 || len(rep.Summary.SampleErrors) == 0 ||
			!strings.Contains(strings.Join(rep.Summary.SampleErrors, "\n"), "api_key=REDACTED")) {
			t.Errorf("https run: errors %d, sample errors %q; want errors quoting the URL redacted", rep.Summary.Errors, rep.Summary.SampleErrors)
		}

		// Every answer of the trigger about the run.
		get("/runs/"+id, "")
		if page := get("/runs/"+id, browser); !bytes.Contains(page, []byte("Authorization")) {
			t.Errorf("run %s: the final view does not show the plan's headers", id)
		}
		if p := get("/runs/"+id+"/plan.json", ""); !bytes.Contains(p, []byte(`"Authorization":"REDACTED"`)) {
			t.Errorf("run %s: plan.json served as %s", id, p)
		}
		// As cicada local downloads them, into out/<run-id>/.
		dir := filepath.Join(out, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{report.FileJSON, report.FileSummary, report.FileHTML, report.FileCSV, report.FileJUnit, report.FileHistogram, "live.json"} {
			b := get("/runs/"+id+"/"+f, "")
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// The bucket: plan.json holds the secrets the workers need (the
		// operator allowed literal secrets); nothing else of the run does.
		names, err := e.Store.List(context.Background(), runs.Prefix(id))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			obj, err := e.Store.Get(context.Background(), n)
			if err != nil {
				t.Fatal(err)
			}
			found := holdsSecret(obj.Data)
			if n == runs.PlanPath(id) {
				if len(found) != len(plantedAll) {
					t.Errorf("plan.json in the bucket holds %v, want every planted secret (literal secrets allowed)", found)
				}
				continue
			}
			if len(found) > 0 {
				t.Errorf("bucket object %s holds %v", n, found)
			}
		}
	}
	err = filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if found := holdsSecret(b); len(found) > 0 {
			t.Errorf("%s holds %v", path, found)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if authorized.Load() == 0 {
		t.Error("the target saw no request carrying the plan's credentials")
	}
	stop()
	lines := logs.String()
	if !strings.Contains(lines, "run accepted") {
		t.Errorf("no log line of the pipeline captured:\n%s", lines)
	}
	for _, line := range strings.Split(lines, "\n") {
		if found := holdsSecret([]byte(line)); len(found) > 0 {
			t.Errorf("log line holds %v: %s", found, line)
		}
	}
	t.Logf("%d trigger answers and %d log bytes checked", answers, len(lines))
}
