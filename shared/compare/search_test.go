package compare

import (
	"testing"

	"github.com/cicadaload/cicada/shared/report"
)

func TestCompareCapacity(t *testing.T) {
	t.Parallel()
	search := func(status string, answer float64) *report.Report {
		s := &report.Search{Status: status}
		if answer > 0 {
			s.MaxRateUnderSLO = &answer
		}
		r := &report.Report{RunID: "r", Search: s}
		r.Summary.LatencyMS.P99 = answer // would regress on its own: not compared
		return r
	}
	tests := []struct {
		name       string
		base, cur  *report.Report
		metrics    int
		regression bool
		change     float64
	}{
		{"20% less capacity", search(report.SearchFound, 8000), search(report.SearchFound, 6400), 1, true, -20},
		{"10% less is within tolerance", search(report.SearchFound, 8000), search(report.SearchFound, 7200), 1, false, -10},
		{"more capacity", search(report.SearchFound, 500), search(report.SearchAboveTo, 900), 1, false, 80},
		{"below from is zero", search(report.SearchFound, 500), search(report.SearchBelowFrom, 0), 1, true, -100},
		{"incomplete is not compared", search(report.SearchFound, 500), search(report.SearchIncomplete, 0), 0, false, 0},
	}
	for _, tt := range tests {
		c := Compare(tt.base, tt.cur, 10)
		if len(c.Metrics) != tt.metrics || c.Regression != tt.regression {
			t.Errorf("%s: %+v", tt.name, c)
			continue
		}
		if tt.metrics == 1 {
			if d := c.Metrics[0]; d.Name != MaxRateUnderSLO || d.Unit != "req/s" || d.ChangePct != tt.change {
				t.Errorf("%s: %+v", tt.name, d)
			}
		}
	}
	// A search against an ordinary run compares the ordinary figures.
	if c := Compare(&report.Report{}, search(report.SearchFound, 500), 10); len(c.Metrics) != len(metrics)-2 {
		t.Errorf("search against a plain run: %d figures", len(c.Metrics))
	}
}
