// Package compare judges a run's key figures against a baseline run's: the
// diff that `cicada compare` prints and that a report shows when its plan
// names a baseline.
//
// # Rules
//
// Each figure has a direction: latency percentiles, service p99, the error
// rate and dropped requests are worse when higher; the achieved rate (rps)
// is worse when lower. The achieved rate is compared as it is, not against
// the plan's rate: a baseline is meant to be the same plan.
//
// With a base above zero, MetricDiff.ChangePct is the relative change
// (new - base) / base in percent. A relative change from a base of zero is
// infinite, so with a zero base ChangePct holds the absolute change in the
// figure's own unit instead: percentage points for error_rate, ms for
// latencies, a count for dropped.
//
// A figure regresses when it is worse by more than the tolerance (relative
// to a base above zero) and by more than its absolute floor: 0.1 ms for
// latencies, 0.1 percentage points for error_rate, none for rps and
// dropped. With a zero base only the floor applies, since no percentage of
// zero is a useful allowance: an error rate going from 0 to 0.1 % is within
// the floor and from 0 to 0.5 % a regression; any dropped request where the
// base had none is a regression. The floor also keeps noise out at small
// bases, consistently with zero ones: 0.01 % to 0.02 % errors doubles the
// rate but is 0.01 points, no regression, as 0 to 0.09 % is none. Examples
// at 10 % tolerance: p99 100 ms to 110 ms passes, to 110.5 ms regresses;
// rps 1000 to 900 passes, to 899 regresses.
//
// Two figures are compared only when both runs have them: instance_rate
// (instances per second, worse when lower, like rps) when both runs carried
// instances and one of them batched (with one text per request it is rps
// again), and accuracy (checked predictions that matched, in percent, worse
// when lower, floor 0.1 percentage points like error_rate) when both runs
// checked predictions. A baseline from before these figures existed thus
// compares as it always did. Accuracy follows the relative rule of the
// other figures: at 10 % tolerance 95 % to 86 % passes and to 85 %
// regresses; a plan that needs a tighter bound on it states one as a
// threshold (accuracy >= 93%).
//
// Two capacity searches (reports with a search section) compare by their
// answer alone, max_rate_under_slo in req/s, worse when lower with no
// floor: their whole-run figures mix the probes above and below the
// capacity along whatever path each search took. A search that ended
// below its from rate counts as 0; one without an answer (incomplete) is
// not compared. At 10 % tolerance 8000 to 7200 req/s passes and to 6400
// regresses.
//
// A negative tolerance is taken as zero.
package compare

import (
	"fmt"
	"math"
	"strings"

	"github.com/cicadaload/cicada/shared/report"
)

// Figure names, as in threshold expressions.
const (
	P50        = "p50"
	P90        = "p90"
	P99        = "p99"
	P999       = "p999"
	Max        = "max"
	ServiceP99 = "service_p99"
	ErrorRate  = "error_rate"
	RPS        = "rps"
	Dropped    = "dropped"
	// InstanceRate and Accuracy are compared when both runs have them
	// (see the package doc).
	InstanceRate = "instance_rate"
	Accuracy     = "accuracy"
)

// floors are how much worse a figure must get, in its unit, to count as a
// regression, whatever its base; for a zero base they are the only bar.
// Sub-0.1 ms latency changes are below what a network run can tell apart;
// the achieved rate and dropped have no noise floor worth allowing.
var floors = map[string]float64{
	P50: 0.1, P90: 0.1, P99: 0.1, P999: 0.1, Max: 0.1, ServiceP99: 0.1,
	ErrorRate: 0.1, // percentage points
	Accuracy:  0.1, // percentage points
}

// metric is one key figure taken from a report.
type metric struct {
	name, unit   string
	lowerIsWorse bool
	value        func(s *report.Summary) float64
	// comparable, if set, says whether both summaries have the figure;
	// a figure one of them lacks is left out of the comparison.
	comparable func(base, cur *report.Summary) bool
}

// metrics are the key figures, in the order they are shown.
var metrics = []metric{
	{name: P50, unit: "ms", value: func(s *report.Summary) float64 { return s.LatencyMS.P50 }},
	{name: P90, unit: "ms", value: func(s *report.Summary) float64 { return s.LatencyMS.P90 }},
	{name: P99, unit: "ms", value: func(s *report.Summary) float64 { return s.LatencyMS.P99 }},
	{name: P999, unit: "ms", value: func(s *report.Summary) float64 { return s.LatencyMS.P999 }},
	{name: Max, unit: "ms", value: func(s *report.Summary) float64 { return s.LatencyMS.Max }},
	{name: ServiceP99, unit: "ms", value: func(s *report.Summary) float64 { return s.ServiceMS.P99 }},
	// report.json holds the error rate as a fraction; people read percent.
	{name: ErrorRate, unit: "%", value: func(s *report.Summary) float64 { return 100 * s.ErrorRate }},
	{name: RPS, unit: "req/s", lowerIsWorse: true, value: func(s *report.Summary) float64 { return s.RPS }},
	{name: Dropped, unit: "", value: func(s *report.Summary) float64 { return float64(s.Dropped) }},
	// Added after the others, so that the figures of a comparison keep
	// their places.
	{name: InstanceRate, unit: "inst/s", lowerIsWorse: true,
		value: func(s *report.Summary) float64 { return s.InstanceRate },
		comparable: func(base, cur *report.Summary) bool {
			return base.Instances > 0 && cur.Instances > 0 &&
				(base.ShowInstances(base.Completed) || cur.ShowInstances(cur.Completed))
		}},
	{name: Accuracy, unit: "%", lowerIsWorse: true,
		value: func(s *report.Summary) float64 {
			if s.Accuracy == nil {
				return 0
			}
			return 100 * *s.Accuracy
		},
		comparable: func(base, cur *report.Summary) bool { return base.Accuracy != nil && cur.Accuracy != nil }},
}

