package report

import (
	"fmt"
	"io"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/cicadaload/cicada/shared/slice"
)

// Range of histogram.hdr's values, in nanoseconds: the slice histograms'
// range in microseconds, scaled.
const (
	hdrLowestNS  = slice.LowestUS * 1000
	hdrHighestNS = slice.HighestUS * 1000
)

// WriteHDR writes histogram.hdr: the run's latency histograms in
// HdrHistogram's interval log format (version 1.3), one interval per slice
// that has results, stamped with the slice's absolute start and length.
// Merging all intervals gives the run's histogram. Values are in
// nanoseconds, the format's convention (its interval max column is in ms,
// and HistogramLogAnalyzer reads it so), while cicada records microseconds.
func WriteHDR(w io.Writer, rep *Report) error {
	if rep == nil {
		return fmt.Errorf("write histogram log: no report")
	}
	lw := hdrhistogram.NewHistogramLogWriter(w)
	if err := lw.OutputLogFormatVersion(); err != nil {
		return fmt.Errorf("write histogram log %s: %w", rep.RunID, err)
	}
	if err := lw.OutputComment(fmt.Sprintf("[cicada run %s, latency from the intended send time, values in ns]", rep.RunID)); err != nil {
		return fmt.Errorf("write histogram log %s: %w", rep.RunID, err)
	}
	if err := lw.OutputStartTime(rep.Start.UnixMilli()); err != nil {
		return fmt.Errorf("write histogram log %s: %w", rep.RunID, err)
	}
	if err := lw.OutputLegend(); err != nil {
		return fmt.Errorf("write histogram log %s: %w", rep.RunID, err)
	}
	for i, r := range rep.SliceResults {
		if r == nil || r.Latency == nil {
			continue // a gap has no interval: nothing was measured
		}
		h := toNanoseconds(r.Latency)
		start := rep.Slices[i].Start
		h.SetStartTimeMs(start.UnixMilli())
		h.SetEndTimeMs(start.Add(sliceLengthOf(rep, i)).UnixMilli())
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return fmt.Errorf("write histogram log %s: slice %d: %w", rep.RunID, i, err)
		}
	}
	return nil
}

// toNanoseconds re-records a microsecond histogram in nanoseconds. Each
// bucket's count goes to its highest equivalent value, which is what
// percentiles of the original report, so they stay within the histogram's
// precision and every count is kept.
func toNanoseconds(us *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	ns := hdrhistogram.New(hdrLowestNS, hdrHighestNS, slice.SigFigs)
	for _, bar := range us.Distribution() {
		if bar.Count == 0 {
			continue
		}
		v := min(max(bar.To*1000, hdrLowestNS), hdrHighestNS)
		// v is clamped into the range, so RecordValues cannot fail.
		_ = ns.RecordValues(v, bar.Count)
	}
	return ns
}

// sliceLengthOf is slice i's length: up to the next slice's start, or to
// the run's end for the last one, never more than the slice duration.
func sliceLengthOf(rep *Report, i int) time.Duration {
	length := time.Duration(rep.SliceSeconds * float64(time.Second))
	if i == len(rep.Slices)-1 {
		if rest := rep.End.Sub(rep.Slices[i].Start); rest > 0 && rest < length {
			length = rest
		}
	}
	return max(length, 0)
}
