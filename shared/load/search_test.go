package load

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/slice"
)

// searchPlan is a search plan of 1+1 slices a probe, up to 4 probes of 4
// slices (16 slices), at from req/s until a rate changes.
func searchPlan(url string, from float64, sliceDur time.Duration, shards int) *plan.Plan {
	// Connections and in-flight room for 1000 req/s on a machine slowed
	// by the race detector and other tests: a drop here would be the
	// machine's, not the rate table's.
	p := testPlan(url, from, time.Second, sliceDur, 8, 400)
	p.Load.Stages = nil
	p.Load.Search = &plan.Search{SLO: []string{"p99 < 1s"}, From: from, To: 10 * from,
		Hold: plan.Duration(sliceDur), Settle: plan.Duration(sliceDur), MaxProbes: 4}
	p.Shards = shards
	p.ApplyDefaults()
	return p
}

// dialCounter is a 127.0.0.1 HTTP target that counts the connections
// opened to it.
func dialCounter(t *testing.T) (url string, dials *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dials = &atomic.Int64{}
	srv := &http.Server{Handler: http.HandlerFunc(okHandler), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/v1/predict", dials
}

// TestSetRate: three shards of a search plan get the same rate changes
// while they run; every shard switches at the named slice boundary, each
// slice holds exactly the requests of the rate table (split by request
// number as with stages), a change of a slice already started applies from
// the next one, the stop ends the shards, and no connection is opened
// again.
func TestSetRate(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		name := "event loop"
		if goroutines {
			name = "goroutines"
		}
		t.Run(name, func(t *testing.T) {
			const shards, sliceDur = 3, 200 * time.Millisecond
			url, dials := dialCounter(t)
			p := searchPlan(url, 50, sliceDur, shards)
			start := time.Now().Add(300 * time.Millisecond)
			engines := make([]*Engine, shards)
			got := make([]map[int]*slice.Result, shards)
			var mu sync.Mutex
			for sh := range shards {
				got[sh] = map[int]*slice.Result{}
				e, err := New(Options{Plan: p, RunID: "r1", Shard: sh, Start: start, Goroutines: goroutines, Sink: func(r *slice.Result) {
					mu.Lock()
					got[sh][r.Index] = r
					mu.Unlock()
				}})
				if err != nil {
					t.Fatal(err)
				}
				engines[sh] = e
			}
			// Before the run: any slice may change.
			for _, e := range engines {
				if at := e.SetRate(1, 100); at != 1 {
					t.Fatalf("SetRate(1) before the run applied from %d", at)
				}
			}
			var wg sync.WaitGroup
			for _, e := range engines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					if err := e.Run(ctx); err != nil {
						t.Errorf("Run: %v", err)
					}
				}()
			}
			// In slice 1: slice 3 on at 1000 req/s; slice 1 (started)
			// cannot change, so a change asked from 1 applies from 2.
			time.Sleep(time.Until(start.Add(sliceDur + sliceDur/2)))
			for _, e := range engines {
				if at := e.SetRate(3, 1000); at != 3 {
					t.Errorf("SetRate(3) in slice 1 applied from %d", at)
				}
			}
			time.Sleep(time.Until(start.Add(4*sliceDur + sliceDur/2)))
			for _, e := range engines {
				if at := e.SetRate(4, 300); at != 5 {
					t.Errorf("SetRate(4) in slice 4 applied from %d, want 5", at)
				}
				e.StopAt(7)
			}
			wg.Wait()

			want := []float64{50, 100, 100, 1000, 1000, 300, 300}
			sched := plan.NewSliceSchedule(sliceDur, append(want, make([]float64, p.NumSlices()-len(want))...))
			for k := range want {
				var sum int64
				for sh := range shards {
					r := got[sh][k]
					if r == nil {
						t.Fatalf("shard %d: no slice %d", sh, k)
					}
					if w := sched.Shard(sh, shards).SliceIntended(k, sliceDur); r.Intended != w {
						t.Errorf("shard %d slice %d: %d requests intended, want %d", sh, k, r.Intended, w)
					}
					if r.Completed != r.Intended || r.Errors != 0 || r.Dropped != 0 {
						t.Errorf("shard %d slice %d: %d intended, %d completed, %d errors, %d dropped", sh, k, r.Intended, r.Completed, r.Errors, r.Dropped)
					}
					sum += r.Intended
				}
				if w := int64(want[k] * sliceDur.Seconds()); sum < w-1 || sum > w+1 {
					t.Errorf("slice %d: %d requests in all, want %d (%v req/s)", k, sum, w, want[k])
				}
			}
			for sh := range shards {
				for k := range got[sh] {
					if k >= 7 {
						t.Errorf("shard %d wrote slice %d after its stop at 7", sh, k)
					}
				}
			}
			if d := dials.Load(); d != int64(shards*p.Target.Connections) {
				t.Errorf("%d connections opened, want %d: the rate changes must keep them", d, shards*p.Target.Connections)
			}
		})
	}
}

