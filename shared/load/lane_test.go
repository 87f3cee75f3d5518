package load

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/slice"
)

// TestLaneTextChars checks the lengths a lane counts for the texts of the
// requests it recorded, against a count made text by text: at once for
// one text per request, and at the slice's take for batches, whether the
// requests are counted in an array or (beyond maxDenseSent) in a map, and
// when the corpus wraps around inside a batch.
func TestLaneTextChars(t *testing.T) {
	tests := []struct {
		name         string
		texts, batch int
		sends        []int // request indices, in order
	}{
		{"one text per request", 10, 1, []int{0, 3, 3, 9, 0}},
		{"batches of 3, wrapping", 10, 3, []int{0, 1, 3, 3, 3, 2}},
		{"batches of 1024", 4096, 1024, []int{0, 1, 2, 3, 0, 0}},
		{"more requests than an array holds", 2 * maxDenseSent * 2, 2, []int{0, maxDenseSent + 5, 2*maxDenseSent - 1, 7, 7}},
		{"nothing sent", 10, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := &requestSet{n: (tt.texts + tt.batch - 1) / tt.batch, batch: tt.batch, chars: make([]int32, tt.texts)}
			for j := range set.chars {
				set.chars[j] = int32(j%97 + 1)
			}
			for i := range set.n {
				set.first = append(set.first, i*tt.batch)
			}
			want := map[int64]int64{}
			for _, i := range tt.sends {
				for j := range tt.batch {
					want[int64(set.chars[(set.first[i]+j)%tt.texts])]++
				}
			}
			l := &lane{reqs: set}
			r := result{outcome: "http:200", ok: true}
			// Two slices, the second a copy of the first: a reused
			// recorder must start empty.
			for k := range 2 {
				for _, i := range tt.sends {
					l.record(k, i, &r, time.Millisecond, time.Millisecond, 0)
				}
				res := slice.NewResult("lane", 0, k, time.Time{}, time.Time{})
				l.take(k, res)
				got := res.TextChars
				if got == nil {
					got = map[int64]int64{}
				}
				if !maps.Equal(got, want) {
					t.Errorf("slice %d: text lengths %v, want %v", k, trim(got), trim(want))
				}
				if wantN := int64(len(tt.sends) * tt.batch); res.Instances != wantN {
					t.Errorf("slice %d: instances %d, want %d", k, res.Instances, wantN)
				}
			}
		})
	}
}

// trim shows a few entries of a long map.
func trim(m map[int64]int64) string {
	if len(m) <= 8 {
		return fmt.Sprint(m)
	}
	return fmt.Sprintf("%d lengths", len(m))
}

// TestLateCount checks that the plan's max_lateness reaches every
// recorder of an engine's lanes: with a bound of 1 µs some requests of a
// shard at 50 req/s are late (a timer wakes microseconds late at best),
// with 10 s none is, and late never exceeds sent. The lane's own count is
// checked exactly.
func TestLateCount(t *testing.T) {
	t.Parallel()
	l := &lane{lateBound: 50 * time.Millisecond}
	for _, late := range []time.Duration{0, 50 * time.Millisecond, 51 * time.Millisecond, time.Second} {
		l.record(0, 0, &result{outcome: "http:200", ok: true}, time.Millisecond, time.Millisecond, late)
	}
	res := slice.NewResult("lane", 0, 0, time.Time{}, time.Time{})
	l.take(0, res)
	if res.Late != 2 || res.Sent != 4 {
		t.Errorf("lane: %d of %d requests late, want 2 of 4 (beyond 50ms)", res.Late, res.Sent)
	}

	tg := startTarget(t, okHandler)
	tests := []struct {
		name     string
		bound    time.Duration
		someLate bool
	}{
		{"bound 1µs: some requests late", time.Microsecond, true},
		{"bound 10s: none late", 10 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testPlan(tg.url, 50, time.Second, 500*time.Millisecond, 2, 0)
			p.MaxLateness = plan.Duration(tt.bound)
			all := merged(run(t, p, time.Now().Add(100*time.Millisecond)))
			t.Logf("%d of %d requests late (max lateness %d µs)", all.Late, all.Sent, all.MaxLatenessUS)
			if all.Sent == 0 || all.Late > all.Sent || (all.Late > 0) != tt.someLate {
				t.Errorf("%d of %d requests late, want some late: %v", all.Late, all.Sent, tt.someLate)
			}
		})
	}
}
