package aggregate

import (
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// state is a 2-shard, 4-slice run with the given slices present.
func state(have ...[2]int) *State {
	p := &plan.Plan{Name: "p", Shards: 2, Slice: plan.Duration(time.Second),
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://127.0.0.1/"},
		Data:   plan.Data{Texts: []string{"a"}},
		Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(4 * time.Second), Rate: 10}}}}
	p.ApplyDefaults()
	s := &State{
		Run:  runs.Run{ID: "r", StartAt: t0, End: t0.Add(4 * time.Second), Shards: 2},
		Plan: p, Done: map[int]bool{},
	}
	for _, h := range have {
		r := slice.NewResult("r", h[0], h[1], t0.Add(time.Duration(h[1])*time.Second), t0.Add(time.Duration(h[1]+1)*time.Second))
		r.Intended = 5
		r.ShardsReporting = 1
		s.Slices = append(s.Slices, r)
	}
	return s
}

func all() [][2]int {
	var out [][2]int
	for shard := range 2 {
		for k := range 4 {
			out = append(out, [2]int{shard, k})
		}
	}
	return out
}

func TestFinalAndStatus(t *testing.T) {
	t.Parallel()
	grace := 5 * time.Second
	tests := []struct {
		name       string
		s          func() *State
		now        time.Time
		wantFinal  bool
		wantStatus string
		wantMiss   int
	}{
		{"running", func() *State { return state(all()[:3]...) }, t0.Add(2 * time.Second), false, "running", 5},
		{"every shard done", func() *State {
			s := state(all()...)
			s.Done[0], s.Done[1] = true, true
			return s
		}, t0.Add(4 * time.Second), true, report.StatusCompleted, 0},
		{"past end and grace with a gap", func() *State { return state(all()[1:]...) }, t0.Add(10 * time.Second), true, report.StatusIncomplete, 1},
		{"within grace after the end", func() *State { return state(all()[1:]...) }, t0.Add(8 * time.Second), false, "running", 1},
		{"cancelled at 1.5 s expects slices 0 and 1", func() *State {
			s := state([2]int{0, 0}, [2]int{1, 0}, [2]int{0, 1}, [2]int{1, 1})
			s.Cancelled, s.CancelledAt = true, t0.Add(1500*time.Millisecond)
			return s
		}, t0.Add(10 * time.Second), true, report.StatusCancelled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.s()
			final := s.Final(tt.now, grace)
			if final != tt.wantFinal {
				t.Errorf("Final = %v, want %v", final, tt.wantFinal)
			}
			rep := s.Report(final)
			if rep.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", rep.Status, tt.wantStatus)
			}
			if got := len(rep.Coverage.Missing); got != tt.wantMiss {
				t.Errorf("%d missing slices %v, want %d", got, rep.Coverage.Missing, tt.wantMiss)
			}
			if rep.Coverage.Received+len(rep.Coverage.Missing) != rep.Coverage.Expected {
				t.Errorf("coverage %+v does not add up", rep.Coverage)
			}
		})
	}
}
