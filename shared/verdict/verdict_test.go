package verdict_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/verdict"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// run describes a seeded 2-shard run of four 1 s slices, 20 requests per
// shard slice at 10 ms, changed by its fields.
type run struct {
	status string
	// slow lists slices whose requests take 500 ms.
	slow []int
	// missing lists [shard, slice] pairs nobody reported.
	missing [][2]int
	// dropped requests in shard 0's slice 1, lateness of its requests.
	dropped  int64
	lateness time.Duration
	// lateOnce: only shard 0's first request of slice 0 is late; the
	// recorders count late requests beyond lateBound (default 50ms).
	lateOnce  bool
	lateBound time.Duration
	// lateIn[k] requests of each shard's slice k are sent 60ms late;
	// perSlice requests per shard slice instead of 20.
	lateIn     map[int]int
	perSlice   int
	perSliceAt map[int]int // requests per shard of slice k, over perSlice
	// coverage set as the aggregator does, from missing.
	coverage bool
	// batch, when > 0, is the instances each request carries; check has
	// each shard slice check them all, of which wrong[slice] are wrong.
	batch int64
	check bool
	wrong map[int]int64
}

func (r run) build(t *testing.T) *report.Report {
	t.Helper()
	var results []*slice.Result
	for shard := range 2 {
		for k := range 4 {
			if slices.Contains(r.missing, [2]int{shard, k}) {
				continue
			}
			start := t0.Add(time.Duration(k) * time.Second)
			res := slice.NewResult("r", shard, k, start, start.Add(time.Second))
			rec := slice.NewRecorder()
			rec.SetLateBound(cmp.Or(r.lateBound, 50*time.Millisecond))
			lat := 10 * time.Millisecond
			if slices.Contains(r.slow, k) {
				lat = 500 * time.Millisecond
			}
			n := cmp.Or(r.perSliceAt[k], r.perSlice, 20)
			rec.Intend(int64(n))
			for i := range n {
				late := r.lateness
				if r.lateOnce && (shard != 0 || k != 0 || i != 0) {
					late = 0
				}
				if i < r.lateIn[k] {
					late = 60 * time.Millisecond
				}
				rec.Record("http:200", true, lat, lat, 10, 10, late)
				rec.Instances(max(r.batch, 1))
			}
			if r.check {
				c := int64(n) * max(r.batch, 1)
				rec.Checked(c, c-r.wrong[k])
			}
			if shard == 0 && k == 1 && r.dropped > 0 {
				rec.Intend(r.dropped)
				rec.Drop(r.dropped)
			}
			res.AddRecorder(rec)
			results = append(results, res)
		}
	}
	status := r.status
	if status == "" {
		status = report.StatusCompleted
	}
	rep := report.Build(report.Input{
		RunID: "r", PlanName: "p", Status: status, Start: t0, End: t0.Add(4 * time.Second),
		SliceDuration: time.Second, PlanDuration: 4 * time.Second, Shards: 2, NumSlices: 4,
		PlannedIntended: []int64{40, 40, 40, 40}, Slices: results,
	})
	if r.coverage {
		rep.Coverage = &report.Coverage{Expected: 8, Received: 8 - len(r.missing)}
	}
	return rep
}

func planWith(thresholds ...string) *plan.Plan {
	return &plan.Plan{Name: "p", Shards: 2, Thresholds: thresholds}
}

// stagedWith is planWith over two stages of 2 s: slices 0-1, then 2-3.
func stagedWith(thresholds ...string) *plan.Plan {
	p := planWith(thresholds...)
	p.Load.Stages = []plan.Stage{{Duration: plan.Duration(2 * time.Second)}, {Duration: plan.Duration(2 * time.Second)}}
	return p
}

