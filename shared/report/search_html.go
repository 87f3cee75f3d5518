package report

import (
	"cmp"
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/go-analyze/charts"
)

// searchView is the HTML report's "Capacity search" section.
type searchView struct {
	Search   *Search
	Capacity string // FormatCapacity
	Chart    chart
	Probes   []probeRow
}

type probeRow struct {
	SearchProbe
	Rate, Achieved, P50, P99 string
	Class                    string // pass, fail or running, for the verdict cell's colour
}

// buildSearch makes the capacity search section; nil for a run without a
// search.
func buildSearch(rep *Report) (*searchView, error) {
	s := rep.Search
	if s == nil {
		return nil, nil
	}
	v := &searchView{Search: s, Capacity: FormatCapacity(s)}
	for _, p := range s.Probes {
		class := "running"
		switch p.Verdict {
		case ProbePass, ProbeUnstablePass:
			class = "pass"
		case ProbeFail, ProbeUnstableFail, ProbeIncomplete:
			class = "fail"
		}
		v.Probes = append(v.Probes, probeRow{SearchProbe: p, Rate: FormatRate(p.Rate), Achieved: FormatRate(p.AchievedRate),
			P50: FormatMS(p.P50MS), P99: FormatMS(p.P99MS), Class: class})
	}
	c, err := searchChart(s)
	if err != nil {
		return nil, err
	}
	v.Chart = c
	return v, nil
}

// judgedByRate returns the judged probes (held ones measured nothing), one
// per offered rate, the last judgment of a rate winning, by rate.
func judgedByRate(s *Search) []SearchProbe {
	var out []SearchProbe
	for _, p := range s.Probes {
		if p.Verdict == ProbeHeld {
			continue
		}
		if i := slices.IndexFunc(out, func(q SearchProbe) bool { return q.Rate == p.Rate }); i >= 0 {
			out[i] = p
			continue
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b SearchProbe) int { return cmp.Compare(a.Rate, b.Rate) })
	return out
}

// searchChart draws p50 and p99 latency (log scale, left axis) and the
// error rate (percent, right axis) against the offered rate of each judged
// probe, and marks the knee: the highest rate under the SLO.
func searchChart(s *Search) (chart, error) {
	probes := judgedByRate(s)
	labels := make([]string, len(probes))
	p50, p99, errs, knee := make([]float64, len(probes)), make([]float64, len(probes)), make([]float64, len(probes)), make([]float64, len(probes))
	kneeAt := -1
	for i, p := range probes {
		labels[i] = FormatRate(p.Rate)
		p50[i], p99[i], errs[i] = finite(p.P50MS), finite(p.P99MS), finite(100*p.ErrorRate)
		knee[i] = charts.GetNullValue()
		if s.MaxRateUnderSLO != nil && p.Rate == *s.MaxRateUnderSLO {
			kneeAt = i
		}
	}
	scale := newLogScale([][]float64{p50, p99})
	lat := scale.apply([][]float64{p50, p99})
	note := "each judged probe's window merged across shards: p50 and p99 latency (log scale, left) and error rate (right) against the offered rate (req/s, one point per probe rate)"
	if kneeAt >= 0 {
		knee[kneeAt] = lat[1][kneeAt]
		labels[kneeAt] += " (knee)"
		note += fmt.Sprintf("; the knee, max_rate_under_slo %s req/s, is marked on the p99 line", FormatRate(*s.MaxRateUnderSLO))
	}
	series := [][]float64{lat[0], lat[1], errs, knee}
	names := []string{"p50", "p99", "error rate %", "max rate under SLO"}
	svg, err := lineSVG(labels, series, names, scale.axis(), func(opt *charts.LineChartOption) {
		opt.Symbol = charts.Symbol{Shape: charts.SymbolCircle, Size: 3}
		opt.XAxis.LabelCount = len(labels) // every probe's rate: a search has few
		opt.SeriesList[2].YAxisIndex = 1
		opt.SeriesList[3].Symbol = charts.Symbol{Shape: charts.SymbolDiamond, Size: 10}
		opt.YAxis = append(opt.YAxis, charts.YAxisOption{Title: "error rate %", Min: charts.Ptr(0.0)})
	})
	return chart{ID: "chart-search", Heading: "Latency and errors against offered rate", Note: note, SVG: svg}, err
}

// sloList joins the SLO for the section's heading.
func sloList(slo []string) template.HTML {
	parts := make([]string, len(slo))
	for i, e := range slo {
		parts[i] = "<code>" + template.HTMLEscapeString(e) + "</code>"
	}
	return template.HTML(strings.Join(parts, ", ")) //nolint:gosec // escaped above
}
