package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cicadaload/cicada/shared/threshold"
)

// Defaults and bounds of load.search.
const (
	DefaultSearchStep      = 1.5
	DefaultSearchPrecision = 0.05
	DefaultSearchMaxProbes = 20
	MaxSearchProbes        = 64
	// MaxSearchStep bounds the growth factor: a larger one skips so much
	// that the bisection does the whole work anyway.
	MaxSearchStep = 100
	// SearchJudgeSlices is the most slices a probe waits, after its window,
	// for its judgment and the next probe's rate to reach every worker.
	SearchJudgeSlices = 2
)

// SearchRestShare is the rate of a rest after a failing probe, as a share
// of from: low enough that a queue the overload left drains, not zero, so
// that connections stay warm.
const SearchRestShare = 0.5

// Search is load.search: instead of fixed stages, the rate moves from From
// towards To, growing by Step while the SLO holds, then bisecting between
// the last passing and the first failing rate until the bracket is
// Precision narrow or MaxProbes probes ran. Open model only. The fleet
// learns each probe's rate from the run's control object (runs.Control),
// read at every slice boundary; see docs/search.md.
type Search struct {
	SLO       []string `json:"slo" yaml:"slo"`                                   // threshold grammar (shared/threshold), run-wide only
	From      float64  `json:"from" yaml:"from"`                                 // req/s, whole plan, > 0
	To        float64  `json:"to" yaml:"to"`                                     // > from
	Step      float64  `json:"step,omitempty" yaml:"step,omitempty"`             // growth factor > 1, default 1.5
	Hold      Duration `json:"hold" yaml:"hold"`                                 // judged time per probe, rounded up to whole slices
	Settle    Duration `json:"settle,omitempty" yaml:"settle,omitempty"`         // not judged, at the start of each probe; rounded up to whole slices
	Precision Percent  `json:"precision,omitempty" yaml:"precision,omitempty"`   // "5%" or 0.05; default 5%
	MaxProbes int      `json:"max_probes,omitempty" yaml:"max_probes,omitempty"` // default 20, at most 64

	// Capped says how an operator's limits shrank the search (To lowered
	// to the rate limit, MaxProbes to the duration or request limit), one
	// sentence each, for the report. Written by the trigger and the worker
	// (policy.Policy.Fit), not by a plan's author.
	Capped []string `json:"capped,omitempty" yaml:"capped,omitempty"`
}

// ProbeSlices returns the settle and hold of one probe in whole slices of
// length slice (rounded up; hold at least one slice).
func (s *Search) ProbeSlices(slice time.Duration) (settle, hold int) {
	if slice <= 0 {
		slice = DefaultSlice
	}
	settle = ceilSlices(s.Settle.D(), slice)
	hold = max(ceilSlices(s.Hold.D(), slice), 1)
	return settle, hold
}

