package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// TestInvalidPlanReport: a plan.json written straight into the bucket that
// no trigger would accept (a template bomb) is refused by every worker;
// the aggregator still reads the run and reports it at once, verdict
// error, the reason in verdict_reasons for every shard (a worker's own
// marker where there is one). A plan whose shape is broken cannot be
// reported on and stays an error.
func TestInvalidPlanReport(t *testing.T) {
	t.Parallel()
	const bomb = `{{range 30000000}}x{{end}}`
	workerReason := "refused by the worker: plan.json is not a valid plan (no trigger accepted it): target.body: range"
	tests := []struct {
		name    string
		edit    func(p *plan.Plan)
		marker  bool   // a worker wrote shard 0's failed marker
		wantErr string // Once fails; "" = a report
	}{
		{"template bomb, no worker yet", func(p *plan.Plan) { p.Target.Body = bomb }, false, ""},
		{"template bomb, refused by a worker", func(p *plan.Plan) { p.Target.Body = bomb }, true, ""},
		{"broken shape", func(p *plan.Plan) { p.Target.Body = bomb; p.Slice = plan.Duration(time.Millisecond) }, false, "slice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := store.NewDisk(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			const id = "20261201-020000-bomb"
			start := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
			p := plan.Plan{
				Name: "bomb", Shards: 3, Slice: plan.Duration(10 * time.Second),
				Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://127.0.0.1:1/", Body: `{{.Text}}`},
				Data:   plan.Data{Texts: []string{"a"}},
				Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(time.Minute), Rate: 10}}},
			}
			p.ApplyDefaults()
			tt.edit(&p)
			data := runs.Encode(p)
			if !bytes.Contains(data, []byte("range")) {
				t.Fatalf("plan.json %s lacks the template", data)
			}
			run := runs.Run{ID: id, PlanName: p.Name, Shards: p.Shards, Created: start, StartAt: start, End: start.Add(time.Minute)}
			put := func(name string, data []byte) {
				if _, err := st.Create(ctx, name, data, "application/json"); err != nil {
					t.Fatal(err)
				}
			}
			put(runs.RunPath(id), runs.Encode(run))
			put(runs.PlanPath(id), data)
			if tt.marker {
				put(runs.FailedPath(id, 0), runs.Encode(runs.ShardFailure{Worker: "w", Reason: workerReason}))
			}

			rep, final, err := Once(ctx, st, id, start.Add(time.Second), time.Second, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Once: %v, want an error naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !final {
				t.Fatalf("Once: final %v, %v; want a final report at once (no shard can run)", final, err)
			}
			if rep.Verdict != report.VerdictError || len(rep.VerdictReasons) != p.Shards {
				t.Fatalf("verdict %s %q, want error with a reason per shard", rep.Verdict, rep.VerdictReasons)
			}
			for i, r := range rep.VerdictReasons {
				want := "plan.json is not a valid plan (no trigger accepted it): target.body"
				if i == 0 && tt.marker {
					want = workerReason
				}
				if !strings.Contains(r, want) || !strings.Contains(r, "range") {
					t.Errorf("verdict reason %d %q does not say %q", i, r, want)
				}
			}
			if got := rep.Coverage.Failed; len(got) != p.Shards || got[0].Shard != 0 || got[2].Shard != 2 {
				t.Errorf("coverage.failed = %+v, want shards 0..2 in order", got)
			}
			obj, err := st.Get(ctx, runs.ReportPath(id, report.FileJSON))
			if err != nil {
				t.Fatalf("report.json: %v", err)
			}
			var written struct {
				Verdict        string   `json:"verdict"`
				VerdictReasons []string `json:"verdict_reasons"`
			}
			if err := json.Unmarshal(obj.Data, &written); err != nil {
				t.Fatal(err)
			}
			if written.Verdict != report.VerdictError || len(written.VerdictReasons) != p.Shards ||
				!strings.Contains(written.VerdictReasons[p.Shards-1], "not a valid plan") {
				t.Errorf("report.json: verdict %q %q, want error and the reason", written.Verdict, written.VerdictReasons)
			}
		})
	}
}
