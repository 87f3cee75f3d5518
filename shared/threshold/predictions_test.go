package threshold_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/threshold"
)

func TestParsePredictions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr string
		want threshold.Threshold
	}{
		{"instance_rate > 100", threshold.Threshold{Metric: "instance_rate", Op: ">", Value: 100, Unit: "inst/s"}},
		{"instance_rate >= 2500.5/s", threshold.Threshold{Metric: "instance_rate", Op: ">=", Value: 2500.5, Unit: "inst/s"}},
		{"INSTANCE_RATE >= 0 per_slice", threshold.Threshold{Metric: "instance_rate", Op: ">=", Value: 0, Unit: "inst/s", PerSlice: true}},
		{"accuracy >= 90%", threshold.Threshold{Metric: "accuracy", Op: ">=", Value: 90, Unit: "%"}},
		// A bare accuracy is a fraction, as a bare error rate is.
		{"accuracy >= 0.9", threshold.Threshold{Metric: "accuracy", Op: ">=", Value: 90, Unit: "%"}},
		{"accuracy == 1", threshold.Threshold{Metric: "accuracy", Op: "==", Value: 100, Unit: "%"}},
		{"accuracy >= 90% per_slice", threshold.Threshold{Metric: "accuracy", Op: ">=", Value: 90, Unit: "%", PerSlice: true}},
		{"accuracy > 92.5% ignore_first 10s per_slice abort_on_fail 3", threshold.Threshold{Metric: "accuracy", Op: ">", Value: 92.5, Unit: "%",
			IgnoreFirst: 10 * time.Second, PerSlice: true, AbortOnFail: 3}},
		{"accuracy >= 90% stage 2", threshold.Threshold{Metric: "accuracy", Op: ">=", Value: 90, Unit: "%", Stage: 2}},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			got, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.expr, err)
			}
			tt.want.Expr = tt.expr
			if got != tt.want {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestParsePredictionsInvalid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr, want string
	}{
		{"accuracy >= 90", "a bare accuracy is a fraction 0..1; write 90% for a percentage"},
		{"accuracy >= 101%", `bad value "101%": want a percentage 0%..100%`},
		{"accuracy >= -1%", `bad value "-1%": want a percentage 0%..100%`},
		{"accuracy >= good", `bad value "good": want a percentage like 90% or a fraction like 0.9`},
		{"instance_rate >= 95%", `bad value "95%": instance_rate is instances per second, like 1000; a share of the planned rate is for rps only`},
		{"instance_rate >= -3", `bad value "-3": want instances per second (>= 0), like 1000`},
		{"instance_rate >= many", `bad value "many": want instances per second`},
		{"instances > 100", `unknown metric "instances"`},
		// The existing message of error_rate is unchanged by sharing its parser.
		{"error_rate < 5", "a bare error rate is a fraction 0..1; write 5% for a percentage"},
		{"error_rate < x", `bad value "x": want a percentage like 1% or a fraction like 0.01`},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			got, err := threshold.Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.expr, got)
			}
			if !strings.HasPrefix(err.Error(), `threshold "`+tt.expr+`": `) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the expression and say %q", err, tt.want)
			}
		})
	}
}

// predictionFixture is a 1-shard run of four 1 s slices of 100 requests:
//
//	slice 0: batch 8, nothing checked (warm-up)
//	slice 1: batch 8, 760 of 800 correct (95%)
//	slice 2: batch 8, 700 of 800 correct (87.5%)
//	slice 3: batch 4, 400 of 400 correct
//
// checks false records no check at all: a plan without target.check.
func predictionFixture(t *testing.T, checks bool) *report.Report {
	t.Helper()
	parts := []struct {
		batch            int64
		checked, correct int64
	}{{8, 0, 0}, {8, 800, 760}, {8, 800, 700}, {4, 400, 400}}
	var results []*slice.Result
	for k, p := range parts {
		start := t0.Add(time.Duration(k) * time.Second)
		r := slice.NewResult("r", 0, k, start, start.Add(time.Second))
		rec := slice.NewRecorder()
		rec.Intend(100)
		for range 100 {
			rec.Record("http:200", true, 10*time.Millisecond, 5*time.Millisecond, 10, 20, 0)
			rec.Instances(p.batch)
		}
		if checks {
			rec.Checked(p.checked, p.correct)
		}
		r.AddRecorder(rec)
		results = append(results, r)
	}
	return report.Build(report.Input{
		RunID: "r", PlanName: "p", Status: report.StatusCompleted,
		Start: t0, End: t0.Add(4 * time.Second),
		SliceDuration: time.Second, PlanDuration: 4 * time.Second, Shards: 1, NumSlices: 4,
		Slices: results,
	})
}

