package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

var historyNight0 = time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)

// writeNights indexes 20 nights of plan: p99 from 40 ms up by 1 ms a
// night, night 15 failing a threshold.
func writeNights(t *testing.T, st store.Store, plan string) {
	t.Helper()
	for n := range 20 {
		start := historyNight0.Add(time.Duration(n) * 24 * time.Hour)
		rep := &report.Report{
			RunID: fmt.Sprintf("%s-%06x", start.Format("20060102-150405"), n), PlanName: plan, Status: report.StatusCompleted,
			Start: start, End: start.Add(time.Minute), Shards: 2, Verdict: report.VerdictPass,
			Summary: report.Summary{Intended: 6000, Completed: 6000, RPS: 100, PlannedRPS: 100, ErrorRate: 0.001,
				LatencyMS: slice.Percentiles{P50: 10, P90: 20, P99: 40 + float64(n), Max: 90}},
		}
		if n == 15 {
			rep.Verdict, rep.VerdictReasons = report.VerdictFail, []string{"threshold p99 < 50ms failed"}
		}
		if err := index.Write(context.Background(), st, rep, []byte(`{"name":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHistoryCmd(t *testing.T) {
	t.Parallel()
	tr := newTestTrigger(t)
	writeNights(t, tr.st, "nightly/bert")
	dir := t.TempDir()
	disk, err := store.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeNights(t, disk, "nightly/bert")

	for _, src := range []struct{ name, flag, value string }{{"trigger", "--url", tr.url}, {"disk bucket", "--bucket-dir", dir}} {
		tests := []struct {
			name string
			args []string
			want []string
			not  []string
		}{
			{"default", nil, []string{
				"plan nightly/bert: last 14 run(s), oldest first",
				"2026-11-07 02:00  20261107-020000-000006",                                    // the oldest of 14
				"20261120-020000-000013  pass     100.0  10.00   59.00   0.10%   -         -", // the newest, without accuracy or capacity
				"p99       ▁▂▂▃▃▄▄▅▅▆▆▇▇█  +28.3% first to last",                              // 46 → 59 ms
				"1 of 14 run(s) did not pass:",
				"20261116-020000-00000f  fail: threshold p99 < 50ms failed",
			}, []string{"\ncapacity  ", "20261106-020000-000005"}},
			{"-n", []string{"-n", "3"}, []string{"last 3 run(s)", "p99       ▁▅█  +3.5% first to last"}, []string{"did not pass", "20261117-020000-000010"}},
			{"one run", []string{"-n", "1"}, []string{"last 1 run(s)", "(too few runs for a trend)"}, nil},
		}
		for _, tt := range tests {
			t.Run(src.name+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				var out bytes.Buffer
				args := append([]string{"history", "nightly/bert", src.flag, src.value}, tt.args...)
				if err := Main(context.Background(), args, &out, &out); err != nil {
					t.Fatalf("cicada %v: %v\n%s", args, err, out.String())
				}
				got := out.String()
				for _, w := range tt.want {
					if !strings.Contains(got, w) {
						t.Errorf("output lacks %q:\n%s", w, got)
					}
				}
				for _, w := range tt.not {
					if strings.Contains(got, w) {
						t.Errorf("output has %q:\n%s", w, got)
					}
				}
				if !strings.Contains(got, "(from "+src.value+")") {
					t.Errorf("output does not name where the runs come from:\n%s", got)
				}
			})
		}
	}
}

func TestHistoryCmdErrors(t *testing.T) {
	t.Parallel()
	tr := newTestTrigger(t)
	writeNights(t, tr.st, "nightly")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no plan", []string{"history", "--url", tr.url}, ExitUsage, "want exactly one plan name"},
		{"two plans", []string{"history", "a", "b", "--url", tr.url}, ExitUsage, "got 2 arguments"},
		{"bad -n", []string{"history", "nightly", "-n", "0", "--url", tr.url}, ExitUsage, "-n 0: want 1 to 500"},
		{"unknown plan", []string{"history", "other", "--url", tr.url}, ExitErr, `plan "other" has no run in the runs index of ` + tr.url},
		{"unknown plan in a bucket", []string{"history", "other", "--bucket-dir", t.TempDir()}, ExitErr, `plan "other" has no run`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := Main(context.Background(), tt.args, &out, &out)
			if Code(err) != tt.code || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("cicada %v = %v (exit %d), want exit %d with %q", tt.args, err, Code(err), tt.code, tt.want)
			}
		})
	}
}

// TestHistoryCmdSource picks where the runs come from without a flag:
// $CICADA_TRIGGER_URL, then cicada local's bucket directory.
func TestHistoryCmdSource(t *testing.T) {
	tr := newTestTrigger(t)
	writeNights(t, tr.st, "from-trigger")
	t.Chdir(t.TempDir())
	t.Setenv(triggerURLEnv, "")
	t.Setenv(bucketEnv, "")
	run := func() (string, error) {
		var out bytes.Buffer
		err := Main(context.Background(), []string{"history", "from-trigger", "-n", "2"}, &out, &out)
		return out.String(), err
	}
	if _, err := run(); Code(err) != ExitUsage || !strings.Contains(err.Error(), "no trigger and no bucket") {
		t.Errorf("no source: %v, want a usage error", err)
	}

	if err := os.MkdirAll(filepath.Join(".cicada", "bucket"), 0o755); err != nil {
		t.Fatal(err)
	}
	disk, err := store.NewDisk(filepath.Join(".cicada", "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	writeNights(t, disk, "from-trigger")
	if out, err := run(); err != nil || !strings.Contains(out, "(from "+filepath.Join(".cicada", "bucket")+")") {
		t.Errorf("local bucket: %v\n%s", err, out)
	}

	t.Setenv(triggerURLEnv, tr.url)
	if out, err := run(); err != nil || !regexp.MustCompile(`\(from http://127\.0\.0\.1:\d+\)`).MatchString(out) {
		t.Errorf("$%s: %v\n%s", triggerURLEnv, err, out)
	}
}