// ceilSlices is d in whole slices, rounded up, 0 for d <= 0, saturating
// well below overflow so that products of it stay finite.
func ceilSlices(d, slice time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(min(int64(d/slice)+b2i(d%slice != 0), maxSearchSlices))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// maxSearchSlices bounds every slice count of a search, far above what
// validation accepts (24h of 100ms slices is 864 000), so that arithmetic on
// absurd input saturates instead of wrapping.
const maxSearchSlices = 1 << 40

// probeSpan is the slices one probe may take: settle, hold and the wait for
// its judgment.
//
// A probe that fails is followed by a rest as long as a probe (see
// package search), so the span allows one per probe.
func (s *Search) probeSpan(slice time.Duration) int64 {
	settle, hold := s.ProbeSlices(slice)
	return 2*(int64(settle)+int64(hold)) + SearchJudgeSlices
}

// ProbeBound is the most time one probe takes in the plan's bound: its
// settle, hold and judgment, and a rest after it.
func (s *Search) ProbeBound(slice time.Duration) time.Duration {
	if slice <= 0 {
		slice = DefaultSlice
	}
	return time.Duration(s.probeSpan(slice)) * slice
}

// StepOrDefault is Step, or its default when unset.
func (s *Search) StepOrDefault() float64 {
	if s.Step <= 0 {
		return DefaultSearchStep
	}
	return s.Step
}

// PrecisionOrDefault is Precision as a fraction, or its default when unset.
func (s *Search) PrecisionOrDefault() float64 {
	if s.Precision <= 0 {
		return DefaultSearchPrecision
	}
	return float64(s.Precision)
}

// MaxProbesOrDefault is MaxProbes, or its default when unset, at most
// MaxSearchProbes.
func (s *Search) MaxProbesOrDefault() int {
	if s.MaxProbes <= 0 {
		return DefaultSearchMaxProbes
	}
	return min(s.MaxProbes, MaxSearchProbes)
}

// SearchSlices is the most slices a search plan runs: MaxProbes probes of
// settle+hold slices, each waiting at most SearchJudgeSlices more for its
// judgment. 0 for a plan without load.search.
func (p *Plan) SearchSlices() int {
	s := p.Load.Search
	if s == nil {
		return 0
	}
	return int(min(int64(s.MaxProbesOrDefault())*s.probeSpan(p.SliceDuration()), maxSearchSlices))
}

// searchDuration is SearchSlices × slice, saturating.
func (p *Plan) searchDuration() time.Duration {
	n, slice := int64(p.SearchSlices()), p.SliceDuration()
	if n > int64(maxDuration/slice) {
		return maxDuration
	}
	return time.Duration(n) * slice
}

// ProbesWithin returns the most probes (at most MaxProbes) whose bound fits
// in d of slices of length slice: MaxProbes × (settle+hold+2) slices. 0 when
// not even one does.
func (s *Search) ProbesWithin(d, slice time.Duration) int {
	if slice <= 0 {
		slice = DefaultSlice
	}
	return int(min(int64(d/slice)/s.probeSpan(slice), int64(s.MaxProbesOrDefault())))
}

// RequestBound returns the most requests n probes can send: the rate grows
// from From by Step and never passes To (a bisection stays between two
// rates already probed), and each probe runs for at most its bound of
// settle+hold+2 slices. +Inf for rates that are not finite.
func (s *Search) RequestBound(n int, slice time.Duration) float64 {
	if slice <= 0 {
		slice = DefaultSlice
	}
	span := float64(s.probeSpan(slice)) * slice.Seconds()
	step := s.StepOrDefault()
	if !(step > 1) || math.IsNaN(s.From) || math.IsNaN(s.To) {
		return math.Inf(1)
	}
	var total float64
	rate := s.From
	for range max(n, 0) {
		total += min(rate, s.To) * span
		rate *= step
	}
	return total
}

// ProbesUnderRequests returns the most probes (at most MaxProbes) whose
// RequestBound is at most limit.
func (s *Search) ProbesUnderRequests(limit int64, slice time.Duration) int {
	n := s.MaxProbesOrDefault()
	for n > 0 && s.RequestBound(n, slice) > float64(limit) {
		n--
	}
	return n
}

// SearchRates returns the rate table a search plan starts from: From in
// every slice of its bound. Workers change it as probes come
// (load.Engine.SetRate). nil for a plan without load.search.
func (p *Plan) SearchRates() []float64 {
	s := p.Load.Search
	if s == nil {
		return nil
	}
	n := p.SearchSlices()
	if n > maxTableSlices {
		return nil // validation refuses such a plan
	}
	rates := make([]float64, n)
	for i := range rates {
		rates[i] = s.From
	}
	return rates
}

// maxTableSlices bounds the rate table of a search: 24h of 100ms slices.
const maxTableSlices = int(MaxPlanDuration / MinSlice)

// applyDefaults fills Step, Precision and MaxProbes. It changes a copy: a
// plan copied by value (Validate's) shares the pointer.
func (l *Load) applySearchDefaults() {
	if l.Search == nil {
		return
	}
	s := *l.Search
	if s.Step == 0 {
		s.Step = DefaultSearchStep
	}
	if s.Precision == 0 {
		s.Precision = DefaultSearchPrecision
	}
	if s.MaxProbes == 0 {
		s.MaxProbes = DefaultSearchMaxProbes
	}
	l.Search = &s
}

// search checks load.search, with p's defaults applied: the open model
// without stages, an SLO of run-wide thresholds, rates, step, the probe's
// length in slices and the bound within MaxPlanDuration.
func (c *checker) search(p *Plan) {
	l := &p.Load
	s := l.Search
	if s == nil {
		return
	}
	const at = "load.search"
	if l.Model != ModelOpen {
		c.add(at, "only for model open, got %q", l.Model)
	}
	if len(l.Stages) > 0 {
		c.add("load.stages", "not allowed with load.search: the search sets the rate")
	}
	if l.StartRate != nil {
		c.add("load.start_rate", "not allowed with load.search: the search starts at load.search.from")
	}
	if len(s.SLO) == 0 {
		c.add(at+".slo", `at least one objective is required, like "p99 < 250ms"`)
	}
	for i, expr := range s.SLO {
		path := fmt.Sprintf("%s.slo[%d]", at, i)
		t, err := threshold.Parse(expr)
		switch {
		case err != nil:
			c.add(path, "%v", err)
		case t.PerSlice:
			c.add(path, "threshold %q: per_slice is not allowed: a probe is judged on the merged slices of its window", t.Expr)
		case t.Stage > 0:
			c.add(path, "threshold %q: stage is not allowed: a search has no stages", t.Expr)
		case t.IgnoreFirst > 0:
			c.add(path, "threshold %q: ignore_first is not allowed: load.search.settle leaves out the start of every probe", t.Expr)
		}
	}
	fromOK := c.searchRate(at+".from", s.From)
	if fromOK && s.From <= 0 {
		c.add(at+".from", "must be > 0, got %v", s.From)
		fromOK = false
	}
	if c.searchRate(at+".to", s.To) && fromOK && s.To <= s.From {
		c.add(at+".to", "must be > from (%v), got %v", s.From, s.To)
	}
	switch st := s.Step; {
	case math.IsNaN(st) || math.IsInf(st, 0):
		c.add(at+".step", "must be a finite number")
	case st <= 1 || st > MaxSearchStep:
		c.add(at+".step", "must be > 1 and <= %v (the growth factor between probes), got %v", MaxSearchStep, st)
	}
	slice := p.SliceDuration()
	if s.Hold.D() < slice {
		c.add(at+".hold", "must be at least one slice (%v), got %v", slice, s.Hold)
	}
	if s.Settle < 0 {
		c.add(at+".settle", "must be >= 0, got %v", s.Settle)
	}
	switch pr := float64(s.Precision); {
	case math.IsNaN(pr) || math.IsInf(pr, 0):
		c.add(at+".precision", "must be a finite number")
	case pr <= 0 || pr > 1:
		c.add(at+".precision", `must be more than 0%% and at most 100%% ("5%%" or 0.05), got %v`, pr)
	}
	if s.MaxProbes < 1 || s.MaxProbes > MaxSearchProbes {
		c.add(at+".max_probes", "must be 1..%d, got %d", MaxSearchProbes, s.MaxProbes)
		return
	}
	if d := p.searchDuration(); d > MaxPlanDuration {
		c.add(at, "%d probes of %d slices (settle, hold and %d to judge) of %v take up to %v, over %v; lower max_probes, hold or settle",
			s.MaxProbes, s.probeSpan(slice), SearchJudgeSlices, slice, d, MaxPlanDuration)
	}
}

// searchRate checks a finite rate within MaxRate.
func (c *checker) searchRate(path string, r float64) bool {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		c.add(path, "must be a finite number")
	case r > MaxRate:
		c.add(path, "must be <= %g req/s, got %v", MaxRate, r)
	case r < 0:
		c.add(path, "must be > 0, got %v", r)
	default:
		return true
	}
	return false
}

// Percent is a fraction written as "5%" or 0.05.
type Percent float64

func parsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
	if err != nil {
		return 0, fmt.Errorf("invalid percentage %q: want \"5%%\" or 0.05", s)
	}
	if pct {
		v /= 100
	}
	return Percent(v), nil
}

// String formats p as a percentage, "5%".
func (p Percent) String() string { return strconv.FormatFloat(float64(p)*100, 'g', -1, 64) + "%" }

// MarshalJSON writes p as a fraction.
func (p Percent) MarshalJSON() ([]byte, error) { return json.Marshal(float64(p)) }

// UnmarshalJSON reads "5%" or 0.05.
func (p *Percent) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := parsePercent(s)
		if err != nil {
			return err
		}
		*p = v
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("invalid percentage %s: want \"5%%\" or 0.05", b)
	}
	*p = Percent(f)
	return nil
}

// MarshalYAML writes p as a fraction.
func (p Percent) MarshalYAML() (any, error) { return float64(p), nil }

// UnmarshalYAML reads "5%" or 0.05.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want \"5%%\" or 0.05", n.Line)
	}
	v, err := parsePercent(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*p = v
	return nil
}
