package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cicadaload/cicada/shared/report"
)

// TestREADMEEnv keeps the README's configuration tables equal to the
// config structs.
func TestREADMEEnv(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- BEGIN cicada env -->\n", "<!-- END cicada env -->"
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q block", begin, end)
	}
	var want bytes.Buffer
	if err := writeEnvDoc(&want); err != nil {
		t.Fatal(err)
	}
	if got := s[i+len(begin) : j]; got != want.String() {
		t.Errorf("README.md's configuration tables are stale; replace them with the output of `go run ./cmd/cicada env`:\n%s", want.String())
	}
}

func writePlan(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMainErrors(t *testing.T) {
	t.Parallel()
	bad := writePlan(t, "name: x\ntarget: {protocol: http, url: 'ftp://nowhere'}\nload: {model: open, stages: [{duration: 1s, rate: -5}]}\nbogus: 1\n")
	badThreshold := writePlan(t, "name: x\ntarget: {protocol: http, url: 'http://127.0.0.1:1/'}\ndata: {texts: [a]}\nload: {model: open, stages: [{duration: 1s, rate: 5}]}\nthresholds: ['p99 < soon']\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		wantErrs []string
	}{
		{"no command", nil, ExitUsage, []string{"no command"}},
		{"unknown command", []string{"frobnicate"}, ExitUsage, []string{`"frobnicate"`}},
		{"run without plan", []string{"run"}, ExitUsage, []string{"exactly one plan"}},
		{"missing plan file", []string{"run", "/nonexistent/plan.yaml"}, ExitUsage, []string{"/nonexistent/plan.yaml"}},
		{"invalid threshold", []string{"validate", badThreshold}, ExitUsage, []string{`thresholds[0]: threshold "p99 < soon": bad value`}},
		{"invalid plan lists every problem", []string{"validate", bad}, ExitUsage, []string{"bogus: unknown field", "load.stages[0].rate", "target.url"}},
		{"bad flag", []string{"run", bad, "--nope"}, ExitUsage, []string{"nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Main(context.Background(), tt.args, io.Discard, io.Discard)
			if code := Code(err); err == nil || code != tt.code {
				t.Fatalf("Main(%q) = %v (code %d), want code %d", tt.args, err, Code(err), tt.code)
			}
			for _, w := range tt.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestRun runs a small plan against an in-process target and checks the
// console lines and report.json.
func TestRun(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"category":0,"label":"sports"}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	path := writePlan(t, `name: cli test
target:
  protocol: http
  url: http://`+ln.Addr().String()+`/v1/predict
  body: '{"text": {{json .Text}}}'
data: {texts: [a, b, c]}
load: {model: open, stages: [{duration: 2s, rate: 100}]}
slice: 500ms
shards: 2
max_lateness: 1s  # judged elsewhere; a busy test machine must not make this run incomplete
thresholds: ["error_rate == 0", "completed == 200", "p99 < 5s per_slice", "rps >= 90%"]
`)
	out := t.TempDir()
	var stdout bytes.Buffer
	if err := Main(context.Background(), []string{"run", path, "--out", out}, &stdout, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, stdout.String())
	}
	if n := strings.Count(stdout.String(), "\nslice "); n != 4 {
		t.Errorf("printed %d slice lines, want 4:\n%s", n, stdout.String())
	}
	for _, f := range report.FileNames {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("report file %s: %v", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status     string `json:"status"`
		Verdict    string `json:"verdict"`
		Thresholds []struct {
			Expr string `json:"expr"`
			Pass bool   `json:"pass"`
		} `json:"thresholds"`
		Shards  int `json:"shards"`
		Summary struct {
			Intended, Sent, Completed, Errors int64
			Outcomes                          map[string]int64
		} `json:"summary"`
		Slices []struct {
			Intended        int64 `json:"intended"`
			ShardsReporting int   `json:"shards_reporting"`
		} `json:"slices"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if rep.Status != "completed" || rep.Shards != 2 || rep.Summary.Intended != 200 || rep.Summary.Completed != 200 || rep.Summary.Errors != 0 {
		t.Errorf("report: status %q shards %d intended %d completed %d errors %d; want completed, 2, 200, 200, 0",
			rep.Status, rep.Shards, rep.Summary.Intended, rep.Summary.Completed, rep.Summary.Errors)
	}
	if rep.Verdict != "pass" || len(rep.Thresholds) != 4 {
		t.Errorf("verdict %q with %d thresholds %+v, want pass with 4", rep.Verdict, len(rep.Thresholds), rep.Thresholds)
	}
	if !strings.Contains(stdout.String(), "verdict   pass") {
		t.Errorf("stdout does not show the verdict:\n%s", stdout.String())
	}
	if rep.Summary.Outcomes["http:200"] != 200 || hits.Load() != rep.Summary.Sent {
		t.Errorf("outcomes %v, target saw %d, sent %d", rep.Summary.Outcomes, hits.Load(), rep.Summary.Sent)
	}
	if len(rep.Slices) != 4 {
		t.Fatalf("%d slices, want 4", len(rep.Slices))
	}
	for i, s := range rep.Slices {
		if s.Intended != 50 || s.ShardsReporting != 2 {
			t.Errorf("slice %d: intended %d shards %d, want 50 and 2", i, s.Intended, s.ShardsReporting)
		}
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"usage", usageErr("bad"), ExitUsage},
		{"wrapped exit error", fmt.Errorf("run x: %w", ExitError{Code: ExitIncomplete, Err: errors.New("gaps")}), ExitIncomplete},
		{"any other error could not run", errors.New("dial tcp: refused"), ExitErr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestVerdictExit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		rep     report.Report
		want    int
		wantErr string
	}{
		{"pass", report.Report{RunID: "r", Verdict: report.VerdictPass}, ExitOK, ""},
		{"fail", report.Report{RunID: "r", Verdict: report.VerdictFail, VerdictReasons: []string{`threshold "p99 < 1ms" failed`}}, ExitFail, `run r failed: threshold "p99 < 1ms" failed`},
		{"incomplete", report.Report{RunID: "r", Verdict: report.VerdictIncomplete, VerdictReasons: []string{"run cancelled before its end"}}, ExitIncomplete, "run r incomplete: run cancelled"},
		{"not judged", report.Report{RunID: "r", Status: "running"}, ExitIncomplete, "no verdict"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := verdictExit(&tt.rep)
			if got := Code(err); got != tt.want {
				t.Errorf("code %d (%v), want %d", got, err, tt.want)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

// TestRunExitCodes runs short plans whose verdicts differ and checks the
// exit code of each.
func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name       string
		ctx        context.Context
		thresholds string
		want       int
		verdict    string
	}{
		{"pass", context.Background(), `["completed == 10"]`, ExitOK, "pass"},
		{"a threshold fails", context.Background(), `["completed == 10", "p50 > 1m"]`, ExitFail, "fail"},
		{"cancelled is incomplete", cancelled, `["completed == 10"]`, ExitIncomplete, "incomplete"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writePlan(t, `name: exit codes
target: {protocol: http, url: 'http://`+ln.Addr().String()+`/'}
data: {texts: [a]}
load: {model: open, stages: [{duration: 500ms, rate: 20}]}
slice: 500ms
max_lateness: 1s
thresholds: `+tt.thresholds+"\n")
			out := t.TempDir()
			var stdout bytes.Buffer
			err := Main(tt.ctx, []string{"run", path, "--out", out, "--quiet"}, &stdout, io.Discard)
			if got := Code(err); got != tt.want {
				t.Fatalf("exit code %d (%v), want %d\n%s", got, err, tt.want, stdout.String())
			}
			b, err := os.ReadFile(filepath.Join(out, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				Verdict string `json:"verdict"`
			}
			if err := json.Unmarshal(b, &rep); err != nil || rep.Verdict != tt.verdict {
				t.Errorf("report.json verdict %q (%v), want %q", rep.Verdict, err, tt.verdict)
			}
		})
	}
}
