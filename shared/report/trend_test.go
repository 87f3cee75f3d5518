package report

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestTrendChart(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	points := []TrendPoint{
		{Label: "11-01", Href: "/runs/a/report.html", Title: "run a"},
		{Label: "11-02", Href: "/runs/b/report.html?x=1&y=2", Title: `run b <fail> "slow"`, Failed: true},
		{Label: "11-03", Href: "/runs/c/report.html", Title: "run c"},
	}
	tests := []struct {
		name    string
		series  [][]float64
		names   []string
		axis    TrendAxis
		links   int // markers linked
		failed  int // red diamonds
		wantErr bool
	}{
		{"two series", [][]float64{{1, 2, 3}, {10, 20, 30}}, []string{"p50", "p99"}, TrendAxis{Title: "latency", Log: true}, 6, 2, false},
		{"an absent value breaks the line", [][]float64{{1, nan, 3}}, []string{"accuracy"}, TrendAxis{Title: "%"}, 2, 0, false},
		{"equal values", [][]float64{{5, 5, 5}}, []string{"rate"}, TrendAxis{Title: "req/s"}, 3, 1, false},
		{"nothing present", [][]float64{{nan, nan, nan}}, []string{"capacity"}, TrendAxis{Title: "req/s"}, 0, 0, false},
		{"series of the wrong length", [][]float64{{1, 2}}, []string{"x"}, TrendAxis{}, 0, 0, true},
		{"names and series differ", [][]float64{{1, 2, 3}}, nil, TrendAxis{}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svg, err := TrendChart(points, tt.series, tt.names, tt.axis)
			if tt.wantErr {
				if err == nil {
					t.Fatal("TrendChart succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("TrendChart: %v", err)
			}
			page := string(svg)
			checkWellFormed(t, page)
			if got := strings.Count(page, `<a class="point"`); got != tt.links {
				t.Errorf("%d linked markers, want %d", got, tt.links)
			}
			if got := strings.Count(page, `class="failed"`); got != tt.failed {
				t.Errorf("%d failed markers, want %d", got, tt.failed)
			}
			if tt.failed > 0 && !strings.Contains(page, "failed run") {
				t.Error("the legend does not name the failed runs")
			}
			if tt.failed > 0 && !strings.Contains(page, `<title>run b &lt;fail&gt; &#34;slow&#34;</title>`) {
				t.Error("the failed run's tooltip is missing or not escaped")
			}
			if tt.links > 0 && !strings.Contains(page, `href="/runs/b/report.html?x=1&amp;y=2"`) && !math.IsNaN(tt.series[0][1]) {
				t.Error("the link is missing or not escaped")
			}
			if strings.Contains(page, "NaN") {
				t.Error("the chart shows NaN")
			}
		})
	}
}

// TestTrendChartMarkersInOrder holds linkMarkers to the library's drawing
// order: each linked marker sits at its own point's x, left to right per
// series.
func TestTrendChartMarkersInOrder(t *testing.T) {
	t.Parallel()
	var points []TrendPoint
	var a, b []float64
	for i := range 30 {
		points = append(points, TrendPoint{Label: strconv.Itoa(i), Href: "/runs/" + strconv.Itoa(i), Title: "t" + strconv.Itoa(i)})
		a = append(a, float64(i))
		b = append(b, float64(100-i))
	}
	b[7] = math.NaN()
	svg, err := TrendChart(points, [][]float64{a, b}, []string{"a", "b"}, TrendAxis{Title: "x"})
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`<a class="point" href="/runs/(\d+)"><title>t(\d+)</title><circle cx="(\d+)"`)
	xOf := map[string]string{}
	var seen []string
	for _, m := range re.FindAllStringSubmatch(string(svg), -1) {
		if m[1] != m[2] {
			t.Errorf("link %s carries the title of %s", m[1], m[2])
		}
		if x, ok := xOf[m[1]]; ok && x != m[3] {
			t.Errorf("point %s has markers at x %s and %s", m[1], x, m[3])
		}
		xOf[m[1]] = m[3]
		seen = append(seen, m[1])
	}
	if len(seen) != 59 {
		t.Fatalf("%d linked markers, want 59 (30 + 29)", len(seen))
	}
	for i := 1; i < 30; i++ {
		prev, _ := strconv.Atoi(xOf[strconv.Itoa(i-1)])
		cur, _ := strconv.Atoi(xOf[strconv.Itoa(i)])
		if cur <= prev {
			t.Errorf("point %d at x %d, not right of point %d at %d", i, cur, i-1, prev)
		}
	}
}
