package aggregate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/search"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/verdict"
)

// searchRun is the capacity search of a run whose plan has load.search, as
// the bucket has it: the control object and what the search knows of each
// slice.
type searchRun struct {
	cfg search.Config
	ctl runs.Control
	// gen is control.json's generation; 0 when there is none yet.
	gen    int64
	slices []search.Slice
	memo   *search.Memo
}

// loadSearch reads the control object of a search run into s (nothing for
// any other plan). A control object that cannot be decoded counts as
// absent: the next decision replaces it at its generation.
func (t *Tracker) loadSearch(ctx context.Context, s *State) error {
	if t.plan.Load.Search == nil {
		return nil
	}
	cfg, err := search.NewConfig(t.plan, verdict.MaxLateness(t.plan))
	if err != nil {
		return fmt.Errorf("run %s: %w", t.id, err)
	}
	if t.memo == nil {
		t.memo = search.NewMemo()
	}
	sr := &searchRun{cfg: cfg, memo: t.memo}
	obj, err := t.st.Get(ctx, runs.ControlPath(t.id))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("read control object of run %s: %w", t.id, err)
	default:
		sr.gen = obj.Generation
		if c, err := runs.DecodeControl(obj.Data); err == nil {
			sr.ctl = c
		}
	}
	sr.slices = t.searchSlices()
	s.search = sr
	return nil
}

// searchSlices is what the search knows of each slice now. A slice is
// complete once sealed; a Tracker that does not seal (`cicada aggregate`)
// counts a slice complete once every shard reported it.
func (t *Tracker) searchSlices() []search.Slice {
	out := make([]search.Slice, len(t.slices))
	for k, c := range t.slices {
		if c == nil || c.Reported() == 0 {
			out[k].Complete = t.isSealed[k]
			continue
		}
		out[k] = search.Slice{
			Result:   c.Result(),
			Shards:   c.Shards(),
			Complete: t.isSealed[k] || (!t.sealed && c.Reported() >= t.plan.Shards),
		}
	}
	return out
}

// step is the search at current (the slice under way), final or not.
func (sr *searchRun) step(current int, final bool) search.Outcome {
	return search.Step(search.Input{Config: sr.cfg, Control: sr.ctl, Slices: sr.slices, Current: current, Final: final, Memo: sr.memo})
}

// steer moves a search run on: it publishes probe 0 when there is no
// control object, and the next probe or the search's end once the current
// probe's window is sealed. A write that loses to another writer (another
// aggregator, the trigger's probe 0) is left to the next update, which
// reads the object again.
func (s *Service) steer(ctx context.Context, t *Tracker, st *State, now time.Time, log *zap.Logger) {
	sr := st.search
	if sr == nil || st.Cancelled {
		return
	}
	sr.slices = t.searchSlices() // sealed just now, some of them
	current := int(math.Floor(float64(now.Sub(st.Run.StartAt)) / float64(st.Plan.SliceDuration())))
	out := sr.step(current, false)
	if !out.Changed {
		return
	}
	gen, err := runs.WriteControl(ctx, s.st, st.Run.ID, sr.gen, out.Control)
	if err != nil {
		log.Warn("write control object", zap.Error(err))
		return
	}
	sr.ctl, sr.gen = out.Control, gen
	r := out.Search
	switch {
	case out.Control.EndSlice != nil:
		log.Info("search over", zap.String("status", r.Status), zap.String("reason", r.Reason),
			zap.Int("end_slice", *out.Control.EndSlice), zap.Int("probes", len(r.Probes)))
	default:
		p := out.Control.Probes[len(out.Control.Probes)-1]
		log.Info("search probe", zap.Int("probe", p.N), zap.Float64("rate", p.Rate), zap.Int("from_slice", p.From))
	}
}

// searchEnd is the slice a search run stops at: EndSlice once set, else
// the plan's upper bound. ok is false for a run without a search.
func (s *State) searchEnd() (end int, ok bool) {
	if s.search == nil {
		return 0, false
	}
	n := s.Plan.NumSlices()
	if e := s.search.ctl.EndSlice; e != nil {
		n = min(n, max(*e, 0))
	}
	return n, true
}

// searchFinal reports whether a search run whose search ended is over:
// every slice before EndSlice complete, or EndSlice plus the grace past.
// decided is false when the search has not ended: the run's end decides.
func (s *State) searchFinal(now time.Time, grace time.Duration) (final, decided bool) {
	if s.search == nil || s.search.ctl.EndSlice == nil {
		return false, false
	}
	end, _ := s.searchEnd()
	if now.After(s.Run.StartAt.Add(time.Duration(end)*s.Plan.SliceDuration() + grace)) {
		return true, true
	}
	for k := range end {
		if k >= len(s.search.slices) || !s.search.slices[k].Complete {
			return false, true
		}
	}
	return true, true
}

// searchInput adapts a search run's report input: rows, coverage and
// the planned rate end at the search's end (or, while it runs, at the
// last probe's window), the planned rate is each slice's probe's, and the
// report carries the search.
func (s *State) searchInput(in *report.Input, final bool) {
	end, ok := s.searchEnd()
	if !ok {
		return
	}
	sd := s.Plan.SliceDuration()
	if s.search.ctl.EndSlice == nil && !final {
		// While it runs: up to the last probe's window, or what arrived.
		horizon := 0
		if ps := s.search.ctl.Probes; len(ps) > 0 {
			horizon = ps[len(ps)-1].From + s.search.cfg.Settle + s.search.cfg.Hold
		}
		for _, r := range s.Slices {
			horizon = max(horizon, r.Index+1)
		}
		end = min(end, horizon)
	}
	in.NumSlices = end
	in.PlanDuration = time.Duration(end) * sd
	if final && !s.Cancelled {
		in.End = s.Run.StartAt.Add(in.PlanDuration)
	}
	in.PlannedIntended = make([]int64, end)
	for k := range in.PlannedIntended {
		if rate, ok := s.search.ctl.RateAt(k); ok {
			in.PlannedIntended[k] = int64(math.Round(rate * sd.Seconds()))
		} else if len(s.search.ctl.Probes) == 0 && k < s.search.cfg.Settle+s.search.cfg.Hold {
			// No control object yet: workers run probe 0's window at from.
			in.PlannedIntended[k] = int64(math.Round(s.search.cfg.From * sd.Seconds()))
		}
	}
}

// searchReport fills rep.Search, and judges a final search run by its
// search (verdict.JudgeSearch).
func (s *State) searchReport(rep *report.Report, final bool) {
	if s.search == nil {
		return
	}
	// The slice under way, for a decision shown before it is written.
	current := 0
	if !s.Now.IsZero() {
		current = int(s.Now.Sub(s.Run.StartAt) / s.Plan.SliceDuration())
	}
	for _, r := range s.Slices {
		current = max(current, r.Index+1)
	}
	out := s.search.step(current, final || s.Cancelled)
	rep.Search = &out.Search
}
