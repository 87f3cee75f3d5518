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

func TestParseValid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr string
		want threshold.Threshold
	}{
		{"p99 < 250ms", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms"}},
		{"  p50 <= 40ms  ", threshold.Threshold{Metric: "p50", Op: "<=", Value: 40, Unit: "ms"}},
		{"p999<1.5s", threshold.Threshold{Metric: "p999", Op: "<", Value: 1500, Unit: "ms"}},
		{"max < 800us", threshold.Threshold{Metric: "max", Op: "<", Value: 0.8, Unit: "ms"}},
		// A bare number of a latency is milliseconds.
		{"mean < 12.5", threshold.Threshold{Metric: "mean", Op: "<", Value: 12.5, Unit: "ms"}},
		{"P90 > 1ms", threshold.Threshold{Metric: "p90", Op: ">", Value: 1, Unit: "ms"}},
		{"min >= 0", threshold.Threshold{Metric: "min", Op: ">=", Value: 0, Unit: "ms"}},
		{"service_p99 < 200ms", threshold.Threshold{Metric: "service_p99", Op: "<", Value: 200, Unit: "ms"}},
		{"service_max != 1m", threshold.Threshold{Metric: "service_max", Op: "!=", Value: 60000, Unit: "ms"}},
		{"error_rate < 1%", threshold.Threshold{Metric: "error_rate", Op: "<", Value: 1, Unit: "%"}},
		// A bare error rate is a fraction.
		{"error_rate < 0.01", threshold.Threshold{Metric: "error_rate", Op: "<", Value: 1, Unit: "%"}},
		{"error_rate == 0", threshold.Threshold{Metric: "error_rate", Op: "==", Value: 0, Unit: "%"}},
		{"rps >= 95%", threshold.Threshold{Metric: "rps", Op: ">=", Value: 95, Unit: "%"}},
		{"rps >= 480", threshold.Threshold{Metric: "rps", Op: ">=", Value: 480, Unit: "req/s"}},
		{"rps >= 480/s", threshold.Threshold{Metric: "rps", Op: ">=", Value: 480, Unit: "req/s"}},
		{"dropped == 0", threshold.Threshold{Metric: "dropped", Op: "==", Value: 0, Unit: ""}},
		{"errors <= 10", threshold.Threshold{Metric: "errors", Op: "<=", Value: 10, Unit: ""}},
		{"completed > 1000", threshold.Threshold{Metric: "completed", Op: ">", Value: 1000, Unit: ""}},
		{"p99 < 250ms ignore_first 10s", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", IgnoreFirst: 10 * time.Second}},
		{"p99 < 250ms ignore_first=10s", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", IgnoreFirst: 10 * time.Second}},
		{"p99 < 250ms ignore_first: 1m30s", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", IgnoreFirst: 90 * time.Second}},
		{"p99 < 250ms per_slice", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", PerSlice: true}},
		{"p99 < 250ms ignore_first 5s per_slice abort_on_fail 3", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", IgnoreFirst: 5 * time.Second, PerSlice: true, AbortOnFail: 3}},
		// Options in any order.
		{"rps >= 95% per_slice abort_on_fail 2 ignore_first 0s", threshold.Threshold{Metric: "rps", Op: ">=", Value: 95, Unit: "%", PerSlice: true, AbortOnFail: 2}},
		{"p99 < 250ms stage 2", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", Stage: 2}},
		// "phase" is a synonym of "stage", and takes "=" and ":" too.
		{"p99 < 250ms phase 1", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", Stage: 1}},
		{"p99 < 250ms STAGE=3", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", Stage: 3}},
		{"p99 < 250ms phase: 12", threshold.Threshold{Metric: "p99", Op: "<", Value: 250, Unit: "ms", Stage: 12}},
		{"error_rate < 1% per_slice abort_on_fail 2 stage 2 ignore_first 5s", threshold.Threshold{Metric: "error_rate", Op: "<", Value: 1, Unit: "%", Stage: 2, IgnoreFirst: 5 * time.Second, PerSlice: true, AbortOnFail: 2}},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			got, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.expr, err)
			}
			tt.want.Expr = strings.TrimSpace(tt.expr)
			if got != tt.want {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.expr, got, tt.want)
			}
		})
	}
}

// TestParseInvalid: every bad expression gets an error that names it and
// says what is wrong.
func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr, want string
	}{
		{"", "must not be empty"},
		{"   ", "must not be empty"},
		{"< 250ms", "want a metric first"},
		{"p98 < 250ms", `unknown metric "p98"; want one of p50, p90, p95, p99, p999, min, mean, max, service_p50`},
		{"latency < 250ms", `unknown metric "latency"`},
		{"service_error_rate < 1%", `unknown metric "service_error_rate"`},
		{"p99", "missing operator and value"},
		{"p99 250ms", "missing operator after"},
		{"p99 = 250ms", `unknown operator "="; use ==`},
		{"p99 => 250ms", `unknown operator "=>"`},
		{"p99 <> 250ms", `unknown operator "<>"`},
		{"p99 =< 250ms", `unknown operator "=<"`},
		{"p99 <", `missing value after "<"`},
		{"p99 < fast", `bad value "fast": want a duration`},
		{"p99 < 250xs", `bad value "250xs"`},
		{"p99 < -5ms", `bad value "-5ms": a latency must be >= 0`},
		{"p99 < -5", `bad value "-5": a latency must be >= 0`},
		{"p99 < 5%", `bad value "5%": want a duration`},
		{"p99 < NaN", `bad value "NaN"`},
		{"p99 < 250 ms", `unexpected "ms" after the value`},
		{"error_rate < 5", "a bare error rate is a fraction 0..1; write 5% for a percentage"},
		{"error_rate < 101%", `bad value "101%": want a percentage 0%..100%`},
		{"error_rate < 1ms", `bad value "1ms"`},
		{"rps >= -1", `bad value "-1": want requests per second`},
		{"rps >= lots", `bad value "lots"`},
		{"rps >= x%", `bad value "x%": want a percentage of the planned rate`},
		{"dropped == 0.5", `bad value "0.5": want a count`},
		{"errors < -1", `bad value "-1": want a count`},
		{"completed > 1e3", `bad value "1e3": want a count`},
		{"p99 < 250ms abort_on_fail 3", "abort_on_fail 3 needs per_slice"},
		{"p99 < 250ms per_slice abort_on_fail 0", `abort_on_fail: want a number of failing slices >= 1, got "0"`},
		{"p99 < 250ms per_slice abort_on_fail -2", `abort_on_fail: want a number of failing slices >= 1, got "-2"`},
		{"p99 < 250ms per_slice abort_on_fail", "abort_on_fail needs a value"},
		{"p99 < 250ms ignore_first", "ignore_first needs a value"},
		{"p99 < 250ms ignore_first -10s", "ignore_first must be >= 0, got -10s"},
		{"p99 < 250ms ignore_first ten", `ignore_first: bad duration "ten"`},
		{"p99 < 250ms ignore_first 10", `ignore_first: bad duration "10"`},
		{"p99 < 250ms per_slice per_slice", "per_slice given twice"},
		{"p99 < 250ms ignore_first 1s ignore_first 2s", "ignore_first given twice"},
		{"p99 < 250ms please", `unexpected "please" after the value`},
		{"p99 < 250ms per_slice and more", `unexpected "and"`},
		{"p99 < 250ms stage 0", `stage: want a stage number >= 1 (stages count from 1), got "0"`},
		{"p99 < 250ms phase 0", `phase: want a stage number >= 1 (stages count from 1), got "0"`},
		{"p99 < 250ms stage -1", `stage: want a stage number >= 1`},
		{"p99 < 250ms stage two", `stage: want a stage number >= 1 (stages count from 1), got "two"`},
		{"p99 < 250ms stage 1.5", `got "1.5"`},
		{"p99 < 250ms stage", "stage needs a value, a stage number counted from 1"},
		{"p99 < 250ms stage 1 stage 2", "stage given twice"},
		{"p99 < 250ms stage 1 phase 2", "stage given twice"},
		{"p99 < 250ms warmup 10s", `unexpected "warmup" after the value; want stage N, ignore_first D`},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			got, err := threshold.Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.expr, got)
			}
			name := `threshold "` + strings.TrimSpace(tt.expr) + `": `
			if !strings.HasPrefix(err.Error(), name) {
				t.Errorf("error %q does not start with %q", err, name)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fixture is a seeded, fixed 2-shard run of four 1 s slices, 50 requests
// per shard slice:
//
//	slice 0 (warm-up): every request 400 ms
//	slice 1: 20 ms
//	slice 2: 30 ms; shard 1 has 10 errors
//	slice 3: 40 ms, but shard 1 has 2 at 300 ms, and dropped 5 of 55 intended
//
// Service time is half the latency. The plan intended 100, 100, 100, 110.
func fixture(t *testing.T) *report.Report {
	t.Helper()
	type part struct {
		n        int
		latency  time.Duration
		errors   int
		dropped  int64
		shard, k int
	}
	var results []*slice.Result
	for _, ps := range [][]part{
		{{n: 50, latency: 400 * time.Millisecond, shard: 0, k: 0}},
		{{n: 50, latency: 400 * time.Millisecond, shard: 1, k: 0}},
		{{n: 50, latency: 20 * time.Millisecond, shard: 0, k: 1}},
		{{n: 50, latency: 20 * time.Millisecond, shard: 1, k: 1}},
		{{n: 50, latency: 30 * time.Millisecond, shard: 0, k: 2}},
		{{n: 40, latency: 30 * time.Millisecond, shard: 1, k: 2}, {n: 10, latency: 30 * time.Millisecond, errors: 10, shard: 1, k: 2}},
		{{n: 50, latency: 40 * time.Millisecond, shard: 0, k: 3}},
		{{n: 48, latency: 40 * time.Millisecond, shard: 1, k: 3, dropped: 5}, {n: 2, latency: 300 * time.Millisecond, shard: 1, k: 3}},
	} {
		first := ps[0]
		start := t0.Add(time.Duration(first.k) * time.Second)
		r := slice.NewResult("r", first.shard, first.k, start, start.Add(time.Second))
		rec := slice.NewRecorder()
		for _, p := range ps {
			rec.Intend(int64(p.n) + p.dropped)
			rec.Drop(p.dropped)
			for i := range p.n {
				ok, outcome := i >= p.errors, "http:200"
				if !ok {
					outcome = "http:500"
				}
				rec.Record(outcome, ok, p.latency, p.latency/2, 10, 20, 0)
			}
		}
		r.AddRecorder(rec)
		results = append(results, r)
	}
	return report.Build(report.Input{
		RunID: "r", PlanName: "p", Status: report.StatusCompleted,
		Start: t0, End: t0.Add(4 * time.Second),
		SliceDuration: time.Second, PlanDuration: 4 * time.Second, Shards: 2, NumSlices: 4,
		PlannedIntended: []int64{100, 100, 100, 110},
		Slices:          results,
	})
}

// hev is how a latency reads back from the histogram: the highest value
// equivalent to it at 3 significant digits, in ms.
func hev(d time.Duration) float64 {
	h := slice.NewHistogram()
	_ = h.RecordValue(d.Microseconds())
	return float64(h.ValueAtQuantile(50)) / 1000
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	rep := fixture(t)
	for _, tt := range []struct {
		expr    string
		want    float64
		pass    bool
		failing []int
	}{
		// A quarter of the run is the 400 ms warm-up.
		{"p99 < 250ms", hev(400 * time.Millisecond), false, nil},
		// After the warm-up, the merged p99 is 40 ms (2 of 300 requests are
		// slow). Averaging the slices' p99s (20, 30, 300) would say 117 ms.
		{"p99 < 100ms ignore_first 1s", hev(40 * time.Millisecond), true, nil},
		{"p99 < 100ms ignore_first 1s per_slice", hev(300 * time.Millisecond), false, []int{3}},
		{"p50 <= 31ms ignore_first 1s", hev(30 * time.Millisecond), true, nil},
		// Slice 1 starts before 1.5 s: slices 2 and 3 are judged.
		{"p50 <= 31ms ignore_first 1500ms", hev(30 * time.Millisecond), true, nil},
		{"p50 <= 31ms ignore_first 2500ms", hev(40 * time.Millisecond), false, nil},
		{"max < 1s", hev(400 * time.Millisecond), true, nil},
		{"p99 < 500ms per_slice", hev(400 * time.Millisecond), true, nil},
		{"p50 > 25ms per_slice", hev(20 * time.Millisecond), false, []int{1}},
		{"service_p99 < 250ms", hev(200 * time.Millisecond), true, nil},
		{"service_p50 < 15ms ignore_first 1s", hev(15 * time.Millisecond), false, nil},
		// 10 errors of 400 completed.
		{"error_rate < 1%", 2.5, false, nil},
		{"error_rate < 0.05", 2.5, true, nil},
		{"error_rate < 1% per_slice", 10, false, []int{2}},
		{"errors == 10", 10, true, nil},
		{"errors == 0 ignore_first 3s", 0, true, nil},
		{"dropped == 0", 5, false, nil},
		{"completed >= 400", 400, true, nil},
		// 400 completed of 410 planned.
		{"rps >= 95%", 97.561, true, nil},
		{"rps >= 95% per_slice", 90.909, false, []int{3}},
		{"rps >= 99% ignore_first 3s", 90.909, false, nil},
		{"rps >= 100", 100, true, nil},
		{"rps > 100", 100, false, nil},
		{"completed != 0 per_slice", 100, true, nil},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			th, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := th.Evaluate(rep)
			if got.Expr != tt.expr || got.Unit != th.Unit {
				t.Errorf("expr %q unit %q, want %q %q", got.Expr, got.Unit, tt.expr, th.Unit)
			}
			if got.Observed != tt.want || got.Pass != tt.pass || !slices.Equal(got.FailingSlices, tt.failing) {
				t.Errorf("Evaluate = observed %v pass %v failing %v; want %v %v %v",
					got.Observed, got.Pass, got.FailingSlices, tt.want, tt.pass, tt.failing)
			}
		})
	}
}

