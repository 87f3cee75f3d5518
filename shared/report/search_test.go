package report

import (
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/browsertest"
)

// searchReport is a report whose search found 506.25 req/s: probes 0..7,
// probe 2 held for a lost shard.
func searchReport() *Report {
	f := func(v float64) *float64 { return &v }
	probe := func(n int, rate, achieved, p50, p99, errs float64, verdict, note string) SearchProbe {
		return SearchProbe{N: n, Rate: rate, FromSlice: 1 + 5*n, ToSlice: 2 + 5*n, AchievedRate: achieved,
			P50MS: p50, P99MS: p99, ErrorRate: errs, Verdict: verdict, Stable: verdict == ProbePass || verdict == ProbeFail, Note: note}
	}
	rep := &Report{RunID: "20261201-020000-search", PlanName: "capacity", Status: StatusCompleted,
		Start: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 2, 0, 45, 0, time.UTC),
		SliceSeconds: 1, Shards: 3, Verdict: VerdictPass, Summary: Summary{Outcomes: map[string]int64{}}}
	rep.Search = &Search{
		Status: SearchFound, SLO: []string{"p99 < 250ms", "error_rate < 1%"},
		Probes: []SearchProbe{
			probe(0, 100, 100, 12, 120, 0.001, ProbePass, ""),
			probe(1, 150, 149.7, 12, 120, 0.001, ProbePass, ""),
			probe(2, 225, 0, 0, 0, 0, ProbeHeld, "held: shard 2 missing in slice 12"),
			probe(3, 225, 225, 12.4, 130, 0.001, ProbePass, ""),
			probe(4, 337.5, 337.5, 13, 140, 0.001, ProbePass, ""),
			probe(5, 506.25, 506, 14, 180, 0.001, ProbePass, ""),
			probe(6, 759.375, 700, 300, 2000, 0.05, ProbeFail, "40 requests dropped at max_in_flight while the target broke the SLO"),
			probe(7, 632.8125, 630, 300, 2000, 0.05, ProbeUnstableFail, "unstable: a slice's p99 900ms is not within 1.5× of the window's median 2000ms"),
			probe(8, 569.53125, 569, 250, 1900, 0.04, ProbeFail, ""),
			probe(9, 537.890625, 537, 240, 1800, 0.03, ProbeFail, ""),
		},
		Low: f(506.25), High: f(522.0703125), MaxRateUnderSLO: f(506.25),
		Capped: []string{"to lowered from 50000 to 10000 req/s, the operator's rate limit"},
	}
	return rep
}

