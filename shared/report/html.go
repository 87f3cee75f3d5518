package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/go-analyze/charts"

	"github.com/cicadaload/cicada/shared/redact"
)

// HTMLOptions tunes WriteHTML.
type HTMLOptions struct {
	// RefreshSeconds, when positive, makes the page reload itself every so
	// many seconds: the trigger's live view of a running run uses it.
	RefreshSeconds int
	// Title is the page's title; empty means "cicada run <run id>".
	Title string
	// Live marks the report as a run still going: the page says so instead
	// of showing a verdict.
	Live bool
}

// reportHTML is the page, a html/template. Everything it needs is inline:
// CSS in the template, charts as SVG; it links to nothing.
//
//go:embed report.html.tmpl
var reportHTML string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":      func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) },
	"num":     numString,
	"fixed1":  func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"pct":     func(v float64) string { return strconv.FormatFloat(100*v, 'f', 2, 64) + "%" },
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"sloList": sloList,
	"accuracy": func(v *float64) string {
		if v == nil {
			return "n/a"
		}
		return strconv.FormatFloat(100**v, 'f', 2, 64) + "%"
	},
	"perRequest": func(instances, completed int64) string {
		return strconv.FormatFloat(float64(instances)/float64(max(completed, 1)), 'f', 2, 64)
	},
}).Parse(reportHTML))

