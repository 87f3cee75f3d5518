package trend

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/browsertest"
	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/report"
)

var night0 = time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)

func ptr(v float64) *float64 { return &v }

// sampleRows are n nights of a plan, newest first as index.List gives
// them: p99 creeping up, capacity going down, night 11 failing a
// threshold, night 22 incomplete and the plan changed on night 25.
func sampleRows(plan string, n int, extras bool) []index.Row {
	rows := make([]index.Row, 0, n)
	for i := range n {
		start := night0.Add(time.Duration(i) * 24 * time.Hour)
		wobble := math.Sin(float64(i) * 1.7)
		r := index.Row{
			RunID: start.Format("20060102-150405") + fmt.Sprintf("-%06x", i), Plan: plan, PlanHash: strings.Repeat("a", 64),
			Start: start, End: start.Add(10 * time.Minute), DurationS: 600, Status: report.StatusCompleted, Verdict: report.VerdictPass,
			Shards: 4, Intended: 240000, Completed: 239900, Errors: 12,
			AchievedRate: 399.8 + wobble, PlannedRate: 400, ErrorRate: 0.0005 + 0.0002*wobble,
			P50MS: 11.5 + 0.4*wobble, P90MS: 25, P99MS: 40 + 0.6*float64(i) + 2*wobble, MaxMS: 300,
		}
		if extras {
			r.Accuracy = ptr(0.91 + 0.005*wobble)
			r.MaxRateUnderSLO = ptr(430 - 1.5*float64(i) + 4*wobble)
		}
		switch i {
		case 11:
			r.Verdict, r.P99MS = report.VerdictFail, 180
			r.Reasons = []string{"threshold p99 < 100ms failed: observed 180 ms", `<b>quoted</b> & "escaped"`}
		case 22:
			r.Verdict, r.Status, r.ErrorRate = report.VerdictIncomplete, report.StatusIncomplete, 0.031
			r.Reasons = []string{"2 of 240 shard slices missing"}
		}
		if i >= 25 {
			r.PlanHash = strings.Repeat("b", 64)
		}
		rows = append(rows, r)
	}
	return Oldest(rows) // newest first
}

func planPage(t *testing.T, p PlanPage) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WritePlanHTML(&buf, p); err != nil {
		t.Fatalf("WritePlanHTML: %v", err)
	}
	return buf.String()
}