// peakStaged is planWith over a stage of 3 s (slices 0-2), then a peak of
// 1 s (slice 3).
func peakStaged(thresholds ...string) *plan.Plan {
	p := planWith(thresholds...)
	p.Load.Stages = []plan.Stage{{Duration: plan.Duration(3 * time.Second)}, {Duration: plan.Duration(time.Second)}}
	return p
}

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		plan  *plan.Plan
		run   run
		abort string
		// comparison, when set, is attached before judging.
		comparison *report.Comparison
		want       string
		reasons    []string // each must appear in the reason at its index
		noReason   string   // must appear in no reason
	}{
		{name: "no thresholds, full coverage", plan: planWith(), run: run{coverage: true}, want: report.VerdictPass},
		{name: "thresholds pass", plan: planWith("p99 < 250ms", "error_rate == 0", "rps >= 95%", "dropped == 0"), run: run{coverage: true}, want: report.VerdictPass},
		{
			name: "a threshold fails", plan: planWith("p99 < 250ms", "error_rate == 0"), run: run{slow: []int{3}, coverage: true},
			want: report.VerdictFail, reasons: []string{`threshold "p99 < 250ms" failed: observed 500.223 ms`},
		},
		{
			name: "a per-slice threshold fails", plan: planWith("p50 < 100ms per_slice"), run: run{slow: []int{1, 3}},
			want: report.VerdictFail, reasons: []string{`threshold "p50 < 100ms per_slice" failed in 2 slices (1, 3): worst 500.223 ms`},
		},
		{
			name: "the warm-up is not judged", plan: planWith("p99 < 250ms ignore_first 1s"), run: run{slow: []int{0}},
			want: report.VerdictPass,
		},
		{
			// The slow slice is missing too: a gap never passes for good.
			name: "incomplete from missing slices", plan: planWith("p99 < 1ms"), run: run{missing: [][2]int{{1, 2}}, coverage: true},
			want: report.VerdictIncomplete, reasons: []string{"coverage 87.5% (7 of 8 shard slices) is below min_coverage 100%"}, noReason: "threshold",
		},
		{
			name: "missing slices above the plan's floor", plan: func() *plan.Plan { p := planWith("p99 < 250ms"); p.MinCoverage = 80; return p }(),
			run: run{missing: [][2]int{{1, 2}}, coverage: true}, want: report.VerdictPass,
		},
		{
			name: "incomplete from missing slices in cicada run (no coverage)", plan: planWith(), run: run{missing: [][2]int{{0, 3}}},
			want: report.VerdictIncomplete, reasons: []string{"coverage 87.5% (7 of 8 shard slices)"},
		},
		{
			name: "incomplete from a saturated generator: dropped", plan: planWith("p99 < 250ms"), run: run{dropped: 3, slow: []int{2}},
			want: report.VerdictIncomplete, reasons: []string{"generator saturated: 3 requests dropped"}, noReason: "p99",
		},
		{
			name: "incomplete from a saturated generator: lateness", plan: planWith(), run: run{lateness: 60 * time.Millisecond},
			want: report.VerdictIncomplete, reasons: []string{"generator saturated: 160 of 160 requests (100%) sent more than max_lateness 50ms after their intended time, up to 60ms"},
		},
		{
			name: "lateness within the plan's bound", plan: func() *plan.Plan { p := planWith(); p.MaxLateness = plan.Duration(100 * time.Millisecond); return p }(),
			run: run{lateness: 60 * time.Millisecond, lateBound: 100 * time.Millisecond}, want: report.VerdictPass,
		},
		{
			name: "a stage the generator fell behind in, under 1 % of the run", plan: peakStaged(),
			run: run{perSlice: 2000, perSliceAt: map[int]int{3: 500}, lateIn: map[int]int{3: 50}}, want: report.VerdictIncomplete,
			reasons: []string{"generator saturated in stage 2: 100 of 1000 requests (10%) sent more than max_lateness 50ms after their intended time"},
		},
		{
			name: "a stall in a short stage is not a saturated generator", plan: peakStaged(),
			run: run{perSlice: 2000, perSliceAt: map[int]int{3: 500}, lateIn: map[int]int{3: 20}}, want: report.VerdictPass, noReason: "generator",
		},
		{
			name: "a few late requests are a stall in any stage", plan: peakStaged(),
			run: run{perSlice: 2000, perSliceAt: map[int]int{3: 50}, lateIn: map[int]int{3: 4}}, want: report.VerdictPass, noReason: "generator",
		},
		{
			name: "one late request is a stall, not a saturated generator", plan: planWith(),
			run: run{lateness: 2 * time.Second, lateOnce: true}, want: report.VerdictPass, noReason: "generator",
		},
		{
			name: "cancelled", plan: planWith(), run: run{status: report.StatusCancelled, missing: [][2]int{{0, 3}, {1, 3}}, coverage: true},
			want: report.VerdictIncomplete, reasons: []string{"run cancelled before its end", "coverage 75%"},
		},
		{
			name: "aborted is a fail, not incomplete", plan: planWith("p99 < 250ms per_slice abort_on_fail 2"),
			run:   run{status: report.StatusCancelled, slow: []int{0, 1}, missing: [][2]int{{0, 3}, {1, 3}}, coverage: true},
			abort: "aborted: p99 < 250ms per_slice abort_on_fail 2 failed in 2 slices",
			want:  report.VerdictFail, reasons: []string{"aborted: p99 < 250ms per_slice abort_on_fail 2 failed in 2 slices", "failed in 2 slices (0, 1)"},
		},
		{
			name: "a fast stage passes though the run is slow", plan: stagedWith("p99 < 250ms stage 1"), run: run{slow: []int{2, 3}, coverage: true},
			want: report.VerdictPass,
		},
		{
			name: "a slow stage fails", plan: stagedWith("p99 < 250ms stage 1", "p99 < 250ms phase 2"), run: run{slow: []int{2, 3}, coverage: true},
			want: report.VerdictFail, reasons: []string{`threshold "p99 < 250ms phase 2" failed: observed 500.223 ms`},
		},
		{
			name: "a stage the plan lacks fails as invalid", plan: stagedWith("p99 < 250ms stage 3"), run: run{coverage: true},
			want: report.VerdictFail, reasons: []string{`invalid threshold "p99 < 250ms stage 3": stage 3 does not exist, the plan has 2 stages`},
		},
		{
			// Each shard slice checks 80 instances; slice 2 gets 10 of
			// them wrong per shard: 620 of 640 (96.875%), slice 2 87.5%.
			name: "accuracy and instance rate pass", plan: planWith("accuracy >= 90%", "instance_rate >= 160", "accuracy > 0.8 per_slice"),
			run: run{coverage: true, batch: 4, check: true, wrong: map[int]int64{2: 10}}, want: report.VerdictPass,
		},
		{
			name: "accuracy fails in a slice", plan: planWith("accuracy >= 90%", "accuracy >= 90% per_slice"),
			run:  run{coverage: true, batch: 4, check: true, wrong: map[int]int64{2: 10}},
			want: report.VerdictFail, reasons: []string{`threshold "accuracy >= 90% per_slice" failed in 1 slices (2): worst 87.5%`},
		},
		{
			name: "accuracy without checked predictions fails and says why", plan: planWith("accuracy >= 90%", "p99 < 250ms"),
			run:  run{coverage: true, batch: 4},
			want: report.VerdictFail, reasons: []string{`threshold "accuracy >= 90%" failed: accuracy: no prediction was checked (target.check not set?)`},
			noReason: "observed",
		},
		{
			name: "a regression fails", plan: planWith(), run: run{coverage: true},
			comparison: &report.Comparison{BaselineRunID: "b", TolerancePct: 10, Regression: true,
				Metrics: []report.MetricDiff{{Name: "p99", ChangePct: 42, Regression: true}, {Name: "p50", ChangePct: 1}}},
			want: report.VerdictFail, reasons: []string{"regression against baseline run b (tolerance 10%): p99 +42.0%"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := tt.run.build(t)
			rep.Comparison = tt.comparison
			if tt.abort != "" {
				verdict.JudgeAborted(tt.plan, rep, tt.abort)
			} else {
				verdict.Judge(tt.plan, rep)
			}
			if rep.Verdict != tt.want {
				t.Errorf("verdict %q %q, want %q", rep.Verdict, rep.VerdictReasons, tt.want)
			}
			if len(rep.Thresholds) != len(tt.plan.Thresholds) {
				t.Errorf("%d threshold results, want %d", len(rep.Thresholds), len(tt.plan.Thresholds))
			}
			if tt.want == report.VerdictPass && len(rep.VerdictReasons) > 0 {
				t.Errorf("a pass with reasons %q", rep.VerdictReasons)
			}
			if len(rep.VerdictReasons) < len(tt.reasons) {
				t.Fatalf("reasons %q, want at least %d", rep.VerdictReasons, len(tt.reasons))
			}
			for i, want := range tt.reasons {
				if !strings.Contains(rep.VerdictReasons[i], want) {
					t.Errorf("reason %d %q does not say %q", i, rep.VerdictReasons[i], want)
				}
			}
			for _, r := range rep.VerdictReasons {
				if tt.noReason != "" && strings.Contains(r, tt.noReason) {
					t.Errorf("reason %q mentions %q", r, tt.noReason)
				}
				if strings.Contains(r, "saturated") && !strings.Contains(r, "not a measure of the target") {
					t.Errorf("reason %q could be read as a slow target", r)
				}
			}
		})
	}
}

