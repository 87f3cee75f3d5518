package index

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/store/storetest"
)

var day0 = time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)

func newStore(t testing.TB) *storetest.Recorder {
	t.Helper()
	d, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return storetest.NewRecorder(d)
}

// fakeReport is a finished run of plan on night n.
func fakeReport(plan string, n int, verdict string) *report.Report {
	start := day0.Add(time.Duration(n) * 24 * time.Hour)
	id := fmt.Sprintf("%s-%06x", start.Format("20060102-150405"), n)
	return &report.Report{
		RunID: id, PlanName: plan, Status: report.StatusCompleted,
		Start: start, End: start.Add(60 * time.Second), Shards: 4, Verdict: verdict,
		Summary: report.Summary{
			Intended: 6000, Completed: 5990, Errors: 10, ErrorRate: 10.0 / 5990, RPS: 99.8, PlannedRPS: 100,
			LatencyMS: slice.Percentiles{P50: 10 + float64(n), P90: 20, P99: 40 + float64(n), Max: 90},
		},
		Slices: []report.SliceRow{
			{Index: 0, Start: start, Intended: 3000, Completed: 2995, Errors: 5, RPS: 99.8, ShardsReporting: 4},
			{Index: 1, Start: start.Add(30 * time.Second), Intended: 3000, Completed: 2995, Errors: 5, RPS: 99.8, ShardsReporting: 4},
		},
	}
}

func TestWriteAndList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	// Nights 0..9 of "nightly/bert" (every third fails), 0..2 of "other";
	// written out of order, as runs may end.
	verdicts := map[int]string{}
	for _, n := range []int{3, 0, 1, 2, 9, 4, 5, 6, 8, 7} {
		v := report.VerdictPass
		if n%3 == 2 {
			v = report.VerdictFail
		}
		verdicts[n] = v
		if err := Write(ctx, st, fakeReport("nightly/bert", n, v), []byte(`{"name":"nightly/bert"}`)); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 3 {
		if err := Write(ctx, st, fakeReport("other", n, report.VerdictPass), []byte(`{"name":"other"}`)); err != nil {
			t.Fatal(err)
		}
	}
	id := func(n int) string { return fakeReport("", n, "").RunID }

	tests := []struct {
		name     string
		q        Query
		want     []string
		wantNext bool
	}{
		{"one plan newest first", Query{Plan: "nightly/bert", Limit: 3}, []string{id(9), id(8), id(7)}, true},
		{"failed nights", Query{Plan: "nightly/bert", Verdict: report.VerdictFail}, []string{id(8), id(5), id(2)}, false},
		{"since", Query{Plan: "nightly/bert", Since: day0.Add(7 * 24 * time.Hour)}, []string{id(9), id(8), id(7)}, false},
		{"cursor", Query{Plan: "nightly/bert", Cursor: id(3)}, []string{id(2), id(1), id(0)}, false},
		{"every plan", Query{Limit: 2}, []string{id(9), id(8)}, true},
		{"unknown plan", Query{Plan: "nope"}, nil, false},
		{"status", Query{Plan: "other", Status: report.StatusCompleted}, []string{id(2), id(1), id(0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, next, err := List(ctx, st, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.RunID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("List(%+v) = %v, want %v", tt.q, got, tt.want)
			}
			if (next != "") != tt.wantNext {
				t.Errorf("next cursor = %q, want one: %v", next, tt.wantNext)
			}
		})
	}

	last, err := Latest(ctx, st, "nightly/bert", runs.LatestRun)
	if err != nil || last.RunID != id(9) {
		t.Errorf("latest run = %q, %v; want %s", last.RunID, err, id(9))
	}
	pass, err := Latest(ctx, st, "nightly/bert", runs.LatestPass)
	if err != nil || pass.RunID != id(9) || pass.Verdict != report.VerdictPass {
		t.Errorf("last pass = %q (%s), %v; want %s", pass.RunID, pass.Verdict, err, id(9))
	}
	if _, err := Latest(ctx, st, "never-ran", runs.LatestPass); !errors.Is(err, ErrNoRun) {
		t.Errorf("latest of a plan with no run: err = %v, want ErrNoRun", err)
	}
	for _, prefix := range st.Lists() {
		if strings.HasPrefix(prefix, runs.Root) || prefix == "" {
			t.Errorf("a reader listed %q: the index must never list runs/", prefix)
		}
	}
}

func TestRowAndSliceRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	rep := fakeReport("p", 1, report.VerdictPass)
	plan := []byte(`{"name":"p","shards":4}`)
	if err := Write(ctx, st, rep, plan); err != nil {
		t.Fatal(err)
	}
	obj, err := st.Get(ctx, runs.IndexPath("p", rep.RunID))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(obj.Data, []byte("\n")) != 1 || !bytes.HasSuffix(obj.Data, []byte("\n")) {
		t.Errorf("a row object must be exactly one JSON line, got %q", obj.Data)
	}
	row, err := decodeRow(obj.Data)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"plan hash", row.PlanHash, PlanHash(plan)},
		{"duration", row.DurationS, 60.0},
		{"p99", row.P99MS, 41.0},
		{"achieved", row.AchievedRate, 99.8},
		{"verdict", row.Verdict, report.VerdictPass},
		{"no accuracy without checks", row.Accuracy == nil, true},
		{"no capacity without a search", row.MaxRateUnderSLO == nil, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	obj, err = st.Get(ctx, runs.SliceIndexPath("p", rep.RunID))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(obj.Data))
	n := 0
	for sc.Scan() {
		var s SliceRow
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("slice row %d: %v", n, err)
		}
		if s.Index != n || s.RunID != rep.RunID || s.Plan != "p" {
			t.Errorf("slice row %d = %+v", n, s)
		}
		n++
	}
	if n != len(rep.Slices) {
		t.Errorf("%d slice rows, want %d", n, len(rep.Slices))
	}
}

