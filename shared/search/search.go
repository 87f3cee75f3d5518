// Package search is the capacity search of a plan with load.search, as a
// pure function of what the bucket holds: the control object (the probes
// published so far) and the merged slices. Given them, Step judges each
// probe on the merged slices of its window, and decides the next probe or
// the end of the search. It keeps no state: an aggregator that restarts
// calls it again with the same inputs and gets the same decisions.
//
// A probe runs at one rate from its control probe's From slice: Settle
// slices not judged, then Hold slices judged together (its window). A
// window is judged once every slice of it is complete (sealed: every shard
// reported, or the stragglers' time is up), in this order:
//
//   - partial fleet: a window slice some shard did not report, or whose
//     intended requests are not the offered rate's (a shard that ran part
//     of it, resumed after a loss or at another rate): the probe is held
//     (a new probe at the same rate is published) and judged on its new
//     window, never on a partial fleet;
//   - the generator: a window where more than verdict.MaxLateShare of the
//     requests were sent later than the plan's max_lateness, that dropped
//     requests at max_in_flight while the target met the SLO (or while it
//     failed, when the cap is below what the rate needs in flight at the
//     SLO's latency), or whose achieved rate is below MinAchieved of
//     the offered rate while the target met the SLO, or that failed the SLO
//     while its busiest generator used CPUSaturated of its CPUs and sent
//     more than CPULateShare of its requests late, ends the
//     search incomplete, with that reason: the fleet measured itself there,
//     not the target;
//   - stability: the window's slices agree when each slice's achieved rate
//     is within RateTolerance of the offered rate and each slice's p99 is
//     within a factor P99Spread of the window's median p99. A window that
//     does not agree, and whose slices judged alone do not all give the
//     window's SLO verdict, is held once (one more probe at the same rate);
//     the next window is judged whatever it shows, marked unstable. An
//     unstable window whose slices all give the same verdict is judged at
//     once, marked unstable: holding it could not change the verdict;
//   - the trend: a window of three slices or more whose p50 rises in every
//     slice, by TrendRise or more in all, shows a queue that grows at the
//     offered rate. Passing, it is held once, whatever its slices say; if
//     the next window still rises it is judged a failure (unstable-fail):
//     such a rate passes a short window and breaks a longer one;
//   - the SLO, judged by package threshold on a report built from the
//     window's merged slices (report.Build).
//
// A probe that fails is followed by a rest: settle+hold slices at
// plan.SearchRestShare × From, never judged, so that the queues the
// overload filled drain before the next (lower) probe is measured; without
// it a probe just under capacity inherits the backlog and fails wrongly.
//
// The search: the rate grows by Step from From while the SLO holds and the
// rate is below To; after the first failure it bisects between the last
// passing rate L and the lowest failing rate F until (F-L)/L <= Precision
// (found, the answer L), the probes run out (stopped), or the run's time
// does. From failing: below_from; To passing: above_to, the answer To.
package search

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/threshold"
	"github.com/cicadaload/cicada/shared/verdict"
)

// Bounds of the stability and generator rules.
const (
	// RateTolerance: a stable window's slices each achieve the offered
	// rate within ±10 %.
	RateTolerance = 0.10
	// P99Spread: a stable window's slices each have a p99 within a factor
	// 1.5 of the window's median p99.
	P99Spread = 1.5
	// MinAchieved: a window that achieves less than 90 % of the offered
	// rate while the target meets the SLO shows a fleet that could not
	// send.
	MinAchieved = 0.90
	// IntendedTolerance: a slice whose intended requests differ from the
	// offered rate's by more than 2 % (and more than two per shard) was
	// not run whole by every shard at the probe's rate.
	IntendedTolerance = 0.02
	// TrendRise: a window whose p50 rises in every slice, by this factor
	// or more from its first slice to its last, shows a queue that grows
	// at the offered rate (windows of at least minTrendSlices slices).
	TrendRise = 1.25
	// CPUSaturated and CPULateShare: a window whose busiest generator used
	// this share of its CPUs or more, on average over the window's slices,
	// and sent more than CPULateShare of its requests late, measured the
	// generator's own queueing along with the target's latency. A busy CPU
	// alone is not enough: the event loop polls every 100 µs while
	// requests wait for a connection, so a generator facing an overloaded
	// target is busy yet on time, and its answers carry the kernel's
	// arrival stamps.
	CPUSaturated = 0.90
	CPULateShare = 0.001
)

