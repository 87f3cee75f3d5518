package report

import (
	"fmt"
	"html/template"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-analyze/charts"
)

// TrendPoint is one run on a trend chart's axis: the charts of a plan's
// history (shared/trend) draw one point per run, oldest first.
type TrendPoint struct {
	// Label names the point on the axis, such as the run's date.
	Label string
	// Href is where the point links: the run's report.
	Href string
	// Title is the point's tooltip: the run, its verdict and why.
	Title string
	// Failed draws the point as a red diamond instead of a circle.
	Failed bool
}

// TrendAxis is the value axis of a trend chart.
type TrendAxis struct {
	// Title names the unit ("req/s", "%").
	Title string
	// Log draws latencies on the report's log axis (milliseconds), so that
	// one night of timeouts does not flatten every other night.
	Log bool
	// FromZero starts a linear axis at zero; otherwise it spans the values,
	// so that a drift of a few percent shows.
	FromZero bool
}

// trendMarkerRadius is the radius of the circles the library draws at the
// points of a trend chart. No other circle of a chart has it (the legend's
// are 5 and 2), so TrendChart finds its points' circles by it.
const trendMarkerRadius = 3.75

// TrendChart draws series over points as an inline SVG line chart, with
// the report's chart code and look. A NaN value is absent: the line breaks
// there. Every present value is a marker that links to its point's Href,
// with its Title as tooltip; a failed point's marker is a red diamond, and
// the legend then names the failed runs.
func TrendChart(points []TrendPoint, series [][]float64, names []string, axis TrendAxis) (template.HTML, error) {
	if len(series) == 0 || len(series) != len(names) {
		return "", fmt.Errorf("trend chart: %d series for %d names", len(series), len(names))
	}
	vals := make([][]float64, len(series))
	anyFailed := false
	for _, p := range points {
		anyFailed = anyFailed || p.Failed
	}
	for s, in := range series {
		if len(in) != len(points) {
			return "", fmt.Errorf("trend chart: series %s has %d values for %d points", names[s], len(in), len(points))
		}
		vals[s] = make([]float64, len(in))
		for i, v := range in {
			vals[s][i] = charts.GetNullValue()
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				vals[s][i] = v
			}
		}
	}
	yAxis := charts.YAxisOption{Title: axis.Title}
	if axis.FromZero {
		yAxis = linearAxis(axis.Title)
	}
	if axis.Log {
		scale := newLogScale(vals)
		vals = scale.apply(vals)
		yAxis = scale.axis()
		yAxis.Title = axis.Title
	}
	plotted := vals
	legend := names
	if anyFailed {
		// A series of no values, only for its entry in the legend: the
		// failed runs' diamonds are drawn over the real series below.
		none := make([]float64, len(points))
		for i := range none {
			none[i] = charts.GetNullValue()
		}
		plotted = append(append([][]float64{}, vals...), none)
		legend = append(append([]string{}, names...), "failed run")
	}
	labels := make([]string, len(points))
	for i, p := range points {
		labels[i] = p.Label
	}
	svg, err := lineSVG(labels, plotted, legend, yAxis, func(opt *charts.LineChartOption) {
		for s := range opt.SeriesList {
			opt.SeriesList[s].Symbol = charts.Symbol{Shape: charts.SymbolCircle, Size: trendMarkerRadius}
		}
		if anyFailed {
			opt.SeriesList[len(vals)].Symbol = charts.Symbol{Shape: charts.SymbolDiamond, Size: 4}
			theme := charts.GetTheme(charts.ThemeLight)
			colors := make([]charts.Color, 0, len(plotted))
			for s := range vals {
				colors = append(colors, theme.GetSeriesColor(s))
			}
			opt.Theme = theme.WithSeriesColors(append(colors, gapColor))
		}
	})
	if err != nil {
		return "", fmt.Errorf("trend chart %s: %w", strings.Join(names, ", "), err)
	}
	if len(points) == 0 {
		return svg, nil
	}
	return linkMarkers(svg, points, vals)
}

// markerCircle is a circle the library drew at a point of a series.
var markerCircle = regexp.MustCompile(`<circle cx="(-?\d+)" cy="(-?\d+)" r="` + regexp.QuoteMeta(strconv.FormatFloat(trendMarkerRadius, 'f', -1, 64)) + `" style="[^"]*"/>`)

// linkMarkers wraps each point's marker in a link to its run with its
// tooltip, and turns a failed run's marker into a red diamond. The library
// draws the markers series by series, each from the first point to the
// last, skipping absent values: the n-th circle is the n-th present value
// in that order, which the test of the chart holds it to.
func linkMarkers(svg template.HTML, points []TrendPoint, vals [][]float64) (template.HTML, error) {
	type at struct{ series, point int }
	var order []at
	for s, vs := range vals {
		for i, v := range vs {
			if v != charts.GetNullValue() {
				order = append(order, at{s, i})
			}
		}
	}
	src := string(svg)
	found := markerCircle.FindAllStringSubmatchIndex(src, -1)
	if len(found) != len(order) {
		return "", fmt.Errorf("trend chart: %d point markers drawn for %d values", len(found), len(order))
	}
	var b strings.Builder
	last := 0
	for n, m := range found {
		p := points[order[n].point]
		cx, cy := src[m[2]:m[3]], src[m[4]:m[5]]
		b.WriteString(src[last:m[0]])
		b.WriteString(`<a class="point" href="`)
		b.WriteString(template.HTMLEscapeString(p.Href))
		b.WriteString(`"><title>`)
		b.WriteString(template.HTMLEscapeString(p.Title))
		b.WriteString(`</title>`)
		if p.Failed {
			x, _ := strconv.Atoi(cx)
			y, _ := strconv.Atoi(cy)
			const d = 6
			fmt.Fprintf(&b, `<path class="failed" d="M %d %d L %d %d L %d %d L %d %d Z" style="stroke-width:1;stroke:white;fill:%s"/>`,
				x, y-d, x+d, y, x, y+d, x-d, y, svgColor(gapColor))
		} else {
			b.WriteString(src[m[0]:m[1]])
		}
		// A wider target than the marker, so that a point is easy to hover.
		fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="9" style="fill:transparent;stroke:none;pointer-events:all"/></a>`, cx, cy)
		last = m[1]
	}
	b.WriteString(src[last:])
	return template.HTML(b.String()), nil //nolint:gosec // the library's SVG with escaped links and titles
}

func svgColor(c charts.Color) string {
	return fmt.Sprintf("rgb(%d,%d,%d)", c.R, c.G, c.B)
}
