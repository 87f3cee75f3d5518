package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
)

// syncBuffer is a bytes.Buffer safe to read while wait writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWaitVerdicts(t *testing.T) {
	t.Parallel()
	trig := newTestTrigger(t)
	tests := []struct {
		name    string
		id      string
		verdict string
		status  string
		reasons []string
		code    int
		want    []string
	}{
		{name: "pass", id: "20261127-040000-000001", verdict: report.VerdictPass, status: report.StatusCompleted, code: ExitOK,
			want: []string{"verdict   pass", "status completed", "done"}},
		{name: "fail", id: "20261127-040000-000002", verdict: report.VerdictFail, status: report.StatusCompleted,
			reasons: []string{"threshold p99 < 250ms failed: 300"}, code: ExitFail, want: []string{"verdict   fail", "p99 < 250ms failed"}},
		{name: "incomplete", id: "20261127-040000-000003", verdict: report.VerdictIncomplete, status: report.StatusCompleted, code: ExitIncomplete, want: []string{"verdict   incomplete"}},
		{name: "cancelled with a verdict", id: "20261127-040000-000004", verdict: report.VerdictIncomplete, status: report.StatusCancelled, code: ExitIncomplete},
		// Reports written before verdicts: the status decides.
		{name: "no verdict, completed", id: "20261127-040000-000005", status: report.StatusCompleted, code: ExitOK, want: []string{"(none: status completed)"}},
		{name: "no verdict, cancelled", id: "20261127-040000-000006", status: report.StatusCancelled, code: ExitIncomplete},
		{name: "no verdict, incomplete", id: "20261127-040000-000007", status: report.StatusIncomplete, code: ExitIncomplete},
		{name: "no verdict, failed", id: "20261127-040000-000008", status: report.StatusFailed, code: ExitErr, want: []string{"failed"}},
		{name: "unknown verdict", id: "20261127-040000-000009", verdict: "maybe", status: report.StatusCompleted, code: ExitErr},
	}
	for _, tt := range tests {
		trig.putRun(t, tt.id, 2)
		rep := testReport(tt.id, 100, 0)
		rep.Verdict, rep.Status, rep.VerdictReasons = tt.verdict, tt.status, tt.reasons
		trig.putReport(t, rep)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := waitCmd(context.Background(), []string{tt.id, "--url", trig.url, "--poll", "10ms"}, &out)
			if got := codeOf(err); got != tt.code {
				t.Fatalf("exit code %d (err %v), want %d; output:\n%s", got, err, tt.code, out.String())
			}
			for _, w := range append([]string{"run " + tt.id, "plan \"nightly\"", "p99"}, tt.want...) {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestWaitFollows waits on a running run: slice lines appear as every
// shard reports them, and the verdict comes once report.json is written.
func TestWaitFollows(t *testing.T) {
	t.Parallel()
	trig := newTestTrigger(t)
	const id = "20261127-050000-abcdef"
	now := time.Now()
	start := now.Add(-time.Second)
	trig.putJSON(t, runs.RunPath(id), runs.Run{ID: id, PlanName: "nightly", Shards: 2, Created: start, StartAt: start, End: start.Add(time.Hour)})
	trig.put(t, runs.PlanPath(id), []byte(`{"name": "nightly"}`))
	live := &report.Report{RunID: id, PlanName: "nightly", Start: start, Shards: 2, Slices: []report.SliceRow{
		{Index: 0, Start: start, Completed: 100, RPS: 10, ShardsReporting: 2, LatencyMS: slice.Percentiles{P50: 1, P99: 2}},
		{Index: 1, Start: start.Add(10 * time.Second), Completed: 50, RPS: 5, ShardsReporting: 1}, // one shard still to come
	}}
	var b bytes.Buffer
	if err := live.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	trig.put(t, runs.LivePath(id), b.Bytes())

	out := &syncBuffer{}
	dir := filepath.Join(t.TempDir(), "files")
	done := make(chan error, 1)
	go func() {
		done <- waitCmd(context.Background(), []string{id, "--url", trig.url, "--poll", "10ms", "--out", dir}, out)
	}()

	waitFor(t, out, "slice  0")
	select {
	case err := <-done:
		t.Fatalf("wait returned before the report: %v\n%s", err, out.String())
	case <-time.After(100 * time.Millisecond):
	}
	if strings.Contains(out.String(), "slice  1") {
		t.Errorf("slice 1 printed before every shard reported it:\n%s", out.String())
	}
	rep := testReport(id, 100, 0)
	rep.Verdict = report.VerdictFail
	trig.putReport(t, rep)
	select {
	case err := <-done:
		if got := codeOf(err); got != ExitFail {
			t.Errorf("exit code %d (err %v), want %d", got, err, ExitFail)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("wait did not return after the report was written:\n%s", out.String())
	}
	for _, w := range []string{"running", "shards leased 0/2 done 0/2", "verdict   fail", "report files: " + dir} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report.json")); err != nil {
		t.Errorf("--out did not download report.json: %v", err)
	}
}

// TestWaitInterrupted stops waiting, not the run, when ctx ends.
func TestWaitInterrupted(t *testing.T) {
	t.Parallel()
	trig := newTestTrigger(t)
	const id = "20261127-060000-abcdef"
	now := time.Now()
	trig.putJSON(t, runs.RunPath(id), runs.Run{ID: id, PlanName: "nightly", Shards: 1, Created: now, StartAt: now, End: now.Add(time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- waitCmd(ctx, []string{id, "--url", trig.url, "--poll", "10ms"}, out) }()
	waitFor(t, out, "running") // the first bar: watching
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("wait did not stop when interrupted:\n%s", out.String())
	}
	if got := codeOf(err); got != ExitErr || !strings.Contains(err.Error(), "it goes on") {
		t.Errorf("err = %v (exit %d), want exit %d saying the run goes on", err, got, ExitErr)
	}
	if _, gerr := trig.st.Get(context.Background(), runs.CancelPath(id)); gerr == nil {
		t.Error("interrupting wait cancelled the run")
	}
}

func TestWaitUsage(t *testing.T) {
	t.Parallel()
	trig := newTestTrigger(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		errHas string
	}{
		{name: "no run", args: []string{"--url", trig.url}, code: ExitUsage, errHas: "exactly one run id"},
		{name: "two runs", args: []string{"20261127-040000-000001", "20261127-040000-000002", "--url", trig.url}, code: ExitUsage, errHas: "got 2"},
		{name: "not a run id", args: []string{"../etc", "--url", trig.url}, code: ExitUsage, errHas: "run id"},
		{name: "bad poll", args: []string{"20261127-040000-000001", "--url", trig.url, "--poll", "0s"}, code: ExitUsage, errHas: "--poll"},
		{name: "unknown run", args: []string{"20261127-040000-000001", "--url", trig.url}, code: ExitErr, errHas: "not found"},
		{name: "no trigger there", args: []string{"20261127-040000-000001", "--url", "http://127.0.0.1:1"}, code: ExitErr, errHas: "status of run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := waitCmd(context.Background(), tt.args, &bytes.Buffer{})
			if got := codeOf(err); got != tt.code || err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("err = %v (exit %d), want exit %d mentioning %q", err, got, tt.code, tt.errHas)
			}
		})
	}
}

// waitFor waits until out holds s.
func waitFor(t *testing.T, out *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("output never had %q:\n%s", s, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
