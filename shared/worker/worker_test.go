package worker

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

const (
	workerID  = "w-test"
	testSlice = 500 * time.Millisecond
	testRate  = 50 // req/s
	// quiet is how long a message that was acked must stay away; a nacked
	// one comes back at once from pstest.
	quiet = 700 * time.Millisecond
)

func testConfig() Config {
	return Config{ID: workerID, Capacity: 1, LeaseTTL: 2 * time.Second, RenewEvery: 200 * time.Millisecond, AckExtend: 10 * time.Second,
		HandOverLead: 300 * time.Millisecond, StopGrace: 10 * time.Second, Warmup: 100 * time.Millisecond}
}

// env is one worker with its own bucket, bus and HTTP target, so that
// tests run in parallel without seeing each other's messages.
type env struct {
	st   *store.GCS
	b    *bus.PubSub
	w    *Worker
	url  string
	hits *atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, _, stopStore, err := store.NewInProcess("cicada-worker-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopStore)
	b, stopBus, err := bus.NewInProcess(context.Background())
	t.Cleanup(stopBus)
	if err != nil {
		t.Fatal(err)
	}
	hits := &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("target %s is not on 127.0.0.1", srv.URL)
	}
	return &env{st: st, b: b, w: New(testConfig(), st, b, testLog(t), nil), url: srv.URL, hits: hits}
}

// testLog logs to the test's output when CICADA_TEST_LOG is set.
func testLog(t *testing.T) *zap.Logger {
	if os.Getenv("CICADA_TEST_LOG") == "" {
		return zap.NewNop()
	}
	return zaptest.NewLogger(t)
}

// writeRun stores plan.json and run.json of an open-model run against the
// env's target at testRate for dur, starting at startAt.
func (e *env) writeRun(t *testing.T, id string, startAt time.Time, dur time.Duration) *plan.Plan {
	t.Helper()
	p := &plan.Plan{
		Name:   "worker-test",
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: e.url},
		Data:   plan.Data{Texts: []string{"hello"}},
		Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(dur), Rate: testRate}}},
		Slice:  plan.Duration(testSlice),
		Shards: 1,
	}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		t.Fatalf("test plan: %v", err)
	}
	e.put(t, runs.PlanPath(id), runs.Encode(p))
	e.put(t, runs.RunPath(id), runs.Encode(runs.Run{
		ID: id, PlanName: p.Name, Shards: p.Shards, Created: time.Now(), StartAt: startAt, End: startAt.Add(p.Duration()),
	}))
	return p
}

func (e *env) put(t *testing.T, name string, data []byte) int64 {
	t.Helper()
	gen, err := e.st.Put(context.Background(), name, data, "application/json")
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
	return gen
}

func (e *env) exists(t *testing.T, name string) bool {
	t.Helper()
	_, err := e.st.Get(context.Background(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get %s: %v", name, err)
	}
	return err == nil
}

// publish puts data on the shards topic and pulls it back as the worker
// would.
func (e *env) publish(t *testing.T, data []byte) {
	t.Helper()
	if _, err := e.b.Publish(context.Background(), bus.ShardsTopic, data, nil); err != nil {
		t.Fatalf("publish shard work: %v", err)
	}
}

func (e *env) pullWork(t *testing.T) bus.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := e.b.Pull(ctx, bus.ShardsSub, testConfig().AckExtend)
	if err != nil {
		t.Fatalf("pull shard work: %v", err)
	}
	return msg
}

// handle runs the worker on msg and fails if it does not finish within d.
func (e *env) handle(t *testing.T, ctx context.Context, msg bus.Message, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if work, ok := e.w.decode(ctx, msg); ok {
			e.w.handle(ctx, msg, work)
		}
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("handle did not return within %v", d)
	}
}

// redelivered pulls the shards subscription for up to within and returns
// the message's data, or nil if none came.
func (e *env) redelivered(t *testing.T, within time.Duration) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	msg, err := e.b.Pull(ctx, bus.ShardsSub, 0)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatalf("pull shard work again: %v", err)
	}
	_ = msg.Ack(context.Background())
	return msg.Data()
}

// events pulls worker events until want of them came or within passed.
func (e *env) events(t *testing.T, want int, within time.Duration) []runs.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var out []runs.Event
	for len(out) < want {
		msg, err := e.b.Pull(ctx, bus.EventsSub, 0)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("pull events: %v", err)
		}
		_ = msg.Ack(context.Background())
		var ev runs.Event
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatalf("event %s: %v", msg.Data(), err)
		}
		out = append(out, ev)
	}
	return out
}

