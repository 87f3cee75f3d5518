// Package inprocess runs a whole plan in this process: every shard's engine
// side by side, no Pub/Sub and no bucket. It is `cicada run`, the quickest way
// to try a plan, and the reference the distributed pipeline must agree with.
package inprocess

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/load"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/verdict"
)

// Options configure a run.
type Options struct {
	Plan  *plan.Plan
	RunID string
	// Progress receives one line per slice once every shard has closed it;
	// nil prints nothing.
	Progress io.Writer
	// Lead is how long before the first request connections are opened;
	// zero means 300 ms.
	Lead time.Duration
}

// Run runs every shard of the plan and returns the report. When ctx ends,
// the shards stop at once, and the report holds the slices closed before,
// with status cancelled. The report carries the verdict (a cancelled run is
// incomplete). Run returns an error only when the run could not
// start (bad data, a target that cannot be set up).
func Run(ctx context.Context, o Options) (*report.Report, error) {
	p := o.Plan
	corpus, err := p.Corpus() // with its records: a check's expected values come from them
	if err != nil {
		return nil, fmt.Errorf("load data: %w", err)
	}
	lead := o.Lead
	if lead <= 0 {
		lead = 300 * time.Millisecond
	}
	// One credential for every shard, obtained before the first request
	// and kept current until the last.
	auth, err := credential.Open(ctx, p.Target.Credential(), credential.Options{})
	if err != nil {
		return nil, err
	}
	defer auth.Close()
	start := time.Now().Add(lead)
	c := &collector{p: p, o: o, start: start, bySlice: map[int][]*slice.Result{}}

	engines := make([]*load.Engine, p.Shards)
	for s := range engines {
		engines[s], err = load.New(load.Options{
			Plan: p, Corpus: corpus, RunID: o.RunID, Shard: s, Start: start,
			Writer: "inprocess", Sink: c.add, Auth: auth, ReadSecret: credential.ReadSecret,
		})
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", s, err)
		}
	}
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.Run(ctx) // its only error is ctx's, reported as the status
		}()
	}
	wg.Wait()

	status := report.StatusCompleted
	if ctx.Err() != nil {
		status = report.StatusCancelled
	}
	rep := c.report(status, time.Now())
	verdict.Judge(p, rep)
	return rep, nil
}

// collector gathers slices from every shard and prints each slice once all
// shards have closed it.
type collector struct {
	p       *plan.Plan
	o       Options
	start   time.Time
	mu      sync.Mutex
	all     []*slice.Result
	bySlice map[int][]*slice.Result
}

func (c *collector) add(r *slice.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, r)
	c.bySlice[r.Index] = append(c.bySlice[r.Index], r)
	if len(c.bySlice[r.Index]) != c.p.Shards || c.o.Progress == nil {
		return
	}
	rep := report.Build(c.input(report.StatusCompleted, time.Now(), c.bySlice[r.Index]))
	if row, ok := rowOf(rep, r.Index); ok {
		fmt.Fprintln(c.o.Progress, report.FormatSliceLine(row))
	}
}

func rowOf(r *report.Report, k int) (report.SliceRow, bool) {
	for _, row := range r.Slices {
		if row.Index == k {
			return row, true
		}
	}
	return report.SliceRow{}, false
}

func (c *collector) input(status string, end time.Time, slices []*slice.Result) report.Input {
	sched := c.p.Schedule()
	n := c.p.NumSlices()
	var planned []int64
	if c.p.Load.Model == plan.ModelOpen {
		planned = make([]int64, n)
		for k := range planned {
			planned[k] = sched.SliceIntended(k, c.p.SliceDuration())
		}
	}
	return report.Input{
		RunID: c.o.RunID, PlanName: c.p.Name, Status: status,
		Start: c.start, End: end,
		SliceDuration: c.p.SliceDuration(), PlanDuration: c.p.Duration(),
		Shards: c.p.Shards, NumSlices: n, PlannedIntended: planned,
		Slices: slices,
	}
}

func (c *collector) report(status string, end time.Time) *report.Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A run that ends on schedule ends when its plan does; the wait for
	// the last answers is not part of the achieved rate.
	if status == report.StatusCompleted {
		end = c.start.Add(c.p.Duration())
	}
	return report.Build(c.input(status, end, c.all))
}
