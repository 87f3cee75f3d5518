// Package cli implements the cicada command's subcommands, apart from its
// main so that tests can run them without a process.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/inprocess"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/redact"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
)

// Exit codes of cicada run, local, wait and compare, documented in the
// README. An error that is not an ExitError exits with ExitErr.
const (
	ExitOK         = 0 // the verdict is pass
	ExitFail       = 1 // the verdict is fail: a threshold failed, a regression, an abort
	ExitUsage      = 2 // bad arguments or an invalid plan
	ExitIncomplete = 3 // the verdict is incomplete: cancelled, gaps, a saturated generator
	ExitErr        = 4 // the run could not run or finish
)

// Code returns the exit code for err: 0 for nil, an ExitError's code, or
// ExitErr for any other error.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec ExitError
	if errors.As(err, &ec) {
		return ec.Code
	}
	return ExitErr
}

// verdictExit turns a finished run's verdict into the command's result:
// nil on pass, an ExitError with ExitFail or ExitIncomplete and the reasons
// otherwise. A report without a verdict was not judged, so it proves
// nothing: incomplete.
func verdictExit(rep *report.Report) error {
	why := strings.Join(rep.VerdictReasons, "; ")
	switch rep.Verdict {
	case report.VerdictPass:
		return nil
	case report.VerdictFail:
		return ExitError{Code: ExitFail, Err: fmt.Errorf("run %s failed: %s", rep.RunID, why)}
	case report.VerdictIncomplete:
		return ExitError{Code: ExitIncomplete, Err: fmt.Errorf("run %s incomplete: %s", rep.RunID, why)}
	case report.VerdictError:
		return ExitError{Code: ExitErr, Err: fmt.Errorf("run %s could not be carried out: %s", rep.RunID, why)}
	}
	return ExitError{Code: ExitIncomplete, Err: fmt.Errorf("run %s has no verdict (status %s)", rep.RunID, rep.Status)}
}

