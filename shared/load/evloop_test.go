package load

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/slice"
)

// engines are the two open-model engines for plain HTTP, which must agree
// on everything but their CPU cost: the event loop (the default on Linux)
// and a goroutine per request in flight.
var engines = []struct {
	name       string
	goroutines bool
}{
	{"event loop", false},
	{"goroutines", true},
}

// shardRun collects the slices one engine emits.
type shardRun struct {
	mu     sync.Mutex
	slices []*slice.Result
}

func (sr *shardRun) sink(r *slice.Result) {
	sr.mu.Lock()
	sr.slices = append(sr.slices, r)
	sr.mu.Unlock()
}

func (sr *shardRun) got() []*slice.Result {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return append([]*slice.Result(nil), sr.slices...)
}

// newShard builds an engine for o that collects its slices.
func newShard(t *testing.T, o Options) (*Engine, *shardRun) {
	t.Helper()
	sr := &shardRun{}
	o.Sink = sr.sink
	if o.RunID == "" {
		o.RunID = "r1"
	}
	e, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, sr
}

// runShard runs o to its end, bounded, and returns its slices.
func runShard(t *testing.T, o Options) []*slice.Result {
	t.Helper()
	e, sr := newShard(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), o.Plan.Duration()+20*time.Second)
	defer cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sr.got()
}

// eventually waits up to a second for f to hold: a scripted server may
// count a request a moment after the client is done with it.
func eventually(f func() bool) bool {
	for end := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if f() || time.Now().After(end) {
			return f()
		}
	}
}

// Scripts for startScripted (http1_test.go).

const okResp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// chunkedInTwo answers with a chunked body in two writes a few ticks apart,
// so that the event loop reads the answer in pieces.
func chunkedInTwo(s *scripted, _ int, c net.Conn, br *bufio.Reader) {
	const first = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel"
	const second = "lo\r\n6 ;x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
	for s.readRequest(br) {
		if _, err := io.WriteString(c, first); err != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
		if _, err := io.WriteString(c, second); err != nil {
			return
		}
	}
}

// closeWhenIdle answers the first request of each connection, then closes
// the connection after idle, while the client holds it as kept alive. The
// first request the server gets is answered only after slowFirst.
func closeWhenIdle(slowFirst, idle time.Duration) func(*scripted, int, net.Conn, *bufio.Reader) {
	return func(s *scripted, _ int, c net.Conn, br *bufio.Reader) {
		if !s.readRequest(br) {
			return
		}
		if s.reqs.Load() == 1 {
			time.Sleep(slowFirst)
		}
		if _, err := io.WriteString(c, okResp); err != nil {
			return
		}
		time.Sleep(idle)
	}
}

// silent reads the request and never answers.
func silent(s *scripted, _ int, _ net.Conn, br *bufio.Reader) {
	s.readRequest(br)
	_, _ = io.Copy(io.Discard, br)
}

// sleepy answers every request after a fixed sleep.
func sleepy(d time.Duration) func(*scripted, int, net.Conn, *bufio.Reader) {
	return func(s *scripted, _ int, c net.Conn, br *bufio.Reader) {
		for s.readRequest(br) {
			time.Sleep(d)
			if _, err := io.WriteString(c, okResp); err != nil {
				return
			}
		}
	}
}

// deadURL is an http:// URL on a port of 127.0.0.1 that nobody listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String() + "/"
}

