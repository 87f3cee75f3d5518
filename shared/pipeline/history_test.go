package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/browsertest"
	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/trend"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/worker"
)

// readCounter is a store with every List prefix and Get name recorded.
type readCounter struct {
	store.Store
	mu    sync.Mutex
	lists []string
	gets  []string
}

func (c *readCounter) List(ctx context.Context, prefix string) ([]string, error) {
	c.mu.Lock()
	c.lists = append(c.lists, prefix)
	c.mu.Unlock()
	return c.Store.List(ctx, prefix)
}

func (c *readCounter) Get(ctx context.Context, name string) (store.Object, error) {
	c.mu.Lock()
	c.gets = append(c.gets, name)
	c.mu.Unlock()
	return c.Store.Get(ctx, name)
}

// ensureIndexed writes a finished run's index row unless the aggregator
// already did, from the run's report.json and plan.json, as the
// aggregator does.
func ensureIndexed(t *testing.T, st store.Store, plan, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.Get(ctx, runs.IndexPath(plan, id)); err == nil {
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	repObj, err := st.Get(ctx, runs.ReportPath(id, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	planObj, err := st.Get(ctx, runs.PlanPath(id))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Decode(repObj.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := index.Write(ctx, st, rep, planObj.Data); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryOf30Runs runs one plan 30 times on the embedded pipeline,
// then asks a trigger for GET /runs?plan= and GET /plans/<name>: both
// answer from the index alone (no listing of runs/, no read under it),
// and the trend page, opened in headless Chromium with the network off,
// shows every chart without a console message.
func TestHistoryOf30Runs(t *testing.T) {
	if testing.Short() {
		t.Skip("30 runs")
	}
	const plan, total, atOnce = "nightly/embedded", 30, 6
	e, stop, err := StartEmbedded(context.Background(), Options{
		Workers:      2,
		Worker:       worker.Config{Capacity: atOnce / 2, LeaseTTL: 10 * time.Second, RenewEvery: 500 * time.Millisecond},
		Aggregator:   aggregate.Config{Grace: 10 * time.Second, Sweep: 300 * time.Millisecond, LiveEvery: 200 * time.Millisecond, PickupGrace: 2 * time.Second, Republish: time.Second},
		Trigger:      trigger.Config{Rules: policy.Rules{AllowedTargets: []string{"127.0.0.1"}}, LeadTime: time.Second, MaxBody: 1 << 20},
		ServePredict: true,
		Predict:      predict.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"},
		Log:          testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	body := fmt.Sprintf(`{"name": %q, "target": {"protocol": "http", "url": "http://%s/v1/predict", "body": "{\"text\": {{json .Text}}}"},
		"data": {"texts": ["the striker scored", "shares fell"]},
		"load": {"model": "open", "stages": [{"duration": "1s", "rate": 20}]}, "slice": "500ms", "shards": 1}`, plan, e.PredictHTTP)

	started := time.Now()
	var ids []string
	for len(ids) < total {
		var batch []string
		for range min(atOnce, total-len(ids)) {
			batch = append(batch, mustPost(t, e, body).RunID)
		}
		for _, id := range batch {
			waitReport(t, e, id, 30*time.Second)
			ensureIndexed(t, e.Store, plan, id)
		}
		ids = append(ids, batch...)
	}
	t.Logf("%d runs in %v", total, time.Since(started).Round(time.Second))
	sort.Sort(sort.Reverse(sort.StringSlice(ids))) // newest first

	cs := &readCounter{Store: e.Store}
	srv := httptest.NewServer(trigger.NewHandler(trigger.Deps{Store: cs, Bus: e.Bus}))
	t.Cleanup(srv.Close)
	get := func(path, accept string) []byte {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s (%v)", path, resp.StatusCode, b, err)
		}
		return b
	}
	idsOf := func(rows []index.Row) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.RunID)
		}
		return out
	}

	var list trigger.RunsBody
	if err := json.Unmarshal(get("/runs?plan=nightly%2Fembedded&limit=100", "application/json"), &list); err != nil {
		t.Fatal(err)
	}
	if got := idsOf(list.Runs); strings.Join(got, " ") != strings.Join(ids, " ") || list.Next != "" {
		t.Errorf("GET /runs?plan= = %v next %q, want the %d runs newest first: %v", got, list.Next, total, ids)
	}
	var hist trigger.PlanBody
	if err := json.Unmarshal(get("/plans/nightly%2Fembedded", "application/json"), &hist); err != nil {
		t.Fatal(err)
	}
	if got := idsOf(hist.Runs); strings.Join(got, " ") != strings.Join(ids, " ") || hist.Plan != plan {
		t.Errorf("GET /plans/<name> = %s %v, want %s and the %d runs", hist.Plan, got, plan, total)
	}
	for _, r := range hist.Runs {
		// A loaded machine may saturate the generator (verdict
		// incomplete): a failed night is a row all the same.
		if r.Verdict == "" || r.Completed == 0 || r.P99MS <= 0 || r.PlanHash != hist.Runs[0].PlanHash {
			t.Errorf("row %+v: want a judged run with figures, of the same plan", r)
		}
	}
	page := get("/plans/nightly%2Fembedded", "text/html")
	runsPage := get("/runs?plan=nightly%2Fembedded", "text/html")
	if !strings.Contains(string(runsPage), ids[0]) {
		t.Errorf("the runs page lacks the newest run %s", ids[0])
	}

	cs.mu.Lock()
	for _, p := range cs.lists {
		if strings.HasPrefix(runs.Root, p) || strings.HasPrefix(p, runs.Root) || !strings.HasPrefix(p, runs.IndexRoot) {
			t.Errorf("the routes listed %q: want index/ listings only", p)
		}
	}
	for _, n := range cs.gets {
		if strings.HasPrefix(n, runs.Root) {
			t.Errorf("the routes read %s under runs/", n)
		}
	}
	t.Logf("the routes listed %v and read %d index objects", cs.lists, len(cs.gets))
	cs.mu.Unlock()

	exe := browsertest.Find(t)
	file := filepath.Join(t.TempDir(), "trend.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	dom, stderr := browsertest.Run(t, exe, file, "--dump-dom")
	if p := browsertest.ConsoleProblems(stderr); len(p) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(p, "\n"))
	}
	charts := trend.ChartIDs(hist.Runs)
	if len(charts) < 3 || strings.Count(dom, "<svg") != len(charts) {
		t.Errorf("rendered DOM has %d <svg> for charts %v", strings.Count(dom, "<svg"), charts)
	}
	for _, id := range charts {
		if !regexp.MustCompile(`id="` + id + `"(?s:.*?)<svg`).MatchString(dom) {
			t.Errorf("rendered DOM lacks chart %s", id)
		}
	}
	if got := strings.Count(dom, `class="point"`); got < total*3 {
		t.Errorf("rendered DOM has %d linked points, want every run on every chart", got)
	}
}
