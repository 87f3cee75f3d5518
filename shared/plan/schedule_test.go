package plan

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func st(d time.Duration, rate float64) Stage { return Stage{Duration: Duration(d), Rate: rate} }

func TestScheduleRateAt(t *testing.T) {
	t.Parallel()
	ramp := []Stage{st(10*time.Second, 100), st(10*time.Second, 200), st(5*time.Second, 0)}
	for _, tt := range []struct {
		stages    []Stage
		startRate *float64
		t         time.Duration
		want      float64
	}{
		{ramp, nil, -time.Nanosecond, 0},                                  // before the run
		{ramp, nil, 0, 100},                                               // first stage constant at its own rate
		{ramp, nil, 9999 * time.Millisecond, 100},                         // still constant at its end
		{ramp, nil, 10 * time.Second, 100},                                // second stage starts from the previous end rate
		{ramp, nil, 15 * time.Second, 150},                                // halfway up the ramp 100 -> 200
		{ramp, nil, 20 * time.Second, 200},                                // third stage starts at 200
		{ramp, nil, 22500 * time.Millisecond, 100},                        // halfway down 200 -> 0
		{ramp, nil, 25 * time.Second, 0},                                  // the plan is over
		{ramp, ptr(0.0), 0, 0},                                            // start_rate 0: first stage ramps from 0
		{ramp, ptr(0.0), 5 * time.Second, 50},                             // halfway up 0 -> 100
		{ramp, ptr(300.0), 2500 * time.Millisecond, 250},                  // first stage may ramp down too
		{[]Stage{st(time.Second, 0.3)}, nil, 500 * time.Millisecond, 0.3}, // fractional rates are kept
		{nil, nil, 0, 0},                                                  // no stages, no load
	} {
		s := NewScheduleFrom(Load{Stages: tt.stages, StartRate: tt.startRate})
		if got := s.RateAt(tt.t); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("RateAt(%v) with start_rate %v = %v, want %v", tt.t, deref(tt.startRate), got, tt.want)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func TestScheduleArrival(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tt := range []struct {
		name      string
		stages    []Stage
		startRate *float64
		i         int64
		want      time.Duration
	}{
		{"first request at 0", []Stage{st(time.Second, 10)}, nil, 0, 0},
		{"constant spacing", []Stage{st(time.Second, 10)}, nil, 3, 300 * ms},
		{"last request of the plan", []Stage{st(time.Second, 10)}, nil, 9, 900 * ms},
		{"past the plan", []Stage{st(time.Second, 10)}, nil, 10, Never},
		{"negative", []Stage{st(time.Second, 10)}, nil, -1, Never},
		{"ramp from 0: Λ=5t², request 4 at sqrt(0.8)s", []Stage{st(time.Second, 10)}, ptr(0.0), 4, 894427191},
		{"ramp from 0: Λ(D)=5 holds 5 requests", []Stage{st(time.Second, 10)}, ptr(0.0), 5, Never},
		{"ramp from 0: request 0 at 0", []Stage{st(time.Second, 10)}, ptr(0.0), 0, 0},
		{"ramp from 0: request 1 at sqrt(0.2)s", []Stage{st(time.Second, 10)}, ptr(0.0), 1, 447213595},
		{"zero stage first is skipped", []Stage{st(time.Second, 0), st(time.Second, 0), st(time.Second, 4)}, nil, 0, 2 * time.Second},
		{"ramp out of a zero stage", []Stage{st(time.Second, 0), st(time.Second, 10)}, nil, 1, 1447213595},
		// 2/s, ramp 2->0 (area 1), 0 throughout, ramp 0->2: request 3 waits for the last ramp.
		{"zero stage in the middle is skipped", []Stage{st(time.Second, 2), st(time.Second, 0), st(time.Second, 0), st(time.Second, 2)}, nil, 3, 3 * time.Second},
		// Λ = 10 + 10τ - 5τ² in the ramp: request 14 at τ = 1 - sqrt(0.2).
		{"ramp down to 0: last request", []Stage{st(time.Second, 10), st(time.Second, 0)}, nil, 14, 1552786405},
		{"ramp down to 0: Λ(D)=15 holds 15 requests", []Stage{st(time.Second, 10), st(time.Second, 0)}, nil, 15, Never},
		{"fractional rate", []Stage{st(10*time.Second, 0.3)}, nil, 2, 6666666667},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewScheduleFrom(Load{Stages: tt.stages, StartRate: tt.startRate})
			if got := s.Arrival(tt.i); got != tt.want {
				t.Errorf("Arrival(%d) = %v, want %v", tt.i, got, tt.want)
			}
		})
	}
}