// minTrendSlices: fewer slices cannot tell a rising queue from noise.
const minTrendSlices = 3

// Config is a plan's load.search, in slices and req/s.
type Config struct {
	// SLO is load.search.slo parsed; SLOText as written.
	SLO     []threshold.Threshold
	SLOText []string
	// Capped is load.search.capped: how the operator's limits shrank it.
	Capped []string
	// From, To: rates in req/s for the whole plan; Step > 1; Precision a
	// fraction.
	From, To, Step, Precision float64
	// Settle and Hold are in slices; Hold >= 1.
	Settle, Hold int
	MaxProbes    int
	// MaxSlices is the run's upper bound in slices: no probe starts whose
	// window would not fit.
	MaxSlices int
	Shards    int
	Slice     time.Duration
	// MaxLateness is the plan's max_lateness (its default when unset).
	MaxLateness time.Duration
	// MaxInFlight is the plan's load.max_in_flight per shard, 0 for none;
	// Timeout is its target.timeout.
	MaxInFlight int
	Timeout     time.Duration
}

// NewConfig reads p's load.search; maxLateness is the plan's bound on
// how late a request may be sent (verdict.MaxLateness).
func NewConfig(p *plan.Plan, maxLateness time.Duration) (Config, error) {
	s := p.Load.Search
	if s == nil {
		return Config{}, errors.New("search: the plan has no load.search")
	}
	c := Config{
		SLOText: s.SLO, Capped: s.Capped, From: s.From, To: s.To, Step: s.StepOrDefault(), Precision: s.PrecisionOrDefault(),
		MaxProbes: s.MaxProbesOrDefault(), MaxSlices: p.NumSlices(), Shards: max(p.Shards, 1),
		Slice: p.SliceDuration(), MaxLateness: maxLateness,
		MaxInFlight: p.Load.MaxInFlight, Timeout: p.Target.Timeout.D(),
	}
	c.Settle, c.Hold = s.ProbeSlices(c.Slice)
	for _, expr := range s.SLO {
		t, err := threshold.Parse(expr)
		if err != nil {
			return Config{}, fmt.Errorf("search: load.search.slo: %w", err)
		}
		t.PerSlice, t.AbortOnFail = false, 0 // the SLO is judged on the window as a whole
		c.SLO = append(c.SLO, t)
	}
	if !(c.From > 0) || !(c.To >= c.From) || !(c.Step > 1) || c.Hold < 1 {
		return Config{}, fmt.Errorf("search: from %v, to %v, step %v, hold %d slices: want 0 < from <= to, step > 1, hold >= 1", c.From, c.To, c.Step, c.Hold)
	}
	return c, nil
}

// Slice is what the search knows of one slice index.
type Slice struct {
	// Result is every shard's result of the slice merged; nil when nobody
	// reported.
	Result *slice.Result
	// Shards lists the shards that reported it.
	Shards []int
	// Complete says no more results of it will come (it is sealed).
	Complete bool
}

// Input is everything a search decision rests on.
type Input struct {
	Config  Config
	Control runs.Control
	// Slices by index; an index past the end has nothing yet.
	Slices []Slice
	// Current is the slice index under way now: a new probe starts, and
	// the search ends, no earlier than Current+2, so that every worker,
	// reading the control object at each slice boundary, learns it a whole
	// slice ahead.
	Current int
	// Final says the run is over: nothing more comes, so a search still
	// running is stopped.
	Final bool
	// Memo, when set, keeps the judgments of probes whose window is
	// complete across calls (they cannot change), so that a call costs
	// the new window's judgment, not every probe's. Use one Memo per run
	// and Config.
	Memo *Memo
}

// Memo remembers judged probes across Steps of one run.
type Memo struct {
	judged map[memoKey]judgment
}

type memoKey struct {
	probe   runs.ControlProbe
	retried bool
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{judged: map[memoKey]judgment{}} }

// Outcome is a search's state, and the control object to publish.
type Outcome struct {
	Search report.Search
	// Control is Input.Control with this step's decision: probe 0 when
	// there was none, a next probe, or EndSlice. Changed says it differs
	// from Input.Control and is to be written.
	Control runs.Control
	Changed bool
}

