package compare

import (
	"math"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/report"
)

// batched gives s 1000 completed requests of batch 4 (4000 instances/s over
// the 1 s rps stands for) and, when accuracy >= 0, that accuracy as a
// fraction.
func batched(rate, accuracy float64) func(s *report.Summary) {
	return func(s *report.Summary) {
		s.Completed, s.Instances, s.InstanceRate = 1000, 4000, rate
		if accuracy >= 0 {
			s.Checked, s.Accuracy = 4000, &accuracy
		}
	}
}

func TestComparePredictions(t *testing.T) {
	t.Parallel()
	unbatched := func(accuracy float64) func(s *report.Summary) {
		return func(s *report.Summary) {
			s.Completed, s.Instances, s.InstanceRate = 1000, 1000, 1000
			if accuracy >= 0 {
				s.Checked, s.Accuracy = 1000, &accuracy
			}
		}
	}
	tests := []struct {
		name      string
		base, cur func(s *report.Summary)
		tol       float64
		names     string // the figures after dropped
		regressed []string
		changes   map[string]float64
	}{
		{name: "old baseline: neither figure", base: nil, cur: batched(4000, 0.95), tol: 10, names: ""},
		{name: "old run against a new baseline: neither figure", base: batched(4000, 0.95), cur: nil, tol: 10, names: ""},
		{name: "same figures", base: batched(4000, 0.95), cur: batched(4000, 0.95), tol: 10,
			names: "instance_rate accuracy", changes: map[string]float64{InstanceRate: 0, Accuracy: 0}},
		// 95 % to 86 % is -9.47 % relative: within 10 %.
		{name: "accuracy down within the tolerance", base: batched(4000, 0.95), cur: batched(4000, 0.86), tol: 10,
			names: "instance_rate accuracy", changes: map[string]float64{Accuracy: (86 - 95) * 100.0 / 95}},
		{name: "accuracy down beyond the tolerance", base: batched(4000, 0.95), cur: batched(4000, 0.85), tol: 10,
			names: "instance_rate accuracy", regressed: []string{Accuracy}},
		{name: "accuracy up is no regression", base: batched(4000, 0.80), cur: batched(4000, 0.99), tol: 0,
			names: "instance_rate accuracy"},
		// 0.05 points is below the floor even at zero tolerance; 0.15 is not.
		{name: "accuracy down below the floor", base: batched(4000, 0.9995), cur: batched(4000, 0.999), tol: 0,
			names: "instance_rate accuracy"},
		{name: "accuracy down beyond the floor", base: batched(4000, 0.9995), cur: batched(4000, 0.998), tol: 0,
			names: "instance_rate accuracy", regressed: []string{Accuracy}},
		{name: "accuracy from 0 cannot get worse", base: batched(4000, 0), cur: batched(4000, 0.5), tol: 0,
			names: "instance_rate accuracy", changes: map[string]float64{Accuracy: 50}},
		{name: "baseline checked nothing: no accuracy", base: batched(4000, -1), cur: batched(4000, 0.5), tol: 10,
			names: "instance_rate"},
		{name: "instance rate down beyond the tolerance", base: batched(4000, -1), cur: batched(3500, -1), tol: 10,
			names: "instance_rate", regressed: []string{InstanceRate}, changes: map[string]float64{InstanceRate: -12.5}},
		{name: "instance rate down within the tolerance", base: batched(4000, -1), cur: batched(3600, -1), tol: 10,
			names: "instance_rate", changes: map[string]float64{InstanceRate: -10}},
		// One text per request: instance_rate is rps again, and rps is compared.
		{name: "no batches: no instance rate", base: unbatched(0.9), cur: unbatched(0.9), tol: 10, names: "accuracy"},
		{name: "batched against unbatched: instance rate", base: unbatched(-1), cur: batched(4000, -1), tol: 10,
			names: "instance_rate", changes: map[string]float64{InstanceRate: 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Compare(rep("20261127-040512-0a0b0c", tt.base), rep("20261128-040512-0a0b0c", tt.cur), tt.tol)
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
			want := strings.TrimSpace("p50 p90 p99 p999 max service_p99 error_rate rps dropped " + tt.names)
			if got := strings.Join(names, " "); got != want {
				t.Errorf("metrics = %s, want %s", got, want)
			}
			if got, want := strings.Join(regressed, " "), strings.Join(tt.regressed, " "); got != want {
				t.Errorf("regressed = [%s], want [%s]", got, want)
			}
			if c.Regression != (len(tt.regressed) > 0) {
				t.Errorf("Regression = %v, want %v", c.Regression, len(tt.regressed) > 0)
			}
		})
	}
}

func TestFormatComparisonPredictions(t *testing.T) {
	t.Parallel()
	c := Compare(rep("20261127-040512-0a0b0c", batched(4000, 0.95)), rep("x", batched(3500, 0.85)), 10)
	got := FormatComparison(c)
	for _, w := range []string{
		"instance_rate     4000.0/s     3500.0/s               -12.5%  REGRESSION\n",
		"accuracy           95.00%       85.00%               -10.5%  REGRESSION\n",
		"regression: instance_rate, accuracy\n",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	for _, d := range c.Metrics {
		if d.Name == Accuracy && (d.Unit != "%" || d.Base != 95 || d.New != 85) {
			t.Errorf("accuracy: unit %q base %g new %g, want %% 95 85", d.Unit, d.Base, d.New)
		}
	}
}