// TestEvaluateGaps: a slice nobody reported is not judged, and judging
// does not change the report.
func TestEvaluateGaps(t *testing.T) {
	t.Parallel()
	rep := fixture(t)
	rep.SliceResults[3] = nil
	before := rep.Total.Completed
	for _, tt := range []struct {
		expr    string
		want    float64
		pass    bool
		failing []int
	}{
		{"p99 < 100ms ignore_first 1s per_slice", hev(30 * time.Millisecond), true, nil},
		{"completed == 200 ignore_first 1s", 200, true, nil},
		{"rps >= 100% ignore_first 1s", 100, true, nil},
		{"p99 < 1ms ignore_first 4s per_slice", 0, true, nil},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			th, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := th.Evaluate(rep)
			if got.Observed != tt.want || got.Pass != tt.pass || !slices.Equal(got.FailingSlices, tt.failing) {
				t.Errorf("Evaluate = observed %v pass %v failing %v; want %v %v %v",
					got.Observed, got.Pass, got.FailingSlices, tt.want, tt.pass, tt.failing)
			}
		})
	}
	if rep.Total.Completed != before {
		t.Errorf("Evaluate changed the report's total: completed %d, was %d", rep.Total.Completed, before)
	}
}

func TestMetricsListed(t *testing.T) {
	t.Parallel()
	for _, m := range threshold.Metrics() {
		if _, err := threshold.Parse(m + " >= 0"); err != nil {
			t.Errorf("metric %q listed but rejected: %v", m, err)
		}
	}
	if got := len(threshold.Metrics()); got != 23 {
		t.Errorf("%d metrics, want 23", got)
	}
}

