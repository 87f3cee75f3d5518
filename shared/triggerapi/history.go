package triggerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// RunRow is one finished run as GET /runs and GET /plans/<name> give it:
// the runs index's row (shared/index.Row, whose JSON it reads), without
// the bucket libraries that package is built on.
type RunRow struct {
	RunID       string    `json:"run_id"`
	Plan        string    `json:"plan"`
	PlanHash    string    `json:"plan_hash"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	DurationS   float64   `json:"duration_s"`
	Status      string    `json:"status"`
	Verdict     string    `json:"verdict"`
	Reasons     []string  `json:"verdict_reasons,omitempty"`
	SubmittedBy string    `json:"submitted_by,omitempty"`
	Shards      int       `json:"shards"`

	Intended  int64 `json:"intended"`
	Completed int64 `json:"completed"`
	Errors    int64 `json:"errors"`
	Dropped   int64 `json:"dropped"`
	Instances int64 `json:"instances"`

	AchievedRate float64  `json:"achieved_rate"`
	PlannedRate  float64  `json:"planned_rate"`
	InstanceRate float64  `json:"instance_rate"`
	ErrorRate    float64  `json:"error_rate"`
	P50MS        float64  `json:"p50_ms"`
	P90MS        float64  `json:"p90_ms"`
	P99MS        float64  `json:"p99_ms"`
	MaxMS        float64  `json:"max_ms"`
	Accuracy     *float64 `json:"accuracy,omitempty"`
	// MaxRateUnderSLO is a capacity search's answer, req/s.
	MaxRateUnderSLO *float64 `json:"max_rate_under_slo,omitempty"`
}

// RunsPage is the body of GET /runs.
type RunsPage struct {
	Runs []RunRow `json:"runs"`
	// Next is the cursor of the next page (older runs); "" on the last.
	Next string `json:"next"`
}

// PlanHistory is the body of GET /plans/<name>.
type PlanHistory struct {
	Plan string   `json:"plan"`
	Runs []RunRow `json:"runs"` // newest first
}

// RunsQuery selects runs for Client.Runs; zero fields select everything.
type RunsQuery struct {
	Plan, Status, Verdict string
	Since                 time.Time // runs started at or after
	Limit                 int       // 0: the trigger's default page
	Cursor                string    // the Next of the previous page
}

// values are q as the query of GET /runs.
func (q RunsQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"plan": q.Plan, "status": q.Status, "verdict": q.Verdict, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Runs is GET /runs: finished runs, newest first, one page.
func (c *Client) Runs(ctx context.Context, q RunsQuery) (RunsPage, error) {
	var page RunsPage
	u := c.base + "/runs"
	if v := q.values(); len(v) > 0 {
		u += "?" + v.Encode()
	}
	if err := c.getJSON(ctx, u, &page); err != nil {
		return page, fmt.Errorf("list runs: %w", err)
	}
	return page, nil
}

// PlanHistory is GET /plans/<name>: the plan's last limit runs (0: the
// trigger's default), newest first. A plan without a finished run is an
// error for which IsNotFound holds.
func (c *Client) PlanHistory(ctx context.Context, plan string, limit int) (PlanHistory, error) {
	var h PlanHistory
	u := c.base + "/plans/" + url.PathEscape(plan)
	if limit > 0 {
		u += "?limit=" + strconv.Itoa(limit)
	}
	if err := c.getJSON(ctx, u, &h); err != nil {
		return h, fmt.Errorf("history of plan %q: %w", plan, err)
	}
	return h, nil
}

// getJSON gets u as JSON (a browser would get a page) into v.
func (c *Client) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	b, err := c.do(req, maxFile, http.StatusOK)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("answer %.200q: %w", b, err)
	}
	return nil
}
