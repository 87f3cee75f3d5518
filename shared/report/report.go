// Package report builds a run's report (report.json) from its slice results:
// per-slice rows merged across shards, and a summary merged over the whole run.
//
// The JSON field names are the report's spine: later versions add fields,
// never rename or reorder them. Output is deterministic: the same slice results
// in any order give byte-identical JSON.
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/cicadaload/cicada/shared/slice"
)

// Status values of a report.
const (
	StatusCompleted  = "completed"
	StatusCancelled  = "cancelled"
	StatusFailed     = "failed"
	StatusIncomplete = "incomplete"
)

// Input is what a report is built from.
type Input struct {
	RunID, PlanName string
	// SubmittedBy is who posted the plan (run.json's submitted_by), "" when
	// unknown.
	SubmittedBy string
	// Status is one of the Status constants, decided by the caller.
	Status string
	// Start and End bound the run; slice k starts at Start + k*SliceDuration.
	Start, End    time.Time
	SliceDuration time.Duration
	// PlanDuration is the plan's total duration, so that the last slice's rate
	// is computed over its actual, possibly partial, length. Zero means every
	// slice is SliceDuration long.
	PlanDuration time.Duration
	// Shards is the number of shards the plan asked for.
	Shards int
	// NumSlices is the number of slices the plan has; rows are emitted for
	// every slice up to it, so slices nobody reported show as gaps. Zero means
	// up to the highest index reported (or len(PlannedIntended)).
	NumSlices int
	// PlannedIntended, if set, is the schedule's intended request count per
	// slice index (open model), the basis of planned_rps. When nil, planned_rps
	// is derived from the reported Intended counters, which in the open model
	// are the schedule's counts for the shards that reported.
	PlannedIntended []int64
	// Slices holds one result per shard per slice, in any order. Nil entries
	// are skipped; a (shard, index) pair given twice is counted once (the
	// result with the most completed requests), since each slice object is
	// written once.
	Slices []*slice.Result
}

// Report is report.json.
type Report struct {
	RunID    string `json:"run_id"`
	PlanName string `json:"plan_name"`
	// SubmittedBy is the principal that posted the plan, when the
	// trigger knew it (run.json's submitted_by).
	SubmittedBy  string     `json:"submitted_by,omitempty"`
	Status       string     `json:"status"`
	Start        time.Time  `json:"start"`
	End          time.Time  `json:"end"`
	SliceSeconds float64    `json:"slice_seconds"`
	Shards       int        `json:"shards"`
	Summary      Summary    `json:"summary"`
	Slices       []SliceRow `json:"slices"`
	// Coverage is set by the pipeline's aggregator: which shard slices
	// were expected and which arrived.
	Coverage *Coverage `json:"coverage,omitempty"`
	// Thresholds are the plan's thresholds judged on this report.
	Thresholds []ThresholdResult `json:"thresholds,omitempty"`
	// Verdict is pass, fail or incomplete once the run is over; empty while
	// it goes.
	Verdict string `json:"verdict,omitempty"`
	// VerdictReasons says why the verdict is not pass: failed thresholds,
	// missing slices, a saturated generator.
	VerdictReasons []string `json:"verdict_reasons,omitempty"`
	// Comparison with the plan's baseline run, when it names one.
	Comparison *Comparison `json:"comparison,omitempty"`
	// Search is the capacity search of a plan with load.search.
	Search *Search `json:"search,omitempty"`

	// Total is every slice result of the run merged, for callers that need
	// more than the summary (other percentiles, the histograms themselves).
	Total *slice.Result `json:"-"`
	// SliceResults holds each row's merged result, nil for a slice nobody
	// reported; SliceResults[i] belongs to Slices[i].
	SliceResults []*slice.Result `json:"-"`
}

// Verdicts.
const (
	VerdictPass       = "pass"
	VerdictFail       = "fail"
	VerdictIncomplete = "incomplete"
	// VerdictError: the run could not be carried out as planned (a shard
	// refused its plan, a credential could not be had); nothing is said of
	// the target.
	VerdictError = "error"
)

// ThresholdResult is one threshold judged.
type ThresholdResult struct {
	Expr     string  `json:"expr"`
	Observed float64 `json:"observed"`
	// Unit of Observed and of the threshold's value: "ms", "%", "req/s",
	// or "" for a count.
	Unit string `json:"unit"`
	Pass bool   `json:"pass"`
	// FailingSlices lists the slices that failed a per-slice threshold.
	FailingSlices []int `json:"failing_slices,omitempty"`
	// Reason says why a threshold failed without a figure to judge (an
	// accuracy threshold on a run that checked no prediction); Observed is
	// 0 then and means nothing.
	Reason string `json:"reason,omitempty"`
}

