package aggregate

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

// searchFleet simulates the workers of a search run: at each slice
// boundary every shard writes the slice that just ended, at the rate the
// control object gives it, against a target that meets p99 < 250ms up to
// capacity req/s and breaks above it.
type searchFleet struct {
	t        *testing.T
	st       store.Store
	id       string
	shards   int
	start    time.Time
	sd       time.Duration
	capacity float64
	// missing (shard, slice) objects are never written.
	missing map[[2]int]bool
	// starvedAbove, when > 0, is the rate above which the fleet drops a
	// fifth of its requests at max_in_flight while the target is fine.
	starvedAbove float64
}

func seedSearchRun(t *testing.T, st store.Store, id string, shards int, capacity float64) *searchFleet {
	t.Helper()
	ctx := context.Background()
	p := plan.Plan{
		Name: "capacity", Shards: shards, Slice: plan.Duration(time.Second),
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://127.0.0.1:1/", Timeout: plan.Duration(500 * time.Millisecond)},
		Data:   plan.Data{Texts: []string{"a"}},
		Load: plan.Load{Model: plan.ModelOpen, Search: &plan.Search{
			SLO: []string{"p99 < 250ms", "error_rate < 1%"}, From: 100, To: 5000, Step: 1.5,
			Hold: plan.Duration(2 * time.Second), Settle: plan.Duration(time.Second), Precision: 0.05,
		}},
	}
	start := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	pj := runs.Encode(p)
	parsed, err := plan.Parse(pj, "json")
	if err != nil {
		t.Fatalf("search plan: %v", err)
	}
	run := runs.Run{ID: id, PlanName: p.Name, Shards: shards, Created: start, StartAt: start, End: start.Add(parsed.Duration())}
	for name, data := range map[string][]byte{runs.RunPath(id): runs.Encode(run), runs.PlanPath(id): pj, runs.ActivePath(id): []byte("{}")} {
		if _, err := st.Create(ctx, name, data, "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	return &searchFleet{t: t, st: st, id: id, shards: shards, start: start, sd: time.Second, capacity: capacity, missing: map[[2]int]bool{}}
}

// write writes every shard's slice k, at the rate control.json gives it;
// false when the search ended before k.
func (f *searchFleet) write(k int) bool {
	f.t.Helper()
	ctx := context.Background()
	ctl, _, err := runs.ReadControl(ctx, f.st, f.id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.t.Fatal(err)
	}
	rate, ok := ctl.RateAt(k)
	if !ok && ctl.EndSlice != nil {
		return false
	}
	if !ok {
		rate = 100 // no control object yet: workers start at from
	}
	p50, p99, errRate := 12*time.Millisecond, 120*time.Millisecond, 0.001
	if rate > f.capacity {
		p50, p99, errRate = 300*time.Millisecond, 2*time.Second, 0.05
	}
	for shard := range f.shards {
		if f.missing[[2]int{shard, k}] {
			continue
		}
		s := f.start.Add(time.Duration(k) * f.sd)
		r := slice.NewResult(f.id, shard, k, s, s.Add(f.sd))
		n := int64(math.Round(rate * f.sd.Seconds() / float64(f.shards)))
		errs := int64(math.Round(float64(n) * errRate))
		var dropped int64
		if f.starvedAbove > 0 && rate > f.starvedAbove {
			dropped = n / 5
		}
		r.Intended, r.Sent, r.Completed, r.Errors, r.Dropped = n, n-dropped, n-dropped, errs, dropped
		n -= dropped
		r.Outcomes = map[string]int64{"http:200": n - errs, "http:503": errs}
		tail := n / 50
		if err := r.Latency.RecordValues(p50.Microseconds(), n-tail); err != nil {
			f.t.Fatal(err)
		}
		if err := r.Latency.RecordValues(p99.Microseconds(), tail); err != nil {
			f.t.Fatal(err)
		}
		if err := r.Service.RecordValues(p50.Microseconds(), n); err != nil {
			f.t.Fatal(err)
		}
		b, err := slice.Marshal(r)
		if err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.st.Create(ctx, runs.SlicePath(f.id, shard, k), b, "application/x-protobuf"); err != nil {
			f.t.Fatal(err)
		}
	}
	return true
}

// drive runs the fleet and an aggregator, restarted at restartAt, one
// update per slice boundary, until the report is written; it returns the
// report and the control object.
func (f *searchFleet) drive(restartAt int) (*report.Report, runs.Control) {
	f.t.Helper()
	ctx := context.Background()
	var now time.Time
	cfg := Config{Grace: time.Millisecond, Relist: time.Nanosecond}
	svc := NewService(cfg, f.st, nil, zap.NewNop(), func() time.Time { return now })
	stopped := false
	for c := 0; c < 200; c++ {
		if c > 0 && !stopped {
			stopped = !f.write(c - 1)
		}
		if c == restartAt {
			svc = NewService(cfg, f.st, nil, zap.NewNop(), func() time.Time { return now })
		}
		now = f.start.Add(time.Duration(c)*f.sd + 100*time.Millisecond)
		svc.update(ctx, f.id, nil, false)
		if obj, err := f.st.Get(ctx, runs.ReportPath(f.id, report.FileJSON)); err == nil {
			rep, err := report.Decode(obj.Data)
			if err != nil {
				f.t.Fatal(err)
			}
			ctl, _, err := runs.ReadControl(ctx, f.st, f.id)
			if err != nil {
				f.t.Fatal(err)
			}
			f.t.Logf("report at slice %d", c)
			return rep, ctl
		}
	}
	f.t.Fatal("no report after 200 slices")
	return nil, runs.Control{}
}

// TestSearchThroughAggregator drives a search run end to end through the
// aggregator: probes progress in control.json, the report finds the
// capacity within its precision, end_slice ends the run, and a restarted
// aggregator carries on from the bucket.
func TestSearchThroughAggregator(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		capacity  float64
		restartAt int
	}{
		{"capacity 512", 512, -1},
		{"capacity 1234, aggregator restarted", 1234, 23},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := store.NewDisk(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			const id = "20261201-020000-search"
			f := seedSearchRun(t, st, id, 3, tt.capacity)
			rep, ctl := f.drive(tt.restartAt)
			s := rep.Search
			if s == nil || s.Status != report.SearchFound || s.MaxRateUnderSLO == nil || s.High == nil {
				t.Fatalf("search %+v", s)
			}
			low, high := *s.MaxRateUnderSLO, *s.High
			if !(low <= tt.capacity && tt.capacity < high && (high-low)/low <= 0.05) {
				t.Errorf("capacity %v: bracket %v..%v", tt.capacity, low, high)
			}
			t.Logf("capacity %v: answer %v, bracket %v..%v, %d probes, end slice %v", tt.capacity, low, low, high, len(s.Probes), *ctl.EndSlice)
			// Every judged probe is in the report; a rest follows each
			// failing one and is not judged.
			judged, fails := 0, 0
			for _, p := range s.Probes {
				if p.Verdict == report.ProbeFail {
					fails++
				}
			}
			for i, p := range ctl.Probes {
				if !p.Rest {
					judged++
				} else if i == 0 || i+1 >= len(ctl.Probes) || ctl.Probes[i+1].Rest {
					t.Errorf("rest %d is not between two probes", p.N)
				}
			}
			if judged != len(s.Probes) || ctl.EndSlice == nil || len(ctl.Probes)-judged > fails {
				t.Fatalf("control %+v for %d probes, %d failing", ctl, len(s.Probes), fails)
			}
			for i, p := range ctl.Probes[1:] {
				prev := ctl.Probes[i]
				gap := 4 // settle 1 + hold 2 + at least one to decide
				if prev.Rest {
					gap = 3 // a rest is as long as a probe's settle and hold
				}
				if p.From < prev.From+gap {
					t.Errorf("probe %d starts at slice %d, %d after probe %d", p.N, p.From, p.From-prev.From, prev.N)
				}
			}
			end := *ctl.EndSlice
			if rep.Verdict != report.VerdictPass || rep.Status != report.StatusCompleted {
				t.Errorf("verdict %s (%v), status %s", rep.Verdict, rep.VerdictReasons, rep.Status)
			}
			if rep.Coverage.Expected != end*3 || rep.Coverage.Received != end*3 || len(rep.Slices) != end {
				t.Errorf("coverage %d of %d, %d rows; want %d slices of 3 shards", rep.Coverage.Received, rep.Coverage.Expected, len(rep.Slices), end)
			}
			if got, want := rep.End, f.start.Add(time.Duration(end)*time.Second); !got.Equal(want) {
				t.Errorf("report ends %v, want %v (end_slice)", got, want)
			}
			if rate, _ := ctl.RateAt(end - 1); math.Abs(rep.Slices[end-1].PlannedRPS-rate) > 0.5 {
				t.Errorf("planned rate of the last slice %v, want the probe's %v", rep.Slices[end-1].PlannedRPS, rate)
			}
			if _, err := st.Get(context.Background(), runs.SlicePath(id, 0, end)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("slice %d (end_slice) was written: %v", end, err)
			}
		})
	}
}

