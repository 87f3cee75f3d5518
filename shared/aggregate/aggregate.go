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
	"github.com/cicadaload/cicada/shared/redact"
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
	PlanJSON []byte
	// Slices are the results to report: one per slice index merged across
	// shards (from a Tracker), or one per shard and slice.
	Slices []*slice.Result
	// Merged, when set, says which shards each slice index holds (by
	// index; nil where nobody reported); otherwise Slices says it.
	Merged  []*slice.Compact
	Corrupt []report.CorruptSlice
	Done    map[int]bool
	// Leases is filled by LoadLeases, for the failure detector.
	Leases    map[int]lease.Record
	Cancelled bool
	// CancelledAt is when the cancel marker was written.
	CancelledAt time.Time
	// AbortReason is set when the aggregator itself cancelled the run
	// because a per-slice threshold failed (abort_on_fail): the verdict is
	// then fail, not incomplete.
	AbortReason string
	HasReport   bool
	// Failed are the shards that could not run at all, with the reason.
	Failed []report.FailedShard
	// Unplaced are the shards nobody drives (from the failure detector).
	Unplaced []report.Unplaced
	// Now, when set, limits a live report's coverage to the slices that
	// are past: a slice still to come is not missing yet.
	Now time.Time

	// search is the capacity search of a plan with load.search.
	search *searchRun
}

// Load reads a run's state from the bucket, from the raw slice objects.
func Load(ctx context.Context, st store.Store, id string) (*State, error) {
	t := NewTracker(st, id, false)
	if err := t.Sync(ctx, nil, true); err != nil {
		return nil, err
	}
	return t.State(ctx)
}

