package report

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"
)

// csvFixedHeader is report.csv's columns before the error classes.
var csvFixedHeader = []string{
	"index", "start", "planned_rps", "achieved_rps", "intended", "completed", "dropped", "errors",
	"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
}

// csvPredictionHeader is report.csv's last columns, after shards_reporting:
// added later than the others, so that a reader indexing the older columns
// by position still finds them. accuracy (a fraction) and the text lengths
// are empty when the slice has none.
var csvPredictionHeader = []string{
	"instances", "instance_rate", "checked", "correct", "accuracy",
	"text_chars_p50", "text_chars_p99", "text_chars_max",
}

// WriteCSV writes report.csv: a header, then one row per slice with its
// start, planned and achieved rate, counts, latency percentiles in ms, one
// column per error class seen in the run (every outcome that is not a
// success, sorted), and the number of shards that reported it. success is
// the run's plan's rule, plan.Target.Success: the recorder's ok flag is not
// kept per outcome, so the report asks the plan again.
func WriteCSV(w io.Writer, rep *Report, success func(outcome string) bool) error {
	if rep == nil {
		return fmt.Errorf("write csv report: no report")
	}
	if success == nil {
		return fmt.Errorf("write csv report %s: no success rule", rep.RunID)
	}
	classes := errorClasses(rep, success)
	cw := csv.NewWriter(w)
	header := append(append(slices.Clone(csvFixedHeader), classes...), "shards_reporting")
	header = append(header, csvPredictionHeader...)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write csv report %s: %w", rep.RunID, err)
	}
	for i, row := range rep.Slices {
		p := row.LatencyMS
		rec := []string{
			strconv.Itoa(row.Index), row.Start.UTC().Format(time.RFC3339),
			csvFloat(row.PlannedRPS), csvFloat(row.RPS),
			strconv.FormatInt(row.Intended, 10), strconv.FormatInt(row.Completed, 10),
			strconv.FormatInt(row.Dropped, 10), strconv.FormatInt(row.Errors, 10),
			csvFloat(p.P50), csvFloat(p.P90), csvFloat(p.P95), csvFloat(p.P99), csvFloat(p.P999), csvFloat(p.Max),
		}
		for _, k := range classes {
			if rep.SliceResults == nil {
				// A report decoded from JSON keeps no outcomes per
				// slice: unknown, not zero.
				rec = append(rec, "")
				continue
			}
			var n int64
			if present(rep, i) {
				n = rep.SliceResults[i].Outcomes[k]
			}
			rec = append(rec, strconv.FormatInt(n, 10))
		}
		rec = append(rec, strconv.Itoa(row.ShardsReporting))
		rec = append(rec, csvPredictions(row.Predictions)...)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv report %s: slice %d: %w", rep.RunID, i, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv report %s: %w", rep.RunID, err)
	}
	return nil
}

// csvPredictions is a row's csvPredictionHeader columns.
func csvPredictions(p Predictions) []string {
	accuracy := ""
	if p.Accuracy != nil {
		accuracy = csvFloat(*p.Accuracy)
	}
	chars := []string{"", "", ""}
	if tc := p.TextChars; tc != nil {
		chars = []string{strconv.FormatInt(tc.P50, 10), strconv.FormatInt(tc.P99, 10), strconv.FormatInt(tc.Max, 10)}
	}
	return append([]string{
		strconv.FormatInt(p.Instances, 10), csvFloat(p.InstanceRate),
		strconv.FormatInt(p.Checked, 10), strconv.FormatInt(p.Correct, 10), accuracy,
	}, chars...)
}

// csvFloat formats with the fewest digits that read back exactly, so the
// file loses nothing and stays short.
func csvFloat(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// errorClasses lists every outcome of the run that is not a success, sorted.
func errorClasses(rep *Report, success func(string) bool) []string {
	var out []string
	for _, k := range outcomeKeys(rep.Summary.Outcomes) {
		if !success(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// outcomeKeys sorts outcomes most frequent first, then by name.
func outcomeKeys(outcomes map[string]int64) []string {
	return slices.SortedFunc(maps.Keys(outcomes), func(a, b string) int {
		return cmp.Or(cmp.Compare(outcomes[b], outcomes[a]), cmp.Compare(a, b))
	})
}