// written returns the slices stored for shard 0 of run id, by index.
func (e *env) written(t *testing.T, id string) map[int]*slice.Result {
	t.Helper()
	names, err := e.st.List(context.Background(), runs.SlicePrefix(id))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]*slice.Result{}
	for _, n := range names {
		obj, err := e.st.Get(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		r, err := slice.Unmarshal(obj.Data)
		if err != nil {
			t.Fatalf("slice %s: %v", n, err)
		}
		if n != runs.SlicePath(id, r.Shard, r.Index) {
			t.Errorf("slice object %s holds shard %d slice %d", n, r.Shard, r.Index)
		}
		out[r.Index] = r
	}
	return out
}

func eventKinds(evs []runs.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	slices.Sort(out)
	return out
}

func sortedKeys(m map[int]*slice.Result) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestStartPoint(t *testing.T) {
	t.Parallel()
	st, _, stop, err := store.NewInProcess("cicada-worker-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cfg := testConfig()
	cfg.Warmup = testSlice / 5
	w := New(cfg, st, nil, zap.NewNop(), nil)
	p := &plan.Plan{Slice: plan.Duration(testSlice), Load: plan.Load{Stages: []plan.Stage{{Duration: plan.Duration(10 * testSlice)}}}}
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := func(slices float64) time.Time {
		return start.Add(time.Duration(math.Round(slices * float64(testSlice))))
	}

	tests := []struct {
		name      string
		shard     int
		written   map[int][]int // slices already in the bucket, by shard
		now       float64       // in slices after start_at
		notBefore float64       // a predecessor's hand-over, in slices after start_at; 0 = none
		want      int
		wantFrom  float64 // in slices after start_at; 0 = the whole slice
	}{
		{name: "before start, nothing written", now: -1, want: 0},
		{name: "before start, slice 0 written", written: map[int][]int{0: {0}}, now: -1, want: 1},
		{name: "before start, 0 1 2 written", written: map[int][]int{0: {0, 1, 2}}, now: -0.5, want: 3},
		{name: "before start, 0 and 2 written: the gap is driven", written: map[int][]int{0: {0, 2}}, now: -1, want: 1},
		{name: "just before start, within the warm-up: slice 0 whole", now: -0.1, want: 0},
		{name: "at start_at exactly: slice 0 whole", now: 0, want: 0},
		{name: "2.3 slices in: inside the slice under way, after the warm-up", now: 2.3, want: 2, wantFrom: 2.5},
		{name: "2.9 slices in: the warm-up ends in the next slice", now: 2.9, want: 3, wantFrom: 3.1},
		{name: "2.8 slices in: the warm-up ends on a boundary, the next slice whole", now: 2.8, want: 3},
		{name: "2.3 slices in, earlier slices written", written: map[int][]int{0: {0, 1}}, now: 2.3, want: 2, wantFrom: 2.5},
		{name: "2.3 slices in, slice 2 written: the next whole", written: map[int][]int{0: {2}}, now: 2.3, want: 3},
		{name: "2.3 slices in, 2 and 3 written: skipped", written: map[int][]int{0: {2, 3}}, now: 2.3, want: 4},
		{name: "handed over at slice 4: starts there, whole", now: 2.3, notBefore: 4, want: 4},
		{name: "handed over inside slice 4", now: 2.3, notBefore: 4.5, want: 4, wantFrom: 4.5},
		{name: "hand-over time already past: after the warm-up", now: 4.1, notBefore: 4, want: 4, wantFrom: 4.3},
		{name: "handed over before start_at", now: -2, notBefore: -1, want: 0},
		{name: "after the run's end: nothing", now: 9.9, want: 10},
		{name: "another shard's slices do not count", shard: 1, written: map[int][]int{0: {0, 1}, 10: {0, 1}}, now: -1, want: 0},
		{name: "only this shard's slices count", shard: 1, written: map[int][]int{1: {0}, 10: {1}}, now: -1, want: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			run := runs.Run{ID: "first-" + string(rune('a'+i)), StartAt: start, End: start.Add(p.Duration())}
			for shard, ks := range tt.written {
				for _, k := range ks {
					if _, err := st.Create(context.Background(), runs.SlicePath(run.ID, shard, k), []byte("x"), "application/x-protobuf"); err != nil {
						t.Fatal(err)
					}
				}
			}
			var notBefore time.Time
			if tt.notBefore != 0 {
				notBefore = at(tt.notBefore)
			}
			var wantFrom time.Time
			if tt.wantFrom != 0 {
				wantFrom = at(tt.wantFrom)
			}
			got, from, err := w.startPoint(context.Background(), p, run, tt.shard, notBefore, at(tt.now))
			if err != nil {
				t.Fatalf("startPoint: %v", err)
			}
			if got != tt.want || !from.Equal(wantFrom) {
				t.Errorf("startPoint(written %v, %.1f slices in, not before %.1f) = slice %d from %v, want %d from %v",
					tt.written, tt.now, tt.notBefore, got, from.Sub(start), tt.want, wantFrom.Sub(start))
			}
		})
	}
}

