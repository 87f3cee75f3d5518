package compare

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/slice"
)

// summary is a report summary with every key figure set; tests change one.
func summary() report.Summary {
	return report.Summary{
		LatencyMS: slice.Percentiles{P50: 10, P90: 20, P99: 100, P999: 200, Max: 300},
		ServiceMS: slice.Percentiles{P99: 50},
		ErrorRate: 0.01, // 1 %
		RPS:       1000,
		Dropped:   10,
	}
}

func rep(id string, change func(s *report.Summary)) *report.Report {
	s := summary()
	if change != nil {
		change(&s)
	}
	return &report.Report{RunID: id, Summary: s}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		base, cur func(s *report.Summary)
		tol       float64
		regressed []string // names of the figures that regress
		changes   map[string]float64
	}{
		{name: "same figures", tol: 10, changes: map[string]float64{P99: 0, RPS: 0}},
		// Exactly the tolerance is allowed; a hair more is not.
		{name: "p99 up by the tolerance", cur: func(s *report.Summary) { s.LatencyMS.P99 = 110 }, tol: 10, changes: map[string]float64{P99: 10}},
		{name: "p99 up beyond the tolerance", cur: func(s *report.Summary) { s.LatencyMS.P99 = 110.5 }, tol: 10, regressed: []string{P99}, changes: map[string]float64{P99: 10.5}},
		{name: "latency better", cur: func(s *report.Summary) { s.LatencyMS.P50, s.LatencyMS.Max = 5, 100 }, tol: 0, changes: map[string]float64{P50: -50}},
		{
			name: "every latency worse", tol: 10,
			cur: func(s *report.Summary) {
				s.LatencyMS = slice.Percentiles{P50: 12, P90: 23, P99: 120, P999: 230, Max: 400}
				s.ServiceMS.P99 = 60
			},
			regressed: []string{P50, P90, P99, P999, Max, ServiceP99},
		},
		{name: "zero tolerance", cur: func(s *report.Summary) { s.LatencyMS.P90 = 20.2 }, tol: 0, regressed: []string{P90}},
		{name: "negative tolerance is zero", cur: func(s *report.Summary) { s.LatencyMS.P90 = 20.2 }, tol: -5, regressed: []string{P90}},
		// 0.05 ms is +10 % of 0.5 ms but below the 0.1 ms floor.
		{name: "sub-floor latency change", base: func(s *report.Summary) { s.LatencyMS.P50 = 0.5 }, cur: func(s *report.Summary) { s.LatencyMS.P50 = 0.6 }, tol: 10, changes: map[string]float64{P50: 20}},
		{name: "latency beyond the floor", base: func(s *report.Summary) { s.LatencyMS.P50 = 0.5 }, cur: func(s *report.Summary) { s.LatencyMS.P50 = 0.65 }, tol: 10, regressed: []string{P50}},
		{name: "rps lower beyond the tolerance", cur: func(s *report.Summary) { s.RPS = 899 }, tol: 10, regressed: []string{RPS}, changes: map[string]float64{RPS: -10.1}},
		{name: "rps lower within the tolerance", cur: func(s *report.Summary) { s.RPS = 900 }, tol: 10, changes: map[string]float64{RPS: -10}},
		{name: "rps higher is no regression", cur: func(s *report.Summary) { s.RPS = 5000 }, tol: 0, changes: map[string]float64{RPS: 400}},
		{name: "error rate up relatively", cur: func(s *report.Summary) { s.ErrorRate = 0.012 }, tol: 10, regressed: []string{ErrorRate}, changes: map[string]float64{ErrorRate: 20}},
		// Doubling a tiny error rate is 0.01 points: noise.
		{name: "tiny error rate doubled", base: func(s *report.Summary) { s.ErrorRate = 0.0001 }, cur: func(s *report.Summary) { s.ErrorRate = 0.0002 }, tol: 10, changes: map[string]float64{ErrorRate: 100}},
		{name: "dropped up", cur: func(s *report.Summary) { s.Dropped = 12 }, tol: 10, regressed: []string{Dropped}, changes: map[string]float64{Dropped: 20}},

		// Zero bases: ChangePct is the absolute change; only the floor counts.
		{name: "error rate 0 to 0.1%", base: func(s *report.Summary) { s.ErrorRate = 0 }, cur: func(s *report.Summary) { s.ErrorRate = 0.001 }, tol: 10, changes: map[string]float64{ErrorRate: 0.1}},
		{name: "error rate 0 to 0.5%", base: func(s *report.Summary) { s.ErrorRate = 0 }, cur: func(s *report.Summary) { s.ErrorRate = 0.005 }, tol: 10, regressed: []string{ErrorRate}, changes: map[string]float64{ErrorRate: 0.5}},
		{name: "error rate 0 to 0.5% with a huge tolerance", base: func(s *report.Summary) { s.ErrorRate = 0 }, cur: func(s *report.Summary) { s.ErrorRate = 0.005 }, tol: 1000, regressed: []string{ErrorRate}},
		{name: "error rate stays 0", base: func(s *report.Summary) { s.ErrorRate = 0 }, cur: func(s *report.Summary) { s.ErrorRate = 0 }, tol: 0, changes: map[string]float64{ErrorRate: 0}},
		{name: "dropped 0 to 1", base: func(s *report.Summary) { s.Dropped = 0 }, cur: func(s *report.Summary) { s.Dropped = 1 }, tol: 50, regressed: []string{Dropped}, changes: map[string]float64{Dropped: 1}},
		{name: "dropped stays 0", base: func(s *report.Summary) { s.Dropped = 0 }, cur: func(s *report.Summary) { s.Dropped = 0 }, tol: 0},
		{name: "rps from 0 cannot get worse", base: func(s *report.Summary) { s.RPS = 0 }, cur: func(s *report.Summary) { s.RPS = 10 }, tol: 0, changes: map[string]float64{RPS: 10}},
		{name: "rps to 0", cur: func(s *report.Summary) { s.RPS = 0 }, tol: 10, regressed: []string{RPS}, changes: map[string]float64{RPS: -100}},
		{
			name: "base completed nothing", tol: 10,
			base: func(s *report.Summary) { *s = report.Summary{} },
			cur: func(s *report.Summary) {
				s.LatencyMS = slice.Percentiles{P50: 0.05, P90: 0.1, P99: 0.2, P999: 0.3, Max: 0.4}
				s.ServiceMS.P99 = 0.05
				s.ErrorRate, s.Dropped = 0, 0
			},
			regressed: []string{P99, P999, Max},
			changes:   map[string]float64{P99: 0.2, RPS: 1000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, cur := rep("20261127-040512-0a0b0c", tt.base), rep("20261128-040512-0a0b0c", tt.cur)
			c := Compare(base, cur, tt.tol)
			if c.BaselineRunID != base.RunID {
				t.Errorf("BaselineRunID = %q, want %q", c.BaselineRunID, base.RunID)
			}
			if want := max(tt.tol, 0); c.TolerancePct != want {
				t.Errorf("TolerancePct = %g, want %g", c.TolerancePct, want)
			}
			var names, regressed []string
			for _, d := range c.Metrics {
				names = append(names, d.Name)
				if d.Regression {
					regressed = append(regressed, d.Name)
				}
				if want, ok := tt.changes[d.Name]; ok && math.Abs(d.ChangePct-want) > 1e-9 {
					t.Errorf("%s: ChangePct = %g, want %g", d.Name, d.ChangePct, want)
				}
			}
			if got, want := strings.Join(names, " "), "p50 p90 p99 p999 max service_p99 error_rate rps dropped"; got != want {
				t.Errorf("metrics = %s, want %s", got, want)
			}
			if got, want := strings.Join(regressed, " "), strings.Join(tt.regressed, " "); got != want {
				t.Errorf("regressed = [%s], want [%s]", got, want)
			}
			if c.Regression != (len(tt.regressed) > 0) {
				t.Errorf("Regression = %v, want %v", c.Regression, len(tt.regressed) > 0)
			}
			// Zero bases must not put an infinity in report.json.
			if _, err := json.Marshal(c); err != nil {
				t.Errorf("encode comparison: %v", err)
			}
		})
	}
}