// numString formats a figure to the report's precision of three decimals;
// a value that is not a number shows as "n/a", never as NaN.
func numString(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// chart is one rendered chart: its id (for tests and anchors), heading and
// inline SVG.
type chart struct {
	ID, Heading, Note string
	SVG               template.HTML
}

type outcomeRow struct {
	Key     string
	Count   int64
	Share   float64
	Success bool
}

// coverageGrid is the shards × slices map: Cells[shard][slice].
type coverageGrid struct {
	// PerShard is true when the report says which shard missed which slice
	// (the pipeline's coverage); otherwise one row counts shards per slice.
	PerShard bool
	Slices   []int
	Rows     []coverageRow
	Missing  int
	Expected int
}

type coverageRow struct {
	Label string
	Cells []coverageCell
}

type coverageCell struct {
	Class, Title, Text string
}

type htmlData struct {
	Title          string
	RefreshSeconds int
	Live           bool
	Report         *Report
	Verdict        string
	VerdictClass   string
	Duration       string
	Charts         []chart
	Outcomes       []outcomeRow
	Coverage       coverageGrid
	Plan           string
	GeneratedBy    string
	// Predictions is the per-slice table of instances, accuracy and text
	// lengths; nil for a run with none of them to show.
	Predictions *predictionTable
	// Search is the capacity search section; nil without load.search.
	Search *searchView
}

// predictionTable is the per-slice table of the prediction figures; a
// column shows only when the run has it.
type predictionTable struct {
	Instances, Accuracy, TextChars bool
	Rows                           []predictionRow
}

// Columns counts the columns after slice and start, which a gap's row
// spans.
func (t *predictionTable) Columns() int {
	n := 1
	if t.Instances {
		n += 2
	}
	if t.Accuracy {
		n += 3
	}
	if t.TextChars {
		n += 3
	}
	return n
}

type predictionRow struct {
	Index   int
	Offset  string
	Present bool
	Row     SliceRow
}

// WriteHTML writes rep as one self-contained HTML page: the verdict, key
// figures, charts as inline SVG, the outcome, threshold, coverage and
// comparison tables, and the plan. The page fetches nothing when opened (no
// scripts, fonts or images from anywhere), so it renders from a file on a
// machine offline. The output depends only on its arguments. planJSON is
// the plan shown, with its credentials redacted (redact.PlanJSON); success
// is its rule (plan.Target.Success), which marks each outcome a success or
// an error class.
func WriteHTML(w io.Writer, rep *Report, planJSON []byte, success func(outcome string) bool, opt HTMLOptions) error {
	if rep == nil {
		return fmt.Errorf("write html report: no report")
	}
	if success == nil {
		return fmt.Errorf("write html report %s: no success rule", rep.RunID)
	}
	data, err := buildHTMLData(rep, planJSON, success, opt)
	if err != nil {
		return fmt.Errorf("write html report %s: %w", rep.RunID, err)
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, data); err != nil {
		return fmt.Errorf("write html report %s: %w", rep.RunID, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write html report %s: %w", rep.RunID, err)
	}
	return nil
}

func buildHTMLData(rep *Report, planJSON []byte, success func(string) bool, opt HTMLOptions) (*htmlData, error) {
	d := &htmlData{
		Title:          opt.Title,
		RefreshSeconds: max(opt.RefreshSeconds, 0),
		Live:           opt.Live,
		Report:         rep,
		Duration:       rep.End.Sub(rep.Start).Round(time.Millisecond).String(),
		Plan:           prettyPlan(planJSON),
	}
	if d.Title == "" {
		d.Title = "cicada run " + rep.RunID
	}
	switch {
	case opt.Live:
		d.Verdict, d.VerdictClass = "running", "running"
	case rep.Verdict == VerdictPass:
		d.Verdict, d.VerdictClass = "PASS", "pass"
	case rep.Verdict == VerdictFail:
		d.Verdict, d.VerdictClass = "FAIL", "fail"
	case rep.Verdict == VerdictIncomplete:
		d.Verdict, d.VerdictClass = "INCOMPLETE", "incomplete"
	case rep.Verdict == VerdictError:
		d.Verdict, d.VerdictClass = "ERROR", "fail"
	default:
		d.Verdict, d.VerdictClass = "no verdict", "running"
	}

	for _, k := range outcomeKeys(rep.Summary.Outcomes) {
		n := rep.Summary.Outcomes[k]
		d.Outcomes = append(d.Outcomes, outcomeRow{Key: k, Count: n, Share: ratio(n, rep.Summary.Completed), Success: success(k)})
	}
	d.Coverage = buildCoverage(rep)
	d.Predictions = buildPredictions(rep)
	search, err := buildSearch(rep)
	if err != nil {
		return nil, err
	}
	d.Search = search

	builders := []func(*Report, func(string) bool) (chart, error){rateChart, latencyChart, errorsChart, percentileChart}
	if hasAccuracy(rep) {
		builders = append(builders, accuracyChart)
	}
	for _, b := range builders {
		c, err := b(rep, success)
		if err != nil {
			return nil, err
		}
		d.Charts = append(d.Charts, c)
	}
	return d, nil
}

// hasAccuracy reports whether any prediction of the run was checked.
func hasAccuracy(rep *Report) bool {
	if rep.Summary.Accuracy != nil {
		return true
	}
	for _, row := range rep.Slices {
		if row.Accuracy != nil {
			return true
		}
	}
	return false
}

// buildPredictions makes the per-slice table of instances, accuracy and
// text lengths, nil when the run has none of them worth a table (one text
// per request, nothing checked, no lengths: a report from before they
// existed).
func buildPredictions(rep *Report) *predictionTable {
	t := &predictionTable{
		Instances: rep.Summary.ShowInstances(rep.Summary.Completed),
		Accuracy:  hasAccuracy(rep),
		TextChars: rep.Summary.TextChars != nil,
	}
	for _, row := range rep.Slices {
		t.Instances = t.Instances || row.ShowInstances(row.Completed)
		t.TextChars = t.TextChars || row.TextChars != nil
	}
	if !t.Instances && !t.Accuracy && !t.TextChars {
		return nil
	}
	labels := sliceLabels(rep)
	for i, row := range rep.Slices {
		t.Rows = append(t.Rows, predictionRow{Index: row.Index, Offset: labels[i], Present: present(rep, i), Row: row})
	}
	return t
}

// prettyPlan indents the plan's JSON, its credential headers and URL query
// values redacted; input that is not JSON is shown redacted as text.
func prettyPlan(planJSON []byte) string {
	if len(planJSON) == 0 {
		return ""
	}
	planJSON = redact.PlanJSON(planJSON)
	var buf bytes.Buffer
	if err := json.Indent(&buf, planJSON, "", "  "); err != nil {
		return string(planJSON)
	}
	return buf.String()
}

// Chart geometry: wide enough for a few dozen slice labels, short enough
// that four charts fit a laptop screen two at a time.
const (
	chartWidth  = 1100
	chartHeight = 340
)

// sliceLabels names each slice by its offset from the run's start, so the
// axis reads as time.
func sliceLabels(rep *Report) []string {
	labels := make([]string, len(rep.Slices))
	for i, row := range rep.Slices {
		labels[i] = "+" + row.Start.Sub(rep.Start).Round(time.Second).String()
	}
	return labels
}

// present reports whether slice i has any result; gaps are drawn as breaks
// in the lines, not as zeros. A report decoded from JSON (live.json, or
// report.json read back) has no SliceResults, so its rows' shard counts
// decide.
func present(rep *Report, i int) bool {
	if rep.SliceResults == nil {
		return i < len(rep.Slices) && rep.Slices[i].ShardsReporting > 0
	}
	return i < len(rep.SliceResults) && rep.SliceResults[i] != nil
}

func rateChart(rep *Report, _ func(string) bool) (chart, error) {
	planned := make([]float64, len(rep.Slices))
	achieved := make([]float64, len(rep.Slices))
	gaps := make([]float64, len(rep.Slices))
	var gapCount int
	for i, row := range rep.Slices {
		planned[i] = finite(row.PlannedRPS)
		achieved[i] = charts.GetNullValue()
		gaps[i] = charts.GetNullValue()
		if present(rep, i) {
			achieved[i] = finite(row.RPS)
		} else {
			// A gap is unknown, not zero: the line breaks there and a
			// marker on the axis says why, since a break between two
			// points alone is easy to miss.
			gaps[i] = 0
			gapCount++
		}
	}
	series := [][]float64{planned, achieved}
	names := []string{"planned", "achieved"}
	note := "requests per second, per slice"
	if gapCount > 0 {
		series = append(series, gaps)
		names = append(names, "no report")
		note += fmt.Sprintf("; %d slice(s) that no shard reported are marked on the axis, not drawn as zero", gapCount)
	}
	svg, err := lineSVG(sliceLabels(rep), series, names, linearAxis("req/s"), func(opt *charts.LineChartOption) {
		opt.SeriesList[1].Symbol = pointSymbol(len(rep.Slices))
		if gapCount > 0 {
			opt.SeriesList[2].Symbol = charts.Symbol{Shape: charts.SymbolDiamond, Size: 4}
			// Missing is red, as in the coverage table.
			theme := charts.GetTheme(charts.ThemeLight)
			opt.Theme = theme.WithSeriesColors([]charts.Color{theme.GetSeriesColor(0), theme.GetSeriesColor(1), gapColor})
		}
	})
	return chart{ID: "chart-rate", Heading: "Achieved vs planned rate", Note: note, SVG: svg}, err
}

func latencyChart(rep *Report, _ func(string) bool) (chart, error) {
	names := []string{"p50", "p90", "p99", "max"}
	series := make([][]float64, len(names))
	for s := range series {
		series[s] = make([]float64, len(rep.Slices))
	}
	for i, row := range rep.Slices {
		p := row.LatencyMS
		vals := []float64{p.P50, p.P90, p.P99, p.Max}
		for s := range series {
			series[s][i] = charts.GetNullValue()
			if present(rep, i) {
				series[s][i] = finite(vals[s])
			}
		}
	}
	// A log axis: one 5 s timeout in max would otherwise flatten p50..p99
	// to the floor of a linear one.
	scale := newLogScale(series)
	svg, err := lineSVG(sliceLabels(rep), scale.apply(series), names, scale.axis(), func(opt *charts.LineChartOption) {
		opt.Symbol = pointSymbol(len(rep.Slices))
	})
	return chart{ID: "chart-latency", Heading: "Latency percentiles over time",
		Note: "from the intended send time, per slice (merged across shards); log scale", SVG: svg}, err
}

func errorsChart(rep *Report, success func(string) bool) (chart, error) {
	classes := errorClasses(rep, success)
	series := make([][]float64, 0, len(classes))
	note := "failed requests per slice, by outcome"
	if rep.SliceResults == nil && len(classes) > 0 {
		// Rows do not keep outcomes per slice: a report decoded from JSON
		// shows its errors in one class.
		vals := make([]float64, len(rep.Slices))
		for i, row := range rep.Slices {
			vals[i] = float64(max(row.Errors, 0))
		}
		series, classes = [][]float64{vals}, []string{"errors"}
		note = "failed requests per slice (the outcome table splits them by outcome)"
	} else {
		for _, k := range classes {
			vals := make([]float64, len(rep.Slices))
			for i := range rep.Slices {
				if present(rep, i) {
					vals[i] = float64(rep.SliceResults[i].Outcomes[k])
				}
			}
			series = append(series, vals)
		}
	}
	if len(classes) == 0 {
		// An empty chart still shows the time axis: no errors is a finding.
		series = [][]float64{make([]float64, len(rep.Slices))}
		classes = []string{"errors"}
		note = "no failed requests"
	}
	svg, err := barSVG(sliceLabels(rep), series, classes)
	return chart{ID: "chart-errors", Heading: "Errors by outcome over time", Note: note, SVG: svg}, err
}

// accuracyChart draws each slice's accuracy: a model that degrades under
// load shows as a falling line while the latency lines stay flat.
func accuracyChart(rep *Report, _ func(string) bool) (chart, error) {
	vals := make([]float64, len(rep.Slices))
	lowest := 100.0
	for i, row := range rep.Slices {
		vals[i] = charts.GetNullValue()
		if row.Accuracy != nil && present(rep, i) {
			vals[i] = finite(100 * *row.Accuracy)
			lowest = min(lowest, vals[i])
		}
	}
	// The axis ends at 100 % and starts at the ten below the lowest
	// slice, so that 92 % against 95 % is told apart, not squeezed into
	// the top of a 0..100 axis.
	floor := max(math.Floor(lowest/10)*10-10, 0)
	axis := charts.YAxisOption{Title: "accuracy %", Min: charts.Ptr(floor), Max: charts.Ptr(100.0)}
	svg, err := lineSVG(sliceLabels(rep), [][]float64{vals}, []string{"accuracy"}, axis, func(opt *charts.LineChartOption) {
		opt.SeriesList[0].Symbol = pointSymbol(len(rep.Slices))
	})
	note := "checked predictions that matched, per slice"
	if a := rep.Summary.Accuracy; a != nil {
		note += fmt.Sprintf("; %s%% over the run (%d of %d checked)",
			strconv.FormatFloat(100**a, 'f', 2, 64), rep.Summary.Correct, rep.Summary.Checked)
	}
	return chart{ID: "chart-accuracy", Heading: "Accuracy over time", Note: note, SVG: svg}, err
}

// Percentile ladder of the HDR plot: pointsPerDecade points per decade of
// 1/(1-q), evenly spaced on that log scale, so that an evenly spaced
// category axis is the classic HdrHistogram percentile axis.
const pointsPerDecade = 10

func percentileChart(rep *Report, _ func(string) bool) (chart, error) {
	var h *hdrhistogram.Histogram
	if rep.Total != nil {
		h = rep.Total.Latency
	}
	var count int64
	if h != nil {
		count = h.TotalCount()
	}
	// Show as many nines as the data can support (one more than its count
	// has digits would be noise), at least to 99.99%.
	decades := 4
	if count > 0 {
		decades = min(max(decades, int(math.Ceil(math.Log10(float64(count))))), 6)
	}
	n := decades*pointsPerDecade + 1
	labels := make([]string, n)
	values := make([]float64, n)
	for i := range n {
		x := float64(i) / pointsPerDecade
		q := 1 - math.Pow(10, -x)
		if i%pointsPerDecade == 0 {
			labels[i] = percentLabel(i / pointsPerDecade)
		}
		values[i] = charts.GetNullValue()
		if count > 0 {
			values[i] = float64(h.ValueAtQuantile(100*q)) / 1000
		}
	}
	note := fmt.Sprintf("whole run, merged histogram of %d requests; x axis on the 1/(1-q) log scale, y axis log scale", count)
	symbol := charts.Symbol{Shape: charts.SymbolNone}
	if count == 0 && rep.Summary.Completed > 0 {
		// A report decoded from JSON has no histogram, only the summary's
		// percentiles: they are drawn as points where they sit on the
		// ladder, not joined, since the curve between them is unknown.
		p := rep.Summary.LatencyMS
		for _, pt := range []struct{ q, v float64 }{{0.5, p.P50}, {0.9, p.P90}, {0.95, p.P95}, {0.99, p.P99}, {0.999, p.P999}} {
			if i := int(math.Round(-math.Log10(1-pt.q) * pointsPerDecade)); i < n {
				values[i] = finite(pt.v)
			}
		}
		symbol = charts.Symbol{Shape: charts.SymbolCircle, Size: 3}
		note = fmt.Sprintf("whole run, the summary's p50, p90, p95, p99 and p99.9 of %d requests (no histogram in this view); log scales", rep.Summary.Completed)
	}
	series := [][]float64{values}
	scale := newLogScale(series)
	svg, err := lineSVG(labels, scale.apply(series), []string{"latency"}, scale.axis(), func(opt *charts.LineChartOption) {
		opt.XAxis.LabelCount = decades + 1
		opt.SeriesList[0].Symbol = symbol
	})
	return chart{ID: "chart-percentiles", Heading: "Latency by percentile (HDR)", Note: note, SVG: svg}, err
}

// percentLabel names decade d of the percentile axis: 0%, 90%, 99%, 99.9%...
func percentLabel(d int) string {
	if d == 0 {
		return "0%"
	}
	return strings.TrimSuffix(strconv.FormatFloat(100-100*math.Pow(10, -float64(d)), 'f', max(d-2, 0), 64), ".") + "%"
}

// Bounds of the latency log axis, in decades of milliseconds: the
// recorder's resolution is 1 µs and its range ends at 60 s.
const (
	logFloorDecade = -3
	logCeilDecade  = 5
)

// logScale is a logarithmic latency axis. The chart library draws linear
// value axes only, so values are plotted as their log10 and the axis
// labels turn positions back into durations; that is all a log axis is.
type logScale struct {
	// lo and hi are the decades of milliseconds the axis spans.
	lo, hi int
}

// newLogScale spans the whole decades that hold every positive value of
// series, at least one.
func newLogScale(series [][]float64) logScale {
	minV, maxV := math.Inf(1), math.Inf(-1)
	for _, vals := range series {
		for _, v := range vals {
			if v > 0 && v != charts.GetNullValue() && !math.IsInf(v, 0) {
				minV, maxV = min(minV, v), max(maxV, v)
			}
		}
	}
	if math.IsInf(minV, 1) {
		return logScale{lo: 0, hi: 1} // no data: 1 ms to 10 ms
	}
	lo := int(math.Floor(math.Log10(minV)))
	hi := int(math.Ceil(math.Log10(maxV)))
	lo = min(max(lo, logFloorDecade), logCeilDecade-1)
	hi = min(max(hi, lo+1), logCeilDecade)
	return logScale{lo: lo, hi: hi}
}

// apply maps series to axis positions; nulls stay nulls and values at or
// below the floor (zero) sit on the axis's bottom.
func (s logScale) apply(series [][]float64) [][]float64 {
	out := make([][]float64, len(series))
	for i, vals := range series {
		out[i] = make([]float64, len(vals))
		for j, v := range vals {
			switch {
			case v == charts.GetNullValue() || math.IsNaN(v):
				out[i][j] = charts.GetNullValue()
			case v <= 0:
				out[i][j] = float64(s.lo)
			default:
				out[i][j] = min(max(math.Log10(v), float64(s.lo)), float64(s.hi))
			}
		}
	}
	return out
}

// axis labels each decade; an axis of one decade gets thirds of it too, so
// that it has more than its two ends.
func (s logScale) axis() charts.YAxisOption {
	steps := s.hi - s.lo
	if steps == 1 {
		steps = 3
	}
	return charts.YAxisOption{
		Title:               "latency (log)",
		Min:                 charts.Ptr(float64(s.lo)),
		Max:                 charts.Ptr(float64(s.hi)),
		LabelCount:          steps + 1,
		PreferNiceIntervals: charts.Ptr(false),
		ValueFormatter:      func(v float64) string { return durationLabel(math.Pow(10, v)) },
	}
}

// durationLabel writes a millisecond value to two significant digits in
// the unit that reads best: 100µs, 2.2ms, 10s.
func durationLabel(ms float64) string {
	if ms <= 0 || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return "0"
	}
	e := math.Pow(10, math.Floor(math.Log10(ms))-1)
	ms = math.Round(ms/e) * e
	v, unit := ms, "ms"
	switch {
	case ms < 1:
		v, unit = ms*1000, "µs"
	case ms >= 1000:
		v, unit = ms/1000, "s"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + unit
}

// gapColor marks slices nobody reported: the coverage table's red.
var gapColor = charts.Color{R: 0xcf, G: 0x22, B: 0x2e, A: 0xff}

// pointSymbol marks each point of a per-slice line while the points are
// far enough apart to tell, so that a slice between two gaps shows as more
// than a speck; a long run gets bare lines.
func pointSymbol(slices int) charts.Symbol {
	if slices > maxMarkedSlices {
		return charts.Symbol{Shape: charts.SymbolNone}
	}
	return charts.Symbol{Shape: charts.SymbolCircle, Size: 3}
}

// maxMarkedSlices keeps marked points about 18 px apart on the chart.
const maxMarkedSlices = 60

// linearAxis is a value axis from zero.
func linearAxis(title string) charts.YAxisOption {
	return charts.YAxisOption{Title: title, Min: charts.Ptr(0.0)}
}

// lineSVG draws a line chart; tune, if not nil, adjusts the options last.
func lineSVG(labels []string, series [][]float64, names []string, yAxis charts.YAxisOption, tune func(*charts.LineChartOption)) (template.HTML, error) {
	labels, series = atLeastOnePoint(labels, series)
	opt := charts.NewLineChartOptionWithData(series)
	opt.XAxis.Labels = labels
	opt.XAxis.BoundaryGap = charts.Ptr(false)
	opt.Legend.SeriesNames = names
	opt.Legend.Offset = charts.OffsetRight
	opt.YAxis = []charts.YAxisOption{yAxis}
	opt.LineStrokeWidth = 2
	opt.Symbol = charts.Symbol{Shape: charts.SymbolNone}
	if tune != nil {
		tune(&opt)
	}
	p := newPainter()
	if err := p.LineChart(opt); err != nil {
		return "", fmt.Errorf("draw line chart: %w", err)
	}
	return svgBytes(p)
}

func barSVG(labels []string, series [][]float64, names []string) (template.HTML, error) {
	labels, series = atLeastOnePoint(labels, series)
	opt := charts.NewBarChartOptionWithData(series)
	opt.CategoryAxis.Labels = labels
	opt.Legend.SeriesNames = names
	opt.Legend.Offset = charts.OffsetRight
	opt.StackSeries = charts.Ptr(true)
	opt.ValueAxis = []charts.ValueAxisOption{{Title: "requests", Min: charts.Ptr(0.0)}}
	p := newPainter()
	if err := p.BarChart(opt); err != nil {
		return "", fmt.Errorf("draw bar chart: %w", err)
	}
	return svgBytes(p)
}

// atLeastOnePoint gives an empty run one empty point, so that its charts
// still draw their axes instead of failing.
func atLeastOnePoint(labels []string, series [][]float64) ([]string, [][]float64) {
	if len(labels) > 0 {
		return labels, series
	}
	out := make([][]float64, len(series))
	for i := range out {
		out[i] = []float64{0}
	}
	return []string{"no data"}, out
}

func newPainter() *charts.Painter {
	return charts.NewPainter(charts.PainterOptions{
		OutputFormat: charts.ChartOutputSVG,
		Width:        chartWidth,
		Height:       chartHeight,
		Theme:        charts.GetTheme(charts.ThemeLight),
	})
}

func svgBytes(p *charts.Painter) (template.HTML, error) {
	b, err := p.Bytes()
	if err != nil {
		return "", fmt.Errorf("render svg: %w", err)
	}
	// The library's SVG is markup it generated from numbers and our own
	// labels, which it escapes; it is inlined as is.
	return template.HTML(b), nil //nolint:gosec // generated SVG, see above
}

// finite maps NaN and ±Inf, which no chart can place, to zero.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func buildCoverage(rep *Report) coverageGrid {
	g := coverageGrid{Slices: make([]int, len(rep.Slices))}
	for i := range rep.Slices {
		g.Slices[i] = i
	}
	if rep.Coverage != nil {
		g.PerShard = true
		g.Expected = rep.Coverage.Expected
		missing := map[ShardSlice]bool{}
		for _, m := range rep.Coverage.Missing {
			missing[m] = true
		}
		g.Missing = len(rep.Coverage.Missing)
		for shard := range max(rep.Shards, 0) {
			row := coverageRow{Label: "shard " + strconv.Itoa(shard)}
			for k := range rep.Slices {
				c := coverageCell{Class: "ok", Title: fmt.Sprintf("shard %d slice %d: received", shard, k)}
				if missing[ShardSlice{Shard: shard, Slice: k}] {
					c = coverageCell{Class: "gap", Title: fmt.Sprintf("shard %d slice %d: missing", shard, k), Text: "✕"}
				}
				row.Cells = append(row.Cells, c)
			}
			g.Rows = append(g.Rows, row)
		}
		return g
	}
	// Without the pipeline's coverage only the count of shards per slice is
	// known, not which shard is missing.
	row := coverageRow{Label: "shards reporting"}
	for k, r := range rep.Slices {
		c := coverageCell{Class: "ok", Text: strconv.Itoa(r.ShardsReporting),
			Title: fmt.Sprintf("slice %d: %d of %d shards", k, r.ShardsReporting, rep.Shards)}
		switch {
		case r.ShardsReporting == 0:
			c.Class = "gap"
		case r.ShardsReporting < rep.Shards:
			c.Class = "partial"
		}
		if r.ShardsReporting < rep.Shards {
			g.Missing += rep.Shards - r.ShardsReporting
		}
		row.Cells = append(row.Cells, c)
	}
	g.Expected = rep.Shards * len(rep.Slices)
	g.Rows = append(g.Rows, row)
	return g
}