// TestHandOverPoint: where a shard asked to stop at now hands over, with a
// lead of 2 s and 15 s before the kill, slices of 10 s over 60 s.
func TestHandOverPoint(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	const lead, grace = 2 * time.Second, 15 * time.Second
	tests := []struct {
		name        string
		dur         time.Duration
		sliceDur    time.Duration
		first       int
		begin, now  float64 // seconds after start
		wantStop    int
		wantAt      float64 // seconds after start; -1 = no hand-over
		wantNoHando bool
	}{
		{name: "mid-slice: the next boundary", dur: 60 * time.Second, sliceDur: 10 * time.Second, now: 13, wantStop: 2, wantAt: 20},
		{name: "within the lead of a boundary: the one after", dur: 60 * time.Second, sliceDur: 10 * time.Second, now: 18.5, wantStop: 3, wantAt: 30},
		{name: "exactly the lead before a boundary", dur: 60 * time.Second, sliceDur: 10 * time.Second, now: 18, wantStop: 2, wantAt: 20},
		{name: "before the start: hand over at the start", dur: 60 * time.Second, sliceDur: 10 * time.Second, now: -5, wantStop: 0, wantAt: 0},
		{name: "waiting for a hand-over at slice 3: the same time", dur: 60 * time.Second, sliceDur: 10 * time.Second, first: 3, begin: 30, now: 25, wantStop: 3, wantAt: 30},
		{name: "started inside slice 2 at 24.5 s, asked at 22 s: not sending yet", dur: 60 * time.Second, sliceDur: 10 * time.Second, first: 2, begin: 24.5, now: 22, wantStop: 2, wantAt: 24.5},
		{name: "started inside slice 2 at 24.5 s, asked at 24 s: the next boundary", dur: 60 * time.Second, sliceDur: 10 * time.Second, first: 2, begin: 24.5, now: 24, wantStop: 3, wantAt: 30},
		{name: "the schedule ends before the boundary: finish", dur: 60 * time.Second, sliceDur: 10 * time.Second, now: 55, wantStop: 6, wantNoHando: true},
		{name: "a short last slice ends in time: finish", dur: 55 * time.Second, sliceDur: 10 * time.Second, now: 52, wantStop: 6, wantNoHando: true},
		{name: "long slices, boundary after the kill: stop now, hand over inside the slice", dur: 120 * time.Second, sliceDur: 30 * time.Second, now: 40, wantStop: 1, wantAt: 42},
		{name: "long slices, boundary just in time", dur: 120 * time.Second, sliceDur: 30 * time.Second, now: 46, wantStop: 2, wantAt: 60},
		{name: "long slices, the end after the kill: hand over inside the last slice", dur: 120 * time.Second, sliceDur: 30 * time.Second, now: 100, wantStop: 3, wantAt: 102},
		{name: "long slices, the lead reaches past the end: finish", dur: 120 * time.Second, sliceDur: 30 * time.Second, now: 118.5, wantStop: 4, wantNoHando: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := int((tt.dur + tt.sliceDur - 1) / tt.sliceDur)
			begin := sec(tt.begin)
			if tt.first == 0 && tt.begin == 0 {
				begin = start
			}
			stop, at := handOverPoint(start, tt.sliceDur, tt.dur, n, tt.first, begin, sec(tt.now), lead, grace)
			var wantAt time.Time
			if !tt.wantNoHando {
				wantAt = sec(tt.wantAt)
			}
			if stop != tt.wantStop || !at.Equal(wantAt) {
				t.Errorf("asked at %.1f s: stop at slice %d, successor at %v; want slice %d, successor at %v (zero: none)",
					tt.now, stop, at.Sub(start), tt.wantStop, wantAt.Sub(start))
			}
		})
	}
}

