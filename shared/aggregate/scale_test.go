package aggregate

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

// synthRun writes a synthetic run of shards × slices slice objects of
// perSlice requests each (objects written with slice.Marshal, re-labelled
// per shard and slice) into st, the first upTo slices of it (all when
// upTo < 0), and returns the run id and its start.
func synthRun(tb testing.TB, st store.Store, id string, shards, slices, perSlice, upTo int) time.Time {
	tb.Helper()
	ctx := context.Background()
	sd := 10 * time.Second
	start := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	p := plan.Plan{
		Name: "scale", Shards: shards, Slice: plan.Duration(sd),
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://127.0.0.1:1/"},
		Data:   plan.Data{Texts: []string{"a"}},
		Load: plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{
			{Duration: plan.Duration(time.Duration(slices) * sd), Rate: float64(perSlice*shards) / sd.Seconds()}}},
		Thresholds: []string{"p99 < 250ms", "error_rate < 1%"},
	}
	run := runs.Run{ID: id, PlanName: p.Name, Shards: shards, Created: start, StartAt: start, End: start.Add(time.Duration(slices) * sd)}
	for name, data := range map[string][]byte{runs.RunPath(id): runs.Encode(run), runs.PlanPath(id): runs.Encode(p)} {
		if _, err := st.Create(ctx, name, data, "application/json"); err != nil {
			tb.Fatal(err)
		}
	}
	// A few distinct shapes, re-labelled: encoding a histogram per object
	// would make the setup, not the aggregator, the cost.
	rng := rand.New(rand.NewPCG(7, uint64(perSlice)))
	var shapes []*cicadav1.SliceResult
	for i := range 16 {
		r := slice.NewResult(id, 0, 0, start, start.Add(sd))
		rec := slice.NewRecorder()
		rec.Intend(int64(perSlice))
		for j := range perSlice {
			lat := time.Duration(2000+rng.ExpFloat64()*float64(8000+500*i)) * time.Microsecond
			ok := j%997 != 0
			outcome := "http:200"
			if !ok {
				outcome = "http:503"
			}
			rec.Record(outcome, ok, lat, lat-time.Millisecond, 120, 80, time.Duration(rng.IntN(300))*time.Microsecond)
		}
		r.AddRecorder(rec)
		b, err := slice.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		var m cicadav1.SliceResult
		if err := proto.Unmarshal(b, &m); err != nil {
			tb.Fatal(err)
		}
		shapes = append(shapes, &m)
	}
	if upTo < 0 {
		upTo = slices
	}
	writeSlices(tb, st, id, start, sd, shapes, 0, shards, 0, upTo)
	return start
}

