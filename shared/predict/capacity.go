package predict

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// maxConcurrency bounds Config.Concurrency: one heap entry per server.
const maxConcurrency = 1 << 20

// capacity is a queue in front of n servers, each serving one request for
// d: an M/D/n queue with FIFO order. It is computed rather than waited
// out: a request arriving at t takes the server that frees up first, at f,
// starts at max(t, f) and ends d later, and the caller sleeps until then.
// So at most n requests are in service at any instant, in order of
// arrival (the order requests take the mutex), and the capacity is n/d
// exactly: a timer that wakes late delays that one answer, never the
// servers. A request whose client gives up while queued still takes its
// turn, as in a server that does not notice a cancelled request.
type capacity struct {
	d      time.Duration
	mu     sync.Mutex
	free   timeHeap // when each server is next free
	queued atomic.Int64
}

func newCapacity(n int, d time.Duration) *capacity {
	c := &capacity{d: d, free: make(timeHeap, n)}
	return c
}

// serve queues a request arriving at t and returns when its service ends.
func (c *capacity) serve(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := c.free[0] // the zero time for a server never used
	if start.After(t) {
		c.queued.Add(1)
	} else {
		start = t
	}
	end := start.Add(c.d)
	c.free[0] = end
	heap.Fix(&c.free, 0)
	return end
}

// queuedCount returns how many requests waited for a server; 0 for nil.
func (c *capacity) queuedCount() int64 {
	if c == nil {
		return 0
	}
	return c.queued.Load()
}

// timeHeap is a min-heap of times.
type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