// TestSearchHoldsMissingShard: a shard missing in a probe's window holds
// the probe, which is judged again on a later window; the report says so.
func TestSearchHoldsMissingShard(t *testing.T) {
	t.Parallel()
	st, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261201-020000-lost"
	f := seedSearchRun(t, st, id, 3, 512)
	// Probe 0 runs slices 0..4 (window 1..2, decided at slice 3, next from
	// 5); probe 1's window is 6..7. Shard 2 loses slice 7.
	f.missing[[2]int{2, 7}] = true
	rep, ctl := f.drive(-1)
	s := rep.Search
	if s == nil || s.Status != report.SearchFound {
		t.Fatalf("search %+v", s)
	}
	held := s.Probes[1]
	if held.Verdict != report.ProbeHeld || held.Note != "held: shard 2 missing in slice 7" || held.Rate != 150 {
		t.Errorf("probe 1 = %+v, want held naming shard 2 and slice 7", held)
	}
	if next := s.Probes[2]; next.Rate != 150 || next.Verdict != report.ProbePass {
		t.Errorf("probe 2 = %+v, want 150 judged again", next)
	}
	if ctl.Probes[2].Rate != 150 {
		t.Errorf("control probe 2 = %+v, want the held rate", ctl.Probes[2])
	}
	if *s.MaxRateUnderSLO > 512 || *s.MaxRateUnderSLO < 512/1.05 {
		t.Errorf("answer %v", *s.MaxRateUnderSLO)
	}
	if rep.Coverage.Received != rep.Coverage.Expected-1 || rep.Verdict != report.VerdictPass {
		t.Errorf("coverage %d of %d, verdict %s %v: want the gap reported and the search's verdict", rep.Coverage.Received, rep.Coverage.Expected, rep.Verdict, rep.VerdictReasons)
	}
	summary, err := st.Get(context.Background(), runs.ReportPath(id, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(summary.Data), "held: shard 2 missing in slice 7") {
		t.Errorf("summary.txt does not say why probe 1 was held:\n%s", summary.Data)
	}

	// `cicada aggregate` rebuilds the same search from the raw objects.
	st2, err := Load(context.Background(), st, id)
	if err != nil {
		t.Fatal(err)
	}
	again := st2.Report(true)
	if !reflect.DeepEqual(again.Search, rep.Search) || again.Verdict != rep.Verdict {
		t.Errorf("rebuilt search differs:\n got %+v\nwant %+v", again.Search, rep.Search)
	}
}

// TestSearchStarvedGenerator: a fleet that drops requests while the target
// meets the SLO ends the search incomplete, with no capacity.
func TestSearchStarvedGenerator(t *testing.T) {
	t.Parallel()
	st, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := seedSearchRun(t, st, "20261201-020000-starve", 2, 5000)
	f.starvedAbove = 300
	rep, ctl := f.drive(-1)
	s := rep.Search
	if s == nil || s.Status != report.SearchIncomplete || s.MaxRateUnderSLO != nil || ctl.EndSlice == nil {
		t.Fatalf("search %+v, control %+v", s, ctl)
	}
	if rep.Verdict != report.VerdictIncomplete || len(rep.VerdictReasons) != 1 ||
		!strings.HasPrefix(rep.VerdictReasons[0], "search incomplete: generator saturated in probe 3: ") {
		t.Errorf("verdict %s %q", rep.Verdict, rep.VerdictReasons)
	}
}
