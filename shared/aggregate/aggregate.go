// Package aggregate turns a run's objects in the bucket into its live
// status and final report, and is the pipeline's failure detector. It keeps
// no state of its own: everything is derived from the bucket, so a
// restarted aggregator, or `cicada aggregate RUN_ID` run by hand, writes the
// same report byte for byte.
package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/verdict"
)

// State is what the bucket says about one run.
type State struct {
	Run  runs.Run
	Plan *plan.Plan
	// PlanJSON is plan.json as stored: the report files show it.
	PlanJSON  []byte
	Slices    []*slice.Result
	Corrupt   []report.CorruptSlice
	Done      map[int]bool
	Leases    map[int]lease.Record
	Cancelled bool
	// CancelledAt is when the cancel marker was written.
	CancelledAt time.Time
	// AbortReason is set when the aggregator itself cancelled the run
	// because a per-slice threshold failed (abort_on_fail): the verdict is
	// then fail, not incomplete.
	AbortReason string
	HasReport   bool
}

// Load reads a run's state from the bucket.
func Load(ctx context.Context, st store.Store, id string) (*State, error) {
	stored, err := runs.Read(ctx, st, id)
	if err != nil {
		return nil, err
	}
	s := &State{Run: stored.Run, Plan: stored.Plan, PlanJSON: stored.PlanJSON, Done: map[int]bool{}, Leases: map[int]lease.Record{}}
	names, err := st.List(ctx, runs.Prefix(id))
	if err != nil {
		return nil, fmt.Errorf("list run %s: %w", id, err)
	}
	for _, name := range names {
		switch {
		case strings.HasPrefix(name, runs.SlicePrefix(id)):
			if err := s.loadSlice(ctx, st, id, name); err != nil {
				return nil, fmt.Errorf("read run %s: %w", id, err)
			}
		case strings.HasPrefix(name, runs.DonePrefix(id)):
			if n, err := runs.ParseDonePath(id, name); err == nil {
				s.Done[n] = true
			}
		case strings.HasPrefix(name, runs.LeasePrefix(id)):
			if n, err := runs.ParseLeasePath(id, name); err == nil {
				if r, err := lease.Read(ctx, st, name); err == nil {
					s.Leases[n] = r
				}
			}
		case name == runs.CancelPath(id):
			s.Cancelled = true
			o, err := st.Get(ctx, name)
			switch {
			case err == nil:
				s.CancelledAt = o.Updated
				s.AbortReason = readCancel(o.Data).Reason
			case !errors.Is(err, store.ErrNotFound):
				// Without its time, a cancelled run would look final at
				// once and expect every slice.
				return nil, fmt.Errorf("read cancel marker of run %s: %w", id, err)
			}
		case name == runs.ReportPath(id, report.FileJSON):
			s.HasReport = true
		}
	}
	return s, nil
}

// readCancel decodes a cancel marker; a marker that is not JSON is still a
// cancel, without a reason.
func readCancel(b []byte) runs.Cancel {
	var c runs.Cancel
	_ = json.Unmarshal(b, &c)
	return c
}

// loadSlice decodes one slice object; a corrupt one is noted, not fatal.
// A failed read is returned instead: the slice was written, and noting it
// as corrupt would leave it out of a report that is never written again.
func (s *State) loadSlice(ctx context.Context, st store.Store, id, name string) error {
	shard, k, err := runs.ParseSlicePath(id, name)
	if err == nil {
		var obj store.Object
		obj, err = st.Get(ctx, name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("read slice %s: %w", name, err)
		}
		if err == nil {
			var r *slice.Result
			if r, err = slice.Unmarshal(obj.Data); err == nil {
				if r.Shard != shard || r.Index != k || r.RunID != id {
					err = fmt.Errorf("holds run %s shard %d slice %d", r.RunID, r.Shard, r.Index)
				} else {
					s.Slices = append(s.Slices, r)
					return nil
				}
			}
		}
	}
	s.Corrupt = append(s.Corrupt, report.CorruptSlice{Object: name, Error: err.Error()})
	return nil
}

// AllDone reports whether every shard wrote its done marker.
func (s *State) AllDone() bool {
	for i := range s.Plan.Shards {
		if !s.Done[i] {
			return false
		}
	}
	return true
}

// Final reports whether the run is over at now: every shard done, or
// cancelled and given a slice and the grace to stop, or past its end and
// the grace.
func (s *State) Final(now time.Time, grace time.Duration) bool {
	switch {
	case s.AllDone():
		return true
	case s.Cancelled:
		return now.After(s.CancelledAt.Add(s.Plan.SliceDuration() + grace))
	}
	return now.After(s.Run.End.Add(grace))
}