// Comparison is a run's key figures against a baseline run's.
type Comparison struct {
	BaselineRunID string `json:"baseline_run_id"`
	// TolerancePct is how much worse a figure may be before it counts as a
	// regression, in percent.
	TolerancePct float64      `json:"tolerance_pct"`
	Metrics      []MetricDiff `json:"metrics"`
	Regression   bool         `json:"regression"`
}

// MetricDiff is one figure of a comparison.
type MetricDiff struct {
	Name       string  `json:"name"`
	Unit       string  `json:"unit"`
	Base       float64 `json:"base"`
	New        float64 `json:"new"`
	ChangePct  float64 `json:"change_pct"`
	Regression bool    `json:"regression"`
}

// Coverage says how much of the run's shards × slices the report holds.
type Coverage struct {
	Expected int `json:"expected"`
	Received int `json:"received"`
	// Missing lists the shard slices that never arrived: gaps, not zeros.
	Missing []ShardSlice `json:"missing"`
	// Corrupt lists slice objects that could not be decoded; they count
	// as missing.
	Corrupt []CorruptSlice `json:"corrupt,omitempty"`
	// Failed lists the shards that could not run at all, and why.
	Failed []FailedShard `json:"failed,omitempty"`
	// Unplaced lists the shards no worker drives while they should be
	// driven: a shard that cannot be placed is reported, never silent.
	Unplaced []Unplaced `json:"unplaced,omitempty"`
}

// FailedShard is a shard that could not run, and why.
type FailedShard struct {
	Shard  int    `json:"shard"`
	Reason string `json:"reason"`
}