// window is a probe's judged slices [from, to).
func (c Config) window(p runs.ControlProbe) (from, to int) {
	return p.From + c.Settle, p.From + c.Settle + c.Hold
}

// Step replays the search from the first probe, judges the last probe once
// its window is complete, and decides what comes next. Probes that already
// have a successor are judged again from their (sealed, unchanging) slices
// to rebuild the bracket; their successor is what the control object says.
func Step(in Input) Outcome {
	c := in.Config
	ctl := runs.Control{Probes: slices.Clone(in.Control.Probes), EndSlice: in.Control.EndSlice}
	out := Outcome{Search: report.Search{Status: report.SearchRunning, SLO: c.SLOText, Probes: []report.SearchProbe{}, Capped: c.Capped}}
	if len(ctl.Probes) == 0 {
		ctl.Probes = []runs.ControlProbe{{N: 0, Rate: c.From, From: 0}}
		out.Changed = true
	}
	var s state
	judged := 0
	for i, cp := range ctl.Probes {
		if cp.Rest {
			continue // published with the probe after it: never the last
		}
		judged++
		last := i == len(ctl.Probes)-1
		from, to := c.window(cp)
		if last && ctl.EndSlice == nil && !in.Final && !complete(in.Slices, from, to) {
			break // still measuring
		}
		prevUnstableHold := i > 0 && s.lastHeldUnstable && ctl.Probes[i-1].Rate == cp.Rate
		j := in.Memo.judge(c, cp, in.Slices, prevUnstableHold)
		out.Search.Probes = append(out.Search.Probes, j.probe)
		next, end := s.apply(c, cp, j, judged)
		if !last {
			continue // decided already: the control object says what came next
		}
		if ctl.EndSlice != nil || in.Final {
			// Decided already, or nothing more comes.
			switch {
			case end != nil:
			case ctl.EndSlice != nil:
				// The only end that follows a probe that decided nothing.
				end = &ending{status: report.SearchStopped, reason: "the run's time allows no further probe"}
			default:
				end = &ending{status: report.SearchStopped, reason: "the run ended before the search did"}
			}
			s.end = end
			break
		}
		at := max(to, in.Current+2)
		rest := j.kind == kindFail && end == nil
		if rest {
			at += c.Settle + c.Hold
		}
		if end == nil && at+c.Settle+c.Hold > c.MaxSlices {
			end = &ending{status: report.SearchStopped, reason: "the run's time allows no further probe"}
		}
		if end != nil {
			s.end = end
			ctl.EndSlice = &at
		} else {
			n := i + 1
			if rest {
				ctl.Probes = append(ctl.Probes, runs.ControlProbe{N: n, Rate: c.From * plan.SearchRestShare, From: at - c.Settle - c.Hold, Rest: true})
				n++
			}
			ctl.Probes = append(ctl.Probes, runs.ControlProbe{N: n, Rate: next, From: at})
		}
		out.Changed = true
		break
	}
	if ctl.EndSlice != nil && s.end == nil {
		// Ended, but its last probe was not judged here (its slices are
		// gone): say so rather than guess.
		s.end = &ending{status: report.SearchStopped, reason: "the search ended before its last probe was judged"}
	}
	out.Control = ctl
	s.fill(&out.Search)
	return out
}

// complete reports whether every slice in [from, to) is complete.
func complete(sl []Slice, from, to int) bool {
	for k := from; k < to; k++ {
		if k >= len(sl) || !sl[k].Complete {
			return false
		}
	}
	return true
}

// ending is how a search ended.
type ending struct{ status, reason string }

// state is the search's bracket as the probes so far made it.
type state struct {
	low, high        *float64
	lastHeldUnstable bool
	end              *ending
}

