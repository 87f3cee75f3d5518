// Package threshold parses a plan's pass/fail rules ("p99 < 250ms",
// "error_rate < 1%", "rps >= 95% per_slice abort_on_fail 3") and judges
// them on a report.
//
// The grammar:
//
//	EXPR   := METRIC OP VALUE [stage N] [ignore_first DURATION] [per_slice [abort_on_fail N]]
//	METRIC := p50 | p90 | p95 | p99 | p999 | min | mean | max        latency from the intended send, ms
//	        | service_p50 ... service_max                           service time from the actual send, ms
//	        | error_rate                                            errors / completed, %
//	        | rps                                                   req/s, or "95%" of the planned rate
//	        | instance_rate                                         instances/s (a request carries target.batch instances)
//	        | accuracy                                              correct / checked predictions, % (target.check)
//	        | dropped | errors | completed                          counts
//	OP     := < | <= | > | >= | == | !=
//
// A latency value is a duration ("250ms", "1.5s", "800us") or a bare number
// of milliseconds; an error rate is a percentage ("1%") or a fraction
// ("0.01"), and so is accuracy ("90%" or "0.9"); rps is a number of
// requests per second or a percentage of the plan's rate; instance_rate is a
// number of instances per second; counts are integers.
//
// An accuracy threshold needs checked predictions: judged on slices where
// nothing was checked (no target.check, or every request failed before its
// answer could be checked) it fails, with a reason saying so, rather than
// pass on no evidence. A per-slice accuracy threshold judges the slices that
// checked something and fails only when none did. The options may come in any order, and
// "ignore_first=10s" or "ignore_first: 10s" read as "ignore_first 10s".
//
// "stage N" ("phase N" is a synonym) judges only the slices that lie wholly
// within the plan's Nth stage (counted from 1): a slice that starts before
// the stage or ends after it straddles a boundary and is left out, since
// its figures mix two stages' load. ignore_first still counts from the
// run's start, not the stage's, so it means the same with or without a
// stage. This package does not know the plan: the caller places the stage
// on the run's time line with ForStages before Evaluate.
//
// A threshold is judged on the merged histogram and summed counters of the
// slices it judges, never on averaged percentiles: a per-shard or per-slice
// p99 says nothing about the run's.
package threshold

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Units of a threshold's value and of its observed figure.
const (
	UnitMS      = "ms"
	UnitPercent = "%"
	UnitRPS     = "req/s"
	// UnitInstanceRate is instances (texts) per second.
	UnitInstanceRate = "inst/s"
	UnitCount        = ""
)

// Threshold is one parsed rule.
type Threshold struct {
	// Expr is the expression as written, trimmed.
	Expr string
	// Metric is one of Metrics, in lower case.
	Metric string
	// Op is one of Ops.
	Op string
	// Value is in Unit: milliseconds for latency, percent for error_rate,
	// accuracy and rps as a share of the planned rate, req/s, inst/s, or a
	// count.
	Value float64
	// Unit is one of the Unit constants; for rps it tells a share of the
	// planned rate (UnitPercent) from an absolute rate (UnitRPS).
	Unit string
	// IgnoreFirst leaves out the slices that start less than this after
	// the run's start (warm-up).
	IgnoreFirst time.Duration
	// PerSlice judges every slice on its own; the threshold fails if any
	// judged slice fails.
	PerSlice bool
	// AbortOnFail, when > 0 (only with PerSlice), asks the aggregator to
	// cancel the run once this many slices failed.
	AbortOnFail int
	// Stage, when > 0, is the plan's stage (1-based) whose slices are
	// judged; 0 judges the whole run.
	Stage int
	// Window is where Stage lies in the run, set by ForStages. A stage
	// threshold whose window was never set judges nothing and fails.
	Window Window
}

// Window is a span of the run as offsets from its start: [From, To).
type Window struct {
	From, To time.Duration
}

// Contains reports whether a slice running from start to end (offsets from
// the run's start) lies wholly within w; a slice straddling either end of w
// does not.
func (w Window) Contains(start, end time.Duration) bool {
	return start >= w.From && end <= w.To
}

