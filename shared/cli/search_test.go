package cli

import (
	"reflect"
	"testing"

	"github.com/cicadaload/cicada/shared/report"
)

func TestSearchLines(t *testing.T) {
	t.Parallel()
	printed := map[int]bool{0: true, 1: true} // slices already printed
	answer := 150.0
	rep := &report.Report{Search: &report.Search{Status: report.SearchRunning, SLO: []string{"p99 < 250ms"},
		Probes: []report.SearchProbe{{N: 0, Rate: 100, AchievedRate: 100, P50MS: 12, P99MS: 120, Verdict: report.ProbePass}}}}
	want := []string{"probe 0  rate 100/s  achieved 100/s  p50 12ms  p99 120ms  errors 0.00%  pass"}
	if got := searchLines(rep, printed); !reflect.DeepEqual(got, want) {
		t.Errorf("first poll: %q, want %q", got, want)
	}
	if got := searchLines(rep, printed); len(got) != 0 {
		t.Errorf("second poll printed again: %q", got)
	}
	rep.Search.Probes = append(rep.Search.Probes, report.SearchProbe{N: 1, Rate: 150, Verdict: report.ProbeHeld, Note: "held: shard 1 missing in slice 7"})
	rep.Search.Status, rep.Search.MaxRateUnderSLO, rep.Search.Low = report.SearchAboveTo, &answer, &answer
	want = []string{"probe 1  rate 150/s  held  (held: shard 1 missing in slice 7)", "capacity at least 150 req/s under SLO [p99 < 250ms]: it held at `to` (2 probes)"}
	if got := searchLines(rep, printed); !reflect.DeepEqual(got, want) {
		t.Errorf("last poll: %q, want %q", got, want)
	}
	if searchLines(&report.Report{}, printed) != nil {
		t.Error("lines for a run without a search")
	}
}