func TestScheduleConstant1000(t *testing.T) {
	t.Parallel()
	s := NewSchedule([]Stage{st(10*time.Second, 1000)})
	if got := s.Total(); got != 10000 {
		t.Errorf("Total() = %d, want 10000", got)
	}
	for k := range 10 {
		if got := s.SliceIntended(k, time.Second); got != 1000 {
			t.Errorf("SliceIntended(%d, 1s) = %d, want 1000", k, got)
		}
	}
	if got := s.SliceIntended(10, time.Second); got != 0 {
		t.Errorf("SliceIntended(10, 1s) past the plan = %d, want 0", got)
	}
	for shard, want := range []int64{3334, 3333, 3333} {
		if got := s.Shard(shard, 3).Total(); got != want {
			t.Errorf("Shard(%d, 3).Total() = %d, want %d", shard, got, want)
		}
	}
	if got, want := s.Shard(1, 3).Arrival(2), s.Arrival(7); got != want || got != 7*time.Millisecond {
		t.Errorf("Shard(1, 3).Arrival(2) = %v, want Arrival(7) = %v = 7ms", got, want)
	}
	if got := s.Shard(1, 3).Global(2); got != 7 {
		t.Errorf("Shard(1, 3).Global(2) = %d, want 7", got)
	}
}

func TestShardCountInvalid(t *testing.T) {
	t.Parallel()
	s := NewSchedule([]Stage{st(time.Second, 100)})
	for _, tt := range []struct{ shard, shards int }{{0, 0}, {-1, 4}, {4, 4}} {
		h := s.Shard(tt.shard, tt.shards)
		if got := h.CountBefore(time.Second); got != 0 {
			t.Errorf("Shard(%d, %d).CountBefore(1s) = %d, want 0", tt.shard, tt.shards, got)
		}
		if got := h.Arrival(0); got != Never {
			t.Errorf("Shard(%d, %d).Arrival(0) = %v, want Never", tt.shard, tt.shards, got)
		}
		if got := h.Total(); got != 0 {
			t.Errorf("Shard(%d, %d).Total() = %d, want 0", tt.shard, tt.shards, got)
		}
		if got := h.SliceIntended(0, time.Second); got != 0 {
			t.Errorf("Shard(%d, %d).SliceIntended(0, 1s) = %d, want 0", tt.shard, tt.shards, got)
		}
		if got := h.UsersAt(0); got != 0 {
			t.Errorf("Shard(%d, %d).UsersAt(0) = %d, want 0", tt.shard, tt.shards, got)
		}
	}
	var zero ShardSchedule
	if got := zero.Arrival(0); got != Never {
		t.Errorf("zero ShardSchedule Arrival(0) = %v, want Never", got)
	}
	if got := s.Shard(0, 1).Arrival(math.MaxInt64); got != Never {
		t.Errorf("Shard(0, 1).Arrival(MaxInt64) = %v, want Never", got)
	}
	// j*3 wraps around to 2, a request the plan holds: j is out of range.
	if got := s.Shard(0, 3).Arrival((1<<64 + 2) / 3); got != Never {
		t.Errorf("Shard(0, 3).Arrival((2^64+2)/3) = %v, want Never", got)
	}
	for _, tt := range []struct {
		k     int
		slice time.Duration
	}{{-1, time.Second}, {0, 0}, {0, -time.Second}, {math.MaxInt, time.Hour}} {
		if got := s.SliceIntended(tt.k, tt.slice); got != 0 {
			t.Errorf("SliceIntended(%d, %v) = %d, want 0", tt.k, tt.slice, got)
		}
	}
}