func TestTakes(t *testing.T) {
	t.Parallel()
	cfg := Config{Capacity: 2, MaxShards: 4, CPUBound: 0.6}
	tests := []struct {
		name   string
		reason string
		n      int
		cpu    float64
		cpuOK  bool
		want   bool
	}{
		{"below capacity: fresh work", ReasonStart, 1, 0.9, true, true},
		{"below capacity: CPU unknown", ReasonStart, 0, 0, false, true},
		{"at capacity: fresh work is for others", ReasonStart, 2, 0.1, true, false},
		{"at capacity: an unknown reason counts as fresh", "", 2, 0.1, true, false},
		{"at capacity: a resume with CPU to spare", ReasonResume, 2, 0.2, true, true},
		{"at capacity: a hand-over with CPU to spare", ReasonHandOver, 3, 0.3, true, true},
		{"at capacity: a resume, CPU under the bound with one more shard", ReasonResume, 2, 0.38, true, true},
		{"at capacity: a resume that would pass the CPU bound", ReasonResume, 2, 0.41, true, false},
		{"at capacity: a resume, CPU unknown", ReasonResume, 2, 0, false, false},
		{"at the most shards", ReasonResume, 4, 0.01, true, false},
	}
	for _, tt := range tests {
		if got, why := cfg.takes(tt.reason, tt.n, tt.cpu, tt.cpuOK); got != tt.want || (got == (why != "")) {
			t.Errorf("%s: takes(%q, %d shards, CPU %.2f known %v) = %v %q, want %v and a reason exactly when not",
				tt.name, tt.reason, tt.n, tt.cpu, tt.cpuOK, got, why, tt.want)
		}
	}
}

// TestHandleNothingToDrive: messages the worker cannot or need not drive
// are acked, take no lease (or leave another's untouched) and send nothing.
func TestHandleNothingToDrive(t *testing.T) {
	t.Parallel()
	const id = "run-1"
	work := func(shard int) []byte { return runs.Encode(runs.ShardWork{RunID: id, Shard: shard, Reason: "start"}) }
	future := func(t *testing.T, e *env) { e.writeRun(t, id, time.Now().Add(time.Minute), time.Second) }
	otherHolder := lease.Record{Holder: "other#1", Expires: time.Now().Add(time.Hour), Acquired: time.Now()}

	tests := []struct {
		name  string
		data  []byte
		setup func(t *testing.T, e *env)
		// leaseWant is the lease object the setup wrote, if any, which
		// must stay as it is; without one, no lease may appear.
		leaseWant *lease.Record
	}{
		{name: "malformed JSON", data: []byte(`{"run_id": "run-1", "shard":`), setup: future},
		{name: "no run id", data: []byte(`{"shard": 0}`), setup: future},
		{name: "negative shard", data: work(-1), setup: future},
		{name: "no run.json nor plan.json", data: work(0)},
		{name: "run.json without plan.json", data: work(0), setup: func(t *testing.T, e *env) {
			e.put(t, runs.RunPath(id), runs.Encode(runs.Run{ID: id, Shards: 1, StartAt: time.Now().Add(time.Minute), End: time.Now().Add(2 * time.Minute)}))
		}},
		{name: "shard out of range", data: work(1), setup: future},
		{name: "done marker already there", data: work(0), setup: func(t *testing.T, e *env) {
			future(t, e)
			e.put(t, runs.DonePath(id, 0), []byte(`{}`))
		}},
		{name: "run cancelled", data: work(0), setup: func(t *testing.T, e *env) {
			future(t, e)
			e.put(t, runs.CancelPath(id), []byte(`{}`))
		}},
		{name: "run already past its end", data: work(0), setup: func(t *testing.T, e *env) {
			e.writeRun(t, id, time.Now().Add(-2*time.Second), time.Second)
		}},
		{name: "lease held by another live holder", data: work(0), leaseWant: &otherHolder, setup: func(t *testing.T, e *env) {
			future(t, e)
			e.put(t, runs.LeasePath(id, 0), runs.Encode(otherHolder))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			var leaseGen int64
			if tt.leaseWant != nil {
				obj, err := e.st.Get(context.Background(), runs.LeasePath(id, 0))
				if err != nil {
					t.Fatal(err)
				}
				leaseGen = obj.Generation
			}
			e.publish(t, tt.data)
			// A run that got through would be driven for a minute or more.
			e.handle(t, context.Background(), e.pullWork(t), 10*time.Second)

			if got := e.redelivered(t, quiet); got != nil {
				t.Errorf("message %s came back: want it acked", got)
			}
			obj, err := e.st.Get(context.Background(), runs.LeasePath(id, 0))
			switch {
			case tt.leaseWant == nil && !errors.Is(err, store.ErrNotFound):
				t.Errorf("lease object: err %v, want none taken", err)
			case tt.leaseWant != nil && err != nil:
				t.Errorf("lease object: %v, want %s's untouched", err, tt.leaseWant.Holder)
			case tt.leaseWant != nil && obj.Generation != leaseGen:
				t.Errorf("lease object rewritten (generation %d, want %d): %s", obj.Generation, leaseGen, obj.Data)
			}
			if got := e.written(t, id); len(got) != 0 {
				t.Errorf("slices %v written, want none", sortedKeys(got))
			}
			if tt.name != "done marker already there" && e.exists(t, runs.DonePath(id, 0)) {
				t.Error("done marker written, want none")
			}
			if evs := e.events(t, 1, 100*time.Millisecond); len(evs) != 0 {
				t.Errorf("events %v published, want none", evs)
			}
			if n := e.hits.Load(); n != 0 {
				t.Errorf("target got %d requests, want 0", n)
			}
		})
	}
}

