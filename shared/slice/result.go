package slice

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is one decoded SliceResult: what one shard measured in one slice, or
// the merge of several such results (then ShardsReporting counts them). See the
// package doc for the meaning of the counters.
type Result struct {
	RunID string
	Shard int
	Index int
	// Start and End bound the slice: [Start, End). A merge spans the earliest
	// start to the latest end; the zero time means unknown.
	Start, End time.Time

	Intended, Sent, Completed, Dropped, Errors int64
	BytesSent, BytesReceived                   int64

	// Outcomes counts completed requests by outcome key; they sum to Completed.
	Outcomes map[string]int64
	// SampleErrors holds at most MaxSampleErrors distinct messages, sorted.
	SampleErrors []string

	// Latency (from the intended send) and Service (from the actual send) are
	// in microseconds, of the slice geometry; nil means empty.
	Latency, Service *hdrhistogram.Histogram

	// ShardsReporting is the number of shard-slices merged into this result.
	ShardsReporting int
	// Writer identifies who wrote the result, for diagnosis.
	Writer string
	// MaxLatenessUS and SumLatenessUS are the maximum and sum of how late
	// requests were sent after their intended time, in microseconds.
	MaxLatenessUS, SumLatenessUS int64
	// Late counts the requests sent later than the plan's max_lateness.
	Late int64
	// GeneratorCPU is the share of its CPUs (0 to 1) the generating process
	// used while the slice was taken; merged, the busiest shard's.
	GeneratorCPU float64

	// Instances is the sum of the batch sizes of the completed requests.
	Instances int64
	// Checked counts instances whose prediction was compared with its
	// expected value, Correct those that matched (target.check).
	Checked, Correct int64
	// TextChars counts the texts sent by their length in characters.
	TextChars map[int64]int64
}

// NewResult returns an empty result for one shard's slice, with
// ShardsReporting 1 and empty histograms.
func NewResult(runID string, shard, index int, start, end time.Time) *Result {
	return &Result{
		RunID:           runID,
		Shard:           shard,
		Index:           index,
		Start:           start,
		End:             end,
		Outcomes:        map[string]int64{},
		Latency:         NewHistogram(),
		Service:         NewHistogram(),
		ShardsReporting: 1,
	}
}

// AddRecorder folds the recorder's counts into r. The recorder is unchanged,
// so the caller resets it before reusing it for the next slice.
func (r *Result) AddRecorder(rec *Recorder) {
	r.Intended += rec.intended
	r.Sent += rec.sent
	r.Completed += rec.completed
	r.Dropped += rec.dropped
	r.Errors += rec.errors
	r.BytesSent += rec.bytesSent
	r.BytesReceived += rec.bytesRecv
	r.MaxLatenessUS = max(r.MaxLatenessUS, rec.maxLatenessUS)
	r.SumLatenessUS += rec.sumLatenessUS
	r.Late += rec.late
	r.Instances += rec.instances
	r.Checked += rec.checked
	r.Correct += rec.correct
	for n, c := range rec.textChars {
		if c != 0 {
			r.textChars()[n] += c
		}
	}
	for k, n := range rec.outcomes {
		// Reset keeps keys with a zero count; they are no outcome.
		if n != 0 {
			r.outcome()[cleanOutcome(k)] += n
		}
	}
	r.SampleErrors = unionSamples(r.SampleErrors, rec.samples[:rec.nSamples])
	mergeHist(&r.Latency, rec.latency)
	mergeHist(&r.Service, rec.service)
}