// randomLoad draws a stage shape mixing constants, ramps up and down, zero
// stages, fractional and huge rates.
func randomLoad(r *rand.Rand) Load {
	rates := []func() float64{
		func() float64 { return 0 },
		func() float64 { return 0.3 },
		func() float64 { return 33.333 },
		func() float64 { return 1000 },
		func() float64 { return r.Float64() * 50 },
		func() float64 { return r.Float64() * 5000 },
		func() float64 { return 1e5 + r.Float64()*9e5 }, // huge
		func() float64 { return float64(r.IntN(200)) },
	}
	var l Load
	if r.IntN(3) == 0 {
		l.StartRate = ptr(rates[r.IntN(len(rates))]())
	}
	n := 1 + r.IntN(6)
	for range n {
		// Odd durations down to the nanosecond, so boundaries fall anywhere.
		d := time.Duration(r.Int64N(int64(20*time.Second))) + time.Millisecond
		if r.IntN(4) == 0 {
			d = time.Duration(1+r.IntN(5)) * time.Second
		}
		l.Stages = append(l.Stages, st(d, rates[r.IntN(len(rates))]()))
	}
	return l
}

// exactIntegral returns Λ(D) computed in exact rational arithmetic from the
// stage values, independent of the float code under test.
func exactIntegral(l Load) *big.Rat {
	sum := new(big.Rat)
	var prev float64
	for i, s := range l.Stages {
		r0 := prev
		if i == 0 {
			r0 = s.Rate
			if l.StartRate != nil {
				r0 = *l.StartRate
			}
		}
		area := new(big.Rat).Add(new(big.Rat).SetFloat64(r0), new(big.Rat).SetFloat64(s.Rate))
		area.Mul(area, big.NewRat(int64(s.Duration), 2e9))
		sum.Add(sum, area)
		prev = s.Rate
	}
	return sum
}

func ratCeil(r *big.Rat) int64 {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// TestScheduleProperties proves on many random plans that the shards and
// slices add up exactly to the plan, that CountBefore agrees with Arrival,
// and that the total matches the exact integral of the rate.
func TestScheduleProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(2026, 11))
	cases := 300
	if testing.Short() {
		cases = 50
	}
	slices := []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, time.Second, 1500 * time.Millisecond, 7300 * time.Millisecond, 10 * time.Second}
	for c := range cases {
		l := randomLoad(r)
		shardCounts := []int{1 + r.IntN(64), 1 + r.IntN(64)}
		if c == 0 {
			shardCounts = []int{1, 64}
		}
		slice := slices[r.IntN(len(slices))]
		t.Run(fmt.Sprintf("case%d", c), func(t *testing.T) {
			checkSchedule(t, l, shardCounts, slice, r.Int64())
		})
	}
}

