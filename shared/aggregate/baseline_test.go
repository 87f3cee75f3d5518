package aggregate

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// TestCompareBaseline: a run whose plan names a baseline run gets the
// comparison in its final report, and a regression fails it.
func TestCompareBaseline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		slow           time.Duration // the new run's latency; the base's is 10 ms
		wantRegression bool
	}{
		{"same speed", 10 * time.Millisecond, false},
		{"five times slower", 50 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, _, cleanup, err := store.NewInProcess("cicada-test")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cleanup)
			ctx := context.Background()
			now := time.Now()
			const base, cur = "20261127-010000-aaaaaa", "20261127-020000-bbbbbb"
			seedRun(t, st, base, now, 10*time.Millisecond)
			seedRun(t, st, cur, now, tt.slow)
			// The new run's plan names the base run.
			obj, err := st.Get(ctx, runs.PlanPath(cur))
			if err != nil {
				t.Fatal(err)
			}
			var p plan.Plan
			if err := json.Unmarshal(obj.Data, &p); err != nil {
				t.Fatal(err)
			}
			p.Baseline = base
			p.MinCoverage = 10 // the seeded run holds 3 of its 10 slices
			if _, err := st.Put(ctx, runs.PlanPath(cur), runs.Encode(p), "application/json"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Once(ctx, st, base, now, time.Second, true); err != nil {
				t.Fatal(err)
			}
			rep, final, err := Once(ctx, st, cur, now, time.Second, true)
			if err != nil || !final {
				t.Fatalf("Once = final %v, %v", final, err)
			}
			c := rep.Comparison
			if c == nil || c.BaselineRunID != base {
				t.Fatalf("comparison %+v, want one against %s", c, base)
			}
			if c.Regression != tt.wantRegression {
				t.Errorf("regression %v, want %v: %+v", c.Regression, tt.wantRegression, c.Metrics)
			}
			if tt.wantRegression && rep.Verdict != report.VerdictFail {
				t.Errorf("verdict %s with a regression, want fail (reasons %v)", rep.Verdict, rep.VerdictReasons)
			}
		})
	}
}
