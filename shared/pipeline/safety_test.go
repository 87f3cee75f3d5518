package pipeline

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/triggerapi"
	"github.com/cicadaload/cicada/shared/worker"
)

// startLimited runs an embedded pipeline whose trigger (and so its
// workers) allows 127.0.0.1, at most 1000 req/s and bodies of 4 KiB.
func startLimited(t *testing.T) *Embedded {
	t.Helper()
	e, stop, err := StartEmbedded(context.Background(), Options{
		Workers:      1,
		Worker:       worker.Config{Capacity: 4, LeaseTTL: 10 * time.Second, RenewEvery: 500 * time.Millisecond},
		Aggregator:   aggregate.Config{Grace: 2 * time.Second, Sweep: 300 * time.Millisecond, LiveEvery: 200 * time.Millisecond, PickupGrace: 2 * time.Second, Republish: time.Second},
		Trigger:      trigger.Config{Rules: policy.Rules{AllowedTargets: []string{"127.0.0.1"}, MaxRate: 1000, MaxRenderedBody: 4096}, LeadTime: time.Second, MaxBody: 1 << 20},
		ServePredict: true,
		Predict:      predict.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"},
		Log:          testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return e
}

// writeRun stores a run as the trigger would (plan.json, the active-run
// marker, run.json) without asking it, as anyone with write access to the
// bucket could, and publishes its shards.
func writeRun(t *testing.T, e *Embedded, p *plan.Plan) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	id := runid.New(now)
	run := runs.Run{ID: id, PlanName: p.Name, Shards: p.Shards, Created: now, StartAt: now.Add(time.Second).Truncate(time.Millisecond)}
	run.End = run.StartAt.Add(p.Duration())
	for _, o := range []struct {
		name string
		data []byte
	}{{runs.PlanPath(id), runs.Encode(p)}, {runs.ActivePath(id), runs.Encode(run)}, {runs.RunPath(id), runs.Encode(run)}} {
		if _, err := e.Store.Create(ctx, o.name, o.data, "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	for shard := range p.Shards {
		if _, err := e.Bus.Publish(ctx, bus.ShardsTopic, runs.Encode(runs.ShardWork{RunID: id, Shard: shard, Reason: runs.ReasonStart}), nil); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// TestBucketWrittenPlans replays plans written straight into the bucket:
// aimed at a host the trigger answers 403 for, at the trigger itself, at
// a rate over the limit, reading a file on the worker's disk. No request
// reaches any target, and each run's report says why (verdict error).
func TestBucketWrittenPlans(t *testing.T) {
	t.Parallel()
	e := startLimited(t)
	secret := filepath.Join(t.TempDir(), "credentials.txt")
	if err := os.WriteFile(secret, []byte("not for the target\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, predictPort, _ := strings.Cut(e.PredictHTTP, ":")
	tests := []struct {
		name string
		edit func(*plan.Plan)
		want string
	}{
		{"a host the trigger refuses", func(p *plan.Plan) { p.Target.URL = "http://localhost:" + predictPort + "/v1/predict" },
			"target host localhost of target.url (localhost:" + predictPort + ") is not allowed by this worker"},
		{"the trigger itself", func(p *plan.Plan) { p.Target.URL = e.TriggerURL + "/runs" },
			`is refused by "!` + strings.TrimPrefix(e.TriggerURL, "http://") + `"`},
		{"a rate over the limit", func(p *plan.Plan) { p.Load.Stages[0].Rate = 5000 },
			"load.stages[0].rate: 5000 req/s is over this worker's limit of 1000 req/s (CICADA_WORKER_MAX_RATE)"},
		{"a file on the worker's disk", func(p *plan.Plan) { p.Data = plan.Data{File: secret, Order: plan.OrderSequential} },
			"data.file: not accepted by the worker"},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		p, err := plan.Parse([]byte(planJSON("http://"+e.PredictHTTP+"/v1/predict", 2, "1s")), "json")
		if err != nil {
			t.Fatal(err)
		}
		tt.edit(p)
		ids[tt.name] = writeRun(t, e, p)
	}
	for _, tt := range tests {
		rep, _ := waitReport(t, e, ids[tt.name], 30*time.Second)
		t.Logf("%s: verdict %s: %q", tt.name, rep.Verdict, rep.VerdictReasons)
		if rep.Verdict != report.VerdictError {
			t.Errorf("%s: verdict %q, want error", tt.name, rep.Verdict)
		}
		if got := strings.Join(rep.VerdictReasons, "\n"); strings.Count(got, tt.want) != 2 {
			t.Errorf("%s: verdict reasons %q, want %q for each of the 2 shards", tt.name, got, tt.want)
		}
		if strings.Contains(strings.Join(rep.VerdictReasons, " "), "not for the target") {
			t.Errorf("%s: the report shows the file's contents", tt.name)
		}
		if rep.Summary.Sent != 0 {
			t.Errorf("%s: %d requests sent", tt.name, rep.Summary.Sent)
		}
	}
	if n := e.Predict.Requests(); n != 0 {
		t.Errorf("the predict service got %d requests", n)
	}
	// The plan aimed at the trigger would have posted runs: none but ours.
	active, err := e.Store.List(context.Background(), runs.ActivePrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range active {
		id := strings.TrimPrefix(name, runs.ActivePrefix)
		known := false
		for _, mine := range ids {
			known = known || mine == id
		}
		if !known {
			t.Errorf("a run %s appeared: the trigger was reached", id)
		}
	}
}

// TestTemplateBombPost posts the template bombs: the trigger refuses each
// at once with the field and what is not allowed, having allocated little.
func TestTemplateBombPost(t *testing.T) {
	t.Parallel()
	e := startLimited(t)
	url := "http://" + e.PredictHTTP + "/v1/predict"
	texts := make([]string, 30)
	for i := range texts {
		texts[i] = "short"
	}
	texts[17] = strings.Repeat("z", 5000) // renders over the 4 KiB a body may have
	tests := []struct {
		name, body string
		texts      []string
		want       []string
	}{
		{"range", `{{range 30000000}}x{{end}}`, nil, []string{"target.body", "{{range}} on line 1 is not allowed"}},
		{"printf width", `{{printf "%0999999999d" 1}}`, nil, []string{"target.body", `function \"printf\" on line 1 is not allowed`}},
		{"define", `{{define "x"}}{{.Text}}{{.Text}}{{end}}{{template "x" .}}{{template "x" .}}`, nil, []string{`{{define \"x\"}}`}},
		{"with", `{{with .Text}}{{.}}{{end}}`, nil, []string{"{{with}} on line 1"}},
		{"a text rendering too much", `{{.Text}}`, texts, []string{"data.texts[17]", "rendered body too large", "CICADA_TRIGGER_MAX_RENDERED_BODY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := plan.Parse([]byte(planJSON(url, 1, "1s")), "json")
			if err != nil {
				t.Fatal(err)
			}
			p.Target.Body = tt.body
			if tt.texts != nil {
				p.Data.Texts = tt.texts
			}
			body := runs.Encode(p)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			begin := time.Now()
			_, err = post(t, e, string(body))
			took := time.Since(begin)
			runtime.ReadMemStats(&after)
			var answer *triggerapi.Error
			if !errors.As(err, &answer) || answer.StatusCode != http.StatusBadRequest {
				t.Fatalf("POST: %v, want 400", err)
			}
			t.Logf("400 in %v: %s", took, answer.Body)
			for _, w := range tt.want {
				if !strings.Contains(answer.Body, w) {
					t.Errorf("answer %s does not say %q", answer.Body, w)
				}
			}
			if took > 2*time.Second {
				t.Errorf("refusing took %v", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("refusing allocated %d MB", alloc>>20)
			}
		})
	}
}