// runWorker starts Worker.Run and returns its cancel and a channel that
// gets Run's result.
func runWorker(t *testing.T, e *env) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- e.w.Run(ctx) }()
	return cancel, done
}

func waitRun(t *testing.T, done <-chan error, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(within):
		t.Fatalf("Run did not return within %v of its stop", within)
	}
	return time.Since(start)
}

func TestRunTinyShard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const id = "run-tiny"
	e.writeRun(t, id, time.Now().Add(300*time.Millisecond), time.Second)
	work := runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: "start"})
	cancel, done := runWorker(t, e)
	e.publish(t, work)

	evs := e.events(t, 4, 10*time.Second)
	cancel()
	waitRun(t, done, 5*time.Second)

	if got, want := eventKinds(evs), []string{runs.EventDone, runs.EventLeased, runs.EventSlice, runs.EventSlice}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	var sliceEvents []int
	for _, ev := range evs {
		if ev.RunID != id || ev.Shard != 0 || ev.Worker != workerID {
			t.Errorf("event %+v, want run %s shard 0 worker %s", ev, id, workerID)
		}
		if ev.Type == runs.EventSlice {
			sliceEvents = append(sliceEvents, ev.Slice)
		}
	}
	slices.Sort(sliceEvents)
	if !slices.Equal(sliceEvents, []int{0, 1}) {
		t.Errorf("slice events for %v, want one each for [0 1]", sliceEvents)
	}
	if more := e.events(t, 1, 200*time.Millisecond); len(more) != 0 {
		t.Errorf("extra events %v", more)
	}

	got := e.written(t, id)
	if keys := sortedKeys(got); !slices.Equal(keys, []int{0, 1}) {
		t.Fatalf("slices written %v, want [0 1]", keys)
	}
	var completed int64
	for k, r := range got {
		if r.Writer != workerID || r.RunID != id || r.Shard != 0 {
			t.Errorf("slice %d: writer %q run %q shard %d, want %q %q 0", k, r.Writer, r.RunID, r.Shard, workerID, id)
		}
		if want := int64(testRate * testSlice / time.Second); r.Intended != want || r.Completed != want || r.Errors != 0 {
			t.Errorf("slice %d: intended %d completed %d errors %d, want %d %d 0", k, r.Intended, r.Completed, r.Errors, want, want)
		}
		completed += r.Completed
	}
	if n := e.hits.Load(); n != completed {
		t.Errorf("target got %d requests, slices count %d", n, completed)
	}
	if !e.exists(t, runs.DonePath(id, 0)) {
		t.Error("no done marker")
	}
	rec, err := lease.Read(context.Background(), e.st, runs.LeasePath(id, 0))
	if err != nil || !rec.Released || !strings.HasPrefix(rec.Holder, workerID+"#") {
		t.Errorf("lease %+v (err %v), want released by %s", rec, err, workerID)
	}
	if got := e.redelivered(t, quiet); got != nil {
		t.Errorf("message %s came back: want it acked", got)
	}
}

