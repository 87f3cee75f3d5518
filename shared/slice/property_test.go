package slice

import (
	"maps"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// sample is one request of a generated sample set.
type sample struct {
	latency, service time.Duration
	outcome          string
	ok               bool
}

// genSamples draws n requests from a mix of distributions, heavy tails
// included, with values below 1 µs and above 60 s to exercise clamping.
func genSamples(rng *rand.Rand, n int) []sample {
	outcomes := []string{"http:200", "http:200", "http:200", "http:503", "error:timeout", "grpc:OK"}
	out := make([]sample, n)
	for i := range out {
		var us float64
		switch rng.IntN(6) {
		case 0: // log-uniform over the whole range
			us = math.Exp(rng.Float64() * math.Log(HighestUS))
		case 1: // exponential around 2 ms
			us = rng.ExpFloat64() * 2000
		case 2: // Pareto, alpha 1.1: a heavy tail reaching past 60 s
			us = 500 / math.Pow(1-rng.Float64(), 1/1.1)
		case 3: // log-normal around 10 ms
			us = math.Exp(rng.NormFloat64()*1.5 + math.Log(10_000))
		case 4: // a few exact values, repeated
			us = []float64{1, 999, 1000, 2047, 2048, 59_999_999, HighestUS}[rng.IntN(7)]
		default: // out of range on either side
			us = []float64{0, -5, 0.3, 61e6, 1e12}[rng.IntN(5)]
		}
		o := outcomes[rng.IntN(len(outcomes))]
		out[i] = sample{
			latency: time.Duration(us * float64(time.Microsecond)),
			service: time.Duration(us * rng.Float64() * float64(time.Microsecond)),
			outcome: o,
			ok:      o == "http:200" || o == "grpc:OK",
		}
	}
	return out
}

// TestMergeProperty proves that any split of a sample set into shards ×
// slices (each part recorded by its own recorders, encoded and decoded),
// merged in any order and any tree shape, gives exactly the counts, outcomes
// and histograms of recording the whole set at once.
func TestMergeProperty(t *testing.T) {
	t.Parallel()
	iterations := 100
	if testing.Short() || raceEnabled {
		iterations = 15
	}
	quantiles := []float64{0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100}
	for it := range iterations {
		seed := uint64(it)
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		samples := genSamples(rng, 1+rng.IntN(5000))

		// The whole set, recorded at once.
		whole := NewRecorder()
		for _, s := range samples {
			whole.Record(s.outcome, s.ok, s.latency, s.service, 10, 20, 0)
		}
		want := NewResult("run", 0, 0, time.Time{}, time.Time{})
		want.AddRecorder(whole)

		// A random split into shards × slices × recorders (goroutines).
		shards, slices, recs := 1+rng.IntN(6), 1+rng.IntN(5), 1+rng.IntN(4)
		recorders := make([]*Recorder, shards*slices*recs)
		for i := range recorders {
			recorders[i] = NewRecorder()
		}
		for _, s := range samples {
			recorders[rng.IntN(len(recorders))].Record(s.outcome, s.ok, s.latency, s.service, 10, 20, 0)
		}
		var parts []*Result
		for p := range shards * slices {
			r := NewResult("run", p%shards, p/shards, time.Time{}, time.Time{})
			for _, rec := range recorders[p*recs : (p+1)*recs] {
				r.AddRecorder(rec)
			}
			parts = append(parts, roundTrip(t, r))
		}
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		got := mergeTree(t, rng, parts)
		if got.ShardsReporting != shards*slices {
			t.Fatalf("seed %d: ShardsReporting = %d, want %d", seed, got.ShardsReporting, shards*slices)
		}

		if got.Sent != want.Sent || got.Completed != want.Completed || got.Errors != want.Errors ||
			got.BytesSent != want.BytesSent || got.BytesReceived != want.BytesReceived {
			t.Fatalf("seed %d: counts = %d/%d/%d/%d/%d, want %d/%d/%d/%d/%d", seed,
				got.Sent, got.Completed, got.Errors, got.BytesSent, got.BytesReceived,
				want.Sent, want.Completed, want.Errors, want.BytesSent, want.BytesReceived)
		}
		if !maps.Equal(got.Outcomes, want.Outcomes) {
			t.Fatalf("seed %d: outcomes = %v, want %v", seed, got.Outcomes, want.Outcomes)
		}
		checkSameHist(t, seed, "latency", got.Latency, want.Latency, quantiles)
		checkSameHist(t, seed, "service", got.Service, want.Service, quantiles)
		if g, w := got.Latency.TotalCount(), int64(len(samples)); g != w {
			t.Fatalf("seed %d: latency TotalCount = %d, want every sample %d", seed, g, w)
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("seed %d: merged result invalid: %v", seed, err)
		}
	}
}

func checkSameHist(t *testing.T, seed uint64, name string, got, want *hdrhistogram.Histogram, quantiles []float64) {
	t.Helper()
	if !got.Equals(want) {
		t.Errorf("seed %d: %s histogram differs from the whole set's", seed, name)
	}
	for _, q := range quantiles {
		if g, w := got.ValueAtQuantile(q), want.ValueAtQuantile(q); g != w {
			t.Errorf("seed %d: %s p%v = %d, want %d", seed, name, q, g, w)
		}
	}
	if got.TotalCount() != want.TotalCount() || got.Min() != want.Min() || got.Max() != want.Max() || got.Mean() != want.Mean() {
		t.Errorf("seed %d: %s count/min/max/mean = %d/%d/%d/%v, want %d/%d/%d/%v", seed, name,
			got.TotalCount(), got.Min(), got.Max(), got.Mean(), want.TotalCount(), want.Min(), want.Max(), want.Mean())
	}
}

// mergeTree merges parts in a random tree shape: it repeatedly merges two
// random entries (each a leaf or an earlier merge) into a fresh result.
func mergeTree(t *testing.T, rng *rand.Rand, parts []*Result) *Result {
	t.Helper()
	nodes := append([]*Result(nil), parts...)
	for len(nodes) > 1 {
		i := rng.IntN(len(nodes))
		a := nodes[i]
		nodes = append(nodes[:i], nodes[i+1:]...)
		j := rng.IntN(len(nodes))
		b := nodes[j]
		var m *Result
		if rng.IntN(2) == 0 {
			m = &Result{} // a zero accumulator
			m.Merge(a)
		} else {
			m = a.Clone()
		}
		m.Merge(b)
		if rng.IntN(3) == 0 {
			// Intermediate merges are also stored and read back.
			b, err := Marshal(m)
			if err != nil {
				t.Fatalf("Marshal intermediate merge: %v", err)
			}
			if m, err = Unmarshal(b); err != nil {
				t.Fatalf("Unmarshal intermediate merge: %v", err)
			}
		}
		nodes[j] = m
	}
	return nodes[0]
}
