package slice

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// shardResult is a realistic single-shard slice result: n requests with
// log-normal-ish latencies, a few errors and samples.
func shardResult(rng *rand.Rand, runID string, shard, index, n int) *Result {
	start := time.Unix(1_700_000_000, 0).UTC().Add(time.Duration(index) * 10 * time.Second)
	r := NewResult(runID, shard, index, start, start.Add(10*time.Second))
	r.Writer = "w"
	for range n {
		us := int64(200 + rng.ExpFloat64()*3000)
		r.Latency.RecordValue(us)
		r.Service.RecordValue(us / 2)
	}
	errs := int64(rng.IntN(4))
	r.Intended, r.Sent, r.Completed, r.Errors = int64(n)+1, int64(n), int64(n), errs
	r.Dropped = 1
	r.Outcomes = map[string]int64{"http:200": int64(n) - errs}
	if errs > 0 {
		r.Outcomes["http:503"] = errs
		r.SampleErrors = []string{"status 503 from shard " + string(rune('a'+shard%26))}
	}
	r.MaxLatenessUS, r.SumLatenessUS, r.Late = int64(rng.IntN(900)), int64(n), int64(n/7)
	r.GeneratorCPU = float64(shard%8) / 8
	return r
}

func TestCompactEqualsMerge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		shards []int
		n      int
	}{
		{"one shard", []int{0}, 100},
		{"many shards out of order", []int{7, 3, 0, 12, 5, 1}, 5000},
		{"empty results", []int{2, 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, uint64(len(tt.shards))))
			c := NewCompact("run1", 4)
			want := &Result{RunID: "run1", Index: 4}
			for _, s := range tt.shards {
				r := shardResult(rng, "run1", s, 4, tt.n)
				b, err := Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Add(b, s); err != nil {
					t.Fatalf("Add shard %d: %v", s, err)
				}
				want.Merge(roundTrip(t, r))
			}
			got := c.Result()
			got.Writer = want.Writer
			if !got.Equal(want) {
				t.Errorf("Compact.Result() = %+v, want the merge %+v", got, want)
			}
			if n := len(c.Shards()); n != len(tt.shards) || got.ShardsReporting != n {
				t.Errorf("shards %v, reporting %d; want %d shards", c.Shards(), got.ShardsReporting, len(tt.shards))
			}
			// Sealing and reading back keeps every figure.
			b, err := c.MarshalSealed()
			if err != nil {
				t.Fatal(err)
			}
			back, err := UnmarshalSealed(b, "run1", 4)
			if err != nil {
				t.Fatal(err)
			}
			if r := back.Result(); !r.Equal(got) {
				t.Errorf("sealed round trip = %+v, want %+v", r, got)
			}
		})
	}
}

func TestCompactRefuses(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2, 2))
	good, err := Marshal(shardResult(rng, "run1", 3, 4, 10))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		b       []byte
		shard   int
		wantDup bool
	}{
		{"garbage", []byte("not a proto at all \xff\xff"), 5, false},
		{"other shard than its name", good, 2, false},
		{"truncated", good[:len(good)/2], 5, false},
		{"twice", good, 3, true},
	}
	c := NewCompact("run1", 4)
	if err := c.Add(good, 3); err != nil {
		t.Fatal(err)
	}
	before := c.Result()
	for _, tt := range tests {
		err := c.Add(tt.b, tt.shard)
		if err == nil {
			t.Errorf("%s: Add accepted it", tt.name)
		}
		if got := errors.Is(err, ErrDuplicate); got != tt.wantDup {
			t.Errorf("%s: errors.Is(ErrDuplicate) = %v, want %v (%v)", tt.name, got, tt.wantDup, err)
		}
	}
	if !c.Result().Equal(before) {
		t.Error("a refused object changed the merge")
	}
	if _, err := UnmarshalSealed(good, "run1", 5); err == nil {
		t.Error("UnmarshalSealed accepted a plain slice object of another index")
	}
}

// BenchmarkAddObject compares decoding a 5,000-request slice object into the
// sparse merge with decoding it densely and merging.
func BenchmarkAddObject(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	objs := make([][]byte, 200)
	for i := range objs {
		var err error
		if objs[i], err = Marshal(shardResult(rng, "run1", i, 0, 5000)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("compact", func(b *testing.B) {
		b.ReportAllocs()
		c := NewCompact("run1", 0)
		for i := 0; b.Loop(); i++ {
			if i%len(objs) == 0 {
				c = NewCompact("run1", 0)
			}
			if err := c.Add(objs[i%len(objs)], i%len(objs)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dense", func(b *testing.B) {
		b.ReportAllocs()
		m := &Result{}
		for i := 0; b.Loop(); i++ {
			r, err := Unmarshal(objs[i%len(objs)])
			if err != nil {
				b.Fatal(err)
			}
			m.Merge(r)
		}
	})
}