// TestRunHandOver stops a worker in mid-slice: it announces the hand-over
// at the first boundary at least HandOverLead ahead, publishes the shard
// for a successor at once, and drives it until that boundary.
func TestRunHandOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const id = "run-handover"
	startAt := time.Now().Add(300 * time.Millisecond)
	p := e.writeRun(t, id, startAt, 3*time.Second)
	cancel, done := runWorker(t, e)
	e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: ReasonStart}))

	// 1.1 s in is inside slice 2; with a lead of 300 ms the boundary is
	// slice 3's start, 1.5 s in: slices 0 to 2 are written, 3 on are not.
	time.Sleep(time.Until(startAt.Add(1100 * time.Millisecond)))
	cancel()
	stopped := time.Now()
	// The successor's message is out at once, long before the boundary.
	if got, want := e.redelivered(t, 300*time.Millisecond), runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: ReasonHandOver}); string(got) != string(want) {
		t.Errorf("message for the successor = %q, want %q", got, want)
	}
	if took := time.Since(stopped); took > 300*time.Millisecond {
		t.Errorf("the successor's message came %v after the stop", took)
	}
	rec, err := lease.Read(context.Background(), e.st, runs.LeasePath(id, 0))
	handAt := startAt.Add(1500 * time.Millisecond)
	if err != nil || rec.Released || !rec.HandOverAt.Equal(handAt) || !strings.HasPrefix(rec.Holder, workerID+"#") || !rec.Live(time.Now()) {
		t.Errorf("lease %+v (err %v) during the hand-over, want %s's, live, handed over at %v", rec, err, workerID, handAt)
	}
	waitRun(t, done, 5*time.Second)
	if ended := time.Since(stopped); ended < 300*time.Millisecond || ended > 400*time.Millisecond+testSlice {
		t.Errorf("Run returned %v after its stop, want after the boundary 400 ms on and within a slice more", ended)
	}

	got := e.written(t, id)
	if keys := sortedKeys(got); !slices.Equal(keys, []int{0, 1, 2}) {
		t.Errorf("slices written %v of %d, want [0 1 2]", keys, p.NumSlices())
	}
	var completed int64
	for _, r := range got {
		completed += r.Completed
	}
	if n := e.hits.Load(); n != completed {
		t.Errorf("target got %d requests, slices count %d: requests after the boundary", n, completed)
	}
	if e.exists(t, runs.DonePath(id, 0)) {
		t.Error("done marker written by a stopped shard")
	}
	if got := e.redelivered(t, quiet); got != nil {
		t.Errorf("message %s came back: want the first one acked", got)
	}
}

// TestHandOverToSuccessor: a worker stopped in mid-run hands its shard to
// another, which sends from the boundary on: every slice is written once,
// and the target got exactly what the slices count.
func TestHandOverToSuccessor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const id = "run-successor"
	startAt := time.Now().Add(300 * time.Millisecond)
	p := e.writeRun(t, id, startAt, 3*time.Second)
	cancelA, doneA := runWorker(t, e)
	e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: ReasonStart}))
	waitLease(t, e, id, workerID)

	cfgB := testConfig()
	cfgB.ID = "w-b"
	b := New(cfgB, e.st, e.b, testLog(t), nil)
	ctxB, cancelB := context.WithCancel(context.Background())
	t.Cleanup(cancelB)
	doneB := make(chan error, 1)
	go func() { doneB <- b.Run(ctxB) }()

	time.Sleep(time.Until(startAt.Add(1100 * time.Millisecond)))
	cancelA()
	waitRun(t, doneA, 5*time.Second)
	waitLease(t, e, id, "w-b")
	deadline := time.Now().Add(5 * time.Second)
	for !e.exists(t, runs.DonePath(id, 0)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancelB()
	waitRun(t, doneB, 5*time.Second)

	got := e.written(t, id)
	if keys := sortedKeys(got); !slices.Equal(keys, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("slices written %v, want all of 0 to %d", keys, p.NumSlices()-1)
	}
	var completed int64
	want := int64(testRate * testSlice / time.Second)
	for k, r := range got {
		writer := workerID
		if k >= 3 {
			writer = "w-b"
		}
		if r.Writer != writer || r.Intended != want || r.Completed != want || !r.Start.Equal(startAt.Add(time.Duration(k)*testSlice)) {
			t.Errorf("slice %d: writer %s intended %d completed %d from %v, want %s, %d, %d, whole", k, r.Writer, r.Intended, r.Completed, r.Start.Sub(startAt), writer, want, want)
		}
		completed += r.Completed
	}
	if n := e.hits.Load(); n != completed {
		t.Errorf("target got %d requests, slices count %d", n, completed)
	}
	rec, err := lease.Read(context.Background(), e.st, runs.LeasePath(id, 0))
	if err != nil || !rec.Released || !strings.HasPrefix(rec.Holder, "w-b#") || !rec.From.Equal(startAt.Add(1500*time.Millisecond)) {
		t.Errorf("lease %+v (err %v), want w-b's, taken from the boundary 1.5 s in, released at the end", rec, err)
	}
}

