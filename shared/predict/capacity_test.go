package predict

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCapacityQueue: n servers of d each, FIFO: the computed end of each
// request, whatever the timers do.
func TestCapacityQueue(t *testing.T) {
	t.Parallel()
	const d = 10 * time.Millisecond
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tt := range []struct {
		name     string
		n        int
		arrivals []int // ms
		ends     []int // ms
		queued   int64
	}{
		{"idle: each served at once", 2, []int{0, 20, 40}, []int{10, 30, 50}, 0},
		{"two at once on two servers", 2, []int{0, 0}, []int{10, 10}, 0},
		{"third waits for the first free", 2, []int{0, 0, 1}, []int{10, 10, 20}, 1},
		{"one server, a burst queues in order", 1, []int{0, 0, 0, 0}, []int{10, 20, 30, 40}, 3},
		// Twice the capacity (1 server, 100 req/s; arrivals every 5ms):
		// the wait grows by 5ms a request.
		{"twice the capacity", 1, []int{0, 5, 10, 15, 20}, []int{10, 20, 30, 40, 50}, 4},
		// Half the capacity: never a wait.
		{"half the capacity", 1, []int{0, 20, 40, 60}, []int{10, 30, 50, 70}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCapacity(tt.n, d)
			for i, a := range tt.arrivals {
				if got := c.serve(at(a)); !got.Equal(at(tt.ends[i])) {
					t.Errorf("request %d arriving at %dms ends at %v, want %dms", i, a, got.Sub(t0), tt.ends[i])
				}
			}
			if got := c.queuedCount(); got != tt.queued {
				t.Errorf("queued %d, want %d", got, tt.queued)
			}
		})
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
