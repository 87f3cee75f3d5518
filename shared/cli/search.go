package cli

import (
	"math"

	"github.com/cicadaload/cicada/shared/report"
)

// capacityKey is the printed-set key of a search's capacity line; a probe
// n's key is -1-n, so that neither meets a slice index (>= 0).
const capacityKey = math.MinInt

// searchLines returns the live lines of a capacity search not printed yet:
// one per probe as it is judged, then the capacity once the search is
// over; it marks them printed.
func searchLines(rep *report.Report, printed map[int]bool) []string {
	s := rep.Search
	if s == nil {
		return nil
	}
	var out []string
	for _, p := range s.Probes {
		if key := -1 - p.N; !printed[key] {
			printed[key] = true
			out = append(out, report.FormatProbeLine(p))
		}
	}
	if s.Status != report.SearchRunning && !printed[capacityKey] {
		printed[capacityKey] = true
		out = append(out, report.FormatCapacity(s))
	}
	return out
}
