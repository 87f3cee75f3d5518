package load

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/slice"
)

// target is an in-process HTTP server on 127.0.0.1 that counts what it gets.
type target struct {
	url  string
	hits atomic.Int64
}

func startTarget(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{url: "http://" + ln.Addr().String() + "/v1/predict"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		h(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return tg
}

func okHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"category":1,"label":"business"}`)
}

// testPlan is an open-model HTTP plan at a constant rate.
func testPlan(url string, rate float64, dur, sliceDur time.Duration, conns, inFlight int) *plan.Plan {
	p := &plan.Plan{
		Name: "test",
		Target: plan.Target{
			Protocol:    plan.ProtocolHTTP,
			URL:         url,
			Method:      "POST",
			Body:        `{"text": {{json .Text}}}`,
			Timeout:     plan.Duration(2 * time.Second),
			Connections: conns,
		},
		Data:  plan.Data{Texts: []string{"the striker scored", "shares fell", "a new chip"}},
		Load:  plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(dur), Rate: rate}}, MaxInFlight: inFlight},
		Slice: plan.Duration(sliceDur),
	}
	p.ApplyDefaults()
	return p
}

// run runs one shard of p and returns its slices in order.
func run(t *testing.T, p *plan.Plan, start time.Time) []*slice.Result {
	t.Helper()
	var mu sync.Mutex
	var got []*slice.Result
	e, err := New(Options{Plan: p, RunID: "r1", Start: start, Sink: func(r *slice.Result) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.Duration()+30*time.Second)
	defer cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return got
}

func merged(rs []*slice.Result) *slice.Result {
	m := rs[0].Clone()
	for _, r := range rs[1:] {
		m.Merge(r)
	}
	return m
}

// stallHandler holds every request that arrives in the first 300 ms of each
// second after epoch until those 300 ms end: a target that pauses, like a
// stop-the-world GC.
func stallHandler(epoch time.Time, h http.HandlerFunc) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		phase := time.Since(epoch) % time.Second
		if phase >= 0 && phase < 300*time.Millisecond {
			time.Sleep(300*time.Millisecond - phase)
		}
		h(w, r)
	}
}

// nextSecond returns a time at least 200 ms ahead, a whole number of
// seconds after epoch, so that the target's stall phases line up with the
// run's seconds.
func nextSecond(epoch time.Time) time.Time {
	n := time.Since(epoch)/time.Second + 1
	if n < 0 {
		n = 0
	}
	t := epoch.Add(n * time.Second)
	if time.Until(t) < 200*time.Millisecond {
		t = t.Add(time.Second)
	}
	return t
}

// TestCoordinatedOmission checks the latency that a target stalling 300 ms
// of every second must show: 30% of requests wait uniformly 0–300 ms, so
// p50 ≈ 0, p90 ≈ 200 ms, p99 ≈ 290 ms. The open model must report that,
// also when there are fewer connections than requests in flight, and when
// each request is a preset's batch whose answer is checked; the closed
// model, which waits for the target, must report far less.
func TestCoordinatedOmission(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds")
	}
	start := time.Now().Add(300 * time.Millisecond)
	tg := startTarget(t, stallHandler(start, okHandler))
	sizes := &batchSizes{}
	classifier := httptest.NewServer(http.HandlerFunc(stallHandler(start, classifierHandler(sizes))))
	t.Cleanup(classifier.Close)

	tests := []struct {
		name            string
		conns, inFlight int
		preset          bool // kserve_v1, batches of 4, a check of every instance
	}{
		{"a connection per request in flight", 100, 100, false},
		{"5 connections for 100 requests in flight", 5, 100, false},
		{"a preset's batches of 4, checked", 100, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := nextSecond(start)
			p := testPlan(tg.url, 200, 4*time.Second, time.Second, tt.conns, tt.inFlight)
			var rs []*slice.Result
			if tt.preset {
				p.Target.URL, p.Target.Body = classifier.URL, ""
				p.Target.Preset = &plan.Preset{Name: plan.PresetKServeV1, Model: "clf"}
				p.Target.Batch = 4
				p.Target.Check = &plan.Check{Path: "predictions[*].label", Equals: "{{.Record.label}}"}
				p.ApplyDefaults()
				rs = runShard(t, Options{Plan: p, Corpus: labeledCorpus(""), Start: start})
			} else {
				rs = run(t, p, start)
			}
			for _, r := range rs {
				t.Logf("slice %d: %+v lateness max %d mean %.0f µs", r.Index, slice.PercentilesOf(r.Latency), r.MaxLatenessUS, float64(r.SumLatenessUS)/float64(max(r.Sent, 1)))
			}
			all := merged(rs)
			if all.Intended != 800 || all.Dropped != 0 || all.Errors != 0 {
				t.Fatalf("intended %d dropped %d errors %d, want 800, 0, 0 (outcomes %v, samples %q)", all.Intended, all.Dropped, all.Errors, all.Outcomes, all.SampleErrors)
			}
			if tt.preset {
				if all.Instances != 3200 || all.Checked != 3200 || all.Correct != 3200 {
					t.Errorf("instances %d checked %d correct %d, want 3200 each", all.Instances, all.Checked, all.Correct)
				}
				if got := sizes.get(); len(got) != 1 || got[4] != 800 {
					t.Errorf("server saw requests by batch size %v, want 800 of 4", got)
				}
			}
			// Waiting for a connection is the target's slowness: latency,
			// not generator lateness (which judges a saturated generator).
			// The stall makes requests wait up to 300 ms for a connection;
			// a busy machine can make the generator itself lag tens of ms.
			if all.MaxLatenessUS > 150_000 {
				t.Errorf("max lateness %d µs: a wait for a connection was counted as generator lag", all.MaxLatenessUS)
			}
			pc := slice.PercentilesOf(all.Latency)
			checks := []struct {
				name      string
				got, want float64 // ms
				tol       float64
			}{
				{"p50", pc.P50, 0, 5},
				{"p90", pc.P90, 200, 15},
				{"p99", pc.P99, 290, 15},
			}
			for _, c := range checks {
				if c.got < c.want-c.tol || c.got > c.want+c.tol {
					t.Errorf("%s = %.1f ms, want %.0f ± %.0f ms", c.name, c.got, c.want, c.tol)
				}
			}
			t.Logf("open model: %+v", pc)
		})
	}

	t.Run("closed model hides the stall", func(t *testing.T) {
		start := nextSecond(start)
		p := testPlan(tg.url, 0, 4*time.Second, time.Second, 4, 0)
		p.Load = plan.Load{Model: plan.ModelClosed, Stages: []plan.Stage{{Duration: plan.Duration(4 * time.Second), Users: 4}}}
		all := merged(run(t, p, start))
		pc := slice.PercentilesOf(all.Latency)
		t.Logf("closed model: %d requests, %+v", all.Completed, pc)
		if all.Completed < 1000 {
			t.Fatalf("closed model completed %d requests, want > 1000 from 4 busy users", all.Completed)
		}
		if pc.P90 > 20 || pc.P99 > 100 {
			t.Errorf("closed model p90 %.1f ms, p99 %.1f ms: want the low figures coordinated omission produces (< 20, < 100)", pc.P90, pc.P99)
		}
		if pc.Max < 250 {
			t.Errorf("closed model max %.1f ms, want the stall (≈300 ms) visible in the max", pc.Max)
		}
	})
}

// TestFixedRate checks that a fast target gets the planned rate within 1%
// and that each slice's intended count equals the schedule exactly.
func TestFixedRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds")
	}
	tg := startTarget(t, okHandler)
	tests := []struct {
		name   string
		rate   float64
		shards int
	}{
		{"1000 req/s, one shard", 1000, 1},
		{"333.3 req/s, 3 shards", 333.3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlan(tg.url, tt.rate, 3*time.Second, time.Second, 10, 0)
			p.Shards = tt.shards
			sched := p.Schedule()
			before := tg.hits.Load()
			var mu sync.Mutex
			var got []*slice.Result
			start := time.Now().Add(300 * time.Millisecond)
			var wg sync.WaitGroup
			for s := range tt.shards {
				e, err := New(Options{Plan: p, Shard: s, Start: start, Sink: func(r *slice.Result) {
					mu.Lock()
					got = append(got, r)
					mu.Unlock()
				}})
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := e.Run(context.Background()); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if len(got) != 3*tt.shards {
				t.Fatalf("got %d slices, want %d", len(got), 3*tt.shards)
			}
			for _, r := range got {
				want := sched.Shard(r.Shard, tt.shards).SliceIntended(r.Index, time.Second)
				if r.Intended != want {
					t.Errorf("shard %d slice %d: intended %d, want %d", r.Shard, r.Index, r.Intended, want)
				}
				if r.Completed != r.Intended || r.Errors != 0 || r.Dropped != 0 {
					t.Errorf("shard %d slice %d: completed %d errors %d dropped %d of %d", r.Shard, r.Index, r.Completed, r.Errors, r.Dropped, r.Intended)
				}
			}
			all := merged(got)
			if want := sched.Total(); all.Intended != want {
				t.Errorf("intended %d, want %d", all.Intended, want)
			}
			if hits := tg.hits.Load() - before; hits != all.Sent {
				t.Errorf("target saw %d requests, engine sent %d", hits, all.Sent)
			}
			achieved := float64(all.Completed) / 3
			if d := achieved/tt.rate - 1; d < -0.01 || d > 0.01 {
				t.Errorf("achieved %.1f req/s, want %.1f within 1%%", achieved, tt.rate)
			}
			pc := slice.PercentilesOf(all.Latency)
			t.Logf("latency %+v, mean lateness %.1f µs, max %d µs", pc, float64(all.SumLatenessUS)/float64(all.Sent), all.MaxLatenessUS)
		})
	}
}

// TestDropsAndErrors checks outcomes that are data, not aborts.
func TestDropsAndErrors(t *testing.T) {
	t.Parallel()
	slow := startTarget(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		okHandler(w, r)
	})
	failing := startTarget(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	dead := func() string { // a port nobody listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return "http://" + ln.Addr().String() + "/"
	}()
	tests := []struct {
		name        string
		url         string
		inFlight    int
		wantOutcome string
		check       func(t *testing.T, r *slice.Result)
	}{
		{"in-flight cap drops, never sends late", slow.url, 4, "http:200", func(t *testing.T, r *slice.Result) {
			// 100 req/s against 200 ms answers needs 20 in flight; 4 allowed.
			if r.Dropped < 50 || r.Sent+r.Dropped != r.Intended {
				t.Errorf("dropped %d sent %d intended %d: want most dropped and sent+dropped == intended", r.Dropped, r.Sent, r.Intended)
			}
			// A request that found every slot busy waited 200 ms: sent that
			// late it would show here. Tens of ms are a busy machine's lag.
			if r.MaxLatenessUS > 100_000 {
				t.Errorf("a request was sent %d µs late; late requests must be dropped", r.MaxLatenessUS)
			}
		}},
		{"HTTP 503 is an error outcome", failing.url, 10, "http:503", func(t *testing.T, r *slice.Result) {
			if r.Errors != r.Completed || r.Completed != r.Intended {
				t.Errorf("errors %d completed %d intended %d", r.Errors, r.Completed, r.Intended)
			}
		}},
		{"dead target is error:connect with a sample", dead, 10, "error:connect", func(t *testing.T, r *slice.Result) {
			if r.Errors != r.Intended || len(r.SampleErrors) == 0 {
				t.Errorf("errors %d intended %d samples %q", r.Errors, r.Intended, r.SampleErrors)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testPlan(tt.url, 100, time.Second, time.Second, tt.inFlight, tt.inFlight)
			got := run(t, p, time.Now().Add(100*time.Millisecond))
			if len(got) != 1 {
				t.Fatalf("got %d slices, want 1", len(got))
			}
			r := got[0]
			if r.Intended != 100 {
				t.Errorf("intended %d, want 100", r.Intended)
			}
			if r.Outcomes[tt.wantOutcome] == 0 {
				t.Errorf("outcomes %v, want some %s", r.Outcomes, tt.wantOutcome)
			}
			tt.check(t, r)
		})
	}
}

// TestStop checks that a stopped shard sends nothing of later slices and
// still emits the slices before.
func TestStop(t *testing.T) {
	t.Parallel()
	tg := startTarget(t, okHandler)
	p := testPlan(tg.url, 200, 5*time.Second, 500*time.Millisecond, 10, 0)
	var got []*slice.Result
	e, err := New(Options{Plan: p, Sink: func(r *slice.Result) { got = append(got, r) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1200*time.Millisecond, cancel) // start is 200 ms after Run: slice 2
	begin := time.Now()
	if err := e.Run(ctx); err != context.Canceled {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Run took %v after a cancel at 1.2 s", took)
	}
	if len(got) != 2 {
		t.Fatalf("emitted %d slices, want the 2 closed before the cancel", len(got))
	}
	for i, r := range got {
		if r.Index != i || r.Intended != 100 || r.Completed != 100 {
			t.Errorf("slice %d: index %d intended %d completed %d, want %d, 100, 100", i, r.Index, r.Intended, r.Completed, i)
		}
	}
	if hits := tg.hits.Load(); hits < 200 || hits > 300 {
		t.Errorf("target saw %d requests, want 200 to 300 (nothing after slice 2)", hits)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	base := func() *plan.Plan { return testPlan("http://127.0.0.1:1/", 10, time.Second, time.Second, 1, 1) }
	tests := []struct {
		name string
		o    func() Options
		want string
	}{
		{"no plan", func() Options { return Options{} }, "no plan"},
		{"shard out of range", func() Options { return Options{Plan: base(), Shard: 3} }, "shard 3 of 1"},
		{"first slice beyond the plan", func() Options { return Options{Plan: base(), FirstSlice: 9} }, "first slice 9"},
		{"From without Start", func() Options { return Options{Plan: base(), From: time.Now()} }, "From needs Start"},
		{"From before the first slice", func() Options {
			p := testPlan("http://127.0.0.1:1/", 10, 4*time.Second, time.Second, 1, 1)
			st := time.Now()
			return Options{Plan: p, Start: st, FirstSlice: 2, From: st.Add(1500 * time.Millisecond)}
		}, "not inside first slice 2"},
		{"From after the first slice", func() Options {
			p := testPlan("http://127.0.0.1:1/", 10, 4*time.Second, time.Second, 1, 1)
			st := time.Now()
			return Options{Plan: p, Start: st, FirstSlice: 2, From: st.Add(3 * time.Second)}
		}, "not inside first slice 2"},
		{"unknown grpc method", func() Options {
			p := base()
			p.Target = plan.Target{Protocol: plan.ProtocolGRPC, Address: "127.0.0.1:1", Method: "/x.Y/Z", Request: `{"text": {{json .Text}}}`, Connections: 1}
			return Options{Plan: p}
		}, "/x.Y/Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.o())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// arrivalTarget is an HTTP target on 127.0.0.1 that keeps when each
// request arrived.
type arrivalTarget struct {
	url string
	mu  sync.Mutex
	at  []time.Time
}

func startArrivalTarget(t *testing.T) *arrivalTarget {
	t.Helper()
	tg := &arrivalTarget{}
	inner := startTarget(t, func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		tg.at = append(tg.at, time.Now())
		tg.mu.Unlock()
		okHandler(w, r)
	})
	tg.url = inner.url
	return tg
}

func (tg *arrivalTarget) arrivals() []time.Time {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return slices.Clone(tg.at)
}

// TestResumeFrom resumes a shard inside a slice, as a worker does after a
// crash: nothing is sent before From, the first slice covers [From, end)
// and counts only what was intended from From, the next slices are whole.
func TestResumeFrom(t *testing.T) {
	t.Parallel()
	const sliceDur = 500 * time.Millisecond
	tests := []struct {
		name       string
		goroutines bool
		closed     bool
	}{
		{name: "open model, event loop"},
		{name: "open model, goroutines", goroutines: true},
		{name: "closed model", closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := startArrivalTarget(t)
			p := testPlan(tg.url, 200, 2*time.Second, sliceDur, 4, 100)
			if tt.closed {
				p.Load = plan.Load{Model: plan.ModelClosed, Stages: []plan.Stage{{Duration: plan.Duration(2 * time.Second), Users: 2}}, ThinkTime: plan.Duration(20 * time.Millisecond)}
				p.ApplyDefaults()
			}
			// The run started 400 ms ago (slice 0); resume at 700 ms into
			// it, inside slice 1, 300 ms from now.
			start := time.Now().Add(-400 * time.Millisecond)
			from := start.Add(700 * time.Millisecond)
			rs := runShard(t, Options{Plan: p, Start: start, FirstSlice: 1, From: from, Goroutines: tt.goroutines})
			if len(rs) != 3 {
				t.Fatalf("emitted %d slices, want 3 (1 to 3)", len(rs))
			}
			var sent int64
			for i, r := range rs {
				k := i + 1
				wantStart := start.Add(time.Duration(k) * sliceDur)
				if k == 1 {
					wantStart = from
				}
				if r.Index != k || !r.Start.Equal(wantStart) || !r.End.Equal(start.Add(time.Duration(k+1)*sliceDur)) {
					t.Errorf("slice %d: index %d covers [%v, %v), want [%v, %v)", k, r.Index,
						r.Start.Sub(start), r.End.Sub(start), wantStart.Sub(start), time.Duration(k+1)*sliceDur)
				}
				if r.Errors != 0 || r.Dropped != 0 || r.Completed != r.Intended {
					t.Errorf("slice %d: intended %d completed %d dropped %d errors %d (%v)", k, r.Intended, r.Completed, r.Dropped, r.Errors, r.SampleErrors)
				}
				sent += r.Sent
			}
			if !tt.closed {
				// 200 req/s: 60 requests in [700, 1000) ms, 100 in a whole slice.
				if rs[0].Intended != 60 || rs[1].Intended != 100 {
					t.Errorf("intended %d in the partial slice and %d in the next, want 60 and 100", rs[0].Intended, rs[1].Intended)
				}
			}
			at := tg.arrivals()
			if int64(len(at)) != sent {
				t.Errorf("target got %d requests, the slices count %d sent", len(at), sent)
			}
			// The event loop sends up to one 2 ms tick early.
			if len(at) == 0 || at[0].Before(from.Add(-pacingGrid)) {
				t.Errorf("first request arrived %v after start, want none before From (%v)", at[0].Sub(start), from.Sub(start))
			}
		})
	}
}
