package triggerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/report"
)

// Bounds on what the client reads of an answer: a status or an error is
// small, a report file may be large.
const (
	maxAnswer = 1 << 20
	maxFile   = 256 << 20
)

// DefaultTimeout bounds each request of a Client made by New.
const DefaultTimeout = 30 * time.Second

// Client calls one trigger, as curl would.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a client of the trigger at base ("http://127.0.0.1:8080"),
// each request bounded by DefaultTimeout.
func New(base string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: DefaultTimeout}}
}

// URL returns the trigger's base URL.
func (c *Client) URL() string { return c.base }

// Error is an answer of the trigger with another status than the call
// expects, such as 403 for a target host not allowed or 404 for an absent
// file.
type Error struct {
	StatusCode int
	Status     string // "403 Forbidden"
	// Body is the answer's body, trimmed: JSON {"error": "..."} from the
	// trigger itself.
	Body string
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %s: %s", e.Status, e.Body) }

// IsNotFound reports whether err is the trigger's 404: an unknown run, or a
// file not written yet.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// Submit posts a plan to /runs: plan is its body, JSON or YAML as
// contentType says, and key, when not empty, is sent as Idempotency-Key.
// Both 202 (a new run) and 200 (the run the key already named) are a
// success.
func (c *Client) Submit(ctx context.Context, plan []byte, contentType, key string) (Accepted, error) {
	var acc Accepted
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/runs", bytes.NewReader(plan))
	if err != nil {
		return acc, fmt.Errorf("submit plan: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	b, err := c.do(req, maxAnswer, http.StatusAccepted, http.StatusOK)
	if err != nil {
		return acc, fmt.Errorf("submit plan: %w", err)
	}
	if err := json.Unmarshal(b, &acc); err != nil {
		return acc, fmt.Errorf("submit plan: answer %q: %w", b, err)
	}
	return acc, nil
}

// Status is GET /runs/<id>: the run's phase, shards and links.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.runURL(id), nil)
	if err != nil {
		return st, fmt.Errorf("status of run %s: %w", id, err)
	}
	req.Header.Set("Accept", "application/json") // a browser gets the live page
	b, err := c.do(req, maxAnswer, http.StatusOK)
	if err != nil {
		return st, fmt.Errorf("status of run %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("status of run %s: %w", id, err)
	}
	return st, nil
}

// Cancel is DELETE /runs/<id>. A repeated cancel is accepted again; a run
// whose report is written answers 409.
func (c *Client) Cancel(ctx context.Context, id string) (Cancelled, error) {
	var cl Cancelled
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.runURL(id), nil)
	if err != nil {
		return cl, fmt.Errorf("cancel run %s: %w", id, err)
	}
	b, err := c.do(req, maxAnswer, http.StatusAccepted)
	if err != nil {
		return cl, fmt.Errorf("cancel run %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &cl); err != nil {
		return cl, fmt.Errorf("cancel run %s: %w", id, err)
	}
	return cl, nil
}

// File is GET /runs/<id>/<name>: one of the run's files as stored
// (report.json, live.json, plan.json, report.html, ...). A file not
// written yet is an error for which IsNotFound holds.
func (c *Client) File(ctx context.Context, id, name string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.runURL(id)+"/"+url.PathEscape(name), nil)
	if err != nil {
		return nil, fmt.Errorf("%s of run %s: %w", name, id, err)
	}
	b, err := c.do(req, maxFile, http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("%s of run %s: %w", name, id, err)
	}
	return b, nil
}

// Report fetches the run's report.json and decodes it.
func (c *Client) Report(ctx context.Context, id string) (*report.Report, error) {
	b, err := c.File(ctx, id, report.FileJSON)
	if err != nil {
		return nil, err
	}
	rep, err := report.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("report of run %s: %w", id, err)
	}
	return rep, nil
}

// WaitReport asks for the run's status every poll until its report is
// written, and returns that last status. seen, when not nil, is called
// with every status read, the last one included. When ctx ends or a status
// cannot be read, it returns the last status it read with the error.
func (c *Client) WaitReport(ctx context.Context, id string, poll time.Duration, seen func(Status)) (Status, error) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last Status
	for {
		st, err := c.Status(ctx, id)
		if err != nil {
			return last, err
		}
		last = st
		if seen != nil {
			seen(st)
		}
		if st.HasReport() {
			return st, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return st, fmt.Errorf("wait for the report of run %s: %w", id, ctx.Err())
		}
	}
}

func (c *Client) runURL(id string) string { return c.base + "/runs/" + url.PathEscape(id) }

// do sends req and reads at most limit bytes of the answer, which must
// have one of the want statuses.
func (c *Client) do(req *http.Request, limit int64, want ...int) ([]byte, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	for _, code := range want {
		if resp.StatusCode == code {
			if err != nil {
				return nil, fmt.Errorf("read answer: %w", err)
			}
			return b, nil
		}
	}
	return nil, &Error{StatusCode: resp.StatusCode, Status: resp.Status, Body: strings.TrimSpace(string(b))}
}
