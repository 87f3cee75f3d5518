package plan

import (
	"math"
	"math/bits"
	"time"
)

// Never is what Arrival returns for a request the plan does not hold.
const Never = time.Duration(math.MaxInt64)

// Schedule is the plan's load as pure functions of the time since the run's
// start: the open model's rate and request arrivals, the closed model's
// users, and their split into shards. It is immutable and safe for
// concurrent use.
type Schedule struct {
	segs  []segment
	end   time.Duration
	total int64 // open model: number of requests with Arrival < end
}

// segment is one stage with positive duration, with the integral of the rate
// at its start precomputed so Arrival needs no loop.
type segment struct {
	start, dur time.Duration
	durSec     float64
	r0, r1     float64 // rate at start and end, req/s
	a          float64 // (r1-r0)/(2*durSec): Λ within the stage is r0*τ + a*τ²
	cum        float64 // Λ at the stage's start
	cumEnd     float64 // Λ at the stage's end
	u0, u1     int64   // users at start and end
}

// NewSchedule builds the schedule of stages whose first stage is constant
// (no start_rate or start_users). Stages are expected to be validated;
// invalid values are clamped (negative or NaN to 0) so this never panics.
func NewSchedule(stages []Stage) *Schedule { return newSchedule(stages, nil, nil) }

// NewScheduleFrom builds the schedule of l, honouring StartRate and StartUsers.
func NewScheduleFrom(l Load) *Schedule { return newSchedule(l.Stages, l.StartRate, l.StartUsers) }

func newSchedule(stages []Stage, startRate *float64, startUsers *int) *Schedule {
	s := &Schedule{}
	var prevR float64
	var prevU int64
	first := true
	for _, st := range stages {
		r := cleanRate(st.Rate)
		u := int64(max(st.Users, 0))
		if first {
			prevR, prevU = r, u
			if startRate != nil {
				prevR = cleanRate(*startRate)
			}
			if startUsers != nil {
				prevU = int64(max(*startUsers, 0))
			}
			first = false
		}
		d := st.Duration.D()
		if d <= 0 || s.end > maxDuration-d {
			// A stage without length holds nothing; its end values still
			// carry into the next ramp, as they would after a tiny stage.
			prevR, prevU = r, u
			continue
		}
		g := segment{start: s.end, dur: d, durSec: d.Seconds(), r0: prevR, r1: r, u0: prevU, u1: u}
		g.a = (g.r1 - g.r0) / (2 * g.durSec)
		if n := len(s.segs); n > 0 {
			g.cum = s.segs[n-1].cumEnd
		}
		g.cumEnd = g.cum + (g.r0+g.r1)/2*g.durSec
		s.segs = append(s.segs, g)
		s.end += d
		prevR, prevU = r, u
	}
	s.total = s.countAll()
	return s
}

// countAll returns the number of requests with an arrival before the end.
func (s *Schedule) countAll() int64 {
	n := len(s.segs)
	if n == 0 {
		return 0
	}
	// Start from the exact count, then let Arrival have the last word so
	// Total agrees with it even where float rounding moved a request.
	t := clampCount(math.Ceil(s.segs[n-1].cumEnd))
	for t > 0 && s.arrival(t-1) >= s.end {
		t--
	}
	for s.arrival(t) < s.end {
		t++
	}
	return t
}

// NewSliceSchedule builds a schedule that is constant within each slice:
// rates[k] req/s (whole plan) in slice k, for len(rates) slices. Each slice
// is a segment of its own, so two tables that agree on their first slices
// give those slices' requests the same numbers and the same arrivals to
// the nanosecond, whatever the later slices hold: a search changes the
// rate of slices not yet started without moving a request already sent.
func NewSliceSchedule(slice time.Duration, rates []float64) *Schedule {
	s := &Schedule{}
	if slice <= 0 {
		return s
	}
	s.segs = make([]segment, 0, len(rates))
	for _, r := range rates {
		if s.end > maxDuration-slice {
			break
		}
		r = cleanRate(r)
		g := segment{start: s.end, dur: slice, durSec: slice.Seconds(), r0: r, r1: r}
		if n := len(s.segs); n > 0 {
			g.cum = s.segs[n-1].cumEnd
		}
		g.cumEnd = g.cum + r*g.durSec
		s.segs = append(s.segs, g)
		s.end += slice
	}
	s.total = s.countAll()
	return s
}