// stageFixture is a seeded, fixed 1-shard run of four 1 s slices, 100
// requests each, ending at end (4 s, or less to cut the last slice):
//
//	slices 0, 1: every request 10 ms (fast)
//	slices 2, 3: 100 ms, but slice 2 has 3 at 300 ms (slow)
//
// Over slices 2 and 3 the 300 ms requests are 1.5%, so their p99 is
// 300 ms; over the run they are 0.75%, so its p99 is 100 ms.
func stageFixture(t *testing.T, end time.Duration) *report.Report {
	t.Helper()
	var results []*slice.Result
	for k := range 4 {
		start := t0.Add(time.Duration(k) * time.Second)
		r := slice.NewResult("r", 0, k, start, start.Add(time.Second))
		rec := slice.NewRecorder()
		rec.Intend(100)
		for i := range 100 {
			lat := 10 * time.Millisecond
			switch {
			case k == 2 && i < 3:
				lat = 300 * time.Millisecond
			case k >= 2:
				lat = 100 * time.Millisecond
			}
			rec.Record("http:200", true, lat, lat, 10, 20, 0)
		}
		r.AddRecorder(rec)
		results = append(results, r)
	}
	return report.Build(report.Input{
		RunID: "r", PlanName: "p", Status: report.StatusCompleted,
		Start: t0, End: t0.Add(end),
		SliceDuration: time.Second, PlanDuration: end, Shards: 1, NumSlices: 4,
		Slices: results,
	})
}

