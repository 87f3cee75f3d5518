package triggerapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRunsAndPlanHistory(t *testing.T) {
	t.Parallel()
	var gotURI, gotAccept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURI, gotAccept = r.RequestURI, r.Header.Get("Accept")
		switch {
		case r.URL.Path == "/runs":
			_, _ = w.Write([]byte(`{"runs": [{"run_id": "` + runID + `", "plan": "nightly/bert", "p99_ms": 41.5, "max_rate_under_slo": 420}], "next": "` + runID + `"}`))
		case r.URL.RawPath == "/plans/nightly%2Fbert":
			_, _ = w.Write([]byte(`{"plan": "nightly/bert", "runs": [{"run_id": "` + runID + `", "verdict": "fail", "verdict_reasons": ["slow"]}]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error": "plan \"nope\" has no run in the runs index"}`))
		}
	}))
	t.Cleanup(srv.Close)
	c := New(srv.URL)
	ctx := context.Background()

	tests := []struct {
		name    string
		call    func() (any, error)
		uri     string
		check   func(any) bool
		notFind bool
	}{
		{"every run", func() (any, error) { return c.Runs(ctx, RunsQuery{}) }, "/runs",
			func(v any) bool {
				p := v.(RunsPage)
				return len(p.Runs) == 1 && p.Next == runID && *p.Runs[0].MaxRateUnderSLO == 420
			}, false},
		{"filters", func() (any, error) {
			return c.Runs(ctx, RunsQuery{Plan: "nightly/bert", Status: "completed", Verdict: "fail",
				Since: time.Date(2026, 11, 27, 5, 0, 0, 0, time.FixedZone("x", 3600)), Limit: 7, Cursor: runID})
		}, "/runs?cursor=" + runID + "&limit=7&plan=nightly%2Fbert&since=2026-11-27T04%3A00%3A00Z&status=completed&verdict=fail",
			func(v any) bool { return v.(RunsPage).Runs[0].P99MS == 41.5 }, false},
		{"a plan", func() (any, error) { return c.PlanHistory(ctx, "nightly/bert", 14) }, "/plans/nightly%2Fbert?limit=14",
			func(v any) bool {
				h := v.(PlanHistory)
				return h.Plan == "nightly/bert" && len(h.Runs) == 1 && h.Runs[0].Reasons[0] == "slow"
			}, false},
		{"a plan, default limit", func() (any, error) { return c.PlanHistory(ctx, "nightly/bert", 0) }, "/plans/nightly%2Fbert", nil, false},
		{"an unknown plan", func() (any, error) { return c.PlanHistory(ctx, "nope", 0) }, "/plans/nope", nil, true},
	}
	for _, tt := range tests {
		// Sequential: the server records the last request.
		v, err := tt.call()
		if tt.notFind {
			if !IsNotFound(err) || !strings.Contains(err.Error(), `history of plan "nope"`) {
				t.Errorf("%s: %v, want a 404 naming the plan", tt.name, err)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if gotURI != tt.uri || gotAccept != "application/json" {
			t.Errorf("%s: requested %s (Accept %q), want %s as JSON", tt.name, gotURI, gotAccept, tt.uri)
		}
		if tt.check != nil && !tt.check(v) {
			t.Errorf("%s: decoded %+v", tt.name, v)
		}
	}
}