// apply folds a judged probe into the bracket and returns the next rate,
// or how the search ends. judged is how many probes have run.
func (s *state) apply(c Config, cp runs.ControlProbe, j judgment, judged int) (next float64, end *ending) {
	s.lastHeldUnstable = j.kind == kindUnstableHold
	switch j.kind {
	case kindIncomplete:
		return 0, &ending{status: report.SearchIncomplete, reason: j.probe.Note}
	case kindPartial, kindUnstableHold:
		next = cp.Rate
	case kindPass:
		if s.low == nil || cp.Rate > *s.low {
			s.low = ptr(cp.Rate)
		}
	case kindFail:
		if s.high == nil || cp.Rate < *s.high {
			s.high = ptr(cp.Rate)
		}
	}
	if j.kind == kindPass || j.kind == kindFail {
		switch {
		case s.low == nil:
			return 0, &ending{status: report.SearchBelowFrom, reason: fmt.Sprintf("the SLO fails at from (%s req/s)", report.FormatRate(c.From))}
		case s.high == nil && *s.low >= c.To:
			return 0, &ending{status: report.SearchAboveTo}
		case s.high == nil:
			next = min(*s.low*c.Step, c.To)
		case (*s.high-*s.low) / *s.low <= c.Precision:
			return 0, &ending{status: report.SearchFound}
		default:
			next = (*s.low + *s.high) / 2
		}
	}
	if judged >= c.MaxProbes {
		return 0, &ending{status: report.SearchStopped, reason: fmt.Sprintf("max_probes (%d) reached before the bracket was %s%% narrow", c.MaxProbes, num(c.Precision*100))}
	}
	return next, nil
}

// fill writes the search's bracket, status and answer into r.
func (s *state) fill(r *report.Search) {
	r.Low, r.High = s.low, s.high
	if s.end == nil {
		return
	}
	r.Status, r.Reason = s.end.status, s.end.reason
	switch r.Status {
	case report.SearchFound, report.SearchAboveTo, report.SearchStopped:
		r.MaxRateUnderSLO = s.low
	}
}

func ptr(v float64) *float64 { return &v }

// Kinds of judgment.
const (
	kindPass = iota
	kindFail
	kindPartial
	kindUnstableHold
	kindIncomplete
)

type judgment struct {
	kind  int
	probe report.SearchProbe
}

// judge is judge, remembered once the window is complete.
func (m *Memo) judge(c Config, cp runs.ControlProbe, sl []Slice, retried bool) judgment {
	if m == nil {
		return judge(c, cp, sl, retried)
	}
	key := memoKey{cp, retried}
	if j, ok := m.judged[key]; ok {
		return j
	}
	j := judge(c, cp, sl, retried)
	if from, to := c.window(cp); complete(sl, from, to) {
		m.judged[key] = j
	}
	return j
}

