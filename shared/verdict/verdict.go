// Package verdict judges a finished run: its plan's thresholds on the
// report, and whether the report can be trusted at all. A run is
//
//   - incomplete when the report does not hold the run the plan asked for:
//     it was cancelled or failed, coverage is below the plan's min_coverage,
//     or the load generator saturated (dropped requests, or sent them later
//     than max_lateness). A saturated generator is reported as such, never as
//     a slow target: its latencies measure the generator as much as the target;
//   - fail when a threshold fails, a comparison with the baseline shows a
//     regression, or the aggregator aborted the run on a per-slice threshold
//     (abort_on_fail), which is a fail even though the run was cut short;
//   - pass otherwise, including a complete run with no thresholds.
package verdict

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/threshold"
)

// Defaults of the plan fields the verdict reads, when left at zero.
const (
	DefaultMinCoverage = 100.0 // percent of shard slices
	DefaultMaxLateness = plan.DefaultMaxLateness
)

// MinCoverage returns the plan's min_coverage in percent, the default if
// unset.
func MinCoverage(p *plan.Plan) float64 {
	if p == nil || p.MinCoverage <= 0 {
		return DefaultMinCoverage
	}
	return p.MinCoverage
}

// MaxLateShare is the share of the requests sent that may be late (sent
// more than max_lateness after their intended time) before the generator
// counts as saturated. A moment's stall (a pause of the machine, one slow
// connect) makes a few requests late and is measured in their latency,
// which counts from the intended time; a generator that cannot keep up
// makes most of them late.
const MaxLateShare = 0.01

// Saturated reports whether late of sent requests is more than
// MaxLateShare.
func Saturated(late, sent int64) bool {
	return sent > 0 && float64(late) > MaxLateShare*float64(sent)
}

// MaxLateness returns the plan's max_lateness, the default if unset.
func MaxLateness(p *plan.Plan) time.Duration { return p.LateBound() }

// Evaluate fills rep.Thresholds with the plan's thresholds judged on rep,
// and leaves the verdict alone: what a live status shows while the run
// goes. A threshold that does not parse or names a stage the plan lacks
// (the plan was not validated) is shown failing with its observed value 0.
func Evaluate(p *plan.Plan, rep *report.Report) {
	rep.Thresholds = nil
	if p == nil {
		return
	}
	for _, expr := range p.Thresholds {
		t, err := parse(p, expr)
		if err != nil {
			rep.Thresholds = append(rep.Thresholds, report.ThresholdResult{Expr: strings.TrimSpace(expr)})
			continue
		}
		rep.Thresholds = append(rep.Thresholds, t.Evaluate(rep))
	}
}

// Judge fills rep.Thresholds, rep.Verdict and rep.VerdictReasons of a
// finished run. Set rep.Comparison first when the plan names a baseline:
// a regression fails the run.
func Judge(p *plan.Plan, rep *report.Report) { judge(p, rep, "") }

// JudgeAborted is Judge for a run the aggregator cancelled because a
// per-slice threshold failed in abort_on_fail slices; reason (from Abort)
// comes first among the verdict reasons and the verdict is fail.
func JudgeAborted(p *plan.Plan, rep *report.Report, reason string) {
	if reason == "" {
		reason = "aborted"
	}
	judge(p, rep, reason)
}

func judge(p *plan.Plan, rep *report.Report, abort string) {
	Evaluate(p, rep)
	failed := failures(p, rep)
	if abort != "" {
		rep.Verdict = report.VerdictFail
		rep.VerdictReasons = append([]string{abort}, failed...)
		return
	}
	if rep.Coverage != nil && len(rep.Coverage.Failed) > 0 {
		// A shard that could not run says nothing about the target.
		var why []string
		for _, f := range rep.Coverage.Failed {
			why = append(why, fmt.Sprintf("shard %d failed: %s", f.Shard, f.Reason))
		}
		rep.Verdict, rep.VerdictReasons = report.VerdictError, why
		return
	}
	if incomplete := incompleteReasons(p, rep); len(incomplete) > 0 {
		// Thresholds are shown but not judged: they would blame the
		// target for what is missing or for the generator's lag.
		rep.Verdict, rep.VerdictReasons = report.VerdictIncomplete, incomplete
		return
	}
	if len(failed) > 0 {
		rep.Verdict, rep.VerdictReasons = report.VerdictFail, failed
		return
	}
	rep.Verdict, rep.VerdictReasons = report.VerdictPass, nil
}

