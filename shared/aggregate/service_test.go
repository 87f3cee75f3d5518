package aggregate

import (
	"context"
	"errors"
	"fmt"
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

// seedRun writes a 2-shard run of ten 1 s slices that started 3.5 s before
// now, with slices 0..2 of both shards: their requests take slow ms.
func seedRun(t *testing.T, st store.Store, id string, now time.Time, slow time.Duration, thresholds ...string) {
	t.Helper()
	ctx := context.Background()
	p := plan.Plan{
		Name: "abort", Shards: 2, Slice: plan.Duration(time.Second), Thresholds: thresholds,
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://127.0.0.1:1/"},
		Data:   plan.Data{Texts: []string{"a"}},
		Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(10 * time.Second), Rate: 20}}},
	}
	start := now.Add(-3500 * time.Millisecond)
	run := runs.Run{ID: id, PlanName: p.Name, Shards: 2, Created: start, StartAt: start, End: start.Add(10 * time.Second)}
	put := func(name string, data []byte) {
		t.Helper()
		if _, err := st.Create(ctx, name, data, "application/octet-stream"); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	put(runs.RunPath(id), runs.Encode(run))
	put(runs.PlanPath(id), runs.Encode(p))
	for shard := range 2 {
		for k := range 3 {
			s := start.Add(time.Duration(k) * time.Second)
			r := slice.NewResult(id, shard, k, s, s.Add(time.Second))
			rec := slice.NewRecorder()
			rec.Intend(10)
			for range 10 {
				rec.Record("http:200", true, slow, slow, 10, 10, 0)
			}
			r.AddRecorder(rec)
			r.GeneratorCPU = float64(shard+k) / 10 // the busiest: shard 1, 0.1 + slice k/10
			b, err := slice.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			put(runs.SlicePath(id, shard, k), b)
		}
	}
}

// TestAbortOnFail runs one aggregator update over a run in the bucket and
// checks the cancel marker, then the final report's verdict.
func TestAbortOnFail(t *testing.T) {
	t.Parallel()
	st, _, cleanup, err := store.NewInProcess("cicada-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	ctx := context.Background()
	now := time.Now()
	const abortExpr = "p99 < 250ms per_slice abort_on_fail 3"
	for i, tt := range []struct {
		name        string
		slow        time.Duration
		thresholds  []string
		userCancel  bool
		wantReason  string // the marker's reason; "" = no marker written by the aggregator
		wantVerdict string
		wantFirst   string // first verdict reason
	}{
		{
			name: "three failing slices abort", slow: 400 * time.Millisecond, thresholds: []string{"error_rate == 0", abortExpr},
			wantReason:  "aborted: " + abortExpr + " failed in 3 slices",
			wantVerdict: report.VerdictFail, wantFirst: "aborted: " + abortExpr + " failed in 3 slices",
		},
		{name: "passing slices go on", slow: 20 * time.Millisecond, thresholds: []string{abortExpr}},
		{name: "without abort_on_fail", slow: 400 * time.Millisecond, thresholds: []string{"p99 < 250ms per_slice"}},
		{
			name: "a user's cancel stays a cancel", slow: 400 * time.Millisecond, thresholds: []string{abortExpr}, userCancel: true,
			wantVerdict: report.VerdictIncomplete, wantFirst: "run cancelled before its end",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("20261127-120000-00000%d", i)
			seedRun(t, st, id, now, tt.slow, tt.thresholds...)
			if tt.userCancel {
				if _, err := st.Create(ctx, runs.CancelPath(id), []byte(`{"cancelled_at":"2026-11-27T12:00:00Z"}`), "application/json"); err != nil {
					t.Fatal(err)
				}
			}
			s := NewService(Config{PickupGrace: time.Hour}, st, nil, zap.NewNop(), func() time.Time { return now })
			s.update(ctx, id, nil, false)

			obj, err := st.Get(ctx, runs.CancelPath(id))
			switch {
			case tt.wantReason == "" && !tt.userCancel:
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("cancel marker: %v, want none", err)
				}
				live, err := st.Get(ctx, runs.LivePath(id))
				if err != nil {
					t.Fatal(err)
				}
				rep, err := report.Decode(live.Data)
				if err != nil {
					t.Fatalf("live.json: %v", err)
				}
				if rep.Verdict != "" || len(rep.Thresholds) != len(tt.thresholds) {
					t.Errorf("live.json: verdict %q, %d thresholds; want no verdict, %d thresholds", rep.Verdict, len(rep.Thresholds), len(tt.thresholds))
				}
				return
			case err != nil:
				t.Fatalf("cancel marker: %v", err)
			}
			if got := readCancel(obj.Data).Reason; got != tt.wantReason {
				t.Errorf("cancel reason %q, want %q", got, tt.wantReason)
			}

			// Long after the cancel: the final report.
			rep, final, err := Once(ctx, st, id, now.Add(time.Hour), time.Second, false)
			if err != nil || !final {
				t.Fatalf("Once: final %v, %v", final, err)
			}
			if rep.Status != report.StatusCancelled || rep.Verdict != tt.wantVerdict {
				t.Errorf("status %q verdict %q, want cancelled and %q", rep.Status, rep.Verdict, tt.wantVerdict)
			}
			if len(rep.VerdictReasons) == 0 || !strings.Contains(rep.VerdictReasons[0], tt.wantFirst) {
				t.Errorf("verdict reasons %q, want first %q", rep.VerdictReasons, tt.wantFirst)
			}
			for _, f := range report.FileNames {
				if _, err := st.Get(ctx, runs.ReportPath(id, f)); err != nil {
					t.Errorf("report file %s: %v", f, err)
				}
			}
		})
	}
}

// TestStaleActiveMarker: a marker whose run.json never came is dropped
// once it is old, and kept while the trigger may still be storing the run.
func TestStaleActiveMarker(t *testing.T) {
	t.Parallel()
	st, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const id = "20261201-020000-stale1"
	if _, err := st.Create(ctx, runs.ActivePath(id), []byte(`{}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		after    time.Duration
		wantKept bool
	}{
		{"young marker kept", 10 * time.Second, true},
		{"old marker dropped", 2 * time.Minute, false},
	} {
		now := time.Now().Add(tt.after)
		s := NewService(Config{}, st, nil, zap.NewNop(), func() time.Time { return now })
		s.update(ctx, id, nil, false)
		_, err := st.Get(ctx, runs.ActivePath(id))
		if kept := err == nil; kept != tt.wantKept {
			t.Errorf("%s: marker kept %v (%v), want %v", tt.name, kept, err, tt.wantKept)
		}
	}
}
