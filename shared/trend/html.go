package trend

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/report"
)

// Chart is one chart of the plan page: what it draws of each row.
type Chart struct {
	ID, Heading, Note string
	Names             []string
	Axis              report.TrendAxis
	// Values are a row's figures, one per name; NaN when absent.
	Values func(index.Row) []float64
	// Optional charts are drawn only when some row has a value: accuracy
	// and capacity are figures of some plans only.
	Optional bool
}

// Charts are the plan page's charts, in the order shown.
var Charts = []Chart{
	{ID: "chart-latency", Heading: "Latency p50 and p99", Note: "milliseconds from the intended send time, whole run; log scale",
		Names: []string{"p50", "p99"}, Axis: report.TrendAxis{Title: "latency (log)", Log: true},
		Values: func(r index.Row) []float64 { return []float64{r.P50MS, r.P99MS} }},
	{ID: "chart-errors", Heading: "Error rate", Note: "failed requests in percent of those completed",
		Names: []string{"error rate"}, Axis: report.TrendAxis{Title: "%", FromZero: true},
		Values: func(r index.Row) []float64 { return []float64{100 * r.ErrorRate} }},
	{ID: "chart-rate", Heading: "Achieved rate", Note: "requests per second over the whole run, against the plan's",
		Names: []string{"achieved", "planned"}, Axis: report.TrendAxis{Title: "req/s"},
		Values: func(r index.Row) []float64 { return []float64{r.AchievedRate, r.PlannedRate} }},
	{ID: "chart-accuracy", Heading: "Accuracy", Note: "correct predictions in percent of those checked",
		Names: []string{"accuracy"}, Axis: report.TrendAxis{Title: "%"}, Optional: true,
		Values: func(r index.Row) []float64 { return []float64{100 * Accuracy(r)} }},
	{ID: "chart-capacity", Heading: "Capacity", Note: "the highest rate that met the SLO (max_rate_under_slo), req/s",
		Names: []string{"max rate under SLO"}, Axis: report.TrendAxis{Title: "req/s"}, Optional: true,
		Values: func(r index.Row) []float64 { return []float64{Capacity(r)} }},
}

// drawn reports whether c is drawn for rows.
func (c Chart) drawn(rows []index.Row) bool {
	if !c.Optional {
		return true
	}
	for _, r := range rows {
		for _, v := range c.Values(r) {
			if !math.IsNaN(v) {
				return true
			}
		}
	}
	return false
}

// ChartIDs are the ids of the charts the plan page draws for rows.
func ChartIDs(rows []index.Row) []string {
	var ids []string
	for _, c := range Charts {
		if c.drawn(rows) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

//go:embed pages.html.tmpl
var pagesHTML string

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") },
	"num":     num,
	"pct":     func(v float64) string { return num(100*v) + "%" },
	"optpct":  func(p *float64) string { return optional(p, func(v float64) string { return num(100*v) + "%" }) },
	"optnum":  func(p *float64) string { return optional(p, num) },
	"badge":   badge,
	"reasons": func(r index.Row) string { return strings.Join(r.Reasons, "; ") },
	"short":   func(h string) string { return h[:min(len(h), 8)] },
}).Parse(pagesHTML))

// num writes a figure to at most three decimals, "n/a" when it is not a
// number.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

func optional(p *float64, f func(float64) string) string {
	if p == nil {
		return "–"
	}
	return f(*p)
}

// badge is a verdict's text and CSS class.
func badge(verdict string) struct{ Text, Class string } {
	switch verdict {
	case report.VerdictPass:
		return struct{ Text, Class string }{"PASS", "pass"}
	case report.VerdictFail:
		return struct{ Text, Class string }{"FAIL", "fail"}
	case report.VerdictIncomplete:
		return struct{ Text, Class string }{"INCOMPLETE", "incomplete"}
	case report.VerdictError:
		return struct{ Text, Class string }{"ERROR", "fail"}
	case "":
		return struct{ Text, Class string }{"no verdict", "none"}
	}
	return struct{ Text, Class string }{strings.ToUpper(verdict), "none"}
}

// rowView is a table row of either page.
type rowView struct {
	index.Row
	RunURL, ReportURL, PlanURL string
	// PlanChanged marks a run whose plan differs from the run before it.
	PlanChanged bool
}

func rowViews(rows []index.Row, l Links) []rowView {
	out := make([]rowView, len(rows))
	for i, r := range rows {
		out[i] = rowView{Row: r, RunURL: l.Run(r.RunID), ReportURL: l.Report(r.RunID), PlanURL: l.Plan(r.Plan)}
		// rows are newest first: the run before is the next row.
		if i+1 < len(rows) && rows[i+1].Plan == r.Plan && rows[i+1].PlanHash != r.PlanHash {
			out[i].PlanChanged = true
		}
	}
	return out
}

// chartView is a drawn chart.
type chartView struct {
	ID, Heading, Note string
	SVG               template.HTML
}