// judge judges probe cp on its window. retried says the probe before it
// held this rate for instability: no second hold.
func judge(c Config, cp runs.ControlProbe, sl []Slice, retried bool) judgment {
	from, to := c.window(cp)
	p := report.SearchProbe{N: cp.N, Rate: cp.Rate, FromSlice: from, ToSlice: to - 1}
	if why := partial(c, cp.Rate, sl, from, to); why != "" {
		p.Verdict, p.Note = report.ProbeHeld, "held: "+why
		return judgment{kindPartial, p}
	}
	rep := c.windowReport(cp.Rate, sl, from, to)
	p.AchievedRate = rep.Summary.RPS
	p.P50MS, p.P99MS = rep.Summary.LatencyMS.P50, rep.Summary.LatencyMS.P99
	p.ErrorRate = rep.Summary.ErrorRate
	pass, failing := c.judgeSLO(rep)

	// The generator first: its lag is no measure of the target.
	if tot := rep.Total; verdict.Saturated(tot.Late, tot.Sent) {
		p.Verdict = report.ProbeIncomplete
		p.Note = fmt.Sprintf("generator fell behind in probe %d: %d of %d requests sent more than max_lateness %v after their intended time, up to %v",
			cp.N, tot.Late, tot.Sent, c.MaxLateness, time.Duration(tot.MaxLatenessUS)*time.Microsecond)
		return judgment{kindIncomplete, p}
	}
	if cpu, tot := windowCPU(rep), rep.Total; !pass && cpu >= CPUSaturated && float64(tot.Late) > CPULateShare*float64(tot.Sent) {
		// A generator this busy falls behind in its sends and reads the
		// answers late: the latencies that broke the SLO may be its own.
		// (A pass stands: its latencies can only be overstated.)
		p.Verdict = report.ProbeIncomplete
		p.Note = fmt.Sprintf("generator saturated in probe %d: its busiest process used %.0f%% of its CPUs over the window and sent %d of %d requests late while the SLO failed, so the latencies may be the generator's own; add workers or CPUs",
			cp.N, 100*cpu, tot.Late, tot.Sent)
		return judgment{kindIncomplete, p}
	}
	if d := rep.Summary.Dropped; d > 0 {
		if pass {
			p.Verdict = report.ProbeIncomplete
			p.Note = fmt.Sprintf("generator saturated in probe %d: %d requests dropped at max_in_flight while the target met the SLO", cp.N, d)
			return judgment{kindIncomplete, p}
		}
		if need, bound := c.inFlightNeeded(cp.Rate); float64(c.MaxInFlight*c.Shards) < need {
			// Even a target within the SLO would have filled the cap:
			// the drops, and the latency they come with, are the plan's.
			p.Verdict = report.ProbeIncomplete
			p.Note = fmt.Sprintf("generator saturated in probe %d: %d requests dropped at max_in_flight; %d in flight (%d per shard) cannot carry %s req/s at the %v latency the SLO allows, which takes about %.0f: raise load.max_in_flight",
				cp.N, d, c.MaxInFlight*c.Shards, c.MaxInFlight, report.FormatRate(cp.Rate), bound, math.Ceil(need))
			return judgment{kindIncomplete, p}
		}
		// The in-flight cap filled because the target answered slower
		// than the SLO allows: the target's failure, not the fleet's.
		p.Note = fmt.Sprintf("%d requests dropped at max_in_flight while the target broke the SLO", d)
	}
	if pass && p.AchievedRate < MinAchieved*cp.Rate {
		p.Verdict = report.ProbeIncomplete
		p.Note = fmt.Sprintf("generator fell short in probe %d: the fleet sent %s req/s of the %s offered while the target met the SLO", cp.N, report.FormatRate(p.AchievedRate), report.FormatRate(cp.Rate))
		return judgment{kindIncomplete, p}
	}

	why := unstable(cp.Rate, rep)
	rise := rising(rep)
	if why == "" {
		why = rise
	}
	p.Stable = why == ""
	agree := (pass && len(failing) == 0) || (!pass && len(failing) == c.Hold)
	if !p.Stable && !retried && (!agree || (pass && rise != "")) {
		// The slices do not all give the window's verdict, or its latency
		// climbs while it passes: one more period may settle it.
		p.Verdict, p.Note = report.ProbeHeld, "held: unstable: "+why
		return judgment{kindUnstableHold, p}
	}
	if pass && rise != "" && retried {
		// Still climbing after a hold: a queue that grows at this rate
		// breaks any SLO given time. The rate is beyond the capacity.
		pass = false
		p.Note = join(p.Note, "latency still rising after a hold: the target's queue grows at this rate")
	}
	k := kindFail
	p.Verdict = report.ProbeFail
	if pass {
		k, p.Verdict = kindPass, report.ProbePass
	}
	if !p.Stable {
		p.Verdict = "unstable-" + p.Verdict
		p.Note = join(p.Note, "unstable: "+why)
	}
	return judgment{k, p}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// partial says why the window [from, to) was not run by the whole fleet at
// rate, "" when it was.
func partial(c Config, rate float64, sl []Slice, from, to int) string {
	for k := from; k < to; k++ {
		if k >= len(sl) || sl[k].Result == nil {
			return fmt.Sprintf("no shard reported slice %d", k)
		}
		for shard := range c.Shards {
			if !slices.Contains(sl[k].Shards, shard) {
				return fmt.Sprintf("shard %d missing in slice %d", shard, k)
			}
		}
		want := rate * c.Slice.Seconds()
		got := float64(sl[k].Result.Intended)
		if d := math.Abs(got - want); d > IntendedTolerance*want && d > 2*float64(c.Shards) {
			return fmt.Sprintf("slice %d holds %d intended requests, not the %s of %s req/s: a shard ran part of it or another rate", k, sl[k].Result.Intended, num(math.Round(want)), report.FormatRate(rate))
		}
	}
	return ""
}

// windowReport builds a report of the window's merged slices alone, the
// window's first slice as its slice 0, planned at rate.
func (c Config) windowReport(rate float64, sl []Slice, from, to int) *report.Report {
	results := make([]*slice.Result, 0, to-from)
	planned := make([]int64, to-from)
	for k := from; k < to; k++ {
		r := *sl[k].Result // shallow: Build does not write to a lone result
		r.Index = k - from
		results = append(results, &r)
		planned[k-from] = int64(math.Round(rate * c.Slice.Seconds()))
	}
	start := time.Unix(0, 0).UTC().Add(time.Duration(from) * c.Slice)
	return report.Build(report.Input{
		Start: start, End: start.Add(time.Duration(to-from) * c.Slice), SliceDuration: c.Slice,
		Shards: c.Shards, NumSlices: to - from, PlannedIntended: planned, Slices: results,
	})
}

// judgeSLO judges the SLO on the window's report: pass, and the window
// slices (0-based) that fail it when judged alone.
func (c Config) judgeSLO(rep *report.Report) (pass bool, failing []int) {
	pass = true
	bad := map[int]bool{}
	for _, t := range c.SLO {
		if !t.Evaluate(rep).Pass {
			pass = false
		}
		each := t
		each.PerSlice = true
		for _, k := range each.Evaluate(rep).FailingSlices {
			bad[k] = true
		}
	}
	for k := range bad {
		failing = append(failing, k)
	}
	slices.Sort(failing)
	return pass, failing
}

// unstable says why the window's slices disagree, "" when they agree.
func unstable(rate float64, rep *report.Report) string {
	p99s := make([]float64, 0, len(rep.Slices))
	for _, row := range rep.Slices {
		p99s = append(p99s, row.LatencyMS.P99)
	}
	med := median(p99s)
	for _, row := range rep.Slices {
		if math.Abs(row.RPS-rate) > RateTolerance*rate {
			return fmt.Sprintf("a slice achieved %s req/s of the %s offered", report.FormatRate(row.RPS), report.FormatRate(rate))
		}
		if med > 0 && (row.LatencyMS.P99 > P99Spread*med || row.LatencyMS.P99 < med/P99Spread) {
			return fmt.Sprintf("a slice's p99 %sms is not within %s× of the window's median %sms", report.FormatMS(row.LatencyMS.P99), num(P99Spread), report.FormatMS(med))
		}
	}
	return ""
}

// rising says how the window's p50 rose in every slice, by TrendRise or
// more, "" when it did not: the sign of a queue that grows at the offered
// rate, which passes a short window and breaks a longer one. A stable
// target's p50 wanders; it does not climb slice after slice.
func rising(rep *report.Report) string {
	n := len(rep.Slices)
	if n < minTrendSlices {
		return ""
	}
	for i := 1; i < n; i++ {
		if rep.Slices[i].LatencyMS.P50 <= rep.Slices[i-1].LatencyMS.P50 {
			return ""
		}
	}
	first, last := rep.Slices[0].LatencyMS.P50, rep.Slices[n-1].LatencyMS.P50
	if last < TrendRise*first {
		return ""
	}
	return fmt.Sprintf("p50 rose in every slice of the window, %sms to %sms", report.FormatMS(first), report.FormatMS(last))
}

// inFlightNeeded is how many requests are in flight, by Little's law, at
// rate when each takes the longest latency the SLO allows (its loosest
// latency bound, or the target's timeout when the SLO bounds no latency);
// 0 when the plan caps nothing.
func (c Config) inFlightNeeded(rate float64) (need float64, bound time.Duration) {
	if c.MaxInFlight <= 0 {
		return 0, 0
	}
	for _, t := range c.SLO {
		if t.Unit == threshold.UnitMS && (t.Op == "<" || t.Op == "<=") {
			bound = max(bound, time.Duration(t.Value*float64(time.Millisecond)))
		}
	}
	if bound == 0 {
		bound = c.Timeout
	}
	return rate * bound.Seconds(), bound
}

// windowCPU is the busiest generator's CPU share averaged over the
// window's slices: a moment's burst (a collection, a slice's upload) is
// not a saturated generator.
func windowCPU(rep *report.Report) float64 {
	if len(rep.Slices) == 0 {
		return 0
	}
	var sum float64
	for _, s := range rep.Slices {
		sum += s.GeneratorCPU
	}
	return sum / float64(len(rep.Slices))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