// TestEvaluateLeavesVerdict: a live status shows thresholds, no verdict.
func TestEvaluateLeavesVerdict(t *testing.T) {
	t.Parallel()
	rep := run{slow: []int{1}}.build(t)
	verdict.Evaluate(planWith("p99 < 250ms", "completed == 160"), rep)
	if rep.Verdict != "" || rep.VerdictReasons != nil {
		t.Errorf("verdict %q %q, want none", rep.Verdict, rep.VerdictReasons)
	}
	want := []bool{false, true}
	for i, r := range rep.Thresholds {
		if r.Pass != want[i] {
			t.Errorf("threshold %q pass %v, want %v", r.Expr, r.Pass, want[i])
		}
	}
	if len(rep.Thresholds) != 2 {
		t.Errorf("%d thresholds, want 2", len(rep.Thresholds))
	}
}

func TestAbort(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		plan   *plan.Plan
		run    run
		reason string
	}{
		{"two failing slices", planWith("p99 < 250ms per_slice abort_on_fail 2"), run{slow: []int{0, 2}}, "aborted: p99 < 250ms per_slice abort_on_fail 2 failed in 2 slices"},
		{"one is not enough", planWith("p99 < 250ms per_slice abort_on_fail 2"), run{slow: []int{2}}, ""},
		{"without abort_on_fail", planWith("p99 < 250ms per_slice"), run{slow: []int{0, 1, 2}}, ""},
		{"the warm-up does not count", planWith("p99 < 250ms ignore_first 1s per_slice abort_on_fail 2"), run{slow: []int{0, 2}}, ""},
		// Slice 2 lacks shard 1: its figures are partial, not judged yet.
		{"a slice not every shard reported", planWith("p99 < 250ms per_slice abort_on_fail 2"), run{slow: []int{0, 2}, missing: [][2]int{{1, 2}}}, ""},
		{"a stage's slices only", stagedWith("p99 < 250ms stage 1 per_slice abort_on_fail 1"), run{slow: []int{2, 3}}, ""},
		{"a slow stage", stagedWith("p99 < 250ms stage 2 per_slice abort_on_fail 2"), run{slow: []int{0, 2, 3}}, "aborted: p99 < 250ms stage 2 per_slice abort_on_fail 2 failed in 2 slices"},
		{"accuracy in a slice", planWith("accuracy >= 90% per_slice abort_on_fail 1"), run{check: true, wrong: map[int]int64{1: 5}}, "aborted: accuracy >= 90% per_slice abort_on_fail 1 failed in 1 slices"},
		// Nothing checked is no failing slice: the verdict says why at the end.
		{"accuracy with nothing checked", planWith("accuracy >= 90% per_slice abort_on_fail 1"), run{}, ""},
		{"the first threshold that trips", planWith("dropped == 0", "completed >= 50 per_slice abort_on_fail 3", "p99 < 250ms per_slice abort_on_fail 1"), run{slow: []int{3}}, "aborted: completed >= 50 per_slice abort_on_fail 3 failed in 4 slices"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reason, ok := verdict.Abort(tt.plan, tt.run.build(t))
			if reason != tt.reason || ok != (tt.reason != "") {
				t.Errorf("Abort = %q, %v; want %q", reason, ok, tt.reason)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	p := &plan.Plan{}
	if got := verdict.MinCoverage(p); got != 100 {
		t.Errorf("MinCoverage = %v, want 100", got)
	}
	if got := verdict.MaxLateness(p); got != 50*time.Millisecond {
		t.Errorf("MaxLateness = %v, want 50ms", got)
	}
	p.MinCoverage, p.MaxLateness = 95, plan.Duration(time.Second)
	if verdict.MinCoverage(p) != 95 || verdict.MaxLateness(p) != time.Second {
		t.Errorf("MinCoverage, MaxLateness = %v, %v; want the plan's 95, 1s", verdict.MinCoverage(p), verdict.MaxLateness(p))
	}
}

// TestEvaluateStages: each stage threshold shows its own stage's figure,
// and one naming a stage the plan lacks shows failing.
func TestEvaluateStages(t *testing.T) {
	t.Parallel()
	rep := run{slow: []int{2, 3}}.build(t)
	verdict.Evaluate(stagedWith("completed == 80 stage 1", "p50 < 250ms stage 1", "p50 < 250ms stage 2", "completed == 160", "completed == 0 stage 3"), rep)
	want := []struct {
		observed float64
		pass     bool
	}{{80, true}, {10.007, true}, {500.223, false}, {160, true}, {0, false}}
	if len(rep.Thresholds) != len(want) {
		t.Fatalf("%d thresholds, want %d", len(rep.Thresholds), len(want))
	}
	for i, r := range rep.Thresholds {
		if r.Observed != want[i].observed || r.Pass != want[i].pass {
			t.Errorf("threshold %q: observed %v pass %v, want %v %v", r.Expr, r.Observed, r.Pass, want[i].observed, want[i].pass)
		}
	}
}
