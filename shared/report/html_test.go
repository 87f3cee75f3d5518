package report

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/slice"

	"github.com/cicadaload/cicada/shared/browsertest"
)

// chartIDs are the charts every report draws, one <svg> each.
var chartIDs = []string{"chart-rate", "chart-latency", "chart-errors", "chart-percentiles"}

func writeHTML(t *testing.T, rep *Report, planJSON []byte, opt HTMLOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep, planJSON, fixtureSuccess, opt); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return buf.String()
}

// externalRef finds anything that would make a browser fetch from
// elsewhere: a src or href to a URL with a scheme or a protocol-relative
// one, a CSS url() or @import. xmlns attributes name namespaces and fetch
// nothing.
var externalRef = regexp.MustCompile(`(?i)(?:\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//))|url\s*\(|@import`)

func TestHTML(t *testing.T) {
	t.Parallel()
	rep := filesReport(t)
	rep.Comparison = &Comparison{BaselineRunID: "run-base", TolerancePct: 10, Metrics: []MetricDiff{
		{Name: "p99", Unit: "ms", Base: 10, New: 15, ChangePct: 50, Regression: true},
	}, Regression: true}
	page := writeHTML(t, rep, filesPlanJSON, HTMLOptions{})

	if m := externalRef.FindAllString(page, -1); len(m) > 0 {
		t.Errorf("report.html references external resources: %q", m)
	}
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "@font-face"} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html contains %s: it must be self-contained", bad)
		}
	}
	if got, want := strings.Count(page, "<svg"), len(chartIDs); got != want {
		t.Errorf("report.html has %d <svg> elements, want %d (one per chart)", got, want)
	}
	browsertest.CheckWellFormed(t, page)

	for _, want := range append([]string{
		`<div class="verdict fail" id="verdict">FAIL</div>`,
		"threshold error_rate &lt; 1% per_slice failed",
		"<code>p99 &lt; 250ms</code>",
		`<td class="fail">fail</td>`,
		"0, 1, 2, 3, 5",                       // failing slices
		`title="shard 1 slice 2: missing"`,    // the coverage gap
		`title="shard 0 slice 4: missing"`,    // the whole gap
		"3 of 12 shard slices missing",        // coverage summary
		"Comparison with run-base",            // baseline
		`<td class="l">error:timeout</td>`,    // outcome table
		"&#34;protocol&#34;: &#34;http&#34;",  // the plan, indented and escaped
		"0%", "90%", "99%", "99.9%", "99.99%", // the HDR axis
		"p50", "p90", "p99", "max", "planned", "achieved",
	}, chartIDs...) {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, `http-equiv="refresh"`) {
		t.Error("report.html refreshes itself without RefreshSeconds")
	}
}

func TestHTMLOptionsAndEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opt     HTMLOptions
		plan    string
		want    []string
		notWant []string
	}{
		{"refresh for the live view", HTMLOptions{RefreshSeconds: 5, Live: true, Title: "run x live"},
			`{"name":"x"}`,
			[]string{`<meta http-equiv="refresh" content="5"/>`, "<title>run x live</title>", `class="verdict running"`, "still going"},
			[]string{`class="verdict fail"`}},
		{"no refresh when zero or negative", HTMLOptions{RefreshSeconds: -1},
			`{"name":"x"}`, []string{"<title>cicada run run-files</title>"}, []string{`http-equiv="refresh"`}},
		{"the plan is escaped", HTMLOptions{},
			`{"name":"</pre><script>alert(1)</script>"}`,
			[]string{"&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;"}, []string{"<script>"}},
		{"a plan that is not JSON is shown as is, escaped", HTMLOptions{},
			"name: <b>yaml</b>", []string{"name: &lt;b&gt;yaml&lt;/b&gt;"}, []string{"<b>yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := filesReport(t)
			rep.PlanName = `<i>plan</i> & "co"`
			rep.VerdictReasons = append(rep.VerdictReasons, "<b>not bold</b>")
			page := writeHTML(t, rep, []byte(tt.plan), tt.opt)
			browsertest.CheckWellFormed(t, page)
			for _, w := range append(tt.want, "&lt;i&gt;plan&lt;/i&gt; &amp; &#34;co&#34;", "&lt;b&gt;not bold&lt;/b&gt;") {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(page, w) {
					t.Errorf("page contains %q", w)
				}
			}
		})
	}
}