// ForStages returns t with its Window set to its stage's span, given the
// plan's stage durations in order; a threshold without a stage is returned
// as is. It fails when the plan has no such stage.
func (t Threshold) ForStages(stages []time.Duration) (Threshold, error) {
	if t.Stage <= 0 {
		return t, nil
	}
	if t.Stage > len(stages) {
		plural := "s"
		if len(stages) == 1 {
			plural = ""
		}
		return t, fmt.Errorf("threshold %q: stage %d does not exist, the plan has %d stage%s (load.stages, counted from 1)",
			t.Expr, t.Stage, len(stages), plural)
	}
	var from time.Duration
	for _, d := range stages[:t.Stage-1] {
		from += d
	}
	t.Window = Window{From: from, To: from + stages[t.Stage-1]}
	return t, nil
}

// Judges reports whether t judges a slice running from start to end
// (offsets from the run's start; end is cut by the run's end): one that
// starts at least IgnoreFirst into the run and, for a stage threshold, lies
// within the stage's window.
func (t Threshold) Judges(start, end time.Duration) bool {
	if start < t.IgnoreFirst {
		return false
	}
	if t.Stage > 0 {
		return t.Window.To > 0 && t.Window.Contains(start, end)
	}
	return true
}

// JudgedSlices counts the slices of a plan of the given duration and slice
// length that t judges, whether or not they will be reported: 0 means the
// threshold can never judge anything. Call ForStages first.
func (t Threshold) JudgedSlices(duration, slice time.Duration) int {
	if duration <= 0 || slice <= 0 {
		return 0
	}
	if t.Stage > 0 && t.Window.To <= 0 {
		return 0
	}
	// Slice k runs from k*slice to min((k+1)*slice, duration); counted
	// in closed form, as a plan may hold a great many slices.
	last := (duration - 1) / slice // the last slice's index
	lo := t.IgnoreFirst
	if t.Stage > 0 {
		lo = max(lo, t.Window.From)
		if t.Window.To < duration {
			// A slice ending before the run's end ends at (k+1)*slice.
			last = min(last, t.Window.To/slice-1)
		}
	}
	first := lo / slice
	if lo%slice != 0 {
		first++
	}
	return int(max(last-first+1, 0))
}

type kind int

const (
	kindLatency kind = iota
	kindService
	kindErrorRate
	kindRPS
	kindInstanceRate
	kindAccuracy
	kindCount
)

// metrics maps each metric name to its kind; order is the order listed in
// errors.
var metricNames = []string{
	"p50", "p90", "p95", "p99", "p999", "min", "mean", "max",
	"service_p50", "service_p90", "service_p95", "service_p99", "service_p999", "service_min", "service_mean", "service_max",
	"error_rate", "rps", "instance_rate", "accuracy", "dropped", "errors", "completed",
}

// Metrics returns the metric names a threshold may use.
func Metrics() []string { return append([]string(nil), metricNames...) }

// Ops are the comparison operators a threshold may use.
var Ops = []string{"<", "<=", ">", ">=", "==", "!="}

func kindOf(metric string) (kind, bool) {
	switch metric {
	case "p50", "p90", "p95", "p99", "p999", "min", "mean", "max":
		return kindLatency, true
	case "error_rate":
		return kindErrorRate, true
	case "rps":
		return kindRPS, true
	case "instance_rate":
		return kindInstanceRate, true
	case "accuracy":
		return kindAccuracy, true
	case "dropped", "errors", "completed":
		return kindCount, true
	}
	if rest, ok := strings.CutPrefix(metric, "service_"); ok {
		if k, ok := kindOf(rest); ok && k == kindLatency {
			return kindService, true
		}
	}
	return 0, false
}