// epsilon absorbs float rounding at the boundary, so that a change of
// exactly the tolerance is not a regression.
const epsilon = 1e-9

// Compare judges cur's key figures against base's with a tolerance in
// percent (see the package doc for the rules). A nil report counts as one
// with every figure zero. BaselineRunID is base's run id.
func Compare(base, cur *report.Report, tolerancePct float64) *report.Comparison {
	if base == nil {
		base = &report.Report{}
	}
	if cur == nil {
		cur = &report.Report{}
	}
	tol := tolerancePct
	if tol < 0 || math.IsNaN(tol) {
		tol = 0
	}
	c := &report.Comparison{BaselineRunID: base.RunID, TolerancePct: tol, Metrics: make([]report.MetricDiff, 0, len(metrics))}
	if searches(base, cur) {
		if d, ok := compareCapacity(base, cur, tol); ok {
			c.Regression = d.Regression
			c.Metrics = append(c.Metrics, d)
		}
		return c
	}
	for _, m := range metrics {
		if m.comparable != nil && !m.comparable(&base.Summary, &cur.Summary) {
			continue
		}
		d := diff(m, finite(m.value(&base.Summary)), finite(m.value(&cur.Summary)), tol)
		c.Regression = c.Regression || d.Regression
		c.Metrics = append(c.Metrics, d)
	}
	return c
}

// diff compares one figure.
func diff(m metric, base, cur, tol float64) report.MetricDiff {
	d := report.MetricDiff{Name: m.name, Unit: m.unit, Base: base, New: cur}
	worse := cur - base
	if m.lowerIsWorse {
		worse = -worse
	}
	beyondFloor := worse > floors[m.name]+epsilon
	if base == 0 {
		d.ChangePct = cur - base
		d.Regression = beyondFloor
		return d
	}
	d.ChangePct = (cur - base) * 100 / math.Abs(base)
	d.Regression = beyondFloor && worse*100/math.Abs(base) > tol+epsilon
	return d
}

// finite maps NaN and infinities, which a report never holds but a
// hand-made one might, to zero, so that the comparison stays encodable.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// FormatComparison formats c as a table for the terminal, for example:
//
//	comparison with baseline run 20261127-040512-3f9a1c, tolerance 10%
//	metric               base          new               change
//	p99             100.000ms    130.000ms               +30.0%  REGRESSION
//	error_rate          0.00%        0.05%   +0.05 pts (from 0)
//	...
//	regression: p99
func FormatComparison(c *report.Comparison) string {
	if c == nil {
		return "no comparison\n"
	}
	var b strings.Builder
	id := c.BaselineRunID
	if id == "" {
		id = "(no run id)"
	}
	fmt.Fprintf(&b, "comparison with baseline run %s, tolerance %g%%\n", id, c.TolerancePct)
	const row = "%-12s %12s %12s %20s  %s"
	line := func(cols ...any) { b.WriteString(strings.TrimRight(fmt.Sprintf(row, cols...), " ") + "\n") }
	line("metric", "base", "new", "change", "")
	var regressed []string
	for _, d := range c.Metrics {
		note := ""
		if d.Regression {
			note = "REGRESSION"
			regressed = append(regressed, d.Name)
		}
		line(d.Name, value(d.Base, d.Unit), value(d.New, d.Unit), change(d), note)
	}
	if len(regressed) > 0 {
		fmt.Fprintf(&b, "regression: %s\n", strings.Join(regressed, ", "))
	} else {
		fmt.Fprintf(&b, "no regression beyond %g%%\n", c.TolerancePct)
	}
	return b.String()
}

// value formats a figure with its unit.
func value(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.3fms", v)
	case "%":
		return fmt.Sprintf("%.2f%%", v)
	case "req/s", "inst/s":
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%g", v)
}

// change formats ChangePct: relative, or absolute from a zero base.
func change(d report.MetricDiff) string {
	if d.Base != 0 {
		return fmt.Sprintf("%+.1f%%", d.ChangePct)
	}
	if d.ChangePct == 0 {
		return "0"
	}
	abs := value(math.Abs(d.ChangePct), d.Unit)
	if d.Unit == "%" {
		abs = fmt.Sprintf("%.2f pts", math.Abs(d.ChangePct))
	}
	sign := "+"
	if d.ChangePct < 0 {
		sign = "-"
	}
	return sign + abs + " (from 0)"
}