// PlanPage is what the trend page of a plan shows.
type PlanPage struct {
	Plan string
	// Rows are the plan's last runs, newest first (index.List).
	Rows  []index.Row
	Links Links
}

type planData struct {
	Title, Plan string
	Runs        int
	Passed      int
	Latest      rowView
	Summary     []string
	Charts      []chartView
	Rows        []rowView
	RunsURL     string
}

// WritePlanHTML writes the trend page of a plan: a chart per figure over
// its runs, oldest to newest, each point linking to its run's report and
// failed runs marked, then a table of the runs, newest first. The output
// depends only on p.
func WritePlanHTML(w io.Writer, p PlanPage) error {
	d := planData{Title: "cicada plan " + p.Plan, Plan: p.Plan, Runs: len(p.Rows), Rows: rowViews(p.Rows, p.Links),
		RunsURL: p.Links.Base + "/runs?plan=" + url.QueryEscape(p.Plan)}
	if len(d.Rows) > 0 {
		d.Latest = d.Rows[0]
	}
	oldest := Oldest(p.Rows)
	for _, r := range oldest {
		if !Failed(r) {
			d.Passed++
		}
	}
	d.Summary = summary(oldest)
	points := make([]report.TrendPoint, len(oldest))
	for i, label := range axisLabels(oldest) {
		r := oldest[i]
		points[i] = report.TrendPoint{Label: label, Href: p.Links.Report(r.RunID), Title: pointTitle(r), Failed: Failed(r)}
	}
	for _, c := range Charts {
		if !c.drawn(oldest) {
			continue
		}
		series := make([][]float64, len(c.Names))
		for s := range series {
			series[s] = make([]float64, len(oldest))
		}
		for i, r := range oldest {
			for s, v := range c.Values(r) {
				series[s][i] = v
			}
		}
		svg, err := report.TrendChart(points, series, c.Names, c.Axis)
		if err != nil {
			return fmt.Errorf("trend page of plan %q: %w", p.Plan, err)
		}
		d.Charts = append(d.Charts, chartView{ID: c.ID, Heading: c.Heading, Note: c.Note, SVG: svg})
	}
	return execute(w, "plan", d, "trend page of plan "+strconv.Quote(p.Plan))
}

// summary says how p99 and capacity moved from the first run shown to the
// last.
func summary(oldest []index.Row) []string {
	var out []string
	p99 := make([]float64, len(oldest))
	capacity := make([]float64, len(oldest))
	for i, r := range oldest {
		p99[i], capacity[i] = r.P99MS, Capacity(r)
	}
	if pct, ok := Change(p99); ok {
		out = append(out, fmt.Sprintf("p99 %+.1f%% from the first run shown to the last", pct))
	}
	if pct, ok := Change(capacity); ok {
		out = append(out, fmt.Sprintf("capacity %+.1f%% from the first run shown to the last", pct))
	}
	return out
}

// pointTitle is a point's tooltip: the run, its verdict and why, and its
// key figures.
func pointTitle(r index.Row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s · %s · %s", r.RunID, r.Start.UTC().Format("2006-01-02 15:04 MST"), badge(r.Verdict).Text)
	for _, why := range r.Reasons {
		fmt.Fprintf(&b, "\n%s", why)
	}
	fmt.Fprintf(&b, "\np50 %s ms · p99 %s ms · errors %s%% · %s req/s", num(r.P50MS), num(r.P99MS), num(100*r.ErrorRate), num(r.AchievedRate))
	if r.Accuracy != nil {
		fmt.Fprintf(&b, " · accuracy %s%%", num(100**r.Accuracy))
	}
	if r.MaxRateUnderSLO != nil {
		fmt.Fprintf(&b, " · capacity %s req/s", num(*r.MaxRateUnderSLO))
	}
	return b.String()
}

// RunsPage is what the runs list shows.
type RunsPage struct {
	// Rows are the runs, newest first (index.List).
	Rows []index.Row
	// Filters describe the selection ("plan nightly, verdict fail"); empty
	// for every run.
	Filters string
	// NextURL is the next page's link; empty on the last page.
	NextURL string
	Links   Links
}

type runsData struct {
	Title, Filters, NextURL string
	Rows                    []rowView
}

// WriteRunsHTML writes the runs list: a table of runs with their verdict,
// key figures and links to their live view, report and plan, and a link
// to the next page.
func WriteRunsHTML(w io.Writer, p RunsPage) error {
	d := runsData{Title: "cicada runs", Filters: p.Filters, NextURL: p.NextURL, Rows: rowViews(p.Rows, p.Links)}
	for i := range d.Rows {
		d.Rows[i].PlanChanged = false // only meaningful within one plan's page
	}
	if p.Filters != "" {
		d.Title += " · " + p.Filters
	}
	return execute(w, "runs", d, "runs page")
}

func execute(w io.Writer, name string, data any, what string) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}