// Parse reads one threshold expression. Every error names the expression
// and says what is wrong with it.
func Parse(expr string) (Threshold, error) {
	t := Threshold{Expr: strings.TrimSpace(expr)}
	fail := func(format string, a ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("threshold %q: %s", t.Expr, fmt.Sprintf(format, a...))
	}
	if t.Expr == "" {
		return fail("must not be empty; want METRIC OP VALUE, like \"p99 < 250ms\"")
	}
	s := t.Expr

	// METRIC: letters, digits and underscores, up to the operator.
	i := strings.IndexFunc(s, func(r rune) bool { return !isIdent(r) })
	if i < 0 {
		i = len(s)
	}
	name := s[:i]
	s = strings.TrimLeft(s[i:], " \t")
	if name == "" {
		return fail("want a metric first (one of %s)", strings.Join(metricNames, ", "))
	}
	t.Metric = strings.ToLower(name)
	k, ok := kindOf(t.Metric)
	if !ok {
		return fail("unknown metric %q; want one of %s", name, strings.Join(metricNames, ", "))
	}

	// OP: the run of operator characters.
	j := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("<>=!", r) })
	if j < 0 {
		j = len(s)
	}
	t.Op = s[:j]
	s = strings.TrimLeft(s[j:], " \t")
	switch {
	case t.Op == "" && s == "":
		return fail("missing operator and value after %q; want e.g. %q", name, name+" < 250ms")
	case t.Op == "":
		return fail("missing operator after %q; want one of %s", name, strings.Join(Ops, " "))
	case t.Op == "=":
		return fail("unknown operator \"=\"; use == (operators: %s)", strings.Join(Ops, " "))
	case !validOp(t.Op):
		return fail("unknown operator %q; want one of %s", t.Op, strings.Join(Ops, " "))
	}

	// VALUE: the next word.
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return fail("missing value after %q", t.Op)
	}
	var err error
	if t.Value, t.Unit, err = parseValue(k, fields[0]); err != nil {
		return fail("%v", err)
	}

	if err := t.parseOptions(fields[1:]); err != nil {
		return fail("%v", err)
	}
	return t, nil
}

func isIdent(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func validOp(op string) bool {
	for _, o := range Ops {
		if op == o {
			return true
		}
	}
	return false
}

// parseValue reads a value for a metric of kind k, returning it in the
// metric's unit.
func parseValue(k kind, v string) (float64, string, error) {
	switch k {
	case kindLatency, kindService:
		if f, err := parseNumber(v); err == nil {
			if f < 0 {
				return 0, "", fmt.Errorf("bad value %q: a latency must be >= 0", v)
			}
			return f, UnitMS, nil // a bare number is milliseconds
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, "", fmt.Errorf("bad value %q: want a duration like 250ms, 1.5s or 800us, or a number of milliseconds", v)
		}
		if d < 0 {
			return 0, "", fmt.Errorf("bad value %q: a latency must be >= 0", v)
		}
		return float64(d) / float64(time.Millisecond), UnitMS, nil
	case kindErrorRate:
		return parseShare(v, "error rate", "1%", "0.01")
	case kindAccuracy:
		return parseShare(v, "accuracy", "90%", "0.9")
	case kindInstanceRate:
		if strings.HasSuffix(v, "%") {
			return 0, "", fmt.Errorf("bad value %q: instance_rate is instances per second, like 1000; a share of the planned rate is for rps only", v)
		}
		f, err := parseNumber(strings.TrimSuffix(v, "/s"))
		if err != nil || f < 0 {
			return 0, "", fmt.Errorf("bad value %q: want instances per second (>= 0), like 1000", v)
		}
		return f, UnitInstanceRate, nil
	case kindRPS:
		if p, ok := strings.CutSuffix(v, "%"); ok {
			f, err := parseNumber(p)
			if err != nil || f < 0 {
				return 0, "", fmt.Errorf("bad value %q: want a percentage of the planned rate like 95%%", v)
			}
			return f, UnitPercent, nil
		}
		f, err := parseNumber(strings.TrimSuffix(v, "/s"))
		if err != nil || f < 0 {
			return 0, "", fmt.Errorf("bad value %q: want requests per second (>= 0) or a percentage of the planned rate like 95%%", v)
		}
		return f, UnitRPS, nil
	default:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, "", fmt.Errorf("bad value %q: want a count, an integer >= 0", v)
		}
		return float64(n), UnitCount, nil
	}
}