// incompleteReasons says why rep does not hold the run the plan asked for.
func incompleteReasons(p *plan.Plan, rep *report.Report) []string {
	var why []string
	switch rep.Status {
	case report.StatusCompleted, report.StatusIncomplete:
		// Gaps of an incomplete run are judged by coverage below.
	case report.StatusCancelled:
		why = append(why, "run cancelled before its end")
	case report.StatusFailed:
		why = append(why, "run failed")
	default:
		why = append(why, fmt.Sprintf("run not finished (status %q)", rep.Status))
	}
	if rep.Coverage != nil {
		for _, u := range rep.Coverage.Unplaced {
			why = append(why, u.String())
		}
	}
	expected, received := coverage(p, rep)
	if expected > 0 {
		pct := float64(received) / float64(expected) * 100
		if floor := MinCoverage(p); pct < floor {
			why = append(why, fmt.Sprintf("coverage %s%% (%d of %d shard slices) is below min_coverage %s%%",
				num(pct), received, expected, num(floor)))
		}
	}
	if d := rep.Summary.Dropped; d > 0 {
		why = append(why, fmt.Sprintf("generator saturated: %d requests dropped at max_in_flight, so the planned load was not applied (a limit of the load generator, not a measure of the target)", d))
	}
	if s := rep.Summary; Saturated(s.Late, s.Sent) {
		why = append(why, fmt.Sprintf("generator saturated: %d of %d requests (%s%%) sent more than max_lateness %v after their intended time, up to %sms, so the planned load was not applied (a limit of the load generator, not a measure of the target)",
			s.Late, s.Sent, percentOf(s.Late, s.Sent), MaxLateness(p), num(s.MaxLatenessMS)))
	} else {
		why = append(why, lateStages(p, rep)...)
	}
	return why
}

// MaxLateShareInStage is the share of one stage's requests that may be
// late before the generator counts as saturated in that stage. It is
// higher than the run's MaxLateShare: a stall of 100 ms makes 2 % of a 5 s
// ramp's requests late, while a generator that cannot keep up with a
// stage makes most of them late.
const MaxLateShareInStage = 0.05

// minLateInStage: fewer late requests in a stage are a stall (a pause of
// the machine), whatever share of a short stage they are.
const minLateInStage = 10

// lateStages says in which of p's stages the generator fell behind: a
// short peak stage the generator cannot keep up with is a small share of
// a long run's requests, but its figures measure the generator.
func lateStages(p *plan.Plan, rep *report.Report) []string {
	if p == nil || len(p.Load.Stages) < 2 || len(rep.SliceResults) == 0 {
		return nil
	}
	var why []string
	durations := stageDurations(p)
	for n := range durations {
		t, err := threshold.Threshold{Stage: n + 1}.ForStages(durations)
		if err != nil {
			continue
		}
		var late, sent int64
		for _, i := range t.Judged(rep) {
			late += rep.SliceResults[i].Late
			sent += rep.SliceResults[i].Sent
		}
		if late >= minLateInStage && float64(late) > MaxLateShareInStage*float64(sent) {
			why = append(why, fmt.Sprintf("generator saturated in stage %d: %d of %d requests (%s%%) sent more than max_lateness %v after their intended time, so the stage's planned load was not applied (a limit of the load generator, not a measure of the target)",
				n+1, late, sent, percentOf(late, sent), MaxLateness(p)))
		}
	}
	return why
}

