package predict

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// maxConcurrency bounds Config.Concurrency.
const maxConcurrency = 1 << 20

// errStopping ends a wait for a server when the service shuts down.
var errStopping = errors.New("shutting down")

// capacity is a queue in front of n servers, each serving one request for
// d. A server is a token in a buffered channel holding the time it is next
// free; a request takes the first token handed out (a channel hands its
// values to waiting receivers in the order they came, so the queue is
// FIFO), starts at the later of its arrival and that time, and is served
// until d after. The token goes back with that end, not with the time the
// timer actually fired: a late timer delays one answer, never the next
// request, so the capacity is n/d exactly. A request whose client gives up
// while queued leaves the queue and costs nothing; one already in service
// keeps its server until its service ends, as in a server that does not
// notice a cancelled request.
type capacity struct {
	d       time.Duration
	servers chan time.Time
	queued  atomic.Int64
}

func newCapacity(n int, d time.Duration) *capacity {
	c := &capacity{d: d, servers: make(chan time.Time, n)}
	for range n {
		c.servers <- time.Time{}
	}
	return c
}

// serve queues a request that arrived at arrival, serves it and returns
// once its service ended; or returns at once with ctx's error if the
// client gives up while it is queued, or errStopping when stop closes.
func (c *capacity) serve(ctx context.Context, arrival time.Time, stop <-chan struct{}) error {
	var free time.Time
	select {
	case free = <-c.servers:
	default:
		c.queued.Add(1)
		select {
		case free = <-c.servers:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return errStopping
		}
	}
	end := later(arrival, free).Add(c.d)
	defer func() { c.servers <- end }()
	if wait := time.Until(end); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
		}
	}
	return nil
}

// queuedCount returns how many requests waited for a server; 0 for nil.
func (c *capacity) queuedCount() int64 {
	if c == nil {
		return 0
	}
	return c.queued.Load()
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
