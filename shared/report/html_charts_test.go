package report

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/go-analyze/charts"

	"github.com/cicadaload/cicada/shared/browsertest"
)

// chartSection returns chart id's markup from its heading to the end of
// its <svg>.
func chartSection(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<div class="chart" id="` + id + `">(?s:.*?)</svg>`).FindString(page)
	if m == "" {
		t.Fatalf("page lacks chart %s", id)
	}
	return m
}

// svgLabels returns the text of chart id's <text> elements: legend, axis
// titles and tick labels.
func svgLabels(t *testing.T, page, id string) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile(`<text[^>]*>([^<]*)</text>`).FindAllStringSubmatch(chartSection(t, page, id), -1) {
		out = append(out, m[1])
	}
	return out
}

// gapMarker matches the filled shapes of the rate chart's "no report"
// markers, legend included; one path may hold several diamonds.
var gapMarker = regexp.MustCompile(`<path d="([^"]*)" style="[^"]*fill:rgb\(207,34,46\)"`)

// gapMarkers counts the diamonds drawn in the gap colour.
func gapMarkers(section string) int {
	var n int
	for _, m := range gapMarker.FindAllStringSubmatch(section, -1) {
		n += strings.Count(m[1], "M ")
	}
	return n
}

// decodedReport is rep as the live view sees it: report.json (or
// live.json) read back, without histograms or merged slice results.
func decodedReport(t *testing.T, rep *Report) *Report {
	t.Helper()
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	out, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatalf("decode report.json: %v", err)
	}
	if out.SliceResults != nil || out.Total != nil {
		t.Fatal("a decoded report kept SliceResults or Total: the test no longer covers the live view")
	}
	return out
}

func TestHTMLLatencyAxisIsLogarithmic(t *testing.T) {
	t.Parallel()
	// The fixture's slice 3 holds 5 s timeouts while p50 is about 2 ms: on
	// a linear axis p50..p99 would lie on its floor.
	page := writeHTML(t, filesReport(t), filesPlanJSON, HTMLOptions{})
	for _, id := range []string{"chart-latency", "chart-percentiles"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			got := strings.Join(svgLabels(t, page, id), "|")
			for _, want := range []string{"latency (log)", "|1ms|", "|10ms|", "|100ms|", "|1s|", "|10s|"} {
				if !strings.Contains("|"+got+"|", want) {
					t.Errorf("%s labels %q lack %q", id, got, want)
				}
			}
		})
	}
}

func TestHTMLRateChartMarksGaps(t *testing.T) {
	t.Parallel()
	edges := edgeReports(t)
	tests := []struct {
		name string
		rep  *Report
		// markers is the number of gap markers, the legend's included.
		markers int
	}{
		{"one whole gap of six slices", filesReport(t), 1 + 1},
		{"every slice a gap", edges["only gaps"], 1 + 3},
		{"no gap", edges["single slice"], 0},
		{"no slices", edges["empty"], 0},
		{"decoded from JSON", decodedReport(t, filesReport(t)), 1 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rate := chartSection(t, writeHTML(t, tt.rep, nil, HTMLOptions{}), "chart-rate")
			if got := gapMarkers(rate); got != tt.markers {
				t.Errorf("rate chart has %d gap markers (legend included), want %d", got, tt.markers)
			}
			if got, want := strings.Contains(rate, ">no report<"), tt.markers > 0; got != want {
				t.Errorf("rate chart legend has \"no report\" = %v, want %v", got, want)
			}
		})
	}
}

func TestHTMLDecodedReportDrawsFromRows(t *testing.T) {
	t.Parallel()
	full := filesReport(t)
	want := writeHTML(t, full, filesPlanJSON, HTMLOptions{})
	for _, live := range []bool{true, false} {
		name := "report.json read back"
		if live {
			name = "live view"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			page := writeHTML(t, decodedReport(t, full), filesPlanJSON, HTMLOptions{Live: live, RefreshSeconds: 5})
			browsertest.CheckWellFormed(t, page)
			if got, want := strings.Count(page, "<svg"), len(chartIDs); got != want {
				t.Errorf("%d <svg> elements, want %d", got, want)
			}
			if strings.Contains(page, "NaN") {
				t.Error("page shows NaN")
			}
			// The rows hold everything the rate and latency charts draw:
			// without the merged results they must come out the same.
			for _, id := range []string{"chart-rate", "chart-latency"} {
				if got, want := chartSection(t, page, id), chartSection(t, want, id); got != want {
					t.Errorf("%s of the decoded report differs from the built report's:\n got %s\nwant %s", id, got, want)
				}
			}
			errs := chartSection(t, page, "chart-errors")
			if !strings.Contains(errs, ">errors<") || strings.Contains(errs, "no failed requests") {
				t.Errorf("errors chart of the decoded report does not draw the rows' errors:\n%s", errs)
			}
			hdr := chartSection(t, page, "chart-percentiles")
			if !strings.Contains(hdr, "the summary&#39;s p50") {
				t.Errorf("percentile chart of the decoded report does not say it draws the summary:\n%s", hdr)
			}
			// Five summary percentiles, each a marked point.
			if got := strings.Count(hdr, "<circle"); got < 5 {
				t.Errorf("percentile chart of the decoded report has %d circles, want the 5 summary points", got)
			}
		})
	}
}

func TestLogScale(t *testing.T) {
	t.Parallel()
	null := charts.GetNullValue()
	tests := []struct {
		name   string
		series [][]float64
		lo, hi int
	}{
		{"p50 of 2 ms, a 5 s max", [][]float64{{2.1, 1.9, null}, {5000, 12}}, 0, 4},
		{"below a millisecond", [][]float64{{0.35, 0.9}}, -1, 0},
		{"one decade exactly", [][]float64{{10, 100}}, 1, 2},
		{"a single value spans one decade", [][]float64{{10}}, 1, 2},
		{"zeros and nulls are not data", [][]float64{{0, null, math.NaN(), math.Inf(1)}}, 0, 1},
		{"no data", nil, 0, 1},
		{"clamped to the recorder's range", [][]float64{{1e-9, 1e12}}, -3, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newLogScale(tt.series)
			if s.lo != tt.lo || s.hi != tt.hi {
				t.Fatalf("newLogScale = [%d, %d], want [%d, %d]", s.lo, s.hi, tt.lo, tt.hi)
			}
			for i, vals := range s.apply(tt.series) {
				for j, v := range vals {
					in := tt.series[i][j]
					switch {
					case in == null || math.IsNaN(in):
						if v != null {
							t.Errorf("apply(%v) = %v, want null", in, v)
						}
					case v < float64(s.lo) || v > float64(s.hi):
						t.Errorf("apply(%v) = %v, outside the axis [%d, %d]", in, v, s.lo, s.hi)
					}
				}
			}
		})
	}
}

func TestDurationLabel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ms   float64
		want string
	}{
		{0.001, "1µs"},
		{0.1, "100µs"},
		{math.Pow(10, -0.9999999), "100µs"}, // float noise of an axis position
		{1, "1ms"},
		{math.Pow(10, 1.0/3), "2.2ms"},
		{100, "100ms"},
		{1000, "1s"},
		{math.Pow(10, 3.9999999), "10s"},
		{1e5, "100s"},
		{0, "0"},
		{math.NaN(), "0"},
	}
	for _, tt := range tests {
		if got := durationLabel(tt.ms); got != tt.want {
			t.Errorf("durationLabel(%v) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}
