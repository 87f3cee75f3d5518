package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cicadaload/cicada/shared/compare"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
)

// triggerURLEnv names the trigger for the commands that talk to one, when
// --url is not given; `make cluster-up` exports it.
const triggerURLEnv = "CICADA_TRIGGER_URL"

// defaultTolerance is the tolerance of cicada compare, as a plan's
// compare_tolerance defaults to.
const defaultTolerance = 10

// compareCmd is `cicada compare BASE NEW [--tolerance PCT] [--url TRIGGER]
// [--out FILE]`: the key figures of NEW against BASE, each a report.json
// file or a run id fetched from the trigger. A regression exits 1.
func compareCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("compare", flag.ContinueOnError)
	tolerance := fset.Float64("tolerance", defaultTolerance, "how much worse a figure may be, in percent, before it is a regression")
	url := fset.String("url", "", "trigger URL for run ids (default $"+triggerURLEnv+")")
	out := fset.String("out", "", "also write the comparison as JSON to this file")
	pos, err := parsePositional(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErr("compare: want BASE and NEW (report.json files or run ids), got %d arguments", len(pos))
	}
	if *tolerance < 0 {
		return usageErr("compare: --tolerance %g: want a percentage of 0 or more", *tolerance)
	}
	var reports [2]*report.Report
	for i, arg := range pos {
		if reports[i], err = loadReport(ctx, arg, *url); err != nil {
			return err
		}
	}
	c := compare.Compare(reports[0], reports[1], *tolerance)
	if c.BaselineRunID == "" {
		c.BaselineRunID = pos[0] // a hand-made report without run id: name the file
	}
	fmt.Fprintf(stdout, "base %s (plan %q)\nnew  %s (plan %q)\n", label(reports[0], pos[0]), reports[0].PlanName, label(reports[1], pos[1]), reports[1].PlanName)
	if reports[0].PlanName != reports[1].PlanName {
		fmt.Fprintln(stdout, "note: the runs are of different plans")
	}
	fmt.Fprint(stdout, compare.FormatComparison(c))
	if *out != "" {
		if err := writeComparison(*out, c); err != nil {
			return err
		}
	}
	if c.Regression {
		return ExitError{Code: ExitFail, Err: fmt.Errorf("regression against %s beyond %g%%", label(reports[0], pos[0]), c.TolerancePct)}
	}
	return nil
}

// label names a report by its run id, or else by the argument it came from.
func label(r *report.Report, arg string) string {
	if r.RunID != "" {
		return r.RunID
	}
	return arg
}

// loadReport reads a report.json file (or the one in a directory, such as
// out/<run-id>), or, when arg is no file but a run id, fetches the run's
// report.json from the trigger.
func loadReport(ctx context.Context, arg, url string) (*report.Report, error) {
	path := arg
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		path = filepath.Join(arg, "report.json")
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return decodeReport(b, path)
	case !errors.Is(err, fs.ErrNotExist) || runid.Valid(arg) != nil:
		return nil, fmt.Errorf("read report: %w", err)
	}
	c, err := triggerClient(url)
	if err != nil {
		return nil, err
	}
	rep, err := c.Report(ctx, arg)
	if err != nil {
		return nil, fmt.Errorf("fetch report from %s: %w", c.URL(), err)
	}
	return rep, nil
}

// decodeReport decodes a report.json; what names it in the error.
func decodeReport(b []byte, what string) (*report.Report, error) {
	rep, err := report.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", what, err)
	}
	return rep, nil
}

// triggerClient is a client of the trigger named by --url or the
// environment.
func triggerClient(url string) (*client, error) {
	if url == "" {
		url = os.Getenv(triggerURLEnv)
	}
	if url == "" {
		return nil, usageErr("no trigger: give --url or set %s", triggerURLEnv)
	}
	return newClient(url), nil
}

// writeComparison writes c as indented JSON.
func writeComparison(path string, c *report.Comparison) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("write comparison %s: %w", path, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return nil
}

// parsePositional parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parsePositional(fset *flag.FlagSet, args []string) ([]string, error) {
	fset.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return nil, usageErr("%s: %v", fset.Name(), err)
		}
		args = fset.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