// parseShare reads a percentage ("1%") or a fraction ("0.01") of what, in
// percent; percentExample and fractionExample show the two forms in errors.
func parseShare(v, what, percentExample, fractionExample string) (float64, string, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := parseNumber(p)
		if err != nil || f < 0 || f > 100 {
			return 0, "", fmt.Errorf("bad value %q: want a percentage 0%%..100%%", v)
		}
		return f, UnitPercent, nil
	}
	f, err := parseNumber(v)
	if err != nil {
		return 0, "", fmt.Errorf("bad value %q: want a percentage like %s or a fraction like %s", v, percentExample, fractionExample)
	}
	if f < 0 || f > 1 {
		return 0, "", fmt.Errorf("bad value %q: a bare %s is a fraction 0..1; write %s%% for a percentage", v, what, v)
	}
	return f * 100, UnitPercent, nil
}

// parseNumber reads a finite decimal number; strconv alone would also take
// "NaN", "Inf" and hex floats.
func parseNumber(s string) (float64, error) {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789.-+eE", r) }) {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return f, nil
}

// parseOptions reads what follows the value: stage N, ignore_first D,
// per_slice, abort_on_fail N, each at most once, in any order.
func (t *Threshold) parseOptions(words []string) error {
	// "ignore_first=10s" and "ignore_first: 10s" read as "ignore_first 10s".
	var toks []string
	for _, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok {
			toks = append(toks, k)
			if v != "" {
				toks = append(toks, v)
			}
			continue
		}
		if k, ok := strings.CutSuffix(w, ":"); ok && k != "" {
			toks = append(toks, k)
			continue
		}
		toks = append(toks, w)
	}
	seen := map[string]bool{}
	abortAt := ""
	for i := 0; i < len(toks); i++ {
		opt := strings.ToLower(toks[i])
		key := opt
		if key == "phase" {
			key = "stage" // a synonym: "stage 2 phase 3" is given twice
		}
		switch key {
		case "stage", "ignore_first", "abort_on_fail", "per_slice":
			if seen[key] {
				return fmt.Errorf("%s given twice", key)
			}
			seen[key] = true
		}
		arg := func() (string, error) {
			if i+1 >= len(toks) {
				return "", fmt.Errorf("%s needs a value", opt)
			}
			i++
			return toks[i], nil
		}
		switch opt {
		case "ignore_first":
			v, err := arg()
			if err != nil {
				return fmt.Errorf("%v, a duration like 10s", err)
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("ignore_first: bad duration %q, want e.g. 10s", v)
			}
			if d < 0 {
				return fmt.Errorf("ignore_first must be >= 0, got %v", d)
			}
			t.IgnoreFirst = d
		case "stage", "phase":
			v, err := arg()
			if err != nil {
				return fmt.Errorf("%v, a stage number counted from 1", err)
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("%s: want a stage number >= 1 (stages count from 1), got %q", opt, v)
			}
			t.Stage = n
		case "per_slice":
			t.PerSlice = true
		case "abort_on_fail":
			v, err := arg()
			if err != nil {
				return fmt.Errorf("%v, a number of failing slices", err)
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("abort_on_fail: want a number of failing slices >= 1, got %q", v)
			}
			t.AbortOnFail, abortAt = n, v
		default:
			if i == 0 {
				return fmt.Errorf("unexpected %q after the value; want stage N, ignore_first D, per_slice or abort_on_fail N (a value is one word: 250ms, not 250 ms)", toks[i])
			}
			return fmt.Errorf("unexpected %q; want stage N, ignore_first D, per_slice or abort_on_fail N", toks[i])
		}
	}
	if t.AbortOnFail > 0 && !t.PerSlice {
		return fmt.Errorf("abort_on_fail %s needs per_slice: only slices can fail while the run goes", abortAt)
	}
	return nil
}

// String formats the threshold as it was written.
func (t Threshold) String() string { return t.Expr }

// holds reports whether observed op value.
func (t Threshold) holds(observed float64) bool {
	switch t.Op {
	case "<":
		return observed < t.Value
	case "<=":
		return observed <= t.Value
	case ">":
		return observed > t.Value
	case ">=":
		return observed >= t.Value
	case "==":
		return observed == t.Value
	case "!=":
		return observed != t.Value
	}
	return false
}
