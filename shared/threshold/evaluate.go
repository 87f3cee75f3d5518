package threshold

import (
	"math"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/slice"
)

// figures are what a threshold looks at, over one slice or several merged.
type figures struct {
	latency, service           slice.Percentiles
	completed, errors, dropped int64
	// rps, plannedRPS and instanceRate are per second of the judged time.
	rps, plannedRPS, instanceRate float64
	// checked and correct count the checked predictions and the matching
	// ones.
	checked, correct int64
}

// NoChecksReason is a ThresholdResult's Reason for an accuracy threshold
// judged where no prediction was checked.
const NoChecksReason = "accuracy: no prediction was checked (target.check not set?)"

// judgeable returns why f cannot be judged by t, "" when it can: accuracy
// needs checked predictions, and none is no evidence of any accuracy.
func (t Threshold) judgeable(f figures) string {
	if t.Metric == "accuracy" && f.checked == 0 {
		return NoChecksReason
	}
	return ""
}

// Evaluate judges t on rep, which must come from report.Build (its Total
// and SliceResults set). The slices judged are those reported that start at
// least IgnoreFirst after the run's start and, for a stage threshold, lie
// wholly within its Window (a slice's end is cut by the run's end, so the
// plan's last, shorter slice belongs to the last stage); a slice nobody
// reported is not judged (coverage accounts for it). A stage threshold
// whose Window was not set (ForStages) fails with Observed 0: judging the
// whole run instead would pass or fail it on the wrong slices.
//
// A whole-run threshold is judged on the judged slices merged: one
// histogram, summed counters. A per-slice threshold judges each slice and
// lists the failing ones; its Observed is the worst slice's figure (the
// largest for < and <=, the smallest for > and >=, the first failing one's
// for == and !=).
//
// An accuracy threshold skips the slices that checked no prediction (per
// slice), and fails with Reason NoChecksReason when nothing it judges was
// checked at all.
func (t Threshold) Evaluate(rep *report.Report) report.ThresholdResult {
	res := report.ThresholdResult{Expr: t.Expr, Unit: t.Unit}
	if t.Stage > 0 && t.Window.To <= 0 {
		return res
	}
	judged := t.Judged(rep)
	if !t.PerSlice {
		f := t.merged(rep, judged)
		if res.Reason = t.judgeable(f); res.Reason != "" {
			return res
		}
		res.Observed = t.observe(f)
		res.Pass = t.holds(res.Observed)
		return res
	}
	res.Pass = true
	first := true
	for _, i := range judged {
		f := sliceFigures(rep, i)
		if t.judgeable(f) != "" {
			continue
		}
		v := t.observe(f)
		ok := t.holds(v)
		if !ok {
			res.Pass = false
			res.FailingSlices = append(res.FailingSlices, rep.Slices[i].Index)
		}
		switch {
		case first:
			res.Observed = v
		case t.Op == "<" || t.Op == "<=":
			res.Observed = max(res.Observed, v)
		case t.Op == ">" || t.Op == ">=":
			res.Observed = min(res.Observed, v)
		case !ok && len(res.FailingSlices) == 1:
			res.Observed = v
		}
		first = false
	}
	if first && t.judgeable(figures{}) != "" {
		// No slice could be judged: a pass would rest on nothing.
		res.Pass, res.Reason = false, NoChecksReason
	}
	return res
}