// Unplaced is a shard nobody drives, since when, and why as far as the
// aggregator can tell.
type Unplaced struct {
	Shard  int       `json:"shard"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

// String says it as a verdict reason: "shard 2: no worker with room since
// 06:48:06".
func (u Unplaced) String() string {
	return fmt.Sprintf("shard %d: %s since %s", u.Shard, u.Reason, u.Since.UTC().Format("15:04:05"))
}

// ShardSlice names one slice of one shard.
type ShardSlice struct {
	Shard int `json:"shard"`
	Slice int `json:"slice"`
}

// CorruptSlice is a slice object that failed to decode, and why.
type CorruptSlice struct {
	Object string `json:"object"`
	Error  string `json:"error"`
}

// Summary is the whole run's figures.
type Summary struct {
	Intended  int64 `json:"intended"`
	Sent      int64 `json:"sent"`
	Completed int64 `json:"completed"`
	Dropped   int64 `json:"dropped"`
	Errors    int64 `json:"errors"`
	// ErrorRate is Errors / Completed, 0 when nothing completed.
	ErrorRate float64 `json:"error_rate"`
	// RPS is completed requests per second of the run (End - Start).
	RPS       float64           `json:"rps"`
	LatencyMS slice.Percentiles `json:"latency_ms"`
	ServiceMS slice.Percentiles `json:"service_ms"`
	Outcomes  map[string]int64  `json:"outcomes"`
	// PlannedRPS is the schedule's intended requests per second of the plan.
	PlannedRPS float64 `json:"planned_rps"`
	// MaxLatenessMS is how late, at worst, a request was sent after its
	// intended time: a large value means the generator, not the target, lagged.
	MaxLatenessMS float64 `json:"max_lateness_ms"`
	// Late is how many requests were sent later than max_lateness after
	// their intended time: a few are a stall, most a saturated generator.
	Late int64 `json:"late,omitempty"`
	// GeneratorCPU is the busiest generator's CPU share in any slice (0 to
	// 1): near 1, the generator's own queueing is in the latencies.
	GeneratorCPU float64  `json:"generator_cpu,omitempty"`
	SampleErrors []string `json:"sample_errors"`
	Predictions
}

// SliceRow is one time slice merged across shards.
type SliceRow struct {
	Index     int       `json:"index"`
	Start     time.Time `json:"start"`
	Intended  int64     `json:"intended"`
	Completed int64     `json:"completed"`
	Dropped   int64     `json:"dropped"`
	Errors    int64     `json:"errors"`
	// RPS is completed requests per second of the slice's actual length.
	RPS       float64           `json:"rps"`
	LatencyMS slice.Percentiles `json:"latency_ms"`
	// ShardsReporting is the number of distinct shards that reported the
	// slice; fewer than the plan's shards means a gap.
	ShardsReporting int `json:"shards_reporting"`
	// PlannedRPS is the schedule's intended requests per second of the slice.
	PlannedRPS float64 `json:"planned_rps"`
	// GeneratorCPU is the busiest generator's CPU share in the slice.
	GeneratorCPU float64 `json:"generator_cpu,omitempty"`
	Predictions
}

// Predictions are the figures of the instances the requests carried (a
// request carries target.batch texts) and of their checked predictions
// (target.check). A report written before they existed decodes with them
// zero and absent.
type Predictions struct {
	// Instances is the sum of the batch sizes of the completed requests.
	Instances int64 `json:"instances"`
	// InstanceRate is Instances per second, over the same time as the
	// achieved request rate (rps) beside it.
	InstanceRate float64 `json:"instance_rate"`
	// Checked counts instances whose prediction was compared with its
	// expected value, Correct those that matched.
	Checked int64 `json:"checked"`
	Correct int64 `json:"correct"`
	// Accuracy is Correct / Checked, a fraction as error_rate is; nil (absent
	// from the JSON) when nothing was checked, which is no accuracy at all
	// rather than a perfect or a null one.
	Accuracy *float64 `json:"accuracy,omitempty"`
	// TextChars is the length distribution of the texts sent, in
	// characters; nil when no text was counted.
	TextChars *TextChars `json:"text_chars,omitempty"`
}

// TextChars is a length distribution in characters, exact: each figure is
// a length some text sent had.
type TextChars struct {
	// P50 and P99 are nearest-rank percentiles: the shortest length that
	// at least half (99 %) of the texts do not exceed.
	P50 int64 `json:"p50"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// ShowInstances reports whether the instances are worth showing beside the
// requests: they differ from the completed requests (batches), while a run
// of one text per request would show the same figure twice.
func (p Predictions) ShowInstances(completed int64) bool {
	return p.Instances > 0 && p.Instances != completed
}

// predictionsOf computes r's Predictions, Instances per second of d.
func predictionsOf(r *slice.Result, d time.Duration) Predictions {
	p := Predictions{
		Instances:    r.Instances,
		InstanceRate: perSecond(r.Instances, d),
		Checked:      r.Checked,
		Correct:      r.Correct,
		TextChars:    textCharsOf(r.TextChars),
	}
	if r.Checked > 0 {
		a := ratio(r.Correct, r.Checked)
		p.Accuracy = &a
	}
	return p
}

// textCharsOf summarizes counts of texts by length; nil when it counts none.
func textCharsOf(counts map[int64]int64) *TextChars {
	var total int64
	lengths := make([]int64, 0, len(counts))
	for n, c := range counts {
		if c > 0 {
			total += c
			lengths = append(lengths, n)
		}
	}
	if total == 0 {
		return nil
	}
	slices.Sort(lengths)
	// rank returns the nearest-rank q-quantile: the first length whose
	// cumulative count reaches ceil(q * total).
	rank := func(num, den int64) int64 {
		want := max((total*num+den-1)/den, 1)
		var seen int64
		for _, n := range lengths {
			if seen += counts[n]; seen >= want {
				return n
			}
		}
		return lengths[len(lengths)-1]
	}
	return &TextChars{P50: rank(50, 100), P99: rank(99, 100), Max: lengths[len(lengths)-1]}
}

// Build merges the slice results per slice index across shards and over the
// whole run. It does not modify in.Slices.
func Build(in Input) *Report {
	results := dedupe(in.Slices)

	n := max(in.NumSlices, len(in.PlannedIntended))
	if len(results) > 0 {
		n = max(n, results[len(results)-1].Index+1)
	}
	rows := make([]SliceRow, n)
	merged := make([]*slice.Result, n)
	total := &slice.Result{RunID: in.RunID, Start: in.Start, End: in.End}
	own := make([]bool, n) // merged[k] is Build's own, not an input
	for _, r := range results {
		m := merged[r.Index]
		switch {
		case m == nil:
			// The only result of its index so far (always, for results
			// already merged per slice): shared, not copied, since
			// nothing writes to a report's results. A second one gets a
			// copy to merge into.
			merged[r.Index] = r
		case !own[r.Index]:
			c := &slice.Result{RunID: in.RunID, Index: r.Index}
			c.Merge(m)
			c.Merge(r)
			merged[r.Index], own[r.Index] = c, true
		default:
			m.Merge(r)
		}
		// Results are distinct per (shard, index), so each is one more shard.
		rows[r.Index].ShardsReporting += max(r.ShardsReporting, 1)
		total.Merge(r)
	}

	var plannedTotal int64
	for k := range rows {
		length := sliceLength(in, k)
		row := &rows[k]
		row.Index = k
		row.Start = in.Start.Add(time.Duration(k) * in.SliceDuration).UTC()
		planned := int64(0)
		if m := merged[k]; m != nil {
			row.Intended, row.Completed, row.Dropped, row.Errors = m.Intended, m.Completed, m.Dropped, m.Errors
			row.RPS = perSecond(m.Completed, length)
			row.LatencyMS = slice.PercentilesOf(m.Latency)
			row.GeneratorCPU = roundShare(m.GeneratorCPU)
			row.Predictions = predictionsOf(m, length)
			planned = m.Intended
		}
		if in.PlannedIntended != nil {
			planned = 0
			if k < len(in.PlannedIntended) {
				planned = in.PlannedIntended[k]
			}
		}
		row.PlannedRPS = perSecond(planned, length)
		plannedTotal += planned
	}

	planDuration := in.PlanDuration
	if planDuration <= 0 {
		planDuration = in.End.Sub(in.Start)
	}
	outcomes := total.Outcomes
	if outcomes == nil {
		outcomes = map[string]int64{}
	}
	samples := total.SampleErrors
	if samples == nil {
		samples = []string{}
	}
	return &Report{
		RunID:        in.RunID,
		PlanName:     in.PlanName,
		SubmittedBy:  in.SubmittedBy,
		Status:       in.Status,
		Start:        in.Start.UTC(),
		End:          in.End.UTC(),
		SliceSeconds: in.SliceDuration.Seconds(),
		Shards:       in.Shards,
		Summary: Summary{
			Intended:      total.Intended,
			Sent:          total.Sent,
			Completed:     total.Completed,
			Dropped:       total.Dropped,
			Errors:        total.Errors,
			ErrorRate:     ratio(total.Errors, total.Completed),
			RPS:           perSecond(total.Completed, in.End.Sub(in.Start)),
			LatencyMS:     slice.PercentilesOf(total.Latency),
			ServiceMS:     slice.PercentilesOf(total.Service),
			Outcomes:      outcomes,
			PlannedRPS:    perSecond(plannedTotal, planDuration),
			MaxLatenessMS: float64(total.MaxLatenessUS) / 1000,
			Late:          total.Late,
			GeneratorCPU:  roundShare(total.GeneratorCPU),
			SampleErrors:  samples,
			Predictions:   predictionsOf(total, in.End.Sub(in.Start)),
		},
		Slices:       rows,
		Total:        total,
		SliceResults: merged,
	}
}

// dedupe returns the non-nil results with a valid index sorted by (index,
// shard), one per (shard, index) pair: the one with the most completed
// requests, then the most intended, then the smallest writer, so that the
// choice does not depend on input order.
func dedupe(in []*slice.Result) []*slice.Result {
	out := make([]*slice.Result, 0, len(in))
	for _, r := range in {
		if r != nil && r.Index >= 0 {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *slice.Result) int {
		return cmp.Or(
			cmp.Compare(a.Index, b.Index),
			cmp.Compare(a.Shard, b.Shard),
			cmp.Compare(b.Completed, a.Completed),
			cmp.Compare(b.Intended, a.Intended),
			cmp.Compare(a.Writer, b.Writer),
		)
	})
	return slices.CompactFunc(out, func(a, b *slice.Result) bool {
		return a.Index == b.Index && a.Shard == b.Shard
	})
}

// sliceLength is slice k's actual length: the last slice of a plan whose
// duration is not a multiple of the slice is shorter.
func sliceLength(in Input, k int) time.Duration {
	length := in.SliceDuration
	if in.PlanDuration > 0 {
		if rest := in.PlanDuration - time.Duration(k)*in.SliceDuration; rest > 0 && rest < length {
			length = rest
		}
	}
	return length
}

// roundShare keeps a CPU share to three decimals: the gauge is no finer,
// and report.json stays readable.
func roundShare(v float64) float64 { return math.Round(v*1000) / 1000 }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// WriteJSON writes r as report.json: indented by two spaces, with a trailing
// newline.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Sample errors often hold <, > and &; escaping them only hurts reading.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report %s: %w", r.RunID, err)
	}
	return nil
}

// Decode reads report.json, or live.json, which has the same form, as
// WriteJSON wrote it. Only the JSON fields are set: Total and SliceResults
// stay nil, since the JSON does not hold the histograms behind them.
func Decode(data []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	return &r, nil
}
