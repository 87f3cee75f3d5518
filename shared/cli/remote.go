package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/trigger"
)

// client talks to a trigger over HTTP, as curl would.
type client struct {
	base string // http://host:port
	hc   *http.Client
}

func newClient(base string) *client {
	return &client{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 30 * time.Second}}
}

// submitBody turns a plan file into what the trigger accepts: the file's
// texts are inlined, since workers elsewhere cannot read the file.
func submitBody(path string) ([]byte, *plan.Plan, error) {
	p, err := loadPlan(path)
	if err != nil {
		return nil, nil, err
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

func (c *client) submit(ctx context.Context, body []byte) (trigger.Accepted, error) {
	var acc trigger.Accepted
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/runs", bytes.NewReader(body))
	if err != nil {
		return acc, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return acc, fmt.Errorf("submit plan: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return acc, fmt.Errorf("submit plan: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, &acc); err != nil {
		return acc, fmt.Errorf("submit plan: answer: %w", err)
	}
	return acc, nil
}

func (c *client) get(ctx context.Context, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	return b, resp.StatusCode, err
}

func (c *client) status(ctx context.Context, id string) (trigger.Status, error) {
	var st trigger.Status
	b, code, err := c.get(ctx, "/runs/"+id)
	if err != nil {
		return st, fmt.Errorf("status of run %s: %w", id, err)
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("status of run %s: HTTP %d: %s", id, code, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("status of run %s: %w", id, err)
	}
	return st, nil
}

func (c *client) cancel(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.base+"/runs/"+id, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cancel run %s: %w", id, err)
	}
	resp.Body.Close()
	return nil
}

// follow shows a run's progress until its report is written: a progress bar
// and a line per slice once every shard has reported it. A cancelled ctx
// cancels the run (cicada submitted it) and goes on waiting for its report.
func (c *client) follow(ctx context.Context, acc trigger.Accepted, p *plan.Plan, out io.Writer) (trigger.Status, error) {
	const poll = 500 * time.Millisecond
	printed := map[int]bool{}
	st, err := watch(ctx, c, acc.RunID, p, poll, out, printed)
	if err == nil || ctx.Err() == nil {
		return st, err
	}
	fmt.Fprintln(out, "cancelling run", acc.RunID)
	wait := context.WithoutCancel(ctx)
	if err := c.cancel(wait, acc.RunID); err != nil {
		return st, err
	}
	return watch(wait, c, acc.RunID, p, poll, out, printed)
}

// printSlices prints the slices of live.json that every shard has reported.
func (c *client) printSlices(ctx context.Context, id string, p *plan.Plan, printed map[int]bool, out io.Writer, tty bool) {
	b, code, err := c.get(ctx, "/runs/"+id+"/live.json")
	if err != nil || code != http.StatusOK {
		return
	}
	var rep report.Report
	if json.Unmarshal(b, &rep) != nil {
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
}

// finalPhases fill the progress bar.
var finalPhases = map[string]bool{trigger.PhaseDone: true, trigger.PhaseCancelled: true, trigger.PhaseFailed: true}

// bar renders the run's phase and a progress bar of its planned time; on a
// terminal it redraws its own line.
func bar(st trigger.Status, p *plan.Plan, now time.Time, tty bool) string {
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
		b, code, err := c.get(ctx, "/runs/"+id+"/"+f)
		if err != nil {
			return nil, fmt.Errorf("download %s: %w", f, err)
		}
		if code == http.StatusNotFound {
			continue
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("download %s: HTTP %d", f, code)
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
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// reportFiles are the files a run's report may have.
var reportFiles = []string{"report.json", "summary.txt", "report.html", "report.csv", "junit.xml", "histogram.hdr"}