// formatVerdict is the verdict line printed under a run's summary, with
// the thresholds judged.
func formatVerdict(rep *report.Report) string {
	var b strings.Builder
	for _, t := range rep.Thresholds {
		mark := "pass"
		if !t.Pass {
			mark = "FAIL"
		}
		unit := t.Unit
		if unit != "" && unit != "%" {
			unit = " " + unit
		}
		fmt.Fprintf(&b, "threshold %s  %-40s observed %s%s", mark, t.Expr, strconv.FormatFloat(t.Observed, 'f', -1, 64), unit)
		if len(t.FailingSlices) > 0 {
			fmt.Fprintf(&b, "  failing slices %v", t.FailingSlices)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "verdict   %s\n", rep.Verdict)
	for _, r := range rep.VerdictReasons {
		fmt.Fprintf(&b, "  - %s\n", r)
	}
	return b.String()
}

// printSummary prints a finished run's summary and verdict.
func printSummary(w io.Writer, rep *report.Report) {
	summary := report.FormatSummary(rep)
	fmt.Fprint(w, summary)
	// The summary may come to show the verdict itself; say it once.
	if !strings.Contains(summary, "verdict") {
		fmt.Fprint(w, formatVerdict(rep))
	}
}

// ExitError carries the process exit code for an error.
type ExitError struct {
	Code int
	Err  error
}

func (e ExitError) Error() string { return e.Err.Error() }
func (e ExitError) Unwrap() error { return e.Err }

func usageErr(format string, a ...any) error {
	return ExitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

const usage = `usage:
  cicada run PLAN [--out DIR] [--serve-predict] [--quiet] [--secret-header NAMES]
      run a plan in this process; write DIR/report.json (default out/<run-id>)
  cicada local PLAN... [--workers N] [--serve-predict] [--out DIR] [--verbose] [--secret-header NAMES]
      run plans through the whole pipeline in this process (trigger, workers,
      aggregator, in-process Pub/Sub and bucket); reports in DIR/<run-id>/
  cicada aggregate RUN_ID [--final] [--grace D] [--secret-header NAMES]
      rebuild a run's live status or report from the bucket alone
      (CICADA_PROJECT, CICADA_BUCKET, CICADA_SECRET_HEADERS,
      STORAGE_EMULATOR_HOST as the binaries)
  cicada wait RUN_ID [--url TRIGGER]
      follow a run with a progress bar and slice lines; exit with its verdict
  cicada compare BASE NEW [--tolerance PCT] [--url TRIGGER] [--out FILE]
      compare two runs (report files or run ids); exit 1 on a regression
  cicada history PLAN [-n N] [--url TRIGGER | --bucket-dir DIR | --bucket NAME]
      the plan's last N runs (default 14) from the runs index, with the trend
      of p99 and capacity; from the trigger ($CICADA_TRIGGER_URL) or the bucket
      ($CICADA_BUCKET, or cicada local's .cicada/bucket)
  cicada validate PLAN
      check a plan and list every problem
  cicada env
      list every binary's CICADA_* environment variables (as in the README)
`

// Main runs the subcommand named by args[0]. Nothing it prints or returns
// holds a credential: stdout, stderr and the error's message are redacted
// (package redact), whatever the plan carries.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return redact.Err(runMain(ctx, args, &redact.Writer{W: stdout}, &redact.Writer{W: stderr}))
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErr("no command")
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "validate":
		return validateCmd(args[1:], stdout)
	case "local":
		return localCmd(ctx, args[1:], stdout, stderr)
	case "aggregate":
		return aggregateCmd(ctx, args[1:], stdout)
	case "compare":
		return compareCmd(ctx, args[1:], stdout)
	case "wait":
		return waitCmd(ctx, args[1:], stdout)
	case "history":
		return historyCmd(ctx, args[1:], stdout)
	case "env":
		return writeEnvDoc(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageErr("unknown command %q", args[0])
}

// parse parses flags that may come before or after the one positional
// argument, as in "cicada run PLAN --out DIR".
func parse(fs *flag.FlagSet, args []string) (string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", usageErr("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != 1 {
		return "", usageErr("%s: want exactly one plan file, got %d arguments", fs.Name(), len(pos))
	}
	return pos[0], nil
}

func loadPlan(path string) (*plan.Plan, error) {
	p, err := plan.LoadFile(path)
	if err != nil {
		var ve *plan.ValidationError
		// A plan file that is not there is a mistyped argument.
		if errors.As(err, &ve) || errors.Is(err, fs.ErrNotExist) {
			return nil, ExitError{Code: ExitUsage, Err: fmt.Errorf("plan %s: %w", path, err)}
		}
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	return p, nil
}

func validateCmd(args []string, stdout io.Writer) error {
	path, err := parse(flag.NewFlagSet("validate", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	p, err := loadPlan(path)
	if err != nil {
		return err
	}
	if _, err := p.Texts(); err != nil {
		return ExitError{Code: ExitUsage, Err: fmt.Errorf("plan %s: data: %w", path, err)}
	}
	fmt.Fprintf(stdout, "plan %q is valid: %s, %d slices of %s, %d shard(s), %d requests planned\n",
		p.Name, p.Duration(), p.NumSlices(), p.SliceDuration(), p.Shards, p.Schedule().Total())
	return nil
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	out := fs.String("out", "", "directory for report.json (default out/<run-id>)")
	servePredict := fs.Bool("serve-predict", false, "also serve the sample predict service in this process (CICADA_PREDICT_* addresses)")
	quiet := fs.Bool("quiet", false, "print no per-slice lines")
	secretHeaders := secretHeaderFlag(fs)
	path, err := parse(fs, args)
	if err != nil {
		return err
	}
	// A plan run here may carry literal credentials (nothing is stored
	// but the reports, which are redacted).
	secretHeaders()
	p, err := loadPlan(path)
	if err != nil {
		return err
	}
	id := runid.New(time.Now())
	dir, latest := *out, false
	if dir == "" {
		dir, latest = filepath.Join("out", id), true
	}

	if *servePredict {
		stopPredict, err := startPredict(ctx)
		if err != nil {
			return err
		}
		defer stopPredict()
	}

	var progress io.Writer = stdout
	if *quiet {
		progress = nil
	}
	fmt.Fprintf(stdout, "run %s: plan %q, %s, %d shard(s), %d slices of %s\n",
		id, p.Name, p.Duration(), p.Shards, p.NumSlices(), p.SliceDuration())
	rep, err := inprocess.Run(ctx, inprocess.Options{Plan: p, RunID: id, Progress: progress})
	if err != nil {
		return err
	}
	if err := writeReport(dir, p, rep); err != nil {
		return err
	}
	if latest {
		linkLatest("out", id)
	}
	printSummary(stdout, rep)
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, "report.json"))
	return verdictExit(rep)
}

// writeReport writes every report file of the run into dir.
func writeReport(dir string, p *plan.Plan, rep *report.Report) error {
	planJSON, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("write report: plan: %w", err)
	}
	files, err := report.Files(rep, planJSON, p.Target.Success)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, name := range report.FileNames {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}

// startPredict serves the sample predict service in this process, on the
// addresses of its CICADA_PREDICT_* configuration, until the returned stop
// is called.
func startPredict(ctx context.Context) (stop func(), err error) {
	env, err := predict.ReadEnv()
	if err != nil {
		return nil, err
	}
	cfg := env.Predict
	httpLn, grpcLn, err := predict.Listen(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("serve predict: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = predict.NewServer(cfg, zap.NewNop()).Serve(ctx, httpLn, grpcLn)
	}()
	return func() { cancel(); <-done }, nil
}