// TestOpenModelScripted runs both engines against servers that frame,
// close, stall and misbehave in scripted ways. Every intended request must
// be accounted for: sent or dropped, and the server saw each sent one.
func TestOpenModelScripted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		serve   func(s *scripted, n int, c net.Conn, br *bufio.Reader) // nil: nobody listens
		rate    float64
		conns   int // max_in_flight is 100: no drop on a loaded machine
		timeout time.Duration
		outcome string // the outcome of every request
		check   func(t *testing.T, r *slice.Result, s *scripted, late time.Duration)
	}{
		{
			name: "chunked answers arriving in two parts", serve: chunkedInTwo,
			rate: 200, conns: 10, timeout: 2 * time.Second, outcome: "http:200",
			check: func(t *testing.T, r *slice.Result, s *scripted, _ time.Duration) {
				if got := s.conns.Load(); got > 10 {
					t.Errorf("server saw %d connections, want at most 10: kept-alive connections were not reused", got)
				}
				if pc := slice.PercentilesOf(r.Service); pc.Min < 5 {
					t.Errorf("service min %.2f ms, want ≥ 5 ms: an answer was complete before its second part", pc.Min)
				}
			},
		},
		{
			name: "server closes after each answer", serve: answering("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true),
			rate: 200, conns: 10, timeout: 2 * time.Second, outcome: "http:200",
			check: func(t *testing.T, r *slice.Result, s *scripted, _ time.Duration) {
				if got := s.conns.Load(); got < r.Sent {
					t.Errorf("server saw %d connections for %d requests, want a new one per request", got, r.Sent)
				}
			},
		},
		{
			name: "server closes idle kept-alive connections: retried", serve: closeWhenIdle(0, time.Millisecond),
			rate: 200, conns: 10, timeout: 2 * time.Second, outcome: "http:200",
			check: func(t *testing.T, r *slice.Result, s *scripted, _ time.Duration) {
				if got := s.conns.Load(); got < r.Sent {
					t.Errorf("server saw %d connections for %d requests, want a new one per request", got, r.Sent)
				}
			},
		},
		{
			// The first answer is slow, so two connections go idle and
			// stale at once: the retry must not take the other stale one.
			name: "two stale connections at once: the retry opens a new one", serve: closeWhenIdle(150*time.Millisecond, 10*time.Millisecond),
			rate: 10, conns: 2, timeout: 2 * time.Second, outcome: "http:200",
		},
		{
			name: "server never answers", serve: silent,
			rate: 200, conns: 100, timeout: 200 * time.Millisecond, outcome: outcomeTimeout,
			check: func(t *testing.T, r *slice.Result, _ *scripted, late time.Duration) {
				// 199.9: the histogram keeps 3 significant digits.
				if pc := slice.PercentilesOf(r.Latency); pc.Min < 199.8 {
					t.Errorf("latency min %.1f ms, want ≥ the 200 ms timeout", pc.Min)
				}
				if late > 200*time.Millisecond+time.Second {
					t.Errorf("Run returned %v after the plan's end, want within the timeout + 1 s", late)
				}
			},
		},
		{
			name: "server answers garbage", serve: answering("this is not HTTP\r\n\r\n", false),
			rate: 200, conns: 10, timeout: 2 * time.Second, outcome: outcomeProtocol,
			check: func(t *testing.T, r *slice.Result, _ *scripted, _ time.Duration) {
				if len(r.SampleErrors) == 0 || !strings.Contains(r.SampleErrors[0], "malformed") {
					t.Errorf("sample errors %q, want the malformed answer", r.SampleErrors)
				}
			},
		},
		{
			name: "nobody listens",
			rate: 200, conns: 10, timeout: 2 * time.Second, outcome: outcomeConnect,
			check: func(t *testing.T, r *slice.Result, _ *scripted, _ time.Duration) {
				if len(r.SampleErrors) == 0 {
					t.Error("no sample error for failed connects")
				}
			},
		},
	}
	for _, tt := range tests {
		for _, eng := range engines {
			t.Run(tt.name+"/"+eng.name, func(t *testing.T) {
				t.Parallel()
				var s *scripted
				url := ""
				if tt.serve != nil {
					s = startScripted(t, tt.serve)
					url = "http://" + s.addr + "/v1/predict"
				} else {
					url = deadURL(t)
				}
				p := testPlan(url, tt.rate, time.Second, time.Second, tt.conns, 100)
				p.Target.Timeout = plan.Duration(tt.timeout)
				start := time.Now().Add(150 * time.Millisecond)
				rs := runShard(t, Options{Plan: p, Start: start, Goroutines: eng.goroutines})
				late := time.Since(start.Add(p.Duration()))
				if len(rs) != 1 {
					t.Fatalf("got %d slices, want 1", len(rs))
				}
				r := rs[0]
				want := p.Schedule().Total()
				if r.Intended != want || r.Sent+r.Dropped != r.Intended || r.Completed != r.Sent {
					t.Errorf("intended %d sent %d dropped %d completed %d, want %d intended, sent+dropped == intended, completed == sent",
						r.Intended, r.Sent, r.Dropped, r.Completed, want)
				}
				if r.Dropped != 0 {
					t.Errorf("dropped %d, want 0", r.Dropped)
				}
				if got := r.Outcomes[tt.outcome]; got != r.Sent {
					t.Errorf("%d of %d requests are %s, outcomes %v, samples %q", got, r.Sent, tt.outcome, r.Outcomes, r.SampleErrors)
				}
				wantErrors := int64(0)
				if strings.HasPrefix(tt.outcome, "error:") {
					wantErrors = r.Sent
				}
				if r.Errors != wantErrors {
					t.Errorf("errors %d, want %d", r.Errors, wantErrors)
				}
				if s != nil && !eventually(func() bool { return s.reqs.Load() == r.Sent }) {
					t.Errorf("server read %d requests, engine sent %d", s.reqs.Load(), r.Sent)
				}
				if tt.check != nil {
					tt.check(t, r, s, late)
				}
			})
		}
	}
}