// Merge adds o into r: histogram merge, sums of counters, outcomes,
// ShardsReporting and SumLatenessUS, the maximum of MaxLatenessUS and
// GeneratorCPU, the sorted union of sample errors cut to MaxSampleErrors,
// the earliest Start and the latest End. All of these are exact, associative and order-independent.
// Identity fields (RunID, Shard, Index, Writer) stay the receiver's, except
// that an empty RunID is taken from o. o is not modified; a nil o is a no-op.
func (r *Result) Merge(o *Result) {
	if o == nil {
		return
	}
	if r.RunID == "" {
		r.RunID = o.RunID
	}
	r.Start = minTime(r.Start, o.Start)
	r.End = maxTime(r.End, o.End)
	r.Intended += o.Intended
	r.Sent += o.Sent
	r.Completed += o.Completed
	r.Dropped += o.Dropped
	r.Errors += o.Errors
	r.BytesSent += o.BytesSent
	r.BytesReceived += o.BytesReceived
	for k, n := range o.Outcomes {
		r.outcome()[k] += n
	}
	r.SampleErrors = unionSamples(r.SampleErrors, o.SampleErrors)
	mergeHist(&r.Latency, o.Latency)
	mergeHist(&r.Service, o.Service)
	r.ShardsReporting += o.ShardsReporting
	r.MaxLatenessUS = max(r.MaxLatenessUS, o.MaxLatenessUS)
	r.SumLatenessUS += o.SumLatenessUS
	r.Late += o.Late
	r.GeneratorCPU = max(r.GeneratorCPU, o.GeneratorCPU)
	r.Instances += o.Instances
	r.Checked += o.Checked
	r.Correct += o.Correct
	for n, c := range o.TextChars {
		r.textChars()[n] += c
	}
}

func (r *Result) textChars() map[int64]int64 {
	if r.TextChars == nil {
		r.TextChars = map[int64]int64{}
	}
	return r.TextChars
}

// Clone returns a deep copy of r.
func (r *Result) Clone() *Result {
	c := *r
	c.Outcomes = maps.Clone(r.Outcomes)
	c.SampleErrors = slices.Clone(r.SampleErrors)
	c.TextChars = maps.Clone(r.TextChars)
	if r.Latency != nil {
		c.Latency = r.Latency.Clone()
	}
	if r.Service != nil {
		c.Service = r.Service.Clone()
	}
	return &c
}

// Equal reports whether r and o hold the same data: every field, with a nil
// histogram or map equal to an empty one and times compared as instants.
func (r *Result) Equal(o *Result) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.RunID == o.RunID && r.Shard == o.Shard && r.Index == o.Index &&
		r.Start.Equal(o.Start) && r.End.Equal(o.End) &&
		r.Intended == o.Intended && r.Sent == o.Sent && r.Completed == o.Completed &&
		r.Dropped == o.Dropped && r.Errors == o.Errors &&
		r.BytesSent == o.BytesSent && r.BytesReceived == o.BytesReceived &&
		maps.Equal(r.Outcomes, o.Outcomes) &&
		slices.Equal(r.SampleErrors, o.SampleErrors) &&
		histEqual(r.Latency, o.Latency) && histEqual(r.Service, o.Service) &&
		r.ShardsReporting == o.ShardsReporting && r.Writer == o.Writer &&
		r.MaxLatenessUS == o.MaxLatenessUS && r.SumLatenessUS == o.SumLatenessUS && r.Late == o.Late &&
		r.GeneratorCPU == o.GeneratorCPU &&
		r.Instances == o.Instances && r.Checked == o.Checked && r.Correct == o.Correct &&
		len(r.TextChars) == len(o.TextChars) && maps.Equal(r.TextChars, o.TextChars)
}

// Validate reports the first inconsistency that no correct recording can
// produce: a negative counter, more errors than completed or more completed
// than sent requests, outcome counts that do not sum to Completed, a histogram
// of another geometry, or a histogram whose TotalCount is not Completed.
func (r *Result) Validate() error {
	if err := r.validateCounters(); err != nil {
		return err
	}
	if err := checkHist(r.Latency, r.Completed); err != nil {
		return fmt.Errorf("latency histogram: %w", err)
	}
	if err := checkHist(r.Service, r.Completed); err != nil {
		return fmt.Errorf("service histogram: %w", err)
	}
	return nil
}

