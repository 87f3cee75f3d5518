package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/compare"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/triggerapi"
)

// waitCmd is `cicada wait RUN [--url TRIGGER] [--out DIR] [--poll D]`:
// follow a run with a progress bar and a line per slice, print its summary,
// and exit with its verdict's code. Interrupting it stops the waiting, not the run:
// the run may be someone else's (a nightly Cloud Scheduler job), and
// `curl -X DELETE` cancels it on purpose.
func waitCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("wait", flag.ContinueOnError)
	url := fset.String("url", "", "trigger URL (default $"+triggerURLEnv+")")
	out := fset.String("out", "", "also download the run's report files into this directory")
	poll := fset.Duration("poll", 500*time.Millisecond, "how often to ask the trigger")
	pos, err := parsePositional(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("wait: want exactly one run id, got %d arguments", len(pos))
	}
	id := pos[0]
	if err := runid.Valid(id); err != nil {
		return usageErr("wait: %v", err)
	}
	if *poll <= 0 {
		return usageErr("wait: --poll %s: want a positive duration", *poll)
	}
	c, err := triggerClient(*url)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting for run %s: %w", id, ctx.Err())
		}
		return err
	}
	// The bar and the slice lines need only the shard count and the
	// duration, which the status has: no need to parse the stored plan.
	p := &plan.Plan{Name: st.PlanName, Shards: st.Shards,
		Load: plan.Load{Stages: []plan.Stage{{Duration: plan.Duration(st.End.Sub(st.StartAt))}}}}
	fmt.Fprintf(stdout, "run %s: plan %q, %s, %d shard(s), starts %s\n",
		id, st.PlanName, p.Duration(), st.Shards, st.StartAt.Local().Format(time.TimeOnly))
	st, err = watch(ctx, c, id, p, *poll, stdout, map[int]bool{})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting for run %s (phase %s); it goes on: cicada wait %s follows it again", id, st.Phase, id)
		}
		return err
	}

	rep, err := finalReport(context.WithoutCancel(ctx), c, id, *out)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, report.FormatSummary(rep))
	printVerdict(stdout, rep)
	if *out != "" {
		fmt.Fprintf(stdout, "report files: %s\n", *out)
	}
	return verdictErr(rep, st.Phase)
}

// watch shows a run's progress until its report is written, as follow does
// for the runs cicada submits itself, but without cancelling the run when
// ctx ends. A cancelled run is waited for too, until the aggregator has
// written its report.
func watch(ctx context.Context, c *client, id string, p *plan.Plan, poll time.Duration, out io.Writer, printed map[int]bool) (triggerapi.Status, error) {
	tty := isTerminal(out)
	var lastBar time.Time
	st, err := c.WaitReport(ctx, id, poll, func(st triggerapi.Status) {
		c.printSlices(ctx, id, p, printed, out, tty)
		now := time.Now()
		switch {
		case st.HasReport():
			fmt.Fprintln(out, bar(st, p, now, tty))
		case tty:
			fmt.Fprint(out, bar(st, p, now, tty))
		case now.Sub(lastBar) >= 5*time.Second: // a log, not a screen: a line now and then
			fmt.Fprintln(out, bar(st, p, now, tty))
			lastBar = now
		}
	})
	if err != nil && ctx.Err() != nil && tty {
		fmt.Fprintln(out) // end the bar's line
	}
	return st, err
}

// finalReport reads the run's report.json, or downloads every report file
// into dir when one is given.
func finalReport(ctx context.Context, c *client, id, dir string) (*report.Report, error) {
	if dir != "" {
		return c.download(ctx, id, dir)
	}
	rep, err := c.Report(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("fetch report: %w", err)
	}
	return rep, nil
}

// printVerdict prints the verdict, why it is not pass, and the comparison
// with a baseline.
func printVerdict(w io.Writer, rep *report.Report) {
	v := rep.Verdict
	if v == "" {
		v = "(none: status " + rep.Status + ")"
	}
	fmt.Fprintf(w, "verdict   %s\n", v)
	for _, r := range rep.VerdictReasons {
		fmt.Fprintf(w, "  %s\n", r)
	}
	if rep.Comparison != nil {
		fmt.Fprint(w, "\n", compare.FormatComparison(rep.Comparison))
	}
}

// verdictErr maps a report to the exit code: its verdict, or, from a
// report written before verdicts, its status.
func verdictErr(rep *report.Report, phase string) error {
	what := rep.Verdict
	var code int
	switch rep.Verdict {
	case report.VerdictPass:
		return nil
	case report.VerdictFail:
		code = ExitFail
	case report.VerdictIncomplete:
		code = ExitIncomplete
	case report.VerdictError:
		code = ExitErr
	case "":
		what = rep.Status
		switch rep.Status {
		case report.StatusCompleted:
			return nil
		case report.StatusCancelled, report.StatusIncomplete:
			code = ExitIncomplete
		default: // failed, or a status this version does not know
			code = ExitErr
		}
	default:
		code = ExitErr
	}
	err := fmt.Errorf("run %s: %s (phase %s)", rep.RunID, what, phase)
	if len(rep.VerdictReasons) > 0 {
		err = fmt.Errorf("%w: %s", err, strings.Join(rep.VerdictReasons, "; "))
	}
	return ExitError{Code: code, Err: err}
}