// TestOpenModelQueueing checks requests that wait for one of few
// connections: 5 connections to a 50 ms target carry 100 req/s, and up to
// max_in_flight (50) requests wait for them. A burst within that bound is
// queued, not dropped, and the wait is latency but not service time; a
// longer overload is dropped beyond the bound.
func TestOpenModelQueueing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		dur       time.Duration
		wantDrops bool
	}{
		// 50 requests in 250 ms: at most 50 - 5·(250/50) = 25 ever wait.
		{"a burst of 200 req/s for 250 ms is queued", 250 * time.Millisecond, false},
		// The queue grows by 100/s and reaches 50 after about 0.5 s.
		{"200 req/s for 1 s overflows max_in_flight", time.Second, true},
	}
	for _, tt := range tests {
		for _, eng := range engines {
			t.Run(tt.name+"/"+eng.name, func(t *testing.T) {
				t.Parallel()
				tg := startTarget(t, func(w http.ResponseWriter, r *http.Request) {
					time.Sleep(50 * time.Millisecond)
					okHandler(w, r)
				})
				p := testPlan(tg.url, 200, tt.dur, time.Second, 5, 50)
				rs := runShard(t, Options{Plan: p, Start: time.Now().Add(150 * time.Millisecond), Goroutines: eng.goroutines})
				if len(rs) != 1 {
					t.Fatalf("got %d slices, want 1", len(rs))
				}
				r := rs[0]
				if want := p.Schedule().Total(); r.Intended != want || r.Sent+r.Dropped != want {
					t.Errorf("intended %d sent %d dropped %d, want %d intended and sent+dropped == intended", r.Intended, r.Sent, r.Dropped, want)
				}
				if r.Errors != 0 || r.Outcomes["http:200"] != r.Sent || r.Completed != r.Sent {
					t.Errorf("errors %d completed %d of %d sent, outcomes %v, samples %q", r.Errors, r.Completed, r.Sent, r.Outcomes, r.SampleErrors)
				}
				if hits := tg.hits.Load(); hits != r.Sent {
					t.Errorf("target saw %d requests, engine sent %d", hits, r.Sent)
				}
				if got := r.Dropped > 0; got != tt.wantDrops {
					t.Errorf("dropped %d, want drops: %v", r.Dropped, tt.wantDrops)
				}
				lat, svc := slice.PercentilesOf(r.Latency), slice.PercentilesOf(r.Service)
				t.Logf("latency %+v, service %+v", lat, svc)
				if lat.P50 < 50 {
					t.Errorf("latency p50 %.1f ms, want ≥ the target's 50 ms", lat.P50)
				}
				// The queue's wait is latency, not service: the n-th of 50
				// waits about 25·(n/5) ms, the last about 225 ms.
				if lat.Max < 200 || lat.P50 < 2*svc.P50 {
					t.Errorf("latency max %.1f p50 %.1f ms, service p50 %.1f ms: want the queue's wait (≥ 200 ms at worst) in latency only",
						lat.Max, lat.P50, svc.P50)
				}
			})
		}
	}
}

