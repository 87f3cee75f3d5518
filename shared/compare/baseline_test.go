package compare

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// putReport writes runs/<id>/report.json with a plan name and verdict
// and, for a finished run (a verdict), its row in the runs index, as the
// aggregator does.
func putReport(t *testing.T, st store.Store, id, planName, verdict string) {
	t.Helper()
	r := &report.Report{RunID: id, PlanName: planName, Status: report.StatusCompleted, Verdict: verdict}
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	put(t, st, runs.ReportPath(id, "report.json"), b.String())
	if verdict != "" {
		if err := index.Write(context.Background(), st, r, []byte(`{}`)); err != nil {
			t.Fatalf("index run %s: %v", id, err)
		}
	}
}

func put(t *testing.T, st store.Store, name, data string) {
	t.Helper()
	if _, err := st.Put(context.Background(), name, []byte(data), "application/json"); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, _, closeSt, err := store.NewInProcess("cicada-compare-test")
	if err != nil {
		t.Fatalf("in-process store: %v", err)
	}
	t.Cleanup(closeSt)
	return st
}

func TestFindBaseline(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	const (
		self    = "20261127-040000-000000"
		oldPass = "20261120-040000-aaaaaa" // older passing run of the plan
		newPass = "20261126-040000-bbbbbb" // newest passing run of the plan
		failed  = "20261126-050000-cccccc" // newer, but failed
		other   = "20261126-060000-dddddd" // newer, passing, another plan
		corrupt = "20261126-070000-eeeeee" // newer, unreadable report
		running = "20261126-080000-ffffff" // newer, no report yet
		later   = "20261128-040000-111111" // passing, but after self
		same    = "20261127-040000-000001" // same second as self, after it
	)
	putReport(t, st, oldPass, "nightly", report.VerdictPass)
	putReport(t, st, newPass, "nightly", report.VerdictPass)
	putReport(t, st, failed, "nightly", report.VerdictFail)
	putReport(t, st, other, "other", report.VerdictPass)
	// Indexed as a pass, but its report.json is unreadable: skipped.
	putReport(t, st, corrupt, "nightly", report.VerdictPass)
	put(t, st, runs.ReportPath(corrupt, "report.json"), "{not json")
	put(t, st, runs.PlanPath(running), "{}")
	put(t, st, runs.SlicePath(running, 0, 0), "slice")
	putReport(t, st, later, "nightly", report.VerdictPass)
	putReport(t, st, same, "nightly", report.VerdictPass)
	putReport(t, st, "20261125-040000-222222", "incomplete", report.VerdictIncomplete)
	putReport(t, st, "20261125-050000-333333", "live", "") // still running: no verdict
	put(t, st, runs.ReportPath("not-an-id", report.FileJSON), `{"plan_name": "nightly", "verdict": "pass"}`)

	tests := []struct {
		name      string
		plan      string
		baseline  string
		self      string
		wantID    string
		wantNoBas bool // errors.Is(err, ErrNoBaseline)
		wantErr   bool // any other error
	}{
		// The plan's pass pointer names a later run: the index rows before
		// self are read, the corrupt one skipped.
		{name: "last pass picks the newest passing run before self", plan: "nightly", baseline: LastPass, self: self, wantID: newPass},
		{name: "last pass: the pointer is older than self", plan: "nightly", baseline: LastPass, self: "20261129-000000-000000", wantID: later},
		{name: "last pass before an older self", plan: "nightly", baseline: LastPass, self: "20261126-000000-000000", wantID: oldPass},
		{name: "last pass without bound", plan: "nightly", baseline: LastPass, self: "", wantID: later},
		{name: "last pass of another plan", plan: "other", baseline: LastPass, self: self, wantID: other},
		{name: "no passing run before self", plan: "nightly", baseline: LastPass, self: "20261101-000000-000000", wantNoBas: true},
		{name: "unknown plan", plan: "nobody", baseline: LastPass, self: self, wantNoBas: true},
		{name: "incomplete is no pass", plan: "incomplete", baseline: LastPass, self: self, wantNoBas: true},
		{name: "a report without verdict is no pass", plan: "live", baseline: LastPass, self: self, wantNoBas: true},
		{name: "named run, whatever its verdict", plan: "nightly", baseline: failed, self: self, wantID: failed},
		{name: "named run after self", plan: "x", baseline: later, self: self, wantID: later},
		{name: "named run without report", plan: "nightly", baseline: running, self: self, wantNoBas: true},
		{name: "named run unknown", plan: "nightly", baseline: "20200101-000000-000000", self: self, wantNoBas: true},
		{name: "named run is self", plan: "nightly", baseline: self, self: self, wantNoBas: true},
		{name: "no baseline named", plan: "nightly", baseline: "", self: self, wantNoBas: true},
		{name: "named run corrupt", plan: "nightly", baseline: corrupt, self: self, wantErr: true},
		{name: "neither run id nor last-pass", plan: "nightly", baseline: "yesterday", self: self, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, id, err := FindBaseline(context.Background(), st, tt.plan, tt.baseline, tt.self)
			switch {
			case tt.wantNoBas:
				if !errors.Is(err, ErrNoBaseline) {
					t.Fatalf("err = %v, want ErrNoBaseline", err)
				}
				return
			case tt.wantErr:
				if err == nil || errors.Is(err, ErrNoBaseline) {
					t.Fatalf("err = %v, want an error other than ErrNoBaseline", err)
				}
				return
			case err != nil:
				t.Fatalf("FindBaseline: %v", err)
			}
			if id != tt.wantID {
				t.Errorf("id = %s, want %s", id, tt.wantID)
			}
			if rep == nil || rep.RunID != tt.wantID {
				t.Errorf("report = %+v, want run %s", rep, tt.wantID)
			}
		})
	}
}