// coverage returns the shard slices expected and received: the
// aggregator's count when it made one, else the rows' (cicada run).
func coverage(p *plan.Plan, rep *report.Report) (expected, received int) {
	if c := rep.Coverage; c != nil {
		return c.Expected, c.Received
	}
	shards := rep.Shards
	if p != nil {
		shards = p.Shards
	}
	for _, row := range rep.Slices {
		expected += shards
		received += min(row.ShardsReporting, shards)
	}
	return expected, received
}

// failures says which thresholds failed and whether the comparison shows a
// regression.
func failures(p *plan.Plan, rep *report.Report) []string {
	var why []string
	for i, r := range rep.Thresholds {
		if r.Pass {
			continue
		}
		if _, err := parse(p, p.Thresholds[i]); err != nil {
			why = append(why, fmt.Sprintf("invalid %v", err))
			continue
		}
		if r.Reason != "" {
			// Nothing to judge (an accuracy threshold without checked
			// predictions): the reason, not a meaningless 0.
			why = append(why, fmt.Sprintf("threshold %q failed: %s", r.Expr, r.Reason))
			continue
		}
		if len(r.FailingSlices) > 0 {
			why = append(why, fmt.Sprintf("threshold %q failed in %d slices (%s): worst %s",
				r.Expr, len(r.FailingSlices), joinInts(r.FailingSlices), withUnit(r.Observed, r.Unit)))
			continue
		}
		why = append(why, fmt.Sprintf("threshold %q failed: observed %s", r.Expr, withUnit(r.Observed, r.Unit)))
	}
	if c := rep.Comparison; c != nil && c.Regression {
		var names []string
		for _, m := range c.Metrics {
			if m.Regression {
				names = append(names, fmt.Sprintf("%s %+.1f%%", m.Name, m.ChangePct))
			}
		}
		why = append(why, fmt.Sprintf("regression against baseline run %s (tolerance %s%%): %s",
			c.BaselineRunID, num(c.TolerancePct), strings.Join(names, ", ")))
	}
	return why
}

// Abort reports whether the run should be cancelled now: a per-slice
// threshold with abort_on_fail N failed in N or more of the slices every
// shard reported (a slice some shard has yet to report is not judged, as
// its figures would be partial). reason reads "aborted: EXPR failed in N
// slices".
func Abort(p *plan.Plan, rep *report.Report) (reason string, ok bool) {
	if p == nil {
		return "", false
	}
	shards := p.Shards
	complete := *rep
	complete.SliceResults = make([]*slice.Result, len(rep.SliceResults))
	for i, r := range rep.SliceResults {
		if i < len(rep.Slices) && rep.Slices[i].ShardsReporting >= shards {
			complete.SliceResults[i] = r
		}
	}
	for _, expr := range p.Thresholds {
		t, err := parse(p, expr)
		if err != nil || t.AbortOnFail <= 0 {
			continue
		}
		if n := len(t.Evaluate(&complete).FailingSlices); n >= t.AbortOnFail {
			return fmt.Sprintf("aborted: %s failed in %d slices", t.Expr, n), true
		}
	}
	return "", false
}

// parse reads a threshold of p and places its stage, if any, on the run's
// time line from p's stages.
func parse(p *plan.Plan, expr string) (threshold.Threshold, error) {
	t, err := threshold.Parse(expr)
	if err != nil {
		return t, err
	}
	return t.ForStages(stageDurations(p))
}

// stageDurations returns the durations of p's stages in order, what
// threshold.ForStages takes.
func stageDurations(p *plan.Plan) []time.Duration {
	out := make([]time.Duration, len(p.Load.Stages))
	for i, s := range p.Load.Stages {
		out[i] = s.Duration.D()
	}
	return out
}

func withUnit(v float64, unit string) string {
	switch unit {
	case threshold.UnitCount:
		return num(v)
	case threshold.UnitPercent:
		return num(v) + "%"
	default:
		return num(v) + " " + unit
	}
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// percentOf is part / whole in percent, to two decimals, as the
// verdict's reasons print it (whole > 0).
func percentOf(part, whole int64) string {
	return num(math.Round(1e4*float64(part)/float64(whole)) / 100)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}