func checkSchedule(t *testing.T, l Load, shardCounts []int, slice time.Duration, seed int64) {
	t.Helper()
	s := NewScheduleFrom(l)
	D := s.Duration()
	total := s.Total()
	desc := fmt.Sprintf("stages %v start_rate %v slice %v", l.Stages, deref(l.StartRate), slice)

	if want := ratCeil(exactIntegral(l)); total < want-1 || total > want+1 {
		t.Fatalf("%s: Total() = %d, exact ceil(Λ(D)) = %d", desc, total, want)
	}
	if got := s.CountBefore(D); got != total {
		t.Fatalf("%s: CountBefore(D) = %d, Total() = %d", desc, got, total)
	}
	if total > 0 && s.Arrival(total-1) >= D {
		t.Fatalf("%s: last request at %v, not before D = %v", desc, s.Arrival(total-1), D)
	}
	if s.Arrival(total) != Never {
		t.Fatalf("%s: Arrival(Total) = %v, want Never", desc, s.Arrival(total))
	}

	nSlices := int((D + slice - 1) / slice)
	var sliceSum int64
	for k := range nSlices {
		sliceSum += s.SliceIntended(k, slice)
	}
	if sliceSum != total {
		t.Fatalf("%s: sum of SliceIntended = %d, Total() = %d", desc, sliceSum, total)
	}
	for _, shards := range shardCounts {
		var grand int64
		for k := 0; k <= nSlices; k++ {
			b := min(time.Duration(k)*slice, D)
			var atB int64
			for sh := range shards {
				atB += s.Shard(sh, shards).CountBefore(b)
			}
			if want := s.CountBefore(b); atB != want {
				t.Fatalf("%s shards %d: sum of Shard.CountBefore(%v) = %d, CountBefore = %d", desc, shards, b, atB, want)
			}
			if k == nSlices {
				break
			}
			var inSlice int64
			for sh := range shards {
				inSlice += s.Shard(sh, shards).SliceIntended(k, slice)
			}
			if want := s.SliceIntended(k, slice); inSlice != want {
				t.Fatalf("%s shards %d: slice %d: sum over shards = %d, SliceIntended = %d", desc, shards, k, inSlice, want)
			}
			grand += inSlice
		}
		if grand != total {
			t.Fatalf("%s shards %d: sum over shards and slices = %d, Total() = %d", desc, shards, grand, total)
		}
		var shardTotals int64
		for sh := range shards {
			shardTotals += s.Shard(sh, shards).Total()
		}
		if shardTotals != total {
			t.Fatalf("%s shards %d: sum of Shard.Total = %d, Total() = %d", desc, shards, shardTotals, total)
		}
	}

	// Arrival against CountBefore: on every request of small plans, and on
	// windows around random points and stage boundaries of large ones.
	var idx []int64
	if total <= 20000 {
		for i := range total {
			idx = append(idx, i)
		}
	} else {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		starts := []int64{0, total - 50}
		for range 20 {
			starts = append(starts, r.Int64N(total))
		}
		var at time.Duration
		for _, stg := range l.Stages {
			at += stg.Duration.D()
			starts = append(starts, s.CountBefore(at)-25)
		}
		for _, a := range starts {
			for i := max(a, 0); i < min(a+50, total); i++ {
				idx = append(idx, i)
			}
		}
		slices.Sort(idx)
		idx = slices.Compact(idx)
	}
	for n, i := range idx {
		a := s.Arrival(i)
		if a < 0 || a >= D {
			t.Fatalf("%s: Arrival(%d) = %v outside [0, %v)", desc, i, a, D)
		}
		if n > 0 && idx[n-1] == i-1 && s.Arrival(i-1) > a {
			t.Fatalf("%s: Arrival(%d) = %v > Arrival(%d) = %v", desc, i-1, s.Arrival(i-1), i, a)
		}
		if got := s.CountBefore(a); got != i {
			t.Fatalf("%s: CountBefore(Arrival(%d) = %v) = %d, want %d", desc, i, a, got, i)
		}
		if got := s.CountBefore(a + 1); got < i+1 {
			t.Fatalf("%s: CountBefore(Arrival(%d)+1ns) = %d, want >= %d", desc, i, got, i+1)
		}
		if s.RateAt(a) == 0 && (i == 0 || s.Arrival(i-1) != a) && s.RateAt(a+time.Microsecond) == 0 {
			t.Fatalf("%s: request %d at %v where the rate is 0", desc, i, a)
		}
	}
}

// Hand-picked shapes that stress the boundaries, checked like random ones.
func TestScheduleEdgeShapes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		load Load
	}{
		{"constant 1000 for 10s", Load{Stages: []Stage{st(10*time.Second, 1000)}}},
		{"0.3 req/s", Load{Stages: []Stage{st(100*time.Second, 0.3)}}},
		{"33.333 req/s", Load{Stages: []Stage{st(30*time.Second, 33.333)}}},
		{"max rate", Load{Stages: []Stage{st(3*time.Second, 1e6)}}},
		{"ramp up from 0 to max", Load{StartRate: ptr(0.0), Stages: []Stage{st(2*time.Second, 1e6)}}},
		{"ramp down to 0", Load{Stages: []Stage{st(time.Second, 777), st(3*time.Second, 0)}}},
		{"zeros around a blip", Load{Stages: []Stage{st(time.Second, 0), st(time.Nanosecond, 0), st(time.Second, 0.5), st(time.Second, 0)}}},
		{"tiny stages", Load{Stages: []Stage{st(1, 1e6), st(3, 1e5), st(time.Millisecond, 3), st(7, 0)}}},
		{"less than one request", Load{Stages: []Stage{st(time.Second, 0.2)}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkSchedule(t, tt.load, []int{1, 2, 3, 7, 64}, 100*time.Millisecond, 1)
		})
	}
}