// edgeReports are runs that have broken report renderers before: nothing
// at all, only gaps, one slice, and figures at the top of the range.
func edgeReports(t *testing.T) map[string]*Report {
	t.Helper()
	one := slice.NewResult("one", 0, 0, t0, t0.Add(time.Second))
	one.Intended, one.Sent, one.Completed = 1, 1, 1
	one.Outcomes["http:200"] = 1
	_ = one.Latency.RecordValue(1500)
	_ = one.Service.RecordValue(1500)

	huge := slice.NewResult("huge", 0, 0, t0, t0.Add(time.Second))
	const n = int64(1) << 40
	huge.Intended, huge.Sent, huge.Completed, huge.Errors, huge.Dropped = n, n, n, n/2, n
	huge.Outcomes["http:200"], huge.Outcomes["error:timeout"] = n/2, n/2
	_ = huge.Latency.RecordValues(slice.HighestUS, n/2)
	_ = huge.Latency.RecordValues(slice.LowestUS, n/2)
	_ = huge.Service.RecordValues(slice.HighestUS, n)
	hugeRep := Build(Input{RunID: "huge", Start: t0, End: t0.Add(time.Millisecond), SliceDuration: time.Millisecond, Shards: 1,
		PlannedIntended: []int64{math.MaxInt64 / 4}, Slices: []*slice.Result{huge}})
	hugeRep.Thresholds = []ThresholdResult{{Expr: "p99 < 1ms", Observed: math.MaxFloat64, Unit: "ms"}, {Expr: "rps >= 95%", Observed: -1e300, Unit: "%"}}
	hugeRep.Verdict = VerdictIncomplete

	empty := Build(Input{RunID: "empty", Status: StatusFailed})
	empty.Total = nil // a report decoded from JSON has no histograms
	return map[string]*Report{
		"empty":        empty,
		"only gaps":    Build(Input{RunID: "gaps", Start: t0, End: t0.Add(30 * time.Second), SliceDuration: 10 * time.Second, Shards: 3, NumSlices: 3}),
		"single slice": Build(Input{RunID: "one", Start: t0, End: t0.Add(time.Second), SliceDuration: time.Second, Shards: 1, Slices: []*slice.Result{one}}),
		"huge numbers": hugeRep,
	}
}

func TestHTMLEdgeCases(t *testing.T) {
	t.Parallel()
	for name, rep := range edgeReports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			page := writeHTML(t, rep, nil, HTMLOptions{})
			browsertest.CheckWellFormed(t, page)
			if got, want := strings.Count(page, "<svg"), len(chartIDs); got != want {
				t.Errorf("%d <svg> elements, want %d", got, want)
			}
			if strings.Contains(page, "NaN") {
				t.Error("page shows NaN")
			}
			files, err := Files(rep, nil, fixtureSuccess)
			if err != nil {
				t.Fatalf("Files: %v", err)
			}
			readCSV(t, files[FileCSV])
			if err := xml.Unmarshal(files[FileJUnit], new(junitDoc)); err != nil {
				t.Errorf("junit.xml does not parse: %v", err)
			}
		})
	}
}

// TestHTMLInChromium opens report.html in headless Chromium with the
// network off: no console errors, every chart in the rendered DOM, and a
// screenshot saved in $CICADA_ARTIFACTS (or the test's temporary directory).
func TestHTMLInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	exe := browsertest.Find(t)
	dir := t.TempDir()

	t.Run("the console check sees a broken page", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.html")
		if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body><script>console.error("boom"); missing();</script></body></html>`), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr := browsertest.Run(t, exe, bad, "--dump-dom")
		if got := browsertest.ConsoleProblems(stderr); len(got) != 2 {
			t.Errorf("console problems of a broken page = %q, want 2 (the check would miss real ones)", got)
		}
	})

	rep := filesReport(t)
	files, err := Files(rep, filesPlanJSON, fixtureSuccess)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	page := filepath.Join(dir, FileHTML)
	if err := os.WriteFile(page, files[FileHTML], 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("every chart in the DOM, no console errors", func(t *testing.T) {
		dom, stderr := browsertest.Run(t, exe, page, "--dump-dom")
		if p := browsertest.ConsoleProblems(stderr); len(p) > 0 {
			t.Errorf("console messages:\n%s", strings.Join(p, "\n"))
		}
		if got, want := strings.Count(dom, "<svg"), len(chartIDs); got != want {
			t.Errorf("rendered DOM has %d <svg>, want %d", got, want)
		}
		for _, id := range chartIDs {
			re := regexp.MustCompile(`id="` + id + `"[^>]*>(?s:.*?)<svg`)
			if !re.MatchString(dom) {
				t.Errorf("rendered DOM lacks chart %s with its <svg>", id)
			}
		}
		if !strings.Contains(dom, ">FAIL</div>") {
			t.Error("rendered DOM lacks the verdict")
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		out := os.Getenv("CICADA_ARTIFACTS")
		if out == "" {
			out = t.TempDir()
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatalf("artifacts dir: %v", err)
		}
		shot := filepath.Join(out, "report-html.png")
		_, stderr := browsertest.Run(t, exe, page, "--screenshot="+shot, "--window-size=1280,4000")
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
		if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 4000 {
			t.Errorf("screenshot is %v, want 1280x4000", b.Size())
		}
		// The verdict box is drawn in its colour: the CSS was applied.
		var red int
		for y := 0; y < 400; y++ {
			for x := 0; x < 600; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if r>>8 == 0xcf && g>>8 == 0x22 && b>>8 == 0x2e {
					red++
				}
			}
		}
		if red < 1000 {
			t.Errorf("screenshot has %d pixels of the fail colour near the top, want the verdict box", red)
		}
		t.Logf("screenshot: %s", shot)
	})
}
