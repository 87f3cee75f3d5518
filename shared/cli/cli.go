// Package cli implements the cicada command's subcommands, apart from its
// main so that tests can run them without a process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/inprocess"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
)

// Exit codes, documented in the README.
const (
	ExitOK     = 0
	ExitFailed = 1 // the run failed or was cancelled
	ExitUsage  = 2 // bad arguments or an invalid plan
)

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
  cicada run PLAN [--out DIR] [--serve-predict] [--quiet]
      run a plan in this process; write DIR/report.json (default out/<run-id>)
  cicada local PLAN... [--workers N] [--serve-predict] [--out DIR] [--verbose]
      run plans through the whole pipeline in this process (trigger, workers,
      aggregator, in-process Pub/Sub and bucket); reports in DIR/<run-id>/
  cicada aggregate RUN_ID [--final] [--grace D]
      rebuild a run's live status or report from the bucket alone
      (CICADA_PROJECT, CICADA_BUCKET, STORAGE_EMULATOR_HOST as the binaries)
  cicada validate PLAN
      check a plan and list every problem
  cicada env
      list every binary's CICADA_* environment variables (as in the README)
`

// Main runs the subcommand named by args[0].
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
		if errors.As(err, &ve) {
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
	path, err := parse(fs, args)
	if err != nil {
		return err
	}
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
	if err := writeReport(dir, rep); err != nil {
		return err
	}
	if latest {
		linkLatest("out", id)
	}
	fmt.Fprint(stdout, report.FormatSummary(rep))
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, "report.json"))
	if rep.Status != report.StatusCompleted {
		return ExitError{Code: ExitFailed, Err: fmt.Errorf("run %s %s", id, rep.Status)}
	}
	return nil
}

func writeReport(dir string, rep *report.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "report.json"))
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("write report %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", f.Name(), err)
	}
	return nil
}

// startPredict serves the sample predict service in this process, on the
// addresses of its CICADA_PREDICT_* configuration, until the returned stop
// is called.
func startPredict(ctx context.Context) (stop func(), err error) {
	var cfg predict.Config
	if err := envconfig.Process("CICADA_PREDICT", &cfg); err != nil {
		return nil, fmt.Errorf("predict config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("predict config: %w", err)
	}
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