func TestScheduleUsers(t *testing.T) {
	t.Parallel()
	s := NewScheduleFrom(Load{Model: "closed", StartUsers: ptr(0), Stages: []Stage{
		{Duration: sec(10), Users: 10}, {Duration: sec(10), Users: 10}, {Duration: sec(4), Users: 2},
	}})
	for _, tt := range []struct {
		t    time.Duration
		want int
	}{
		{-1, 0},                      // before the run
		{0, 0},                       // start_users 0
		{999 * time.Millisecond, 0},  // floor: 0.999 users is none
		{time.Second, 1},             // one user per second up the ramp
		{9999 * time.Millisecond, 9}, // still below 10
		{10 * time.Second, 10},       // plateau
		{20 * time.Second, 10},       // ramp down starts at 10
		{20*time.Second + 1, 9},      // floor on the way down
		{22 * time.Second, 6},        // halfway 10 -> 2
		{24*time.Second - 1, 2},      // almost at 2
		{24 * time.Second, 0},        // the plan is over
	} {
		if got := s.UsersAt(tt.t); got != tt.want {
			t.Errorf("UsersAt(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
	for _, at := range []time.Duration{0, 3 * time.Second, 15 * time.Second, 22 * time.Second} {
		for _, shards := range []int{1, 3, 4, 64} {
			sum := 0
			for sh := range shards {
				sum += s.Shard(sh, shards).UsersAt(at)
			}
			if want := s.UsersAt(at); sum != want {
				t.Errorf("at %v, %d shards: sum of Shard.UsersAt = %d, want %d", at, shards, sum, want)
			}
		}
	}
	if got := s.Shard(1, 4).UsersAt(15 * time.Second); got != 3 { // users 1, 5, 9
		t.Errorf("Shard(1, 4).UsersAt(15s) = %d, want 3", got)
	}
	long := NewSchedule([]Stage{{Duration: Duration(24 * time.Hour), Users: 0}, {Duration: Duration(24 * time.Hour), Users: 100000}})
	if got := long.UsersAt(24*time.Hour + 12*time.Hour); got != 50000 {
		t.Errorf("long ramp UsersAt(halfway) = %d, want 50000 (no overflow)", got)
	}
}

func BenchmarkArrival(b *testing.B) {
	many := make([]Stage, 100)
	for i := range many {
		many[i] = st(time.Duration(1+i%7)*time.Second, float64(i%5)*250)
	}
	for _, bb := range []struct {
		name string
		load Load
	}{
		{"constant", Load{Stages: []Stage{st(time.Hour, 1000)}}},
		{"ramp", Load{StartRate: ptr(0.0), Stages: []Stage{st(time.Hour, 1000)}}},
		{"100stages", Load{Stages: many}},
	} {
		s := NewScheduleFrom(bb.load)
		total := s.Total()
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink time.Duration
			i := int64(0)
			for b.Loop() {
				sink += s.Arrival(i)
				if i++; i == total {
					i = 0
				}
			}
			_ = sink
		})
	}
}

func BenchmarkCountBefore(b *testing.B) {
	for _, bb := range []struct {
		name string
		load Load
	}{
		{"constant", Load{Stages: []Stage{st(time.Hour, 1000)}}},
		{"ramp", Load{StartRate: ptr(0.0), Stages: []Stage{st(time.Hour, 1000)}}},
	} {
		s := NewScheduleFrom(bb.load)
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink int64
			t := time.Duration(0)
			for b.Loop() {
				sink += s.CountBefore(t)
				if t += 7777777; t >= time.Hour {
					t = 0
				}
			}
			_ = sink
		})
	}
}