func TestCompareUnits(t *testing.T) {
	t.Parallel()
	c := Compare(rep("a", nil), rep("b", nil), 10)
	want := map[string]struct {
		unit string
		base float64
	}{
		P50: {"ms", 10}, Max: {"ms", 300}, ServiceP99: {"ms", 50},
		ErrorRate: {"%", 1}, RPS: {"req/s", 1000}, Dropped: {"", 10},
	}
	for _, d := range c.Metrics {
		w, ok := want[d.Name]
		if !ok {
			continue
		}
		if d.Unit != w.unit || math.Abs(d.Base-w.base) > 1e-9 {
			t.Errorf("%s: unit %q base %g, want %q %g", d.Name, d.Unit, d.Base, w.unit, w.base)
		}
	}
}

func TestCompareOddInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		base, cur *report.Report
		tol       float64
		wantRegr  bool
	}{
		{name: "nil base", base: nil, cur: rep("b", nil), tol: 10, wantRegr: true}, // errors and dropped from nothing
		{name: "nil current", base: rep("a", nil), cur: nil, tol: 10, wantRegr: true},
		{name: "both nil", tol: 10},
		{name: "NaN tolerance is zero", base: rep("a", nil), cur: rep("b", func(s *report.Summary) { s.LatencyMS.P50 = 10.5 }), tol: math.NaN(), wantRegr: true},
		{name: "infinite figure", base: rep("a", func(s *report.Summary) { s.RPS = math.Inf(1) }), cur: rep("b", nil), tol: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Compare(tt.base, tt.cur, tt.tol)
			if c == nil {
				t.Fatal("Compare returned nil")
			}
			if c.Regression != tt.wantRegr {
				t.Errorf("Regression = %v, want %v: %+v", c.Regression, tt.wantRegr, c.Metrics)
			}
			if _, err := json.Marshal(c); err != nil {
				t.Errorf("encode comparison: %v", err)
			}
		})
	}
}

func TestFormatComparison(t *testing.T) {
	t.Parallel()
	regressed := Compare(
		rep("20261127-040512-0a0b0c", func(s *report.Summary) { s.ErrorRate = 0 }),
		rep("20261128-040512-0a0b0c", func(s *report.Summary) { s.LatencyMS.P99 = 125; s.ErrorRate = 0.005 }),
		10)
	tests := []struct {
		name   string
		c      *report.Comparison
		want   []string
		unwant []string
	}{
		{
			name: "regression",
			c:    regressed,
			want: []string{
				"baseline run 20261127-040512-0a0b0c, tolerance 10%",
				"p99", "100.000ms", "125.000ms", "+25.0%", "REGRESSION",
				"error_rate", "0.00%", "0.50%", "+0.50 pts (from 0)",
				"rps", "1000.0/s", "dropped",
				"regression: p99, error_rate",
			},
			unwant: []string{"no regression"},
		},
		{
			name:   "no regression",
			c:      Compare(rep("20261127-040512-0a0b0c", nil), rep("x", nil), 5),
			want:   []string{"tolerance 5%", "p50", "+0.0%", "no regression beyond 5%"},
			unwant: []string{"REGRESSION"},
		},
		{name: "nil", c: nil, want: []string{"no comparison"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := FormatComparison(tt.c)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.unwant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%s", w, got)
				}
			}
		})
	}
}
