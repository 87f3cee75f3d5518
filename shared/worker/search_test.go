package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

// fakeRater records what a follower asks of the engine; slices below
// started have begun and cannot change.
type fakeRater struct {
	started int
	calls   []string
	stop    int
}

func (f *fakeRater) SetRate(from int, rate float64) int {
	at := max(from, f.started)
	f.calls = append(f.calls, fmt.Sprintf("%d@%g", at, rate))
	return at
}

func (f *fakeRater) StopAt(k int) { f.stop = k }

// TestSearchFollowerApply: each poll gives the engine only the probes it
// does not have, in order, capped at to; EndSlice stops it; a missing or
// unreadable control object changes nothing.
func TestSearchFollowerApply(t *testing.T) {
	t.Parallel()
	end := 30
	c1 := runs.Control{Probes: []runs.ControlProbe{{N: 0, Rate: 100, From: 0}}}
	c2 := runs.Control{Probes: []runs.ControlProbe{{N: 0, Rate: 100, From: 0}, {N: 1, Rate: 200, From: 7}}}
	c3 := runs.Control{Probes: append(slices.Clone(c2.Probes), runs.ControlProbe{N: 2, Rate: 5000, From: 14}), EndSlice: &end}
	steps := []struct {
		started int
		ctl     runs.Control
		err     error
		calls   []string
		stop    int
	}{
		{0, runs.Control{}, fmt.Errorf("read: %w", store.ErrNotFound), nil, -1},
		{0, c1, nil, []string{"0@100"}, -1},
		{3, c1, nil, nil, -1},                                  // nothing new
		{4, c2, nil, []string{"7@200"}, -1},                    // learned ahead: switches at 7
		{5, runs.Control{}, errors.New("store down"), nil, -1}, // keeps the last rates
		{15, c3, nil, []string{"15@2000"}, 30},                 // learned late: from 15; capped at to
		{16, c3, nil, nil, 30},                                 // nothing new
	}
	var cur struct {
		ctl runs.Control
		err error
	}
	e := &fakeRater{stop: -1}
	r := &shardRun{log: zap.NewNop(), p: &plan.Plan{Load: plan.Load{Search: &plan.Search{From: 100, To: 2000}}}}
	f := newSearchFollower(r, e)
	f.read = func(context.Context) (runs.Control, error) { return cur.ctl, cur.err }
	for i, st := range steps {
		e.started, e.calls = st.started, nil
		cur.ctl, cur.err = st.ctl, st.err
		f.poll(context.Background())
		if !slices.Equal(e.calls, st.calls) || e.stop != st.stop {
			t.Errorf("step %d: SetRate %q, stop %d; want %q, %d", i, e.calls, e.stop, st.calls, st.stop)
		}
	}
}

// TestSearchShard drives one shard of a search run with the disk store and
// a real engine against a 127.0.0.1 target: control.json written while it
// runs moves the rate at the slice it names, and its end_slice stops the
// shard there, which then ends as any shard does (done marker).
func TestSearchShard(t *testing.T) {
	t.Parallel()
	st, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, stopBus, err := bus.NewInProcess(context.Background())
	t.Cleanup(stopBus)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("target %s is not on 127.0.0.1", srv.URL)
	}
	const sliceDur = 300 * time.Millisecond
	p := &plan.Plan{
		Name:   "search-shard",
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: srv.URL},
		Data:   plan.Data{Texts: []string{"hello"}},
		Load: plan.Load{Model: plan.ModelOpen, Search: &plan.Search{SLO: []string{"p99 < 1s"}, From: 20, To: 400,
			Settle: plan.Duration(sliceDur), Hold: plan.Duration(sliceDur), MaxProbes: 10}},
		Slice:  plan.Duration(sliceDur),
		Shards: 1,
	}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := "20261203-120000-5ea4c0"
	startAt := time.Now().Add(500 * time.Millisecond)
	for name, v := range map[string]any{runs.PlanPath(id): p, runs.RunPath(id): runs.Run{
		ID: id, PlanName: p.Name, Shards: 1, Created: time.Now(), StartAt: startAt, End: startAt.Add(p.Duration()),
	}} {
		if _, err := st.Put(ctx, name, runs.Encode(v), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	w := New(testConfig(), st, b, testLog(t), nil)
	done := make(chan outcome, 1)
	go func() {
		done <- w.drive(ctx, runs.ShardWork{RunID: id, Shard: 0, Reason: ReasonStart}, testLog(t))
	}()

	at := func(k float64) { time.Sleep(time.Until(startAt.Add(time.Duration(k * float64(sliceDur))))) }
	// In slice 1: probe 1 at 200 req/s from slice 4 (read at the boundary
	// of slice 2 or 3).
	at(1.3)
	gen, err := runs.WriteControl(ctx, st, id, 0, runs.Control{Probes: []runs.ControlProbe{{N: 0, Rate: 20, From: 0}, {N: 1, Rate: 200, From: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	// In slice 5: the search is over at slice 8.
	at(5.3)
	end := 8
	if _, err := runs.WriteControl(ctx, st, id, gen, runs.Control{Probes: []runs.ControlProbe{{N: 0, Rate: 20, From: 0}, {N: 1, Rate: 200, From: 4}}, EndSlice: &end}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(p.Duration()):
		t.Fatalf("the shard did not stop at its end slice")
	}
	if _, err := st.Get(ctx, runs.DonePath(id, 0)); err != nil {
		t.Errorf("done marker: %v", err)
	}
	names, err := st.List(ctx, runs.ShardSlicePrefix(id, 0))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]*slice.Result{}
	for _, n := range names {
		obj, err := st.Get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		r, err := slice.Unmarshal(obj.Data)
		if err != nil {
			t.Fatal(err)
		}
		got[r.Index] = r
	}
	want := []int64{6, 6, 6, 6, 60, 60, 60, 60} // 20 req/s, then 200, of 300ms slices
	if len(got) != len(want) {
		t.Errorf("%d slices written, want %d (0..7)", len(got), len(want))
	}
	for k, n := range want {
		r := got[k]
		if r == nil {
			t.Errorf("slice %d missing", k)
			continue
		}
		if r.Intended != n || r.Completed != n {
			t.Errorf("slice %d: %d intended, %d completed, want %d", k, r.Intended, r.Completed, n)
		}
	}
}
