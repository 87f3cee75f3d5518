package inprocess

import (
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/cicadaload/cicada/shared/load"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/search"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/verdict"
)

// steering is a capacity search run in this process: the pipeline's
// aggregator and workers in one. Each slice every shard has closed is
// judged by package search, as the aggregator judges sealed slices, and
// its decisions go straight to the engines (SetRate, StopAt) instead of
// through a control object.
type steering struct {
	cfg      search.Config
	engines  []*load.Engine
	progress io.Writer

	mu      sync.Mutex
	ctl     runs.Control
	applied int // control probes given to the engines
	slices  []search.Slice
	memo    *search.Memo
	printed int // judged probes printed
}

func newSteering(p *plan.Plan, engines []*load.Engine, progress io.Writer) (*steering, error) {
	cfg, err := search.NewConfig(p, verdict.MaxLateness(p))
	if err != nil {
		return nil, err
	}
	s := &steering{cfg: cfg, engines: engines, progress: progress, memo: search.NewMemo()}
	// Probe 0: the engines' schedules already start at from.
	s.decide(0, false)
	return s, nil
}

// closed records slice k, closed by every shard, and decides what comes
// next. Slices close in order but may be told out of it.
func (s *steering) closed(k int, merged *slice.Result, shards []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.slices) <= k {
		s.slices = append(s.slices, search.Slice{})
	}
	s.slices[k] = search.Slice{Result: merged, Shards: shards, Complete: true}
	// Slices before k that no shard reported are not coming: empty and
	// complete (a rest or a stopped tail sends nothing).
	for j := range k {
		if s.slices[j].Result == nil {
			s.slices[j].Complete = true
		}
	}
	s.decideLocked(k+1, false)
}

func (s *steering) decide(current int, final bool) search.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decideLocked(current, final)
}

func (s *steering) decideLocked(current int, final bool) search.Outcome {
	out := search.Step(search.Input{Config: s.cfg, Control: s.ctl, Slices: s.slices, Current: current, Final: final, Memo: s.memo})
	if out.Changed && !final {
		s.ctl = out.Control
		for ; s.applied < len(s.ctl.Probes); s.applied++ {
			p := s.ctl.Probes[s.applied]
			for _, e := range s.engines {
				e.SetRate(p.From, p.Rate)
			}
		}
		if end := s.ctl.EndSlice; end != nil {
			for _, e := range s.engines {
				e.StopAt(*end)
			}
		}
	}
	if s.progress != nil {
		for ; s.printed < len(out.Search.Probes); s.printed++ {
			fmt.Fprintln(s.progress, report.FormatProbeLine(out.Search.Probes[s.printed]))
		}
	}
	return out
}

// end is the slice the search stopped at, or the plan's bound.
func (s *steering) end(p *plan.Plan) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := p.NumSlices()
	if e := s.ctl.EndSlice; e != nil {
		n = min(n, max(*e, 0))
	}
	return n
}

// finish adapts the report's input to the search's end (rows, coverage
// and the planned rate stop at EndSlice; each slice is planned at its
// probe's rate) and returns the search's final state for the report.
func (s *steering) finish(p *plan.Plan, in *report.Input, completed bool) *report.Search {
	end := s.end(p)
	sd := p.SliceDuration()
	in.NumSlices = end
	in.PlanDuration = time.Duration(end) * sd
	if completed {
		in.End = in.Start.Add(in.PlanDuration)
	}
	in.PlannedIntended = make([]int64, end)
	s.mu.Lock()
	for k := range in.PlannedIntended {
		if rate, ok := s.ctl.RateAt(k); ok {
			in.PlannedIntended[k] = int64(math.Round(rate * sd.Seconds()))
		}
	}
	s.mu.Unlock()
	out := s.decide(end, true)
	if s.progress != nil {
		fmt.Fprintln(s.progress, report.FormatCapacity(&out.Search))
	}
	return &out.Search
}
