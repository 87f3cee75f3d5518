package load

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
)

// freezeAhead is how long before its start a slice's rate is fixed: the
// event loop takes a request up to a tick (pacingGrid) early, and a
// sender waiting for a slice wakes this much before it.
const freezeAhead = 5 * pacingGrid

// rateTable is the open model's rate per slice of a search plan
// (load.search), which the worker changes as the probes come
// (Engine.SetRate). Its schedule is rebuilt on each change and swapped in
// with one atomic store; senders read it without a lock. Slices below
// frozen have started, or start within freezeAhead: their rate never
// changes again, so a request of theirs, once timed, keeps its time and
// its number.
type rateTable struct {
	slice         time.Duration
	shard, shards int
	n             int64 // slices

	mu        sync.Mutex
	rates     []float64 // req/s for the whole plan, by slice; under mu
	startMono int64     // slice 0's start on the monotonic clock, 0 before Run; under mu

	frozen atomic.Int64
	sched  atomic.Pointer[plan.ShardSchedule]
}

func newRateTable(rates []float64, slice time.Duration, shard, shards int) *rateTable {
	t := &rateTable{slice: slice, shard: shard, shards: shards, rates: rates, n: int64(len(rates))}
	t.publish()
	return t
}

// publish builds the schedule of the rates; the caller holds mu (or owns t).
func (t *rateTable) publish() {
	sh := plan.NewSliceSchedule(t.slice, t.rates).Shard(t.shard, t.shards)
	t.sched.Store(&sh)
}

// start fixes slice 0's start and freezes the slices before first, which
// the shard does not send but whose rates number its requests.
func (t *rateTable) start(startMono int64, first int) {
	t.mu.Lock()
	t.startMono = startMono
	t.mu.Unlock()
	t.freezeTo(int64(first))
}

// freezeTo fixes the rates of the slices below k.
func (t *rateTable) freezeTo(k int64) int64 {
	for {
		f := t.frozen.Load()
		if k <= f || t.frozen.CompareAndSwap(f, k) {
			return max(f, k)
		}
	}
}

// freeze fixes the rate of every slice that starts within freezeAhead of
// now and returns the first slice that may still change. Under mu, so that
// a SetRate either comes before it, and its schedule is the one read after
// it, or sees the slices it froze.
func (t *rateTable) freeze(now int64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.freezeNow(now)
}

// freezeNow is freeze with mu held.
func (t *rateTable) freezeNow(now int64) int64 {
	if t.startMono == 0 {
		return t.frozen.Load()
	}
	off := now + int64(freezeAhead) - t.startMono
	if off < 0 {
		return t.frozen.Load()
	}
	return t.freezeTo(off/int64(t.slice) + 1)
}

// set sets rate from slice from on, from the first slice not frozen at the
// latest, and returns the first slice it applied to (len(rates) when none
// is left). A rate equal to the table's changes nothing and builds nothing.
func (t *rateTable) set(from int, rate float64, now int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := max(from, int(t.freezeNow(now)), 0)
	changed := false
	for k := at; k < len(t.rates); k++ {
		if t.rates[k] != rate {
			t.rates[k], changed = rate, true
		}
	}
	if changed {
		t.publish()
	}
	return min(at, len(t.rates))
}

// view returns the schedule to read arrivals from and the first slice
// whose rate may still change, freezing the slices that start within
// freezeAhead of now. Frozen is read before the schedule: every change to
// a slice below it was stored before it was frozen.
func (t *rateTable) view(now int64, startMono int64) (*plan.ShardSchedule, int64) {
	f := t.frozen.Load()
	if f < t.n && now+int64(freezeAhead) >= startMono+f*int64(t.slice) {
		f = t.freeze(now)
	}
	return t.sched.Load(), f
}
