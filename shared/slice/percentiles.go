package slice

import (
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Percentiles summarizes a latency histogram in milliseconds. Quantiles are the
// histogram's own ValueAtQuantile: the highest value equivalent to the one at
// that rank, so a percentile never understates within the 3-digit precision.
// The mean is rounded to 0.1 µs, below the histogram's 1 µs unit.
type Percentiles struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// PercentilesOf returns the percentiles of a microsecond histogram in
// milliseconds; a nil or empty histogram gives the zero Percentiles.
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	// ValueAtQuantile takes a percentage (0..100), despite its name.
	return Percentiles{
		Min:  usToMS(h.Min()),
		Mean: math.Round(h.Mean()*10) / 10000,
		P50:  usToMS(h.ValueAtQuantile(50)),
		P90:  usToMS(h.ValueAtQuantile(90)),
		P95:  usToMS(h.ValueAtQuantile(95)),
		P99:  usToMS(h.ValueAtQuantile(99)),
		P999: usToMS(h.ValueAtQuantile(99.9)),
		Max:  usToMS(h.Max()),
	}
}

func usToMS(us int64) float64 { return float64(us) / 1000 }
