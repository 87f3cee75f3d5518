package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cicadaload/cicada/shared/slice"
)

// FormatSliceLine formats a slice row as one line of live console output,
// for example:
//
//	slice  3  12:00:30  rps  999.8  p50   1.23ms  p99   4.56ms  errors 0 (0.00%)  dropped 0
//
// A slice of batched requests adds its instances per second ("inst/s
// 7998.4"), a slice with checked predictions its accuracy ("accuracy
// 93.81%").
func FormatSliceLine(row SliceRow) string {
	line := fmt.Sprintf("slice %2d  %s  rps %6.1f  p50 %6.2fms  p99 %6.2fms  errors %d (%.2f%%)  dropped %d",
		row.Index, row.Start.Format(time.TimeOnly), row.RPS, row.LatencyMS.P50, row.LatencyMS.P99,
		row.Errors, 100*ratio(row.Errors, row.Completed), row.Dropped)
	if row.ShowInstances(row.Completed) {
		line += fmt.Sprintf("  inst/s %.1f", row.InstanceRate)
	}
	if row.Accuracy != nil {
		line += fmt.Sprintf("  accuracy %.2f%%", 100**row.Accuracy)
	}
	return line
}

// FormatSummary formats r for humans: the run, its totals, a percentile table
// and the outcomes, most frequent first.
func FormatSummary(r *Report) string {
	var b strings.Builder
	s := r.Summary
	fmt.Fprintf(&b, "run %s  plan %q  status %s\n", r.RunID, r.PlanName, r.Status)
	if r.SubmittedBy != "" {
		fmt.Fprintf(&b, "submitted by %s\n", r.SubmittedBy)
	}
	fmt.Fprintf(&b, "start %s  duration %s  slices %d x %gs  shards %d\n",
		r.Start.Format(time.RFC3339), r.End.Sub(r.Start).Round(time.Millisecond), len(r.Slices), r.SliceSeconds, r.Shards)
	fmt.Fprintf(&b, "requests  intended %d  sent %d  completed %d  dropped %d  errors %d (%.2f%%)\n",
		s.Intended, s.Sent, s.Completed, s.Dropped, s.Errors, 100*s.ErrorRate)
	fmt.Fprintf(&b, "rate      achieved %.1f/s  planned %.1f/s  max send lateness %.2fms",
		s.RPS, s.PlannedRPS, s.MaxLatenessMS)
	if s.Late > 0 {
		fmt.Fprintf(&b, "  late %d (%.2f%%)", s.Late, 100*float64(s.Late)/float64(max(s.Sent, 1)))
	}
	if s.GeneratorCPU > 0 {
		fmt.Fprintf(&b, "  generator CPU up to %.0f%%", 100*s.GeneratorCPU)
	}
	b.WriteString("\n")
	if s.ShowInstances(s.Completed) {
		fmt.Fprintf(&b, "instances %d  rate %.1f/s  %.2f per request\n",
			s.Instances, s.InstanceRate, float64(s.Instances)/float64(max(s.Completed, 1)))
	}
	if s.Accuracy != nil {
		fmt.Fprintf(&b, "accuracy  %.2f%% (%d/%d instances checked)\n", 100**s.Accuracy, s.Correct, s.Checked)
	}
	if tc := s.TextChars; tc != nil {
		fmt.Fprintf(&b, "texts     length in characters  p50 %d  p99 %d  max %d\n", tc.P50, tc.P99, tc.Max)
	}
	if gaps := countGaps(r); gaps > 0 {
		fmt.Fprintf(&b, "gaps      %d slice(s) reported by fewer than %d shard(s)\n", gaps, r.Shards)
	}
	if r.Search != nil {
		b.WriteString(formatSearch(r.Search))
	}

	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ms\tmin\tmean\tp50\tp90\tp95\tp99\tp99.9\tmax\t")
	for _, p := range []struct {
		name string
		p    slice.Percentiles
	}{{"latency", s.LatencyMS}, {"service", s.ServiceMS}} {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n",
			p.name, p.p.Min, p.p.Mean, p.p.P50, p.p.P90, p.p.P95, p.p.P99, p.p.P999, p.p.Max)
	}
	_ = tw.Flush()

	if len(s.Outcomes) > 0 {
		b.WriteString("\noutcomes\n")
		keys := slices.SortedFunc(maps.Keys(s.Outcomes), func(a, c string) int {
			return cmp.Or(cmp.Compare(s.Outcomes[c], s.Outcomes[a]), cmp.Compare(a, c))
		})
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s\t%d\t(%.2f%%)\n", k, s.Outcomes[k], 100*ratio(s.Outcomes[k], s.Completed))
		}
		_ = tw.Flush()
	}
	if len(s.SampleErrors) > 0 {
		b.WriteString("\nsample errors\n")
		for _, e := range s.SampleErrors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}

// countGaps counts slices reported by fewer shards than the plan has.
func countGaps(r *Report) int {
	n := 0
	for _, row := range r.Slices {
		if row.ShardsReporting < r.Shards {
			n++
		}
	}
	return n
}
