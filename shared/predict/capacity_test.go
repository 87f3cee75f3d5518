package predict

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCapacityQueue: n servers of d each, FIFO; a request that gives up
// while queued costs nothing; a late start does not lower the capacity.
func TestCapacityQueue(t *testing.T) {
	t.Parallel()
	const d = 40 * time.Millisecond
	slop := 15 * time.Millisecond
	type req struct {
		at     time.Duration // when it arrives
		cancel time.Duration // gives up this long after the start; 0: never
		end    time.Duration // when it returns, about
		err    bool
	}
	for _, tt := range []struct {
		name   string
		n      int
		reqs   []req
		queued int64
	}{
		{"two at once on two servers", 2, []req{{at: 0, end: d}, {at: 0, end: d}}, 0},
		{"the third waits for the first free", 2, []req{{at: 0, end: d}, {at: 0, end: d}, {at: 5 * time.Millisecond, end: 2 * d}}, 1},
		{"one server, a burst in order", 1, []req{{at: 0, end: d}, {at: 5 * time.Millisecond, end: 2 * d}, {at: 10 * time.Millisecond, end: 3 * d}}, 2},
		{"one that gives up costs nothing", 1, []req{{at: 0, end: d}, {at: 5 * time.Millisecond, cancel: 15 * time.Millisecond, end: 15 * time.Millisecond, err: true},
			{at: 10 * time.Millisecond, end: 2 * d}}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCapacity(tt.n, d)
			start := time.Now()
			type result struct {
				end time.Duration
				err error
			}
			out := make([]chan result, len(tt.reqs))
			for i, r := range tt.reqs {
				out[i] = make(chan result, 1)
				time.Sleep(time.Until(start.Add(r.at)))
				ctx, cancel := context.WithCancel(context.Background())
				if r.cancel > 0 {
					time.AfterFunc(time.Until(start.Add(r.cancel)), cancel)
				}
				go func() {
					defer cancel()
					err := c.serve(ctx, time.Now(), nil)
					out[i] <- result{time.Since(start), err}
				}()
			}
			for i, r := range tt.reqs {
				got := <-out[i]
				if (got.err != nil) != r.err || got.end < r.end-time.Millisecond || got.end > r.end+slop {
					t.Errorf("request %d: ended at %v (err %v), want about %v (err %v)", i, got.end, got.err, r.end, r.err)
				}
			}
			if got := c.queuedCount(); got != tt.queued {
				t.Errorf("queued %d, want %d", got, tt.queued)
			}
		})
	}
	// A server's next request starts when the last one's service ended,
	// not when its timer fired: a request that arrived long ago and took
	// a server free since the past is served from then.
	c := newCapacity(1, d)
	past := time.Now().Add(-10 * d)
	c.servers = make(chan time.Time, 1)
	c.servers <- past
	t0 := time.Now()
	if err := c.serve(context.Background(), past, nil); err != nil || time.Since(t0) > slop {
		t.Errorf("a request due in the past took %v (%v), want at once", time.Since(t0), err)
	}
	if end := <-c.servers; !end.Equal(past.Add(d)) {
		t.Errorf("the server is free from %v, want %v", end.Sub(past), d)
	}
	if (*capacity)(nil).queuedCount() != 0 {
		t.Error("nil capacity queued something")
	}
}

// TestCapacityServer: CONCURRENCY=2, SERVICE_TIME=20ms is 100 req/s. At
// half of it a request takes about the service time; at twice of it the
// queue grows, and so does the latency, by about 5ms a request.
func TestCapacityServer(t *testing.T) {
	const n, d = 2, 20 * time.Millisecond
	capRate := float64(n) / d.Seconds() // 100 req/s
	cfg := testConfig()
	cfg.Concurrency, cfg.ServiceTime = n, d
	ls := startServer(t, cfg, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	// send posts count requests at rate, open loop, and returns their
	// latencies in order of sending.
	send := func(rate float64, count int) []time.Duration {
		lat := make([]time.Duration, count)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range count {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				resp, err := client.Post(ls.url+"/v1/predict", "application/json", strings.NewReader(`{"text":"a goal"}`))
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("request %d: status %d", i, resp.StatusCode)
				}
				lat[i] = time.Since(t0)
			}()
		}
		wg.Wait()
		return lat
	}
	median := func(l []time.Duration) time.Duration {
		s := slices.Clone(l)
		slices.Sort(s)
		return s[len(s)/2]
	}
	send(20, 4) // warm the connections

	half := send(capRate/2, 40)
	if m := median(half); m < d || m > d+15*time.Millisecond {
		t.Errorf("at half the capacity (%.0f req/s) the median latency is %v, want about %v", capRate/2, m, d)
	}

	twice := send(2*capRate, 60)
	first, last := median(twice[:10]), median(twice[50:])
	// Request i ends at about i/100 s + d, sent at i/200 s: its latency is
	// about i × 5ms + d, so the last ten wait about 250ms more than the first.
	if grow := last - first; grow < 150*time.Millisecond || grow > 400*time.Millisecond {
		t.Errorf("at twice the capacity the latency grows from %v to %v (by %v), want by about 250ms", first, last, grow)
	}
	for i := 10; i < len(twice); i += 10 {
		if a, b := median(twice[i-10:i]), median(twice[i:i+10]); b <= a {
			t.Errorf("latency of requests %d..%d (%v) not above %d..%d (%v): the queue should grow", i, i+9, b, i-10, i-1, a)
		}
	}
	if q := ls.Stats().Queued; q < 40 {
		t.Errorf("Stats.Queued = %d, want most of the 60 requests at twice the capacity", q)
	}
}