// TestOpenModelStop checks that a cancel or StopAt in the middle of a slice
// stops sending at once, lets Run return, and emits the slices before.
func TestOpenModelStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stop    func(e *Engine, cancel context.CancelFunc)
		wantErr error
	}{
		{"context canceled", func(_ *Engine, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"StopAt the current slice", func(e *Engine, _ context.CancelFunc) { e.StopAt(e.SliceAt(time.Now())) }, nil},
	}
	for _, tt := range tests {
		for _, eng := range engines {
			t.Run(tt.name+"/"+eng.name, func(t *testing.T) {
				t.Parallel()
				tg := startTarget(t, okHandler)
				p := testPlan(tg.url, 200, 5*time.Second, 500*time.Millisecond, 10, 0)
				start := time.Now().Add(150 * time.Millisecond)
				e, sr := newShard(t, Options{Plan: p, Start: start, Goroutines: eng.goroutines})
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- e.Run(ctx) }()

				time.Sleep(time.Until(start.Add(1250 * time.Millisecond))) // the middle of slice 2
				atStop := tg.hits.Load()
				stopped := time.Now()
				tt.stop(e, cancel)
				time.Sleep(100 * time.Millisecond)
				after100ms := tg.hits.Load()
				var err error
				select {
				case err = <-done:
				case <-time.After(3 * time.Second):
					t.Fatal("Run did not return within 3 s of the stop")
				}
				if took := time.Since(stopped); took > time.Second {
					t.Errorf("Run returned %v after the stop, want within 1 s", took)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Run = %v, want %v", err, tt.wantErr)
				}
				time.Sleep(100 * time.Millisecond)
				final := tg.hits.Load()
				if final != after100ms || final-atStop > 20 {
					t.Errorf("target saw %d requests at the stop, %d 100 ms later, %d in the end: want nothing sent 100 ms after the stop",
						atStop, after100ms, final)
				}
				if final < 240 || final > 270 {
					t.Errorf("target saw %d requests, want about 250 (1.25 s at 200 req/s)", final)
				}
				rs := sr.got()
				if len(rs) != 2 {
					t.Fatalf("emitted %d slices, want the 2 before the stop", len(rs))
				}
				for i, r := range rs {
					if r.Index != i || r.Intended != 100 || r.Completed != 100 || r.Errors != 0 {
						t.Errorf("slice %d: index %d intended %d completed %d errors %d, want %d, 100, 100, 0", i, r.Index, r.Intended, r.Completed, r.Errors, i)
					}
				}
			})
		}
	}
}

