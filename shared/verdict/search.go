package verdict

import (
	"fmt"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
)

// JudgeSearch judges a finished run of a plan with load.search, whose
// report carries the search (rep.Search). The search judged each probe on
// its own window, the generator's lag, dropped requests and missing shard
// slices included (see package search), so the run as a whole is not
// judged on them again: probes above the capacity drop requests by nature,
// and a held probe's gap was judged again on a later window. A search run is
//
//   - error when a shard could not run at all;
//   - incomplete when it was cancelled, or its search is incomplete (the
//     generator fell behind), stopped before its bracket was narrow enough,
//     or never finished;
//   - fail when the SLO fails at load.search.from (no capacity at all), a
//     plan threshold fails, or the comparison with the baseline shows a
//     regression (max_rate_under_slo lower by more than the tolerance);
//   - pass when the search found the capacity, or found it above `to`.
func JudgeSearch(p *plan.Plan, rep *report.Report) {
	Evaluate(p, rep)
	if rep.Coverage != nil && len(rep.Coverage.Failed) > 0 {
		var why []string
		for _, f := range rep.Coverage.Failed {
			why = append(why, fmt.Sprintf("shard %d failed: %s", f.Shard, f.Reason))
		}
		rep.Verdict, rep.VerdictReasons = report.VerdictError, why
		return
	}
	s := rep.Search
	var incomplete, failed []string
	if rep.Status == report.StatusCancelled {
		incomplete = append(incomplete, "run cancelled before its end")
	}
	switch s.Status {
	case report.SearchFound, report.SearchAboveTo:
	case report.SearchBelowFrom:
		failed = append(failed, "no capacity under the SLO: "+s.Reason)
	case report.SearchIncomplete:
		incomplete = append(incomplete, "search incomplete: "+s.Reason)
	case report.SearchStopped:
		why := "search stopped: " + s.Reason
		if s.MaxRateUnderSLO != nil {
			why += fmt.Sprintf(" (at least %s req/s)", report.FormatRate(*s.MaxRateUnderSLO))
		}
		incomplete = append(incomplete, why)
	default:
		incomplete = append(incomplete, fmt.Sprintf("search not finished (status %q)", s.Status))
	}
	if len(incomplete) > 0 {
		rep.Verdict, rep.VerdictReasons = report.VerdictIncomplete, incomplete
		return
	}
	if failed = append(failed, failures(p, rep)...); len(failed) > 0 {
		rep.Verdict, rep.VerdictReasons = report.VerdictFail, failed
		return
	}
	rep.Verdict, rep.VerdictReasons = report.VerdictPass, nil
}