func TestRowCapacity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	rep := fakeReport("p", 1, report.VerdictPass)
	answer := 512.5
	rep.Search = &report.Search{Status: report.SearchFound, MaxRateUnderSLO: &answer}
	if err := Write(ctx, st, rep, []byte(`{"name":"p"}`)); err != nil {
		t.Fatal(err)
	}
	obj, err := st.Get(ctx, runs.IndexPath("p", rep.RunID))
	if err != nil {
		t.Fatal(err)
	}
	row, err := decodeRow(obj.Data)
	if err != nil {
		t.Fatal(err)
	}
	if row.MaxRateUnderSLO == nil || *row.MaxRateUnderSLO != 512.5 {
		t.Errorf("max_rate_under_slo = %v, want 512.5", row.MaxRateUnderSLO)
	}
}

func TestParseIndexPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, plan, id string
		ok             bool
	}{
		{runs.IndexPath("a/b c", "20261101-020000-000001"), "a/b c", "20261101-020000-000001", true},
		{"index/p/not-an-id.json", "", "", false},
		{"index/p/20261101-020000-000001.txt", "", "", false},
		{"runs/x/report.json", "", "", false},
		{"index//20261101-020000-000001.json", "", "", false},
	}
	for _, tt := range tests {
		plan, id, err := runs.ParseIndexPath(tt.name)
		if (err == nil) != tt.ok || plan != tt.plan || id != tt.id {
			t.Errorf("ParseIndexPath(%q) = %q, %q, %v; want %q, %q, ok %v", tt.name, plan, id, err, tt.plan, tt.id, tt.ok)
		}
	}
}

// BenchmarkLastPass shows that finding a plan's last pass and the active
// runs costs the same with 10 or 10,000 runs in the bucket: one read, one
// listing of active/.
func BenchmarkLastPass(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("runs=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st := newStore(b)
			for i := range n {
				rep := fakeReport(fmt.Sprintf("plan-%d", i%10), i, report.VerdictPass)
				b, _ := encodeRow(FromReport(rep, nil))
				// Synthetic rows written directly: the benchmark is the reader.
				if _, err := st.Put(ctx, runs.IndexPath(rep.PlanName, rep.RunID), b, ndjson); err != nil {
					panic(err)
				}
				if i >= n-10 {
					if err := Write(ctx, st, rep, nil); err != nil {
						panic(err)
					}
				}
			}
			st.Reset()
			b.ResetTimer()
			for range b.N {
				if _, err := Latest(ctx, st, "plan-3", runs.LatestPass); err != nil {
					b.Fatal(err)
				}
				if _, err := st.List(ctx, runs.ActivePrefix); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(st.Gets()))/float64(b.N), "gets/op")
			b.ReportMetric(float64(len(st.Lists()))/float64(b.N), "lists/op")
		})
	}
}