// TestEvaluateStage: a stage threshold judges the slices wholly within its
// stage, merged; a slice straddling a stage boundary is judged by neither.
func TestEvaluateStage(t *testing.T) {
	t.Parallel()
	twoByTwo := []time.Duration{2 * time.Second, 2 * time.Second}
	for _, tt := range []struct {
		expr    string
		stages  []time.Duration
		end     time.Duration
		want    float64
		pass    bool
		failing []int
	}{
		// The whole run's p99 is neither stage's.
		{"p99 < 250ms", twoByTwo, 4 * time.Second, hev(100 * time.Millisecond), true, nil},
		{"p99 < 250ms stage 1", twoByTwo, 4 * time.Second, hev(10 * time.Millisecond), true, nil},
		{"p99 < 250ms stage 2", twoByTwo, 4 * time.Second, hev(300 * time.Millisecond), false, nil},
		{"p99 < 250ms phase 2", twoByTwo, 4 * time.Second, hev(300 * time.Millisecond), false, nil},
		{"completed == 200 stage 2", twoByTwo, 4 * time.Second, 200, true, nil},
		{"rps >= 100 stage 1", twoByTwo, 4 * time.Second, 100, true, nil},
		{"p50 < 50ms stage 2 per_slice", twoByTwo, 4 * time.Second, hev(100 * time.Millisecond), false, []int{2, 3}},
		{"p99 < 250ms stage 2 per_slice", twoByTwo, 4 * time.Second, hev(300 * time.Millisecond), false, []int{2}},
		// ignore_first counts from the run's start: 3 s into the run
		// leaves slice 3 of stage 2.
		{"p99 < 250ms stage 2 ignore_first 3s", twoByTwo, 4 * time.Second, hev(100 * time.Millisecond), true, nil},
		{"completed == 100 stage 2 ignore_first 2500ms", twoByTwo, 4 * time.Second, 100, true, nil},
		// Stages of 1.5 s and 2.5 s: slice 1 (1 s to 2 s) straddles the
		// boundary and belongs to neither.
		{"completed == 100 stage 1", []time.Duration{1500 * time.Millisecond, 2500 * time.Millisecond}, 4 * time.Second, 100, true, nil},
		{"completed == 200 stage 2", []time.Duration{1500 * time.Millisecond, 2500 * time.Millisecond}, 4 * time.Second, 200, true, nil},
		{"p99 < 250ms stage 2", []time.Duration{1500 * time.Millisecond, 2500 * time.Millisecond}, 4 * time.Second, hev(300 * time.Millisecond), false, nil},
		// A run of 3.5 s: its last slice, cut to 0.5 s by the run's end,
		// lies within the last stage.
		{"completed == 200 stage 2", []time.Duration{2 * time.Second, 1500 * time.Millisecond}, 3500 * time.Millisecond, 200, true, nil},
		// A stage holding no whole slice judges nothing.
		{"completed == 0 stage 2", []time.Duration{1500 * time.Millisecond, 1 * time.Second, 1500 * time.Millisecond}, 4 * time.Second, 0, true, nil},
	} {
		t.Run(tt.expr+" of "+fmtDurations(tt.stages), func(t *testing.T) {
			t.Parallel()
			th, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if th, err = th.ForStages(tt.stages); err != nil {
				t.Fatal(err)
			}
			got := th.Evaluate(stageFixture(t, tt.end))
			if got.Observed != tt.want || got.Pass != tt.pass || !slices.Equal(got.FailingSlices, tt.failing) {
				t.Errorf("Evaluate = observed %v pass %v failing %v; want %v %v %v",
					got.Observed, got.Pass, got.FailingSlices, tt.want, tt.pass, tt.failing)
			}
		})
	}
}