func TestEvaluatePredictions(t *testing.T) {
	t.Parallel()
	checked, unchecked := predictionFixture(t, true), predictionFixture(t, false)
	for _, tt := range []struct {
		name    string
		rep     *report.Report
		expr    string
		want    float64
		pass    bool
		failing []int
		reason  string
	}{
		// 1860 of 2000 checked predictions matched; slice 0 checked none.
		{"run-wide accuracy", checked, "accuracy >= 90%", 93, true, nil, ""},
		{"run-wide accuracy as a fraction", checked, "accuracy >= 0.95", 93, false, nil, ""},
		{"per slice: the unchecked slice is not judged", checked, "accuracy >= 90% per_slice", 87.5, false, []int{2}, ""},
		{"per slice, all pass", checked, "accuracy > 80% per_slice", 87.5, true, nil, ""},
		{"ignore_first leaves out slices 0 and 1", checked, "accuracy >= 90% ignore_first 2s", 91.667, true, nil, ""},
		{"only the last slice", checked, "accuracy == 100% ignore_first 3s", 100, true, nil, ""},
		{"abort_on_fail judges the same slices", checked, "accuracy >= 90% per_slice abort_on_fail 1 ignore_first 0s", 87.5, false, []int{2}, ""},
		{"no check: run-wide fails with the reason", unchecked, "accuracy >= 90%", 0, false, nil, threshold.NoChecksReason},
		{"no check: even a bound that always holds", unchecked, "accuracy >= 0%", 0, false, nil, threshold.NoChecksReason},
		{"no check: per slice fails with the reason, no failing slice", unchecked, "accuracy >= 90% per_slice", 0, false, nil, threshold.NoChecksReason},
		// 2800 instances over 4 s; slice 3 carried 400 in its second.
		{"run-wide instance rate", checked, "instance_rate >= 700", 700, true, nil, ""},
		{"instance rate above", checked, "instance_rate > 700", 700, false, nil, ""},
		{"per-slice instance rate", checked, "instance_rate > 500 per_slice", 400, false, []int{3}, ""},
		{"instance rate after warm-up", checked, "instance_rate >= 800/s ignore_first 1s", 666.667, false, nil, ""},
		{"instance rate needs no check", unchecked, "instance_rate >= 100", 700, true, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := th.Evaluate(tt.rep)
			if got.Observed != tt.want || got.Pass != tt.pass || !slices.Equal(got.FailingSlices, tt.failing) || got.Reason != tt.reason {
				t.Errorf("Evaluate(%q) = observed %v pass %v failing %v reason %q; want %v %v %v %q",
					tt.expr, got.Observed, got.Pass, got.FailingSlices, got.Reason, tt.want, tt.pass, tt.failing, tt.reason)
			}
			if got.Unit != th.Unit {
				t.Errorf("unit %q, want %q", got.Unit, th.Unit)
			}
		})
	}
}

// TestNoChecksReason: the reason says what is missing and where to look.
func TestNoChecksReason(t *testing.T) {
	t.Parallel()
	for _, want := range []string{"accuracy", "no prediction was checked", "target.check"} {
		if !strings.Contains(threshold.NoChecksReason, want) {
			t.Errorf("NoChecksReason %q lacks %q", threshold.NoChecksReason, want)
		}
	}
}
