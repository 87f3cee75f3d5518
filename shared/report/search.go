package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Search is the capacity search of a run whose plan has load.search: every
// probe as it was judged, the bracket around the capacity, and the answer.
type Search struct {
	// Status is running, found, above_to, below_from, incomplete or
	// stopped (probes or the run's time exhausted before the bracket was
	// narrow enough).
	Status string `json:"status"`
	// Reason says why a search is incomplete or stopped.
	Reason string `json:"reason,omitempty"`
	// SLO is load.search.slo, as written.
	SLO []string `json:"slo"`
	// Capped says how the operator's limits shrank the search (its `to`
	// lowered to the rate limit, its probes to the duration limit).
	Capped []string      `json:"capped,omitempty"`
	Probes []SearchProbe `json:"probes"`
	// Low is the highest rate that met the SLO, High the lowest that broke
	// it (req/s, whole plan); absent until some probe found one.
	Low  *float64 `json:"bracket_low,omitempty"`
	High *float64 `json:"bracket_high,omitempty"`
	// MaxRateUnderSLO is the answer: Low once the search found it (or
	// stopped with a bracket); absent when the search is incomplete, since
	// a generator that fell behind measured itself, not the target.
	MaxRateUnderSLO *float64 `json:"max_rate_under_slo,omitempty"`
}

// Statuses of a search.
const (
	SearchRunning    = "running"
	SearchFound      = "found"
	SearchAboveTo    = "above_to"
	SearchBelowFrom  = "below_from"
	SearchIncomplete = "incomplete"
	SearchStopped    = "stopped"
)

// SearchProbe is one probe of a search: a rate held for whole slices, and
// what the merged slices of its window showed.
type SearchProbe struct {
	N int `json:"n"`
	// Rate is the offered rate, req/s for the whole plan.
	Rate float64 `json:"rate"`
	// FromSlice and ToSlice are the judged window, both included (the
	// settle slices before it are not judged).
	FromSlice int `json:"from_slice"`
	ToSlice   int `json:"to_slice"`
	// AchievedRate is the completed requests per second of the window.
	AchievedRate float64 `json:"achieved_rate"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	// ErrorRate is errors / completed, a fraction as the summary's.
	ErrorRate float64 `json:"error_rate"`
	// Verdict is pass, fail, held (not judged: partial fleet, or unstable
	// the first time), unstable-pass, unstable-fail, or incomplete (the
	// generator fell behind).
	Verdict string `json:"verdict"`
	// Stable is whether the window's slices agreed (the rule is in
	// package search).
	Stable bool `json:"stable"`
	// Note says why a probe was held, unstable or incomplete.
	Note string `json:"note,omitempty"`
}

// Verdicts of a probe.
const (
	ProbePass         = "pass"
	ProbeFail         = "fail"
	ProbeHeld         = "held"
	ProbeUnstablePass = "unstable-pass"
	ProbeUnstableFail = "unstable-fail"
	ProbeIncomplete   = "incomplete"
)

// FormatProbeLine formats a judged probe as one line of summary.txt and of
// the CLI's live output, for example:
//
//	probe 3  rate 450/s  achieved 449/s  p50 12ms  p99 180ms  errors 0.10%  pass
//
// A held, unstable or incomplete probe adds its note.
func FormatProbeLine(p SearchProbe) string {
	line := fmt.Sprintf("probe %d  rate %s/s  achieved %s/s  p50 %sms  p99 %sms  errors %.2f%%  %s",
		p.N, FormatRate(p.Rate), FormatRate(p.AchievedRate), FormatMS(p.P50MS), FormatMS(p.P99MS), 100*p.ErrorRate, p.Verdict)
	if p.Verdict == ProbeHeld {
		// Nothing was judged: the figures, if any, are not the probe's.
		line = fmt.Sprintf("probe %d  rate %s/s  %s", p.N, FormatRate(p.Rate), p.Verdict)
	}
	if p.Note != "" {
		line += "  (" + p.Note + ")"
	}
	return line
}

// FormatCapacity formats the search's answer as one line, for example:
//
//	capacity 512 req/s under SLO [p99 < 250ms, error_rate < 1%] (bracket 490..530, 7 probes)
func FormatCapacity(s *Search) string {
	slo := "[" + strings.Join(s.SLO, ", ") + "]"
	n := len(s.Probes)
	bracket := func() string {
		var parts []string
		if s.Low != nil && s.High != nil {
			parts = append(parts, fmt.Sprintf("bracket %s..%s", FormatRate(*s.Low), FormatRate(*s.High)))
		}
		return strings.Join(append(parts, fmt.Sprintf("%d probes", n)), ", ")
	}
	switch s.Status {
	case SearchFound:
		return fmt.Sprintf("capacity %s req/s under SLO %s (%s)", FormatRate(deref(s.MaxRateUnderSLO)), slo, bracket())
	case SearchAboveTo:
		return fmt.Sprintf("capacity at least %s req/s under SLO %s: it held at `to` (%d probes)", FormatRate(deref(s.MaxRateUnderSLO)), slo, n)
	case SearchBelowFrom:
		return fmt.Sprintf("capacity below from under SLO %s: %s (%d probes)", slo, s.Reason, n)
	case SearchStopped:
		if s.MaxRateUnderSLO != nil {
			return fmt.Sprintf("capacity at least %s req/s under SLO %s, search stopped: %s (%s)", FormatRate(*s.MaxRateUnderSLO), slo, s.Reason, bracket())
		}
		return fmt.Sprintf("capacity not found under SLO %s, search stopped: %s (%d probes)", slo, s.Reason, n)
	case SearchIncomplete:
		return fmt.Sprintf("capacity not measured under SLO %s, search incomplete: %s (%d probes)", slo, s.Reason, n)
	}
	return fmt.Sprintf("capacity search under SLO %s running (%s)", slo, bracket())
}

func deref(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// FormatRate formats a rate in req/s as the report shows it: whole from
// 100 up, else up to two decimals.
func FormatRate(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(math.Round(r), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(r*100)/100, 'f', -1, 64)
}

// FormatMS formats milliseconds as the search's lines show them: whole
// from 10 up, else one decimal.
func FormatMS(v float64) string {
	if v >= 10 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// formatSearch is summary.txt's search block: one line per probe as judged,
// then the answer.
func formatSearch(s *Search) string {
	var b strings.Builder
	b.WriteString("\ncapacity search\n")
	for _, p := range s.Probes {
		b.WriteString("  " + FormatProbeLine(p) + "\n")
	}
	b.WriteString(FormatCapacity(s) + "\n")
	for _, c := range s.Capped {
		b.WriteString("  limited: " + c + "\n")
	}
	return b.String()
}
