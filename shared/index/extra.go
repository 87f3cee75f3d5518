package index

import "github.com/cicadaload/cicada/shared/report"

// fillExtra copies the figures a report has only for some plans: batches
// and prediction checks (capacity searches add theirs here too).
func fillExtra(r *Row, rep *report.Report) {
	p := rep.Summary.Predictions
	r.Instances = p.Instances
	r.InstanceRate = p.InstanceRate
	if p.Accuracy != nil {
		a := *p.Accuracy
		r.Accuracy = &a
	}
	if s := rep.Search; s != nil && s.MaxRateUnderSLO != nil {
		v := *s.MaxRateUnderSLO
		r.MaxRateUnderSLO = &v
	}
}