// Report builds the report of the run as the bucket has it. final decides
// the status: "running" while the run goes, else completed, incomplete
// (gaps), or cancelled. A final report carries the verdict; while the run
// goes, the thresholds are judged on what has arrived but the verdict is
// left empty.
func (s *State) Report(final bool) *report.Report {
	p := s.Plan
	n := p.NumSlices()
	sched := p.Schedule()
	var planned []int64
	if p.Load.Model == plan.ModelOpen {
		planned = make([]int64, n)
		for k := range planned {
			planned[k] = sched.SliceIntended(k, p.SliceDuration())
		}
	}
	cov := s.coverage()
	status := "running"
	if final {
		switch {
		case s.Cancelled:
			status = report.StatusCancelled
		case cov.Received < cov.Expected:
			status = report.StatusIncomplete
		default:
			status = report.StatusCompleted
		}
	}
	end := s.Run.End
	if s.Cancelled || !final {
		// Up to the last slice anyone reported, so that the rate is of
		// the time that ran.
		last := -1
		for _, r := range s.Slices {
			last = max(last, r.Index)
		}
		end = s.Run.StartAt.Add(min(time.Duration(last+1)*p.SliceDuration(), p.Duration()))
	}
	rep := report.Build(report.Input{
		RunID: s.Run.ID, PlanName: p.Name, Status: status,
		Start: s.Run.StartAt, End: end,
		SliceDuration: p.SliceDuration(), PlanDuration: p.Duration(),
		Shards: p.Shards, NumSlices: n, PlannedIntended: planned,
		Slices: s.Slices,
	})
	rep.Coverage = &cov
	if final {
		s.Judge(rep)
	} else {
		verdict.Evaluate(p, rep)
	}
	return rep
}

// Judge sets the final report's thresholds and verdict: fail with the
// abort's reason first if the aggregator aborted the run. It may be called
// again after rep.Comparison is attached.
func (s *State) Judge(rep *report.Report) {
	if s.AbortReason != "" {
		verdict.JudgeAborted(s.Plan, rep, s.AbortReason)
		return
	}
	verdict.Judge(s.Plan, rep)
}

// coverage lists expected, received and missing shard slices. A cancelled
// run expects only the slices before the cancel took effect.
func (s *State) coverage() report.Coverage {
	p := s.Plan
	n := p.NumSlices()
	if s.Cancelled && !s.CancelledAt.IsZero() {
		n = min(n, max(int(s.CancelledAt.Sub(s.Run.StartAt)/p.SliceDuration())+1, 0))
	}
	have := map[report.ShardSlice]bool{}
	for _, r := range s.Slices {
		have[report.ShardSlice{Shard: r.Shard, Slice: r.Index}] = true
	}
	cov := report.Coverage{Expected: n * p.Shards, Missing: []report.ShardSlice{}, Corrupt: s.Corrupt}
	for shard := range p.Shards {
		for k := range n {
			if have[report.ShardSlice{Shard: shard, Slice: k}] {
				cov.Received++
			} else {
				cov.Missing = append(cov.Missing, report.ShardSlice{Shard: shard, Slice: k})
			}
		}
	}
	return cov
}

// Write stores the run's live status, or its final report files when final
// (report.Files, which show plan.json as stored and tell successes by the
// plan's rule).
func (s *State) Write(ctx context.Context, st store.Store, rep *report.Report, final bool) error {
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		return fmt.Errorf("encode report of run %s: %w", rep.RunID, err)
	}
	if !final {
		if _, err := st.Put(ctx, runs.LivePath(rep.RunID), b.Bytes(), "application/json"); err != nil {
			return fmt.Errorf("write live status of run %s: %w", rep.RunID, err)
		}
		return nil
	}
	files, err := report.Files(rep, s.PlanJSON, s.Plan.Target.Success)
	if err != nil {
		return fmt.Errorf("report files of run %s: %w", rep.RunID, err)
	}
	files["live.json"] = b.Bytes()
	// report.json last: its presence means "final".
	names := append(slices.DeleteFunc(slices.Clone(report.FileNames), func(n string) bool { return n == report.FileJSON }), "live.json", report.FileJSON)
	for _, name := range names {
		if _, err := st.Put(ctx, runs.ReportPath(rep.RunID, name), files[name], contentType(name)); err != nil {
			return fmt.Errorf("write %s of run %s: %w", name, rep.RunID, err)
		}
	}
	return nil
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".json":
		return "application/json"
	case ".html":
		return "text/html; charset=utf-8"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".xml":
		return "application/xml"
	}
	return "text/plain; charset=utf-8"
}

// Once aggregates a run once: it writes live.json, or the final report
// when the run is over at now (or force is set), and returns the report
// and whether it was final.
func Once(ctx context.Context, st store.Store, id string, now time.Time, grace time.Duration, force bool) (*report.Report, bool, error) {
	s, err := Load(ctx, st, id)
	if err != nil {
		return nil, false, err
	}
	final := force || s.Final(now, grace)
	rep := s.Report(final)
	if final {
		// A missing baseline leaves the report without a comparison.
		_ = s.CompareBaseline(ctx, st, rep)
	}
	if err := s.Write(ctx, st, rep, final); err != nil {
		return rep, final, err
	}
	return rep, final, nil
}

// ErrNoRun is returned for a run id with no run.json.
var ErrNoRun = errors.New("no such run")