func fmtDurations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, "+")
}

// TestEvaluateStageUnplaced: a stage threshold whose window was never set
// fails rather than judge the whole run.
func TestEvaluateStageUnplaced(t *testing.T) {
	t.Parallel()
	th, err := threshold.Parse("p99 < 1s stage 1")
	if err != nil {
		t.Fatal(err)
	}
	got := th.Evaluate(stageFixture(t, 4*time.Second))
	if got.Pass || got.Observed != 0 {
		t.Errorf("Evaluate = observed %v pass %v; want 0 false", got.Observed, got.Pass)
	}
}

func TestForStages(t *testing.T) {
	t.Parallel()
	stages := []time.Duration{10 * time.Second, 20 * time.Second, 5 * time.Second}
	for _, tt := range []struct {
		expr    string
		want    threshold.Window
		wantErr string
	}{
		{expr: "p99 < 1s", want: threshold.Window{}},
		{expr: "p99 < 1s stage 1", want: threshold.Window{From: 0, To: 10 * time.Second}},
		{expr: "p99 < 1s stage 2", want: threshold.Window{From: 10 * time.Second, To: 30 * time.Second}},
		{expr: "p99 < 1s stage 3", want: threshold.Window{From: 30 * time.Second, To: 35 * time.Second}},
		{expr: "p99 < 1s stage 4", wantErr: `threshold "p99 < 1s stage 4": stage 4 does not exist, the plan has 3 stages`},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			th, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := th.ForStages(stages)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ForStages = %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Window != tt.want {
				t.Errorf("ForStages = %+v, %v; want window %+v", got.Window, err, tt.want)
			}
		})
	}
}

