package compare

import "github.com/cicadaload/cicada/shared/report"

// MaxRateUnderSLO is a capacity search's answer (report.Search), req/s.
const MaxRateUnderSLO = "max_rate_under_slo"

// searches reports whether both runs are capacity searches: their whole-run
// figures then mix every probe's, above the capacity and below it, and
// depend on the path each search took, so only the answers compare.
func searches(base, cur *report.Report) bool { return base.Search != nil && cur.Search != nil }

// capacityOf is a search's answer: max_rate_under_slo, 0 when the SLO
// failed at from; false when it has none to compare (incomplete, or never
// found), which leaves the figure out.
func capacityOf(s *report.Search) (float64, bool) {
	switch {
	case s.MaxRateUnderSLO != nil:
		return *s.MaxRateUnderSLO, true
	case s.Status == report.SearchBelowFrom:
		return 0, true
	}
	return 0, false
}

// compareCapacity compares the answers of two searches: lower is worse,
// with no floor, like rps. A baseline of 8000 req/s against 6400 tonight
// (-20 %) regresses at the default 10 % tolerance.
func compareCapacity(base, cur *report.Report, tol float64) (report.MetricDiff, bool) {
	b, okB := capacityOf(base.Search)
	c, okC := capacityOf(cur.Search)
	if !okB || !okC {
		return report.MetricDiff{}, false
	}
	return diff(metric{name: MaxRateUnderSLO, unit: "req/s", lowerIsWorse: true}, finite(b), finite(c), tol), true
}