func cleanRate(r float64) float64 {
	if math.IsNaN(r) || r < 0 {
		return 0
	}
	return min(r, math.MaxFloat64/1e6) // keep Λ finite
}

func clampCount(f float64) int64 {
	if f <= 0 || math.IsNaN(f) {
		return 0
	}
	if f >= 1<<62 {
		return 1 << 62
	}
	return int64(f)
}

// Duration returns the schedule's length.
func (s *Schedule) Duration() time.Duration { return s.end }

// segAt returns the index of the segment holding t, for 0 <= t < end.
func (s *Schedule) segAt(t time.Duration) int {
	lo, hi := 0, len(s.segs)-1
	for lo < hi {
		m := int(uint(lo+hi+1) >> 1)
		if s.segs[m].start <= t {
			lo = m
		} else {
			hi = m - 1
		}
	}
	return lo
}

// RateAt returns the whole plan's intended rate in req/s at t (0 outside the plan).
func (s *Schedule) RateAt(t time.Duration) float64 {
	if t < 0 || t >= s.end {
		return 0
	}
	g := &s.segs[s.segAt(t)]
	return g.r0 + (g.r1-g.r0)*(float64(t-g.start)/float64(g.dur))
}

// Arrival returns the intended offset from the run's start of global request
// i: inf{t : Λ(t) > i} rounded to the nanosecond. It returns Never for i < 0
// and i >= Total(). It is O(log stages) and does not allocate.
func (s *Schedule) Arrival(i int64) time.Duration {
	if i < 0 || i >= s.total {
		return Never
	}
	return s.arrival(i)
}

// arrival is Arrival without the bound on Total, used to compute Total. It
// is non-decreasing in i: within a stage τ grows with i far faster than its
// rounding error (requests are at least 1µs apart at the maximum rate), a
// stage's times are clamped to its end, and the next stage starts there.
func (s *Schedule) arrival(i int64) time.Duration {
	n := len(s.segs)
	x := float64(i)
	if n == 0 || i < 0 || x >= s.segs[n-1].cumEnd {
		return Never
	}
	// First segment whose end integral exceeds x: zero-rate stages are skipped.
	lo, hi := 0, n-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.segs[m].cumEnd > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	g := &s.segs[lo]
	y := max(x-g.cum, 0)
	var tau float64
	switch {
	case y == 0:
		tau = 0
	case g.a == 0:
		tau = y / g.r0
	default:
		// Root of a·τ² + r0·τ - y = 0 in the form without cancellation.
		disc := max(g.r0*g.r0+4*g.a*y, 0)
		tau = 2 * y / (g.r0 + math.Sqrt(disc))
	}
	ns := math.Round(tau * 1e9)
	if !(ns < float64(g.dur)) { // also catches NaN and Inf
		return g.start + g.dur
	}
	return g.start + time.Duration(ns)
}

// CountBefore returns the number of global requests with Arrival(i) < t. It
// takes a candidate from the integral of the rate and corrects it against
// Arrival, so the two agree exactly.
func (s *Schedule) CountBefore(t time.Duration) int64 {
	if t <= 0 || s.total == 0 {
		return 0
	}
	if t >= s.end {
		return s.total
	}
	g := &s.segs[s.segAt(t)]
	tau := float64(t-g.start) / 1e9
	n := min(clampCount(math.Ceil(g.cum+g.r0*tau+g.a*tau*tau)), s.total)
	for n > 0 && s.arrival(n-1) >= t {
		n--
	}
	for n < s.total && s.arrival(n) < t {
		n++
	}
	return n
}

// Total returns the number of requests the plan holds: CountBefore(Duration()).
func (s *Schedule) Total() int64 { return s.total }

// shardCount returns the number of i < n with i % shards == shard.
func shardCount(n, shard, shards int64) int64 {
	if shards < 1 || shard < 0 || shard >= shards || n <= shard {
		return 0
	}
	return (n - shard + shards - 1) / shards
}