func TestPlanPage(t *testing.T) {
	t.Parallel()
	links := Links{Base: "https://trigger.example"}
	tests := []struct {
		name   string
		rows   []index.Row
		charts []string
		want   []string
		absent []string
	}{
		{"every figure", sampleRows("nightly/bert", 30, true),
			[]string{"chart-latency", "chart-errors", "chart-rate", "chart-accuracy", "chart-capacity"},
			[]string{
				"<h1>Plan nightly/bert</h1>", "last 30 run(s), 28 passed",
				`href="https://trigger.example/runs/20261112-020000-00000b/report.html"`, // night 11's point and row
				"threshold p99 &lt; 100ms failed: observed 180 ms",                       // its reasons, in a tooltip
				"&lt;b&gt;quoted&lt;/b&gt; &amp; &#34;escaped&#34;",
				`<span class="changed"`, // the plan changed on night 25
				`href="https://trigger.example/runs?plan=nightly%2Fbert"`,
				"capacity -", "p99 &#43;", "failed run", `class="failed"`,
				`class="badge incomplete"`, `class="badge fail"`, "91.", "%",
			},
			[]string{"<b>quoted", "NaN"}},
		{"no accuracy or capacity", sampleRows("p", 5, false),
			[]string{"chart-latency", "chart-errors", "chart-rate"}, []string{"last 5 run(s), 5 passed", "p99 &#43;"},
			[]string{"chart-accuracy", "chart-capacity", "capacity &#43;", "capacity -", `class="failed"`}},
		{"one run", sampleRows("p", 1, true),
			[]string{"chart-latency", "chart-errors", "chart-rate", "chart-accuracy", "chart-capacity"}, []string{"last 1 run(s), 1 passed"},
			[]string{"p99 &#43;", "p99 -"}},
		{"no runs", nil, []string{"chart-latency", "chart-errors", "chart-rate"}, []string{`id="no-runs"`}, []string{`<table`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page := planPage(t, PlanPage{Plan: planOf(tt.rows), Rows: tt.rows, Links: links})
			browsertest.CheckWellFormed(t, page)
			if m := browsertest.ExternalResource.FindAllString(page, -1); len(m) > 0 {
				t.Errorf("the page loads from elsewhere: %q", m)
			}
			if got := ChartIDs(tt.rows); strings.Join(got, ",") != strings.Join(tt.charts, ",") {
				t.Errorf("ChartIDs = %v, want %v", got, tt.charts)
			}
			if got := strings.Count(page, "<svg"); got != len(tt.charts) {
				t.Errorf("%d <svg>, want %d", got, len(tt.charts))
			}
			for _, id := range tt.charts {
				if !regexp.MustCompile(`id="` + id + `"(?s:.*?)<svg`).MatchString(page) {
					t.Errorf("chart %s is not drawn", id)
				}
			}
			// Every run is a point of every chart it has a figure for.
			if n := len(tt.rows); n > 0 {
				if got, want := strings.Count(page, `<a class="point"`), n*pointsPerRun(tt.charts); got != want {
					t.Errorf("%d linked points, want %d", got, want)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.absent {
				if strings.Contains(page, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

// planOf names a test's plan after its rows.
func planOf(rows []index.Row) string {
	if len(rows) == 0 {
		return "nothing-yet"
	}
	return rows[0].Plan
}

// pointsPerRun is how many series the charts draw for each run.
func pointsPerRun(ids []string) int {
	n := 0
	for _, c := range Charts {
		for _, id := range ids {
			if c.ID == id {
				n += len(c.Names)
			}
		}
	}
	return n
}

func TestRunsPage(t *testing.T) {
	t.Parallel()
	rows := append(sampleRows("nightly/bert", 3, false), sampleRows("smoke", 2, false)...)
	tests := []struct {
		name   string
		page   RunsPage
		want   []string
		absent []string
	}{
		{"a page with a next one", RunsPage{Rows: rows, Filters: "plan nightly/bert", NextURL: "/runs?plan=nightly%2Fbert&cursor=20261101-020000-000000", Links: Links{}},
			[]string{
				"<title>cicada runs · plan nightly/bert</title>",
				`<a href="/plans/nightly%2Fbert">nightly/bert</a>`,
				`<a href="/runs/20261103-020000-000002">20261103-020000-000002</a>`,
				`<a href="/runs/20261103-020000-000002/report.html">report</a>`,
				`<a id="next" href="/runs?plan=nightly%2Fbert&amp;cursor=20261101-020000-000000">`,
				`<span class="badge pass"`,
			}, []string{"<svg", `class="changed"`}},
		{"the last page", RunsPage{Rows: rows[:1], Links: Links{Base: "http://127.0.0.1:8080"}},
			[]string{"<title>cicada runs</title>", `href="http://127.0.0.1:8080/runs/20261103-020000-000002"`}, []string{`id="next"`}},
		{"nothing matches", RunsPage{Filters: "verdict fail"}, []string{`id="no-runs"`}, []string{"<table"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteRunsHTML(&buf, tt.page); err != nil {
				t.Fatal(err)
			}
			page := buf.String()
			browsertest.CheckWellFormed(t, page)
			if m := browsertest.ExternalResource.FindAllString(page, -1); len(m) > 0 {
				t.Errorf("the page loads from elsewhere: %q", m)
			}
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.absent {
				if strings.Contains(page, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

func TestSparklineAndChange(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	tests := []struct {
		vals   []float64
		spark  string
		change float64
		ok     bool
	}{
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8}, "▁▂▃▄▅▆▇█", 700, true},
		{[]float64{10, nan, 5}, "█ ▁", -50, true},
		{[]float64{3, 3, 3}, "▄▄▄", 0, true},
		{[]float64{nan, 4}, " ▄", 0, false},
		{[]float64{0, 4}, "▁█", 0, false},
		{nil, "", 0, false},
	}
	for _, tt := range tests {
		if got := Sparkline(tt.vals); got != tt.spark {
			t.Errorf("Sparkline(%v) = %q, want %q", tt.vals, got, tt.spark)
		}
		pct, ok := Change(tt.vals)
		if ok != tt.ok || math.Abs(pct-tt.change) > 1e-9 {
			t.Errorf("Change(%v) = %v, %v; want %v, %v", tt.vals, pct, ok, tt.change, tt.ok)
		}
	}
}

func TestAxisLabels(t *testing.T) {
	t.Parallel()
	nightly := Oldest(sampleRows("p", 3, false))
	if got := strings.Join(axisLabels(nightly), ","); got != "Nov 01,Nov 02,Nov 03" {
		t.Errorf("nightly labels = %s", got)
	}
	same := []index.Row{{Start: night0}, {Start: night0.Add(90 * time.Minute)}}
	if got := strings.Join(axisLabels(same), ","); got != "11-01 02:00,11-01 03:30" {
		t.Errorf("same-day labels = %s", got)
	}
}

// TestPlanPageInChromium opens the trend page of 30 nights in headless
// Chromium with the network off: every chart in the rendered DOM, no
// console message, and a screenshot (PNG) in $CICADA_ARTIFACTS, or in
// $CICADA_TREND_SCREENSHOT when set (docs/img/trend.png is made so).
func TestPlanPageInChromium(t *testing.T) {
	exe := browsertest.Find(t)
	rows := sampleRows("nightly/bert", 30, true)
	dir := t.TempDir()
	file := filepath.Join(dir, "trend.html")
	if err := os.WriteFile(file, []byte(planPage(t, PlanPage{Plan: "nightly/bert", Rows: rows, Links: Links{Base: "https://trigger.example"}})), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, stderr := browsertest.Run(t, exe, file, "--dump-dom")
	if p := browsertest.ConsoleProblems(stderr); len(p) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(p, "\n"))
	}
	ids := ChartIDs(rows)
	if len(ids) != len(Charts) {
		t.Fatalf("charts %v, want all %d", ids, len(Charts))
	}
	if got := strings.Count(dom, "<svg"); got != len(ids) {
		t.Errorf("rendered DOM has %d <svg>, want %d", got, len(ids))
	}
	for _, id := range ids {
		if !regexp.MustCompile(`id="` + id + `"(?s:.*?)<svg`).MatchString(dom) {
			t.Errorf("rendered DOM lacks chart %s with its <svg>", id)
		}
	}

	shot := os.Getenv("CICADA_TREND_SCREENSHOT")
	if shot == "" {
		out := os.Getenv("CICADA_ARTIFACTS")
		if out == "" {
			out = t.TempDir()
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		shot = filepath.Join(out, "trend.png")
	}
	_, stderr = browsertest.Run(t, exe, file, "--screenshot="+shot, "--window-size=1200,2600")
	if p := browsertest.ConsoleProblems(stderr); len(p) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(p, "\n"))
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	// The failed nights' red diamonds are painted.
	var red int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 == 0xcf && g>>8 == 0x22 && bl>>8 == 0x2e {
				red++
			}
		}
	}
	if red < 100 {
		t.Errorf("screenshot has %d pixels of the failed colour, want the failed runs' markers", red)
	}
	t.Logf("screenshot: %s", shot)
}