// waitLease waits until worker holds run id's shard 0, within 5 s.
func waitLease(t *testing.T, e *env, id, worker string) {
	t.Helper()
	waitLeaseWithin(t, e, id, worker, 5*time.Second)
}

func waitLeaseWithin(t *testing.T, e *env, id, worker string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rec, err := lease.Read(context.Background(), e.st, runs.LeasePath(id, 0))
		if err == nil && strings.HasPrefix(rec.Holder, worker+"#") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not take the lease of %s within %v (%+v, %v)", worker, id, within, rec, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBeyondCapacity: a worker at capacity passes fresh work on, takes a
// resumed shard while its CPU allows, and passes one on when it does not.
func TestBeyondCapacity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var cpu atomic.Int64 // per mille
	cpu.Store(50)
	e.w.cpuUse = func() (float64, bool) { return float64(cpu.Load()) / 1000, true }
	startAt := time.Now().Add(300 * time.Millisecond)
	for _, id := range []string{"run-a", "run-b", "run-c", "run-d"} {
		e.writeRun(t, id, startAt, 30*time.Second)
	}
	cancel, done := runWorker(t, e)
	e.publish(t, runs.Encode(runs.ShardWork{RunID: "run-a", Shard: 0, Reason: ReasonStart}))
	waitLease(t, e, "run-a", workerID)

	// At its capacity of 1: fresh work goes elsewhere, a resume is taken.
	startB := runs.Encode(runs.ShardWork{RunID: "run-b", Shard: 0, Reason: ReasonStart})
	e.publish(t, startB)
	e.publish(t, runs.Encode(runs.ShardWork{RunID: "run-c", Shard: 0, Reason: ReasonResume}))
	// The bus delivers in no particular order: the worker may pull b's work
	// again (passed on, once a second) a few times before c's.
	waitLeaseWithin(t, e, "run-c", workerID, 20*time.Second)
	// Now the CPU is short: another resume goes elsewhere too.
	cpu.Store(500)
	resumeD := runs.Encode(runs.ShardWork{RunID: "run-d", Shard: 0, Reason: ReasonResume})
	e.publish(t, resumeD)
	time.Sleep(2 * passOnPause)
	for _, id := range []string{"run-b", "run-d"} {
		if e.exists(t, runs.LeasePath(id, 0)) {
			t.Errorf("%s's lease was taken, want its work passed on", id)
		}
	}
	cancel()
	waitRun(t, done, 5*time.Second)

	// The work passed on is still there for another worker, besides the
	// hand-overs of runs a and c.
	var left []string
	for {
		data := e.redelivered(t, quiet)
		if data == nil {
			break
		}
		left = append(left, string(data))
	}
	for _, want := range []string{string(startB), string(resumeD)} {
		if !slices.Contains(left, want) {
			t.Errorf("shard work left %q, want %s among it", left, want)
		}
	}
	for _, id := range []string{"run-a", "run-c"} {
		if got := e.written(t, id); len(got) == 0 {
			t.Errorf("%s: no slice written, want it driven", id)
		}
	}
}

// TestRunStoppedBeforeDriving: a message in hand when the worker is told
// to stop is passed on without taking the lease or sending: stopping must
// not wait for a whole run.
func TestRunStoppedBeforeDriving(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const id = "run-stopped"
	e.writeRun(t, id, time.Now().Add(300*time.Millisecond), 10*time.Second)
	work := runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: "start"})
	e.publish(t, work)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the stop came while the message was being pulled
	e.handle(t, ctx, e.pullWork(t), 3*time.Second)

	if got := e.written(t, id); len(got) != 0 {
		t.Errorf("slices %v written, want none", sortedKeys(got))
	}
	if n := e.hits.Load(); n != 0 {
		t.Errorf("target got %d requests, want 0", n)
	}
	if e.exists(t, runs.DonePath(id, 0)) {
		t.Error("done marker written by a stopped shard")
	}
	if rec, err := lease.Read(context.Background(), e.st, runs.LeasePath(id, 0)); err == nil && rec.Live(time.Now()) {
		t.Errorf("lease %+v still held, want released", rec)
	}
	if got := e.redelivered(t, 3*time.Second); string(got) != string(work) {
		t.Errorf("message again = %q, want %q handed back at once", got, work)
	}
}

func TestLostLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const id = "run-lost"
	startAt := time.Now().Add(300 * time.Millisecond)
	p := e.writeRun(t, id, startAt, 3*time.Second)
	e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: "start"}))
	msg := e.pullWork(t)
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		if work, ok := e.w.decode(context.Background(), msg); ok {
			e.w.handle(context.Background(), msg, work)
		}
	}()

	time.Sleep(time.Until(startAt.Add(1200 * time.Millisecond)))
	other := lease.Record{Holder: "other#1", Expires: time.Now().Add(time.Hour), Acquired: time.Now()}
	gen := e.put(t, runs.LeasePath(id, 0), runs.Encode(other))
	taken := time.Now()
	hitsAtTake := e.hits.Load()
	if hitsAtTake == 0 {
		t.Fatal("no load before the lease was taken over")
	}

	cfg := testConfig()
	bound := cfg.RenewEvery + testSlice
	select {
	case <-handled:
	case <-time.After(bound + 2*time.Second):
		t.Fatalf("worker still driving %v after losing its lease", time.Since(taken))
	}
	hitsAtStop := e.hits.Load()
	time.Sleep(testSlice)
	if n := e.hits.Load(); n != hitsAtStop {
		t.Errorf("target got %d more requests after the worker stopped", n-hitsAtStop)
	}
	if extra, limit := hitsAtStop-hitsAtTake, int64(testRate*bound/time.Second); extra > limit {
		t.Errorf("%d requests after the takeover, want at most %d (RenewEvery + a slice)", extra, limit)
	}

	evs := e.events(t, 10, 2*time.Second)
	if kinds := eventKinds(evs); !slices.Contains(kinds, runs.EventLost) || slices.Contains(kinds, runs.EventDone) {
		t.Errorf("events %v, want lost and no done", kinds)
	}
	if e.exists(t, runs.DonePath(id, 0)) {
		t.Error("done marker written after losing the lease")
	}
	obj, err := e.st.Get(context.Background(), runs.LeasePath(id, 0))
	if err != nil || obj.Generation != gen {
		t.Errorf("lease object generation %d (err %v), want the new holder's %d untouched", obj.Generation, err, gen)
	}
	// Slices closed before the loss are kept; the one under way is not.
	keys := sortedKeys(e.written(t, id))
	if len(keys) < 2 || len(keys) >= p.NumSlices() || keys[len(keys)-1] != len(keys)-1 {
		t.Errorf("slices written %v, want 0 1 and on up to the one under way at the loss, exclusive", keys)
	}
	if got := e.redelivered(t, quiet); got != nil {
		t.Errorf("message %s came back: want it acked (the new holder has the shard)", got)
	}
}

// TestPassOn: work a worker will not take goes back on the topic at once,
// counted, until it went around maxPasses times or its run is over.
func TestPassOn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		passes     string // the message's attribute; "" = none
		runOver    bool
		wantPasses string // of the message published again; "" = none
	}{
		{name: "first pass", wantPasses: "1"},
		{name: "passed on before", passes: "4", wantPasses: "5"},
		{name: "passed on too often: dropped", passes: strconv.Itoa(maxPasses)},
		{name: "run over: dropped", runOver: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			const id = "run-pass"
			start := time.Now().Add(time.Minute)
			if tt.runOver {
				start = time.Now().Add(-time.Minute)
			}
			e.writeRun(t, id, start, time.Second)
			work := runs.ShardWork{RunID: id, Shard: 0, Reason: ReasonStart}
			attrs := map[string]string{}
			if tt.passes != "" {
				attrs[passesAttr] = tt.passes
			}
			if _, err := e.b.Publish(context.Background(), bus.ShardsTopic, runs.Encode(work), attrs); err != nil {
				t.Fatal(err)
			}
			msg := e.pullWork(t)
			e.w.passOn(context.Background(), msg, work, zap.NewNop())

			ctx, cancel := context.WithTimeout(context.Background(), quiet)
			defer cancel()
			again, err := e.b.Pull(ctx, bus.ShardsSub, 0)
			switch {
			case tt.wantPasses == "" && err == nil:
				t.Errorf("work published again (%s, %v), want it dropped", again.Data(), again.Attributes())
			case tt.wantPasses != "" && err != nil:
				t.Errorf("no work published again (%v), want it passed on", err)
			case tt.wantPasses != "":
				if string(again.Data()) != string(runs.Encode(work)) || again.Attributes()[passesAttr] != tt.wantPasses || again.Attributes()["run_id"] != id {
					t.Errorf("published again %s with %v, want the same work with %s=%s", again.Data(), again.Attributes(), passesAttr, tt.wantPasses)
				}
				if again.ID() == msg.ID() {
					t.Error("the same message came back: want it acked and a new one published")
				}
			}
		})
	}
}