// TestSetRateWithoutSearch: a plan with stages has no rate table.
func TestSetRateWithoutSearch(t *testing.T) {
	t.Parallel()
	p := testPlan("http://127.0.0.1:1/", 10, time.Second, 100*time.Millisecond, 1, 1)
	e, err := New(Options{Plan: p})
	if err != nil {
		t.Fatal(err)
	}
	if at := e.SetRate(0, 500); at != p.NumSlices() {
		t.Errorf("SetRate on a plan with stages applied from %d, want none (%d)", at, p.NumSlices())
	}
}

// BenchmarkSearchArrival is a sender's look-up of its request's time in a
// search plan's rate table: the view and the arrival, no allocation.
func BenchmarkSearchArrival(b *testing.B) {
	p := searchPlan("http://127.0.0.1:1/", 1000, time.Second, 4)
	tb := newRateTable(p.SearchRates(), time.Second, 1, 4)
	tb.start(monoNow(), 0)
	tb.set(3, 5000, monoNow())
	b.ReportAllocs()
	var j int64
	for b.Loop() {
		sch, _ := tb.view(monoNow(), tb.startMono)
		_ = sch.Arrival(j % 1000)
		j++
	}
}

// TestSetRateResumed: a shard resumed at slice 2 is given the earlier
// rates before it runs, and sends exactly the requests of the table from
// slice 2 on, numbered as if it had sent the earlier ones.
func TestSetRateResumed(t *testing.T) {
	t.Parallel()
	const sliceDur = 200 * time.Millisecond
	url, _ := dialCounter(t)
	p := searchPlan(url, 50, sliceDur, 2)
	start := time.Now().Add(300*time.Millisecond - 2*sliceDur)
	got := map[int]*slice.Result{}
	var mu sync.Mutex
	e, err := New(Options{Plan: p, RunID: "r1", Shard: 1, Start: start, FirstSlice: 2, Sink: func(r *slice.Result) {
		mu.Lock()
		got[r.Index] = r
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.SetRate(1, 155)
	e.SetRate(3, 420)
	e.StopAt(5)
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rates := append([]float64{50, 155, 155, 420, 420}, make([]float64, p.NumSlices()-5)...)
	sched := plan.NewSliceSchedule(sliceDur, rates).Shard(1, 2)
	for k := 2; k < 5; k++ {
		r := got[k]
		if r == nil {
			t.Fatalf("no slice %d", k)
		}
		if w := sched.SliceIntended(k, sliceDur); r.Intended != w || r.Completed != w {
			t.Errorf("slice %d: %d intended, %d completed, want %d", k, r.Intended, r.Completed, w)
		}
	}
	if got[0] != nil || got[1] != nil || got[5] != nil {
		t.Errorf("slices outside 2..4 emitted: %v", got)
	}
}
