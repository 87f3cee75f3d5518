package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/trigger"
)

// testReport is a finished report with the key figures set.
func testReport(id string, p99, errorRate float64) *report.Report {
	return &report.Report{
		RunID: id, PlanName: "nightly", Status: report.StatusCompleted, Verdict: report.VerdictPass,
		Summary: report.Summary{
			Completed: 1000, RPS: 100, ErrorRate: errorRate,
			LatencyMS: slice.Percentiles{P50: 10, P90: 20, P99: p99, P999: 2 * p99, Max: 3 * p99},
			ServiceMS: slice.Percentiles{P99: p99 / 2},
		},
	}
}

// writeReportFile writes rep as report.json in a new directory and
// returns the file's path.
func writeReportFile(t *testing.T, rep *report.Report) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.json")
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// codeOf is the code cicada would exit with for err.
func codeOf(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec ExitError
	if errors.As(err, &ec) {
		return ec.Code
	}
	return ExitErr
}

// testTrigger serves a trigger over in-process backends; put writes
// objects straight into its bucket.
type testTrigger struct {
	url string
	st  store.Store
}

func newTestTrigger(t *testing.T) *testTrigger {
	t.Helper()
	st, _, closeSt, err := store.NewInProcess("cicada-cli-test")
	if err != nil {
		t.Fatalf("in-process store: %v", err)
	}
	t.Cleanup(closeSt)
	b, closeBus, err := bus.NewInProcess(context.Background())
	if err != nil {
		t.Fatalf("in-process bus: %v", err)
	}
	t.Cleanup(closeBus)
	srv := httptest.NewServer(trigger.NewHandler(trigger.Deps{Store: st, Bus: b}))
	t.Cleanup(srv.Close)
	return &testTrigger{url: srv.URL, st: st}
}

func (tt *testTrigger) put(t *testing.T, name string, data []byte) {
	t.Helper()
	if _, err := tt.st.Put(context.Background(), name, data, "application/json"); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

func (tt *testTrigger) putJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	tt.put(t, name, b)
}

// putRun writes run.json and plan.json of a run that ended a second ago.
func (tt *testTrigger) putRun(t *testing.T, id string, shards int) {
	t.Helper()
	now := time.Now()
	tt.putJSON(t, runs.RunPath(id), runs.Run{ID: id, PlanName: "nightly", Shards: shards,
		Created: now.Add(-time.Minute), StartAt: now.Add(-31 * time.Second), End: now.Add(-time.Second)})
	tt.put(t, runs.PlanPath(id), []byte(`{"name": "nightly"}`))
}

func (tt *testTrigger) putReport(t *testing.T, rep *report.Report) {
	t.Helper()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	tt.put(t, runs.ReportPath(rep.RunID, "report.json"), b.Bytes())
}

func TestCompareCmd(t *testing.T) {
	t.Parallel()
	const baseID, sameID, slowID = "20261126-040000-aaaaaa", "20261127-040000-bbbbbb", "20261127-040000-cccccc"
	base := writeReportFile(t, testReport(baseID, 100, 0))
	same := writeReportFile(t, testReport(sameID, 105, 0))
	slower := writeReportFile(t, testReport(slowID, 130, 0.01))

	trig := newTestTrigger(t)
	trig.putReport(t, testReport(baseID, 100, 0))
	trig.putReport(t, testReport(slowID, 130, 0.01))

	tests := []struct {
		name   string
		args   []string
		code   int
		want   []string // in stdout
		errHas string
	}{
		{name: "within tolerance", args: []string{base, same}, code: ExitOK,
			want: []string{"p50", "p90", "p99", "p999", "max", "service_p99", "error_rate", "rps", "dropped", "+5.0%", "no regression beyond 10%"}},
		{name: "regression", args: []string{base, slower}, code: ExitFail,
			want: []string{"p99", "+30.0%", "REGRESSION", "error_rate", "+1.00 pts (from 0)", "regression: p99, p999, max, service_p99, error_rate"}, errHas: "regression"},
		{name: "a wider tolerance", args: []string{base, slower, "--tolerance", "50"}, code: ExitFail, want: []string{"tolerance 50%", "regression: error_rate"}},
		{name: "flags first", args: []string{"--tolerance=50", base, same}, code: ExitOK, want: []string{"tolerance 50%"}},
		{name: "the report's directory", args: []string{filepath.Dir(base), filepath.Dir(same)}, code: ExitOK, want: []string{"base " + baseID}},
		{name: "run ids from the trigger", args: []string{baseID, slowID, "--url", trig.url}, code: ExitFail,
			want: []string{"base " + baseID, "new  " + slowID, "REGRESSION"}},
		{name: "a file and a run id", args: []string{base, slowID, "--url", trig.url}, code: ExitFail, want: []string{"REGRESSION"}},
		{name: "unknown run id", args: []string{baseID, "20261127-040000-dddddd", "--url", trig.url}, code: ExitErr, errHas: "HTTP 404"},
		{name: "one argument", args: []string{base}, code: ExitUsage, errHas: "want BASE and NEW"},
		{name: "three arguments", args: []string{base, same, same}, code: ExitUsage, errHas: "got 3"},
		{name: "negative tolerance", args: []string{base, same, "--tolerance", "-1"}, code: ExitUsage, errHas: "--tolerance"},
		{name: "bad flag", args: []string{base, same, "--nope"}, code: ExitUsage, errHas: "nope"},
		{name: "missing file", args: []string{base, "/nonexistent/report.json"}, code: ExitErr, errHas: "/nonexistent/report.json"},
		{name: "not a report", args: []string{base, writePlan(t, "{not json")}, code: ExitErr, errHas: "plan.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := compareCmd(context.Background(), tt.args, &out)
			if got := codeOf(err); got != tt.code {
				t.Fatalf("exit code %d (err %v), want %d; output:\n%s", got, err, tt.code, out.String())
			}
			if tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Errorf("err = %v, want it to mention %q", err, tt.errHas)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestCompareCmdOut(t *testing.T) {
	t.Parallel()
	base := writeReportFile(t, testReport("20261126-040000-aaaaaa", 100, 0))
	slower := writeReportFile(t, testReport("20261127-040000-cccccc", 130, 0))
	out := filepath.Join(t.TempDir(), "diff.json")
	err := compareCmd(context.Background(), []string{base, slower, "--out", out}, io.Discard)
	if got := codeOf(err); got != ExitFail {
		t.Fatalf("exit code %d (err %v), want %d", got, err, ExitFail)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read --out file: %v", err)
	}
	var c report.Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if c.BaselineRunID != "20261126-040000-aaaaaa" || c.TolerancePct != 10 || !c.Regression || len(c.Metrics) != 9 {
		t.Errorf("comparison = %+v, want baseline aaaaaa, tolerance 10, a regression, 9 metrics", c)
	}
}

// TestCompareCmdNoTrigger runs alone: it clears the environment's trigger.
func TestCompareCmdNoTrigger(t *testing.T) {
	t.Setenv(triggerURLEnv, "")
	err := compareCmd(context.Background(), []string{"20261126-040000-aaaaaa", "20261127-040000-cccccc"}, io.Discard)
	if got := codeOf(err); got != ExitUsage || !strings.Contains(err.Error(), triggerURLEnv) {
		t.Errorf("err = %v (exit %d), want a usage error naming %s", err, got, triggerURLEnv)
	}
}