// State returns the run's state: what the Tracker merged, and the run's
// control objects (done markers, cancel marker, report) read now.
func (t *Tracker) State(ctx context.Context) (*State, error) {
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	s := &State{
		Run: t.run, Plan: t.plan, PlanJSON: t.planJSON,
		Merged: t.slices, Corrupt: t.corrupt(),
		Done: map[int]bool{}, Leases: map[int]lease.Record{},
	}
	for _, c := range t.slices {
		if c != nil && len(c.Shards()) > 0 {
			s.Slices = append(s.Slices, c.Result())
		}
	}
	id := t.id
	done, err := t.st.List(ctx, runs.DonePrefix(id))
	if err != nil {
		return nil, fmt.Errorf("list done markers of run %s: %w", id, err)
	}
	for _, name := range done {
		if n, err := runs.ParseDonePath(id, name); err == nil {
			s.Done[n] = true
			continue
		}
		n, err := runs.ParseFailedPath(id, name)
		if err != nil {
			continue
		}
		var f runs.ShardFailure
		o, err := t.st.Get(ctx, name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("read failed-shard marker of run %s: %w", id, err)
		}
		if err == nil {
			_ = json.Unmarshal(o.Data, &f) // a marker is a failure, reason or not
		}
		if f.Reason == "" {
			f.Reason = "failed (no reason recorded)"
		}
		s.Done[n] = true // it will not run: nothing to wait for
		// The reason goes into every report file; a worker's error may
		// quote the target's URL.
		s.Failed = append(s.Failed, report.FailedShard{Shard: n, Reason: redact.Text(f.Reason)})
	}
	if t.invalid != "" {
		// No worker runs this plan: each shard without a marker of its
		// own fails with the reason, and the report says it now rather
		// than as gaps after the run's end.
		for n := range t.plan.Shards {
			if !s.Done[n] {
				s.Done[n] = true
				s.Failed = append(s.Failed, report.FailedShard{Shard: n, Reason: redact.Text(t.invalid)})
			}
		}
		slices.SortFunc(s.Failed, func(a, b report.FailedShard) int { return a.Shard - b.Shard })
	}
	o, err := t.st.Get(ctx, runs.CancelPath(id))
	switch {
	case err == nil:
		s.Cancelled = true
		s.CancelledAt = o.Updated
		s.AbortReason = readCancel(o.Data).Reason
	case !errors.Is(err, store.ErrNotFound):
		// Without its time, a cancelled run would look final at once and
		// expect every slice.
		return nil, fmt.Errorf("read cancel marker of run %s: %w", id, err)
	}
	rep, err := t.st.List(ctx, runs.ReportPath(id, report.FileJSON))
	if err != nil {
		return nil, fmt.Errorf("look for the report of run %s: %w", id, err)
	}
	s.HasReport = slices.Contains(rep, runs.ReportPath(id, report.FileJSON))
	if err := t.loadSearch(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadLeases reads the lease of every shard, for the failure detector.
func (s *State) LoadLeases(ctx context.Context, st store.Store) error {
	names, err := st.List(ctx, runs.LeasePrefix(s.Run.ID))
	if err != nil {
		return fmt.Errorf("list leases of run %s: %w", s.Run.ID, err)
	}
	for _, name := range names {
		if n, err := runs.ParseLeasePath(s.Run.ID, name); err == nil {
			if r, err := lease.Read(ctx, st, name); err == nil {
				s.Leases[n] = r
			}
		}
	}
	return nil
}

// readCancel decodes a cancel marker; a marker that is not JSON is still a
// cancel, without a reason.
func readCancel(b []byte) runs.Cancel {
	var c runs.Cancel
	_ = json.Unmarshal(b, &c)
	return c
}

func sortCorrupt(c []report.CorruptSlice) {
	slices.SortFunc(c, func(a, b report.CorruptSlice) int { return strings.Compare(a.Object, b.Object) })
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
	if final, ok := s.searchFinal(now, grace); ok {
		return final
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
	cov := s.coverage(final)
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
	in := report.Input{
		RunID: s.Run.ID, PlanName: p.Name, SubmittedBy: s.Run.SubmittedBy, Status: status,
		Start: s.Run.StartAt, End: end,
		SliceDuration: p.SliceDuration(), PlanDuration: p.Duration(),
		Shards: p.Shards, NumSlices: n, PlannedIntended: planned,
		Slices: s.Slices,
	}
	s.searchInput(&in, final)
	rep := report.Build(in)
	s.searchReport(rep, final)
	cov.Unplaced = s.Unplaced
	cov.Failed = s.Failed
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
	if rep.Search != nil {
		verdict.JudgeSearch(s.Plan, rep)
		return
	}
	verdict.Judge(s.Plan, rep)
}

// coverage lists expected, received and missing shard slices. A cancelled
// run expects only the slices before the cancel took effect; a live report
// (Now set, not final) only the slices that are past, so that live.json
// stays small and lists no future slice as missing.
func (s *State) coverage(final bool) report.Coverage {
	p := s.Plan
	n := p.NumSlices()
	if end, ok := s.searchEnd(); ok {
		n = min(n, end)
	}
	if s.Cancelled && !s.CancelledAt.IsZero() {
		n = min(n, max(int(s.CancelledAt.Sub(s.Run.StartAt)/p.SliceDuration())+1, 0))
	}
	if !final && !s.Now.IsZero() {
		// A slice is written once its last request answered or timed out.
		past := s.Now.Add(-time.Duration(p.Target.Timeout) - liveSlack).Sub(s.Run.StartAt)
		n = min(n, max(int(past/p.SliceDuration()), 0))
	}
	reported := s.reported()
	cov := report.Coverage{Expected: n * p.Shards, Missing: []report.ShardSlice{}, Corrupt: s.Corrupt}
	for shard := range p.Shards {
		for k := range n {
			if reported(shard, k) {
				cov.Received++
			} else {
				cov.Missing = append(cov.Missing, report.ShardSlice{Shard: shard, Slice: k})
			}
		}
	}
	return cov
}

// liveSlack is how long after a slice's requests time out its object may
// still be on its way to the bucket.
const liveSlack = 5 * time.Second

// reported returns whether shard's slice k arrived (and decoded).
func (s *State) reported() func(shard, k int) bool {
	if s.Merged != nil {
		return func(shard, k int) bool {
			return k < len(s.Merged) && s.Merged[k] != nil && s.Merged[k].Has(shard)
		}
	}
	have := map[report.ShardSlice]bool{}
	for _, r := range s.Slices {
		have[report.ShardSlice{Shard: r.Shard, Slice: r.Index}] = true
	}
	return func(shard, k int) bool { return have[report.ShardSlice{Shard: shard, Slice: k}] }
}

// Write stores the run's live status, or its final report files when final
// (report.Files, which show plan.json as stored and tell successes by the
// plan's rule) and the run's row in the runs index (package index).
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
	// Indexed before the marker goes: a failure leaves the run active, and
	// the next sweep indexes it (Service.update, ensureIndexed).
	if err := writeIndex(ctx, st, rep, s.PlanJSON); err != nil {
		return fmt.Errorf("index run %s: %w", rep.RunID, err)
	}
	// The run is no longer active. A marker left behind by a failed
	// delete only costs a sweep that finds the report and stops.
	if err := st.Delete(ctx, runs.ActivePath(rep.RunID), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("clear active marker of run %s: %w", rep.RunID, err)
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