// writeSlices writes slices [from, to) of every shard.
func writeSlices(tb testing.TB, st store.Store, id string, start time.Time, sd time.Duration, shapes []*cicadav1.SliceResult, shard0, shards, from, to int) {
	tb.Helper()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(2 * runtime.GOMAXPROCS(0))
	for shard := shard0; shard < shards; shard++ {
		g.Go(func() error {
			for k := from; k < to; k++ {
				m := proto.Clone(shapes[(shard*31+k)%len(shapes)]).(*cicadav1.SliceResult)
				m.Shard, m.Index = int32(shard), int64(k)
				m.StartUnixNano = start.Add(time.Duration(k) * sd).UnixNano()
				m.EndUnixNano = start.Add(time.Duration(k+1) * sd).UnixNano()
				b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
				if err != nil {
					return err
				}
				if _, err := st.Create(ctx, runs.SlicePath(id, shard, k), b, "application/x-protobuf"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatal(err)
	}
}

// peakHeap samples the heap in use while fn runs and returns fn's time
// and the highest sample.
func peakHeap(fn func()) (time.Duration, uint64) {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if v := ms.HeapInuse + ms.StackInuse; v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t := time.Now()
	fn()
	d := time.Since(t)
	close(stop)
	wg.Wait()
	return d, peak.Load()
}

// TestSealedEqualsRaw: a report built by an aggregator that sealed slices,
// restarted and read them back, is byte for byte the report `cicada
// aggregate` rebuilds from the raw slice objects; and each object is
// decoded once per Tracker.
func TestSealedEqualsRaw(t *testing.T) {
	t.Parallel()
	st, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const id, shards, slices = "20261201-020000-scale1", 6, 12
	start := synthRun(t, st, id, shards, slices, 500, 8)
	// Shard 5 never wrote slice 3, and one object is garbage.
	if err := st.Delete(ctx, runs.SlicePath(id, 5, 3), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, runs.SlicePath(id, 2, 4), []byte("garbage"), "application/x-protobuf"); err != nil {
		t.Fatal(err)
	}

	live := NewTracker(st, id, true)
	if err := live.Sync(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	if got, want := live.Decoded(), shards*8-1; got != want {
		t.Errorf("decoded %d objects, want %d", got, want)
	}
	// Long enough after slice 7 that its stragglers' time is up.
	now := start.Add(9*10*time.Second + time.Minute)
	n, err := live.Seal(ctx, now, 30*time.Second)
	if err != nil || n != 8 {
		t.Fatalf("Seal: sealed %d, %v; want 8", n, err)
	}
	// A second Sync decodes nothing again.
	if err := live.Sync(ctx, []report.ShardSlice{{Shard: 0, Slice: 1}}, true); err != nil || live.Decoded() != shards*8-1 {
		t.Errorf("second Sync decoded %d in all (%v), want still %d", live.Decoded(), err, shards*8-1)
	}

	restarted := NewTracker(st, id, true)
	if err := restarted.Sync(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	if restarted.Decoded() != 0 {
		t.Errorf("a restarted aggregator decoded %d raw objects of sealed slices, want 0", restarted.Decoded())
	}
	reportOf := func(tr *Tracker) []byte {
		t.Helper()
		s, err := tr.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := s.Report(true).WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	raw := NewTracker(st, id, false)
	if err := raw.Sync(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	want := reportOf(raw)
	if got := reportOf(restarted); !bytes.Equal(got, want) {
		t.Errorf("report from sealed slices differs from the raw rebuild:\n%s\nwant\n%s", got, want)
	}
	if !bytes.Contains(want, []byte(`"object": "runs/`+id+`/slices/2/4.pb"`)) {
		t.Errorf("the corrupt object is not in the report's coverage")
	}
}

// scaleSizes are the synthetic runs of BenchmarkAggregateScale, with the
// figures of the aggregator before Trackers (every update re-read and
// re-decoded every object), measured on the same kind of machine.
var scaleSizes = []struct {
	shards, slices int
	before         string
}{
	{10, 60, "0.35 s (in-memory) / 0.7 s (fake-gcs-server), 0.3 GB"},
	{50, 120, "3.2 s / 11 s, 1.5 GB"},
	{200, 360, "64 s (in-memory, no I/O), 14.8 GB"},
}

// BenchmarkAggregateScale builds the final report of synthetic runs
// (5,000 requests per shard-slice) from the raw objects in a disk bucket,
// as `cicada aggregate --final` does, and reports the time and the peak
// heap; then one live update after one more slice arrived, and a
// restarted aggregator that reads sealed slices. CICADA_BENCH_HUGE=1 adds
// 1,000 shards × 720 slices (720,000 objects: minutes of setup).
func BenchmarkAggregateScale(b *testing.B) {
	sizes := scaleSizes
	if os.Getenv("CICADA_BENCH_HUGE") != "" {
		sizes = append(sizes, struct {
			shards, slices int
			before         string
		}{1000, 720, "(not measured)"})
	}
	table := []string{
		"| shards × slices | before: one update / final, peak | now: final report, peak heap | now: one live update (one slice's objects) | now: restart from sealed slices |",
		"|---|---|---|---|---|",
	}
	defer func() {
		if len(table) > 2 {
			fmt.Println(strings.Join(table, "\n"))
		}
	}()
	for _, sz := range sizes {
		var finalCell, liveCell, restartCell string
		name := fmt.Sprintf("%dx%d", sz.shards, sz.slices)
		b.Run(name, func(b *testing.B) {
			st, err := store.NewDisk(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			id := "20261201-020000-" + name
			ctx := context.Background()
			start := synthRun(b, st, id, sz.shards, sz.slices, 5000, sz.slices-1)

			b.Run("final", func(b *testing.B) {
				var peak uint64
				for b.Loop() {
					d, p := peakHeap(func() {
						if _, _, err := Once(ctx, st, id, start, time.Second, true); err != nil {
							b.Fatal(err)
						}
					})
					peak = max(peak, p)
					finalCell = fmt.Sprintf("%.2f s, %.0f MB", d.Seconds(), float64(peak)/(1<<20))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
				b.ReportMetric(float64(sz.shards*(sz.slices-1)), "objects")
			})

			// A live aggregator that has merged all but the last slice, then
			// gets the events of the last one.
			tr := NewTracker(st, id, true)
			if err := tr.Sync(ctx, nil, true); err != nil {
				b.Fatal(err)
			}
			now := start.Add(time.Duration(sz.slices) * 10 * time.Second)
			if _, err := tr.Seal(ctx, now, 0); err != nil {
				b.Fatal(err)
			}
			b.Run("live-update", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					// The new slice's objects, under fresh shard numbers? No:
					// rewrite the last slice for a fresh tracker state each
					// round by forgetting it.
					tr.slices[sz.slices-1], tr.isSealed[sz.slices-1] = nil, false
					if i == 0 {
						shapes := syntheticShapes(b, st, id)
						writeSlices(b, st, id, start, 10*time.Second, shapes, 0, sz.shards, sz.slices-1, sz.slices)
					}
					hints := make([]report.ShardSlice, sz.shards)
					for s := range hints {
						hints[s] = report.ShardSlice{Shard: s, Slice: sz.slices - 1}
					}
					b.StartTimer()
					began := time.Now()
					if err := tr.Sync(ctx, hints, false); err != nil {
						b.Fatal(err)
					}
					s, err := tr.State(ctx)
					if err != nil {
						b.Fatal(err)
					}
					s.Now = now
					rep := s.Report(false)
					if err := s.Write(ctx, st, rep, false); err != nil {
						b.Fatal(err)
					}
					liveCell = fmt.Sprintf("%.0f ms for %d objects", time.Since(began).Seconds()*1000, sz.shards)
				}
				b.ReportMetric(float64(sz.shards), "new-objects")
			})

			b.Run("restart", func(b *testing.B) {
				var peak uint64
				for b.Loop() {
					d, p := peakHeap(func() {
						t := NewTracker(st, id, true)
						if err := t.Sync(ctx, nil, true); err != nil {
							b.Fatal(err)
						}
						s, err := t.State(ctx)
						if err != nil {
							b.Fatal(err)
						}
						_ = s.Report(true)
					})
					peak = max(peak, p)
					restartCell = fmt.Sprintf("%.2f s, %.0f MB", d.Seconds(), float64(peak)/(1<<20))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
			})
			table = append(table, fmt.Sprintf("| %d × %d | %s | %s | %s | %s |", sz.shards, sz.slices, sz.before, finalCell, liveCell, restartCell))
		})
	}
}

// syntheticShapes reads back one written object as the shape of new ones.
func syntheticShapes(tb testing.TB, st store.Store, id string) []*cicadav1.SliceResult {
	tb.Helper()
	obj, err := st.Get(context.Background(), runs.SlicePath(id, 0, 0))
	if err != nil {
		tb.Fatal(err)
	}
	var m cicadav1.SliceResult
	if err := proto.Unmarshal(obj.Data, &m); err != nil {
		tb.Fatal(err)
	}
	return []*cicadav1.SliceResult{&m}
}

// TestFailedShardVerdict: a shard that could not run ends the run as
// soon as the others are done, with verdict error and the reason.
func TestFailedShardVerdict(t *testing.T) {
	t.Parallel()
	st, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const id = "20261201-020000-failed"
	start := synthRun(t, st, id, 3, 4, 50, -1)
	for shard := range 2 {
		if _, err := st.Create(ctx, runs.DonePath(id, shard), []byte(`{}`), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	reason := "target.auth: secret projects/p/secrets/key/versions/1: permission denied"
	if _, err := st.Create(ctx, runs.FailedPath(id, 2), runs.Encode(runs.ShardFailure{Worker: "w", Reason: reason}), "application/json"); err != nil {
		t.Fatal(err)
	}
	rep, final, err := Once(ctx, st, id, start.Add(time.Second), time.Second, false)
	if err != nil || !final {
		t.Fatalf("Once: final %v, %v; want final (every shard done or failed)", final, err)
	}
	if rep.Verdict != report.VerdictError || len(rep.VerdictReasons) != 1 || !strings.Contains(rep.VerdictReasons[0], reason) {
		t.Errorf("verdict %s %v, want error naming %q", rep.Verdict, rep.VerdictReasons, reason)
	}
	if len(rep.Coverage.Failed) != 1 || rep.Coverage.Failed[0].Shard != 2 {
		t.Errorf("coverage.failed = %+v, want shard 2", rep.Coverage.Failed)
	}
}
