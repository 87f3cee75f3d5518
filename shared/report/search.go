package report

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
	SLO    []string      `json:"slo"`
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
	// Stable is whether the window's slices agreed (see docs/reports.md).
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
