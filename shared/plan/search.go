package plan

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults of load.search.
const (
	DefaultSearchStep      = 1.5
	DefaultSearchPrecision = 0.05
	DefaultSearchMaxProbes = 20
	MaxSearchProbes        = 64
)

// Search is load.search: instead of fixed stages, the rate moves from From
// towards To, growing by Step while SLO holds, then bisecting between the
// last passing and the first failing rate until the bracket is Precision
// narrow. Open model only.
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
	settle = int((s.Settle.D() + slice - 1) / slice)
	hold = max(int((s.Hold.D()+slice-1)/slice), 1)
	return max(settle, 0), hold
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
// settle+hold slices, each waiting at most two more for its judgment. 0
// for a plan without load.search.
func (p *Plan) SearchSlices() int {
	s := p.Load.Search
	if s == nil {
		return 0
	}
	settle, hold := s.ProbeSlices(p.SliceDuration())
	return s.MaxProbesOrDefault() * (settle + hold + 2)
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
	v, err := parsePercent(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*p = v
	return nil
}