// TestJudgedSlices: the count in closed form agrees with Judges slice by
// slice.
func TestJudgedSlices(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr            string
		stages          []time.Duration
		duration, slice time.Duration
		want            int
	}{
		{"p99 < 1s", []time.Duration{20 * time.Second}, 20 * time.Second, 10 * time.Second, 2},
		{"p99 < 1s ignore_first 5s", []time.Duration{20 * time.Second}, 20 * time.Second, 10 * time.Second, 1},
		{"p99 < 1s stage 1", []time.Duration{10 * time.Second, 10 * time.Second}, 20 * time.Second, 10 * time.Second, 1},
		// A stage shorter than a slice holds none.
		{"p99 < 1s stage 2", []time.Duration{10 * time.Second, 5 * time.Second, 5 * time.Second}, 20 * time.Second, 10 * time.Second, 0},
		// Longer than a slice but off the slices' grid: none either.
		{"p99 < 1s stage 2", []time.Duration{5 * time.Second, 10 * time.Second, 5 * time.Second}, 20 * time.Second, 10 * time.Second, 0},
		// The last stage takes the last, cut slice.
		{"p99 < 1s stage 2", []time.Duration{10 * time.Second, 15 * time.Second}, 25 * time.Second, 10 * time.Second, 2},
		{"p99 < 1s stage 2 ignore_first 15s", []time.Duration{10 * time.Second, 15 * time.Second}, 25 * time.Second, 10 * time.Second, 1},
		{"p99 < 1s stage 2 ignore_first 30s", []time.Duration{10 * time.Second, 15 * time.Second}, 25 * time.Second, 10 * time.Second, 0},
		{"p99 < 1s stage 1", []time.Duration{time.Hour, time.Hour}, 2 * time.Hour, 100 * time.Millisecond, 36000},
	} {
		t.Run(tt.expr+" of "+fmtDurations(tt.stages), func(t *testing.T) {
			t.Parallel()
			th, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if th, err = th.ForStages(tt.stages); err != nil {
				t.Fatal(err)
			}
			if got := th.JudgedSlices(tt.duration, tt.slice); got != tt.want {
				t.Errorf("JudgedSlices = %d, want %d", got, tt.want)
			}
			n := 0
			for start := time.Duration(0); start < tt.duration; start += tt.slice {
				if th.Judges(start, min(start+tt.slice, tt.duration)) {
					n++
				}
			}
			if n != tt.want {
				t.Errorf("Judges holds for %d slices, want %d", n, tt.want)
			}
		})
	}
}
