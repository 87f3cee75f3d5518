package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/redact"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/triggerapi"
)

// client is the trigger's client with what the CLI shows of a run: its
// progress, its slices as they come, and its report files.
type client struct {
	*triggerapi.Client
}

func newClient(base string) *client { return &client{triggerapi.New(base)} }

// submitBody turns a plan file into what the trigger accepts: the file's
// texts are inlined, since workers elsewhere cannot read the file.
func submitBody(ctx context.Context, path, protoset string, put corpusPutter) ([]byte, *plan.Plan, error) {
	p, err := loadPlan(path, protoset)
	if err != nil {
		return nil, nil, err
	}
	if p.Data.File != "" && put != nil {
		// A JSONL file's records do not fit data.texts: the file goes
		// into the bucket and the plan names it, as a nightly plan does.
		c, err := p.Corpus()
		if err != nil {
			return nil, nil, fmt.Errorf("plan %s: data: %w", path, err)
		}
		if c.HasRecords() {
			uri, err := put(ctx, p.Data.Path)
			if err != nil {
				return nil, nil, fmt.Errorf("plan %s: data.file: %w", path, err)
			}
			p.Data = plan.Data{URI: uri, Order: p.Data.Order}
		}
	}
	if p.Data.File != "" {
		texts, err := p.Texts()
		if err != nil {
			return nil, nil, fmt.Errorf("plan %s: data: %w", path, err)
		}
		p.Data = plan.Data{Texts: texts, Order: p.Data.Order}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, nil, fmt.Errorf("encode plan %s: %w", path, err)
	}
	return b, p, nil
}

// follow shows a run's progress until its report is written: a progress bar
// and a line per slice once every shard has reported it. A cancelled ctx
// cancels the run (cicada submitted it) and goes on waiting for its report.
func (c *client) follow(ctx context.Context, acc triggerapi.Accepted, p *plan.Plan, out io.Writer) (triggerapi.Status, error) {
	const poll = 500 * time.Millisecond
	printed := map[int]bool{}
	st, err := watch(ctx, c, acc.RunID, p, poll, out, printed)
	if err == nil || ctx.Err() == nil {
		return st, err
	}
	fmt.Fprintln(out, "cancelling run", acc.RunID)
	wait := context.WithoutCancel(ctx)
	// An answer other than 202 (409: the report is already written) still
	// ends with a report to wait for; only a trigger out of reach stops.
	var answer *triggerapi.Error
	if _, err := c.Cancel(wait, acc.RunID); err != nil && !errors.As(err, &answer) {
		return st, err
	}
	return watch(wait, c, acc.RunID, p, poll, out, printed)
}

// printSlices prints the slices of live.json that every shard has reported.
func (c *client) printSlices(ctx context.Context, id string, p *plan.Plan, printed map[int]bool, out io.Writer, tty bool) {
	b, err := c.File(ctx, id, "live.json")
	if err != nil {
		return
	}
	rep, err := report.Decode(b)
	if err != nil {
		return
	}
	for _, row := range rep.Slices {
		if row.ShardsReporting == p.Shards && !printed[row.Index] {
			printed[row.Index] = true
			if tty {
				fmt.Fprint(out, "\r\033[K")
			}
			fmt.Fprintln(out, report.FormatSliceLine(row))
		}
	}
	for _, line := range searchLines(rep, printed) {
		if tty {
			fmt.Fprint(out, "\r\033[K")
		}
		fmt.Fprintln(out, line)
	}
}

// finalPhases fill the progress bar.
var finalPhases = map[string]bool{triggerapi.PhaseDone: true, triggerapi.PhaseCancelled: true, triggerapi.PhaseFailed: true}

// bar renders the run's phase and a progress bar of its planned time; on a
// terminal it redraws its own line.
func bar(st triggerapi.Status, p *plan.Plan, now time.Time, tty bool) string {
	const width = 30
	frac := 0.0
	if d := p.Duration(); d > 0 && now.After(st.StartAt) {
		frac = min(float64(now.Sub(st.StartAt))/float64(d), 1)
	}
	if finalPhases[st.Phase] {
		frac = 1
	}
	n := int(frac * width)
	left := ""
	if now.Before(st.StartAt) {
		left = fmt.Sprintf("  starts in %s", st.StartAt.Sub(now).Round(100*time.Millisecond))
	}
	prefix := ""
	if tty {
		prefix = "\r\033[K"
	}
	return fmt.Sprintf("%s%-10s [%s%s] %3.0f%%  shards leased %d/%d done %d/%d%s",
		prefix, st.Phase, strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac,
		st.ShardsLeased, st.Shards, st.ShardsDone, st.Shards, left)
}

// download copies the run's report files into dir.
func (c *client) download(ctx context.Context, id, dir string) (*report.Report, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("download report: %w", err)
	}
	var rep *report.Report
	for _, f := range reportFiles {
		b, err := c.File(ctx, id, f)
		if triggerapi.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("download %s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return nil, fmt.Errorf("download %s: %w", f, err)
		}
		if f == "report.json" {
			if rep, err = decodeReport(b, "of run "+id); err != nil {
				return nil, err
			}
		}
	}
	if rep == nil {
		return nil, errors.New("the run has no report.json")
	}
	return rep, nil
}

// isTerminal reports whether w is a terminal, where a progress bar may
// redraw its line.
func isTerminal(w io.Writer) bool {
	if rw, ok := w.(*redact.Writer); ok {
		w = rw.W
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// reportFiles are the files a run's report may have.
var reportFiles = []string{"report.json", "summary.txt", "report.html", "report.csv", "junit.xml", "histogram.hdr"}