// TestOpenModelEnginesAgree runs both engines on one fast target and
// checks that they intend, send and complete the same requests, slice by
// slice, also for a resumed shard of several.
func TestOpenModelEnginesAgree(t *testing.T) {
	t.Parallel()
	if !eventLoopAvailable {
		t.Skip("no event loop on this platform")
	}
	tg := startTarget(t, okHandler)
	tests := []struct {
		name                string
		rate                float64
		shard, shards, from int
	}{
		{"333.3 req/s, one shard", 333.3, 0, 1, 0},
		{"shard 1 of 3 resumed at slice 2", 900, 1, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Room for 1000 in flight: a loaded machine makes requests wait
			// for one of the 10 connections, never drops one.
			p := testPlan(tg.url, tt.rate, 2*time.Second, 500*time.Millisecond, 10, 1000)
			p.Shards = tt.shards
			sched := p.Schedule().Shard(tt.shard, tt.shards)
			var got [2][]*slice.Result
			var wg sync.WaitGroup
			start := time.Now().Add(150 * time.Millisecond)
			for i, eng := range engines {
				e, sr := newShard(t, Options{Plan: p, Shard: tt.shard, FirstSlice: tt.from, Start: start, Goroutines: eng.goroutines})
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := e.Run(context.Background()); err != nil {
						t.Errorf("%s: Run: %v", eng.name, err)
					}
					got[i] = sr.got()
				}()
			}
			wg.Wait()
			loop, gor := got[0], got[1]
			if want := p.NumSlices() - tt.from; len(loop) != want || len(gor) != want {
				t.Fatalf("slices: event loop %d, goroutines %d, want %d", len(loop), len(gor), want)
			}
			for i := range loop {
				a, b := loop[i], gor[i]
				k := tt.from + i
				want := sched.SliceIntended(k, p.SliceDuration())
				if a.Index != k || b.Index != k {
					t.Errorf("slice %d: indexes %d and %d", k, a.Index, b.Index)
				}
				if a.Intended != want || b.Intended != want {
					t.Errorf("slice %d: intended %d (event loop) and %d (goroutines), want %d", k, a.Intended, b.Intended, want)
				}
				if a.Sent != b.Sent || a.Completed != b.Completed || a.Dropped != b.Dropped || a.Errors+b.Errors != 0 {
					t.Errorf("slice %d: event loop sent %d completed %d dropped %d errors %d; goroutines %d %d %d %d",
						k, a.Sent, a.Completed, a.Dropped, a.Errors, b.Sent, b.Completed, b.Dropped, b.Errors)
				}
			}
		})
	}
}

// TestEventLoopKernelTimestamps checks that the event loop measures an
// answer at its arrival in the kernel, not when the 2 ms tick gets to it:
// against a target that answers 20 ms after each request, latency is
// 20 ms and a little, never 20 ms plus tick lateness.
// Not parallel: it measures time to a fraction of a millisecond.
func TestEventLoopKernelTimestamps(t *testing.T) {
	if !eventLoopAvailable {
		t.Skip("no event loop on this platform")
	}
	s := startScripted(t, sleepy(20*time.Millisecond))
	p := testPlan("http://"+s.addr+"/v1/predict", 50, time.Second, time.Second, 10, 0)
	rs := runShard(t, Options{Plan: p, Start: time.Now().Add(150 * time.Millisecond)})
	if len(rs) != 1 {
		t.Fatalf("got %d slices, want 1", len(rs))
	}
	r := rs[0]
	if r.Completed != 50 || r.Outcomes["http:200"] != 50 {
		t.Fatalf("completed %d, outcomes %v, want 50 × http:200", r.Completed, r.Outcomes)
	}
	lat, svc := slice.PercentilesOf(r.Latency), slice.PercentilesOf(r.Service)
	t.Logf("latency %+v, service %+v", lat, svc)
	if lat.P50 < 20 || lat.P50 > 22 {
		t.Errorf("latency p50 %.3f ms, want within [20, 22] ms", lat.P50)
	}
	if svc.Min < 20 {
		t.Errorf("service min %.3f ms, want ≥ 20 ms: an answer cannot arrive before the target sent it", svc.Min)
	}
}

// TestEventLoopLargeBody sends bodies larger than a socket's send buffer:
// they go out over several ticks.
func TestEventLoopLargeBody(t *testing.T) {
	t.Parallel()
	tg := startTarget(t, okHandler)
	big := strings.Repeat("x", 6<<20)
	p := testPlan(tg.url, 20, time.Second, time.Second, 4, 20)
	p.Data = plan.Data{Texts: []string{big}}
	p.Target.Timeout = plan.Duration(5 * time.Second)
	rs := run(t, p, time.Now().Add(200*time.Millisecond))
	if len(rs) != 1 {
		t.Fatalf("%d slices, want 1", len(rs))
	}
	if r := rs[0]; r.Outcomes["http:200"] != 20 || r.Errors != 0 {
		t.Errorf("outcomes %v errors %d samples %q; want 20 http:200", r.Outcomes, r.Errors, r.SampleErrors)
	}
	if r := rs[0]; r.BytesSent < 20*int64(len(big)) {
		t.Errorf("bytes sent %d, want at least %d", r.BytesSent, 20*len(big))
	}
}