func TestFindBaselineStoreFails(t *testing.T) {
	t.Parallel()
	st := failing{errors.New("bucket down")}
	for _, baseline := range []string{LastPass, "20261126-040000-bbbbbb"} {
		t.Run(baseline, func(t *testing.T) {
			t.Parallel()
			_, _, err := FindBaseline(context.Background(), st, "nightly", baseline, "20261127-040000-000000")
			if err == nil || errors.Is(err, ErrNoBaseline) || !errors.Is(err, st.err) {
				t.Errorf("err = %v, want the bucket's error, not ErrNoBaseline", err)
			}
		})
	}
}

func TestFindBaselineCancelled(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	putReport(t, st, "20261126-040000-bbbbbb", "nightly", report.VerdictFail)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := FindBaseline(ctx, st, "nightly", LastPass, "")
	if err == nil || errors.Is(err, ErrNoBaseline) {
		t.Errorf("err = %v, want a cancellation error", err)
	}
}

// failing is a bucket whose every call fails.
type failing struct{ err error }

func (f failing) Get(context.Context, string) (store.Object, error) { return store.Object{}, f.err }
func (f failing) Create(context.Context, string, []byte, string) (int64, error) {
	return 0, f.err
}
func (f failing) Replace(context.Context, string, int64, []byte, string) (int64, error) {
	return 0, f.err
}
func (f failing) Put(context.Context, string, []byte, string) (int64, error) { return 0, f.err }
func (f failing) Delete(context.Context, string, int64) error                { return f.err }
func (f failing) List(context.Context, string) ([]string, error)             { return nil, f.err }

// countingStore is the real disk store with the prefixes it was asked to
// list and its reads counted.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	lists []string
	gets  int
}

func (c *countingStore) List(ctx context.Context, prefix string) ([]string, error) {
	c.mu.Lock()
	c.lists = append(c.lists, prefix)
	c.mu.Unlock()
	return c.Store.List(ctx, prefix)
}

func (c *countingStore) Get(ctx context.Context, name string) (store.Object, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Store.Get(ctx, name)
}

// TestLastPassReadsTheIndexOnly: finding the last pass never lists runs/;
// when the plan's pass pointer is older than the run, it costs two reads
// (the pointer and the report), however many runs the bucket holds.
func TestLastPassReadsTheIndexOnly(t *testing.T) {
	t.Parallel()
	disk, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: disk}
	id := func(night int) string { return fmt.Sprintf("202611%02d-040000-%06x", night, night) }
	for night := 1; night <= 28; night++ {
		v := report.VerdictPass
		if night%4 == 0 {
			v = report.VerdictFail
		}
		putReport(t, st, id(night), "nightly", v)
		putReport(t, st, id(night)[:16]+"ffffff", "other", report.VerdictPass)
	}
	tests := []struct {
		name     string
		self     string
		wantID   string
		maxGets  int
		wantList bool // the plan's index folder is listed (a later run passed first)
	}{
		{"pointer older than self", id(30), id(27), 2, false},
		{"a later run passed first", id(25), id(23), 4, true},
		{"no bound", "", id(27), 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st.mu.Lock()
			st.lists, st.gets = nil, 0
			st.mu.Unlock()
			rep, got, err := FindBaseline(context.Background(), st, "nightly", LastPass, tt.self)
			if err != nil || got != tt.wantID || rep.RunID != tt.wantID {
				t.Fatalf("FindBaseline = %s, %v; want %s", got, err, tt.wantID)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			for _, p := range st.lists {
				if p != runs.IndexPrefix("nightly") {
					t.Errorf("listed %q: only the plan's index folder %q may be listed", p, runs.IndexPrefix("nightly"))
				}
			}
			if (len(st.lists) > 0) != tt.wantList {
				t.Errorf("listings %q, want a listing: %v", st.lists, tt.wantList)
			}
			if st.gets > tt.maxGets {
				t.Errorf("%d reads, want at most %d", st.gets, tt.maxGets)
			}
		})
	}
}