// validateCounters is Validate without the histograms.
func (r *Result) validateCounters() error {
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"intended", r.Intended}, {"sent", r.Sent}, {"completed", r.Completed},
		{"dropped", r.Dropped}, {"errors", r.Errors}, {"bytes_sent", r.BytesSent},
		{"bytes_received", r.BytesReceived}, {"shards_reporting", int64(r.ShardsReporting)},
		{"max_lateness_us", r.MaxLatenessUS}, {"sum_lateness_us", r.SumLatenessUS}, {"late", r.Late},
		{"shard", int64(r.Shard)}, {"index", int64(r.Index)},
		{"instances", r.Instances}, {"checked", r.Checked}, {"correct", r.Correct},
	} {
		if c.v < 0 {
			return fmt.Errorf("%s is negative: %d", c.name, c.v)
		}
	}
	if r.Errors > r.Completed {
		return fmt.Errorf("errors %d exceed completed %d", r.Errors, r.Completed)
	}
	if r.Late > r.Sent {
		return fmt.Errorf("late %d exceeds sent %d", r.Late, r.Sent)
	}
	if !(r.GeneratorCPU >= 0 && r.GeneratorCPU <= 1) { // NaN fails too
		return fmt.Errorf("generator_cpu %v is not a share between 0 and 1", r.GeneratorCPU)
	}
	if r.Correct > r.Checked {
		return fmt.Errorf("correct %d exceeds checked %d", r.Correct, r.Checked)
	}
	for n, c := range r.TextChars {
		if n < 0 || c < 0 {
			return fmt.Errorf("text_chars[%d] = %d is negative", n, c)
		}
	}
	if r.Completed > r.Sent {
		return fmt.Errorf("completed %d exceeds sent %d", r.Completed, r.Sent)
	}
	var sum int64
	for k, n := range r.Outcomes {
		if n < 0 {
			return fmt.Errorf("outcome %q count is negative: %d", k, n)
		}
		if n > r.Completed-sum {
			return fmt.Errorf("outcome counts exceed completed %d", r.Completed)
		}
		sum += n
	}
	if sum != r.Completed {
		return fmt.Errorf("outcome counts sum to %d, completed is %d", sum, r.Completed)
	}
	return nil
}

var errGeometry = errors.New("histogram geometry is not 1us..60s at 3 significant digits")

// checkHist checks h's geometry and that it counts completed values; nil is
// an empty histogram.
func checkHist(h *hdrhistogram.Histogram, completed int64) error {
	var total int64
	if h != nil {
		if h.LowestTrackableValue() != LowestUS || h.HighestTrackableValue() != HighestUS || h.SignificantFigures() != SigFigs {
			return fmt.Errorf("%w: got %d..%d at %d", errGeometry, h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures())
		}
		total = h.TotalCount()
	}
	if total != completed {
		return fmt.Errorf("total count %d is not completed %d", total, completed)
	}
	return nil
}

func (r *Result) outcome() map[string]int64 {
	if r.Outcomes == nil {
		r.Outcomes = map[string]int64{}
	}
	return r.Outcomes
}

// mergeHist merges src into *dst, creating *dst in the slice geometry when
// nil (never sharing src, which must stay unmodified).
func mergeHist(dst **hdrhistogram.Histogram, src *hdrhistogram.Histogram) {
	if src == nil {
		return
	}
	if *dst == nil {
		*dst = NewHistogram()
	}
	if src.TotalCount() == 0 {
		return
	}
	(*dst).Merge(src)
}

func histEqual(a, b *hdrhistogram.Histogram) bool {
	if a == nil || b == nil {
		return total(a) == 0 && total(b) == 0
	}
	return a.Equals(b)
}

func total(h *hdrhistogram.Histogram) int64 {
	if h == nil {
		return 0
	}
	return h.TotalCount()
}

// unionSamples returns the sorted distinct union of a and b cut to the first
// MaxSampleErrors: the smallest messages survive whatever the merge order.
func unionSamples(a, b []string) []string {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	// Concat copies, so neither input's backing array is written.
	out := slices.Concat(a, b)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxSampleErrors {
		out = out[:MaxSampleErrors]
	}
	return slices.Clip(out)
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.After(a)) {
		return b
	}
	return a
}