func TestFormatSearch(t *testing.T) {
	t.Parallel()
	rep := searchReport()
	got := FormatSummary(rep)
	for _, want := range []string{
		"\ncapacity search\n",
		"  probe 0  rate 100/s  achieved 100/s  p50 12ms  p99 120ms  errors 0.10%  pass\n",
		"  probe 2  rate 225/s  held  (held: shard 2 missing in slice 12)\n",
		"  probe 6  rate 759/s  achieved 700/s  p50 300ms  p99 2000ms  errors 5.00%  fail  (40 requests dropped at max_in_flight while the target broke the SLO)\n",
		"  probe 7  rate 633/s  achieved 630/s  p50 300ms  p99 2000ms  errors 5.00%  unstable-fail  (unstable: ",
		"capacity 506 req/s under SLO [p99 < 250ms, error_rate < 1%] (bracket 506..522, 10 probes)\n",
		"  limited: to lowered from 50000 to 10000 req/s, the operator's rate limit\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	tests := []struct {
		s    Search
		want string
	}{
		{Search{Status: SearchAboveTo, SLO: []string{"p99 < 1s"}, MaxRateUnderSLO: ptrTo(5000), Probes: make([]SearchProbe, 9)},
			"capacity at least 5000 req/s under SLO [p99 < 1s]: it held at `to` (9 probes)"},
		{Search{Status: SearchBelowFrom, SLO: []string{"p99 < 1s"}, Reason: "the SLO fails at from (100 req/s)", High: ptrTo(100), Probes: make([]SearchProbe, 1)},
			"capacity below from under SLO [p99 < 1s]: the SLO fails at from (100 req/s) (1 probes)"},
		{Search{Status: SearchIncomplete, SLO: []string{"p99 < 1s"}, Reason: "generator saturated in probe 3: 12 requests dropped", Probes: make([]SearchProbe, 4)},
			"capacity not measured under SLO [p99 < 1s], search incomplete: generator saturated in probe 3: 12 requests dropped (4 probes)"},
		{Search{Status: SearchStopped, SLO: []string{"p99 < 1s"}, Reason: "max_probes (4) reached", Low: ptrTo(337.5), High: ptrTo(506.25), MaxRateUnderSLO: ptrTo(337.5), Probes: make([]SearchProbe, 4)},
			"capacity at least 338 req/s under SLO [p99 < 1s], search stopped: max_probes (4) reached (bracket 338..506, 4 probes)"},
		{Search{Status: SearchRunning, SLO: []string{"p99 < 1s"}, Low: ptrTo(150), Probes: make([]SearchProbe, 2)},
			"capacity search under SLO [p99 < 1s] running (2 probes)"},
	}
	for _, tt := range tests {
		if got := FormatCapacity(&tt.s); got != tt.want {
			t.Errorf("FormatCapacity(%s) =\n%q\nwant\n%q", tt.s.Status, got, tt.want)
		}
	}
	if strings.Contains(FormatSummary(&Report{Summary: Summary{Outcomes: map[string]int64{}}}), "capacity") {
		t.Error("a run without a search shows a capacity")
	}
}

func ptrTo(v float64) *float64 { return &v }

func TestSearchHTML(t *testing.T) {
	t.Parallel()
	rep := searchReport()
	for name, r := range map[string]*Report{"built": rep, "decoded": decodedReport(t, rep)} {
		page := writeHTML(t, r, nil, HTMLOptions{})
		browsertest.CheckWellFormed(t, page)
		for _, want := range []string{
			`<h2 id="search">Capacity search</h2>`,
			`<p id="search-capacity"><strong>capacity 506 req/s under SLO [p99 &lt; 250ms, error_rate &lt; 1%] (bracket 506..522, 10 probes)</strong></p>`,
			`SLO <code>p99 &lt; 250ms</code>, <code>error_rate &lt; 1%</code> · status found`,
			`<tr><td>2</td><td>225/s</td><td>11..12</td><td></td><td></td><td></td><td></td><td class="running">held</td><td class="l">held: shard 2 missing in slice 12</td></tr>`,
			`<tr><td>5</td><td>506/s</td><td>26..27</td><td>506/s</td><td>14</td><td>180</td><td>0.10%</td><td class="pass">pass</td><td class="l"></td></tr>`,
			`<td class="fail">unstable-fail</td>`,
			` · limited: to lowered from 50000 to 10000 req/s, the operator&#39;s rate limit</p>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: page lacks %q", name, want)
			}
		}
		labels := strings.Join(svgLabels(t, page, "chart-search"), "|")
		// One point per judged rate, by rate (225 once: its held probe
		// measured nothing), the knee named on the axis; the legend; both
		// axes' titles.
		for _, want := range []string{"100|150|225|338|506 (knee)|538|570|633|759", "p50", "p99", "error rate %", "max rate under SLO", "latency (log)"} {
			if !strings.Contains(labels, want) {
				t.Errorf("%s: chart labels %q lack %q", name, labels, want)
			}
		}
	}
	// No search, no section.
	plain := searchReport()
	plain.Search = nil
	if page := writeHTML(t, plain, nil, HTMLOptions{}); strings.Contains(page, "Capacity search") || strings.Contains(page, "chart-search") {
		t.Error("a run without a search has a capacity search section")
	}
}