// Judged returns the indices into rep.Slices of the reported slices t
// judges.
func (t Threshold) Judged(rep *report.Report) []int {
	var out []int
	for i, row := range rep.Slices {
		if i >= len(rep.SliceResults) || rep.SliceResults[i] == nil {
			continue
		}
		start := row.Start.Sub(rep.Start)
		if !t.Judges(start, start+sliceLength(rep, i)) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// merged returns the figures of the judged slices together.
func (t Threshold) merged(rep *report.Report, judged []int) figures {
	var total *slice.Result
	if t.IgnoreFirst <= 0 && t.Stage <= 0 && rep.Total != nil {
		// Every reported slice is judged, and Total is their merge
		// already: no need to merge the histograms again.
		total = rep.Total
	} else {
		total = &slice.Result{}
		for _, i := range judged {
			total.Merge(rep.SliceResults[i])
		}
	}
	f := figures{
		latency:   slice.PercentilesOf(total.Latency),
		service:   slice.PercentilesOf(total.Service),
		completed: total.Completed,
		errors:    total.Errors,
		dropped:   total.Dropped,
		checked:   total.Checked,
		correct:   total.Correct,
	}
	var seconds, completed, planned, instances float64
	for _, i := range judged {
		l := sliceSeconds(rep, i)
		seconds += l
		completed += float64(rep.SliceResults[i].Completed)
		instances += float64(rep.SliceResults[i].Instances)
		planned += rep.Slices[i].PlannedRPS * l
	}
	if seconds > 0 {
		f.rps, f.plannedRPS, f.instanceRate = completed/seconds, planned/seconds, instances/seconds
	}
	return f
}

// sliceFigures returns the figures of slice i alone.
func sliceFigures(rep *report.Report, i int) figures {
	r, row := rep.SliceResults[i], rep.Slices[i]
	f := figures{
		latency:   slice.PercentilesOf(r.Latency),
		service:   slice.PercentilesOf(r.Service),
		completed: r.Completed,
		errors:    r.Errors,
		dropped:   r.Dropped,
		checked:   r.Checked,
		correct:   r.Correct,
	}
	if l := sliceSeconds(rep, i); l > 0 {
		f.rps, f.plannedRPS, f.instanceRate = float64(r.Completed)/l, row.PlannedRPS, float64(r.Instances)/l
	}
	return f
}

// sliceSeconds is how long slice i ran: the slice length, less for a last
// slice cut by the run's end.
func sliceSeconds(rep *report.Report, i int) float64 { return sliceLength(rep, i).Seconds() }

// sliceLength is how long slice i ran.
func sliceLength(rep *report.Report, i int) time.Duration {
	left := rep.End.Sub(rep.Slices[i].Start)
	// Rounded: 0.3 s in float64 seconds would truncate to 1 ns short.
	l := time.Duration(math.Round(rep.SliceSeconds * float64(time.Second)))
	return max(min(l, left), 0)
}

// observe picks t's metric out of f, in t's unit. Rates are rounded to a
// thousandth so that the figure judged is the figure shown.
func (t Threshold) observe(f figures) float64 {
	switch k, _ := kindOf(t.Metric); k {
	case kindLatency:
		return pick(f.latency, t.Metric)
	case kindService:
		return pick(f.service, strings.TrimPrefix(t.Metric, "service_"))
	case kindErrorRate:
		if f.completed == 0 {
			return 0
		}
		return round3(float64(f.errors) / float64(f.completed) * 100)
	case kindRPS:
		if t.Unit == UnitRPS {
			return round3(f.rps)
		}
		if f.plannedRPS <= 0 {
			return 100 // nothing was planned, so nothing was missed
		}
		return round3(f.rps / f.plannedRPS * 100)
	case kindInstanceRate:
		return round3(f.instanceRate)
	case kindAccuracy:
		if f.checked == 0 {
			return 0 // not judged: see judgeable
		}
		return round3(float64(f.correct) / float64(f.checked) * 100)
	}
	switch t.Metric {
	case "dropped":
		return float64(f.dropped)
	case "errors":
		return float64(f.errors)
	default:
		return float64(f.completed)
	}
}

func pick(p slice.Percentiles, name string) float64 {
	switch name {
	case "p50":
		return p.P50
	case "p90":
		return p.P90
	case "p95":
		return p.P95
	case "p99":
		return p.P99
	case "p999":
		return p.P999
	case "min":
		return p.Min
	case "mean":
		return p.Mean
	default:
		return p.Max
	}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