// ShardSchedule is one shard's share of a Schedule: the global requests i
// with i % shards == shard, numbered j = 0, 1, … in order, and the users u
// with u % shards == shard. Get it with Schedule.Shard. It is a small value,
// immutable and safe for concurrent use; the zero value holds nothing.
type ShardSchedule struct {
	s             *Schedule
	shard, shards int64 // shards is 0 for an invalid shard: it holds nothing
	maxJ          int64 // the largest j whose global number fits in an int64
}

// Shard binds the schedule to shard of shards, 0 ≤ shard < shards. An
// invalid shard holds no requests and no users.
func (s *Schedule) Shard(shard, shards int) ShardSchedule {
	if shards < 1 || shard < 0 || shard >= shards {
		return ShardSchedule{}
	}
	sh, n := int64(shard), int64(shards)
	return ShardSchedule{s: s, shard: sh, shards: n, maxJ: (math.MaxInt64 - sh) / n}
}

// Global returns the global request number of the shard's j-th request:
// j*shards + shard.
func (h ShardSchedule) Global(j int64) int64 { return j*h.shards + h.shard }

// Arrival returns the intended offset of the shard's j-th request, or Never
// if there is none.
func (h ShardSchedule) Arrival(j int64) time.Duration {
	if h.shards == 0 || j < 0 || j > h.maxJ {
		return Never
	}
	return h.s.Arrival(j*h.shards + h.shard)
}

// CountBefore returns how many of the shard's requests are intended before t.
func (h ShardSchedule) CountBefore(t time.Duration) int64 {
	if h.shards == 0 {
		return 0
	}
	return shardCount(h.s.CountBefore(t), h.shard, h.shards)
}

// Total returns how many requests the shard sends over the whole plan.
func (h ShardSchedule) Total() int64 {
	if h.shards == 0 {
		return 0
	}
	return shardCount(h.s.total, h.shard, h.shards)
}

// SliceIntended returns the number of the shard's requests intended in slice
// k, [k*slice, (k+1)*slice) clipped to the plan.
func (h ShardSchedule) SliceIntended(k int, slice time.Duration) int64 {
	if h.shards == 0 {
		return 0
	}
	from, to, ok := h.s.sliceBounds(k, slice)
	if !ok {
		return 0
	}
	return h.CountBefore(to) - h.CountBefore(from)
}

// UsersAt returns how many of the closed model's users at t belong to the
// shard: users u < Schedule.UsersAt(t) with u % shards == shard.
func (h ShardSchedule) UsersAt(t time.Duration) int {
	if h.shards == 0 {
		return 0
	}
	return int(shardCount(int64(h.s.UsersAt(t)), h.shard, h.shards))
}

// sliceBounds returns slice k's [from, to) clipped to the plan, ok false if
// the slice is empty or invalid.
func (s *Schedule) sliceBounds(k int, slice time.Duration) (from, to time.Duration, ok bool) {
	if k < 0 || slice <= 0 || int64(k) > int64(s.end/slice) {
		return 0, 0, false
	}
	from = time.Duration(k) * slice
	to = min(from+slice, s.end)
	return from, to, from < to
}

// SliceIntended returns the number of global requests intended in slice k,
// [k*slice, (k+1)*slice) clipped to the plan.
func (s *Schedule) SliceIntended(k int, slice time.Duration) int64 {
	from, to, ok := s.sliceBounds(k, slice)
	if !ok {
		return 0
	}
	return s.CountBefore(to) - s.CountBefore(from)
}

// UsersAt returns the closed model's users for the whole plan at t: a linear
// ramp within each stage, rounded down (0 outside the plan).
func (s *Schedule) UsersAt(t time.Duration) int {
	if t < 0 || t >= s.end {
		return 0
	}
	g := &s.segs[s.segAt(t)]
	delta := g.u1 - g.u0
	if delta == 0 {
		return int(g.u0)
	}
	// |delta|·τ can pass 2^63 ns-users on long stages: multiply in 128 bits.
	hi, lo := bits.Mul64(uint64(abs(delta)), uint64(t-g.start))
	q, r := bits.Div64(hi, lo, uint64(g.dur)) // the quotient is < |delta|, so Div64 cannot overflow
	if delta > 0 {
		return int(g.u0 + int64(q))
	}
	if r != 0 {
		q++ // floor of a negative fraction
	}
	return int(g.u0 - int64(q))
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
