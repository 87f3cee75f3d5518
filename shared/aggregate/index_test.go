package aggregate

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

// seedComplete writes a finished 2-shard run of plan name with all three of
// its 1 s slices and every done marker, and its active-run marker, as the
// trigger and the workers leave it.
func seedComplete(t *testing.T, st store.Store, name, id string, start time.Time) []byte {
	t.Helper()
	ctx := context.Background()
	p := plan.Plan{
		Name: name, Shards: 2, Slice: plan.Duration(time.Second),
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://127.0.0.1:1/"},
		Data:   plan.Data{Texts: []string{"a"}},
		Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(3 * time.Second), Rate: 20}}},
	}
	run := runs.Run{ID: id, PlanName: p.Name, Shards: 2, Created: start, StartAt: start, End: start.Add(3 * time.Second)}
	put := func(name string, data []byte) {
		t.Helper()
		if _, err := st.Create(ctx, name, data, "application/octet-stream"); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	planJSON := runs.Encode(p)
	put(runs.ActivePath(id), nil)
	put(runs.RunPath(id), runs.Encode(run))
	put(runs.PlanPath(id), planJSON)
	for shard := range 2 {
		for k := range 3 {
			s := start.Add(time.Duration(k) * time.Second)
			r := slice.NewResult(id, shard, k, s, s.Add(time.Second))
			rec := slice.NewRecorder()
			rec.Intend(10)
			for range 10 {
				rec.Record("http:200", true, 20*time.Millisecond, 20*time.Millisecond, 10, 10, 0)
			}
			r.AddRecorder(rec)
			b, err := slice.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			put(runs.SlicePath(id, shard, k), b)
		}
		put(runs.DonePath(id, shard), nil)
	}
	return planJSON
}

// failIndex is the disk store whose writes under index/ fail while fail
// is set, as a bucket that refuses a write for a moment.
type failIndex struct {
	store.Store
	fail atomic.Bool
}

func (f *failIndex) Put(ctx context.Context, name string, data []byte, contentType string) (int64, error) {
	if f.fail.Load() && strings.HasPrefix(name, runs.IndexRoot) {
		return 0, errors.New("injected: index write refused")
	}
	return f.Store.Put(ctx, name, data, contentType)
}

// TestFinalReportIndexed runs the aggregator over finished runs on the disk
// store: after the final report, the run's row, its slice rows and the
// plan's pointers exist and the active marker is gone; when the index
// write fails, the report stays, the marker too, and the next sweep
// indexes the run.
func TestFinalReportIndexed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	now := start.Add(time.Minute)
	tests := []struct {
		name      string
		failFirst bool
	}{
		{"indexed with the report", false},
		{"index write fails, next sweep indexes", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			disk, err := store.NewDisk(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			st := &failIndex{Store: disk}
			id := "20261127-020000-00000" + string(rune('a'+i))
			planJSON := seedComplete(t, st, "nightly/idx", id, start)
			s := NewService(Config{Grace: time.Second, PickupGrace: time.Hour}, st, nil, zap.NewNop(), func() time.Time { return now })

			st.fail.Store(tt.failFirst)
			s.update(ctx, id, nil, true)
			if _, err := st.Get(ctx, runs.ReportPath(id, report.FileJSON)); err != nil {
				t.Fatalf("report.json after the final update: %v", err)
			}
			if tt.failFirst {
				if _, err := st.Get(ctx, runs.IndexPath("nightly/idx", id)); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("index row while writes fail: %v, want none", err)
				}
				if _, err := st.Get(ctx, runs.ActivePath(id)); err != nil {
					t.Fatalf("active marker after a failed index write: %v, want it kept for the retry", err)
				}
				st.fail.Store(false)
				s.sweep(ctx)
			}

			obj, err := st.Get(ctx, runs.IndexPath("nightly/idx", id))
			if err != nil {
				t.Fatalf("index row: %v", err)
			}
			rows, _, err := index.List(ctx, st, index.Query{Plan: "nightly/idx"})
			if err != nil || len(rows) != 1 {
				t.Fatalf("List = %d rows, %v; want 1 (row %s)", len(rows), err, obj.Data)
			}
			row := rows[0]
			checks := []struct {
				what      string
				got, want any
			}{
				{"run id", row.RunID, id},
				{"status", row.Status, report.StatusCompleted},
				{"verdict", row.Verdict, report.VerdictPass},
				{"completed", row.Completed, int64(60)},
				{"plan hash", row.PlanHash, index.PlanHash(planJSON)},
				{"start", row.Start.Equal(start), true},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("row %s = %v, want %v", c.what, c.got, c.want)
				}
			}
			for _, kind := range []string{runs.LatestRun, runs.LatestPass} {
				if r, err := index.Latest(ctx, st, "nightly/idx", kind); err != nil || r.RunID != id {
					t.Errorf("latest %s = %q, %v; want %s", kind, r.RunID, err, id)
				}
			}
			if slices, err := st.Get(ctx, runs.SliceIndexPath("nightly/idx", id)); err != nil || strings.Count(string(slices.Data), "\n") != 3 {
				t.Errorf("slice rows: %v, %q; want 3 lines", err, slices.Data)
			}
			if _, err := st.Get(ctx, runs.ActivePath(id)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("active marker after indexing: %v, want gone", err)
			}
		})
	}
}
