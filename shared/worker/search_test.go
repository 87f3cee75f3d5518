package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
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
