// Package trend shows a plan over time from the runs index (shared/index):
// the trigger's HTML pages of GET /runs and GET /plans/<name>, and the
// figures cicada history prints. Both pages are self-contained like the
// report: inline CSS and SVG charts (drawn by report.TrendChart), no
// script, nothing fetched when opened, so a saved page opens offline.
package trend

import (
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/report"
)

// Links builds the URLs the pages link to.
type Links struct {
	// Base is the trigger's URL without a trailing slash
	// ("https://trigger.example"); empty gives links from the root
	// ("/runs/<id>").
	Base string
}

// Run is the run's page: its live view while it goes, its report once done.
func (l Links) Run(id string) string { return l.Base + "/runs/" + url.PathEscape(id) }

// Report is the run's report.html.
func (l Links) Report(id string) string { return l.Run(id) + "/" + report.FileHTML }

// Plan is the plan's trend page; a "/" in the name is escaped.
func (l Links) Plan(name string) string { return l.Base + "/plans/" + url.PathEscape(name) }

// Failed reports whether a run is marked as failed on a trend: anything
// but a pass, a run without a verdict included.
func Failed(r index.Row) bool { return r.Verdict != report.VerdictPass }

// Oldest returns rows (newest first, as index.List gives them) oldest
// first, the order of a chart's axis; rows is left as it is.
func Oldest(rows []index.Row) []index.Row {
	out := slices.Clone(rows)
	slices.Reverse(out)
	return out
}

// Capacity is a row's max_rate_under_slo, NaN when the run has none.
func Capacity(r index.Row) float64 { return orNaN(r.MaxRateUnderSLO) }

// Accuracy is a row's accuracy, NaN when the run has none.
func Accuracy(r index.Row) float64 { return orNaN(r.Accuracy) }

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// Change is the change from the first present (not NaN) value of vals to
// the last, in percent of the first; ok is false when there are fewer than
// two or the first is zero.
func Change(vals []float64) (pct float64, ok bool) {
	first, last, n := 0.0, 0.0, 0
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if n == 0 {
			first = v
		}
		last = v
		n++
	}
	if n < 2 || first == 0 {
		return 0, false
	}
	return 100 * (last - first) / first, true
}

// sparkBlocks are the eight heights of a sparkline.
var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws vals as a line of block characters from the lowest
// (▁) to the highest (█); an absent value (NaN) is a space, and equal
// values sit in the middle.
func Sparkline(vals []float64) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	var b strings.Builder
	for _, v := range vals {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			b.WriteByte(' ')
		case hi == lo:
			b.WriteRune(sparkBlocks[len(sparkBlocks)/2-1])
		default:
			i := int(math.Round((v - lo) / (hi - lo) * float64(len(sparkBlocks)-1)))
			b.WriteRune(sparkBlocks[i])
		}
	}
	return b.String()
}

// axisLabels names each run on a chart's axis by its start: the day when
// every run is on its own day (nightly runs), else the day and time.
func axisLabels(rows []index.Row) []string {
	days := map[string]bool{}
	for _, r := range rows {
		days[r.Start.UTC().Format(time.DateOnly)] = true
	}
	layout := "Jan 02"
	if len(days) < len(rows) {
		layout = "01-02 15:04"
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Start.UTC().Format(layout)
	}
	return out
}
