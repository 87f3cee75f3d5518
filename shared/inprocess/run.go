// Package inprocess runs a whole plan in this process: every shard's engine
// side by side, no Pub/Sub and no bucket. It is `cicada run`, the quickest way
// to try a plan, and the reference the distributed pipeline must agree with.
package inprocess

import (
	"context"
	"fmt"
	"io"
	"slices"
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
	if o.Progress != nil {
		// The slice lines and a search's probe lines come from two
		// goroutines.
		o.Progress = &lockedWriter{w: o.Progress}
	}
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
	// A capacity search is steered from here: each slice every shard has
	// closed goes to the search, off the engines' goroutines.
	var steer *steering
	steerDone := make(chan struct{})
	if p.Load.Search != nil {
		if steer, err = newSteering(p, engines, o.Progress); err != nil {
			return nil, err
		}
		c.closedSlices = make(chan int, p.NumSlices()+1)
		go func() {
			defer close(steerDone)
			for k := range c.closedSlices {
				merged, shards := c.merged(k)
				steer.closed(k, merged, shards)
			}
		}()
	} else {
		close(steerDone)
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
	if c.closedSlices != nil {
		close(c.closedSlices)
	}
	<-steerDone

	status := report.StatusCompleted
	if ctx.Err() != nil {
		status = report.StatusCancelled
	}
	if steer == nil {
		rep := c.report(status, time.Now(), nil)
		verdict.Judge(p, rep)
		return rep, nil
	}
	var found *report.Search
	rep := c.report(status, time.Now(), func(in *report.Input) {
		found = steer.finish(p, in, status == report.StatusCompleted)
	})
	rep.Search = found
	verdict.JudgeSearch(p, rep)
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
	// closedSlices receives each slice index every shard has closed, for
	// a capacity search; nil otherwise.
	closedSlices chan int
}

func (c *collector) add(r *slice.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, r)
	c.bySlice[r.Index] = append(c.bySlice[r.Index], r)
	if len(c.bySlice[r.Index]) != c.p.Shards {
		return
	}
	if c.closedSlices != nil {
		c.closedSlices <- r.Index // buffered for every slice of the plan
	}
	if c.o.Progress == nil {
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

// merged is slice k of every shard merged, and the shards that closed it.
func (c *collector) merged(k int) (*slice.Result, []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m *slice.Result
	var shards []int
	for _, r := range c.bySlice[k] {
		if m == nil {
			m = r.Clone()
		} else {
			m.Merge(r)
		}
		shards = append(shards, r.Shard)
	}
	slices.Sort(shards)
	return m, shards
}

// report builds the run's report; adapt, if any, changes its input first
// (a search's end).
func (c *collector) report(status string, end time.Time, adapt func(*report.Input)) *report.Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A run that ends on schedule ends when its plan does; the wait for
	// the last answers is not part of the achieved rate.
	if status == report.StatusCompleted {
		end = c.start.Add(c.p.Duration())
	}
	in := c.input(status, end, c.all)
	if adapt != nil {
		adapt(&in)
	}
	return report.Build(in)
}

// lockedWriter serializes the writes of several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
