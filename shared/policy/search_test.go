package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
)

// searchPlan is a valid search plan: probes of 1+2+2 slices of 1s.
func searchPlan(t *testing.T) *plan.Plan {
	t.Helper()
	p, err := plan.Parse([]byte(`{"name": "s", "target": {"protocol": "http", "url": "http://127.0.0.1:8501/v1/predict"},
		"data": {"texts": ["a"]}, "slice": "1s", "load": {"model": "open", "search": {"slo": ["p99 < 50ms"],
		"from": 100, "to": 2000, "step": 2, "settle": "1s", "hold": "2s", "precision": "10%", "max_probes": 10}}}`), "json")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFitSearch: a search shrinks to the operator's rate, duration and
// request limits and says so; what cannot shrink is refused by Check.
func TestFitSearch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		rules  func(r *Rules)
		edit   func(p *plan.Plan)
		to     float64
		probes int
		capped []string // substrings, one per note, in order
		path   string   // Check's problem after Fit, "" for none
		reason string
	}{
		{"within every limit", func(*Rules) {}, func(*plan.Plan) {}, 2000, 10, nil, "", ""},
		{"to capped at the rate limit", func(r *Rules) { r.MaxRate = 1000 }, func(*plan.Plan) {}, 1000, 10,
			[]string{"to 2000 req/s capped at this worker's limit of 1000 req/s (CICADA_WORKER_MAX_RATE)"}, "", ""},
		{"from over the rate limit", func(r *Rules) { r.MaxRate = 50 }, func(*plan.Plan) {}, 2000, 10, nil,
			"load.search.from", "100 req/s is over this worker's limit of 50 req/s"},
		{"probes capped at the duration limit", func(r *Rules) { r.MaxDuration = 34 * time.Second }, func(*plan.Plan) {}, 2000, 4,
			[]string{"max_probes 10 capped at 4, the most whose 8s each fit this worker's limit of 34s (CICADA_WORKER_MAX_DURATION)"}, "", ""},
		{"not one probe within the duration", func(r *Rules) { r.MaxDuration = 4 * time.Second }, func(*plan.Plan) {}, 2000, 10, nil,
			"load.search.max_probes", "10 probes take up to 1m20s, over this worker's limit of 4s"},
		{"probes capped at the request limit", func(r *Rules) { r.MaxRequests = 24800 }, func(*plan.Plan) {}, 2000, 5,
			[]string{"max_probes 10 capped at 5, the most whose requests fit this worker's limit of 24800 (CICADA_WORKER_MAX_REQUESTS)"}, "", ""},
		{"not one probe within the requests", func(r *Rules) { r.MaxRequests = 10 }, func(*plan.Plan) {}, 2000, 10, nil,
			"load.search.max_probes", "10 probes may send up to"},
		{"every limit at once, notes kept", func(r *Rules) { r.MaxRate, r.MaxDuration = 1000, 48*time.Second },
			func(p *plan.Plan) { p.Load.Search.Capped = []string{"earlier note"} }, 1000, 6,
			[]string{"earlier note", "to 2000 req/s capped", "max_probes 10 capped at 6"}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := DefaultRules()
			tt.rules(&r)
			pol := workerPolicy(t, r)
			p := searchPlan(t)
			tt.edit(p)
			before := p.Load.Search
			shared := *p // a copy sharing the search pointer stays as it was
			pol.Fit(p)
			s := p.Load.Search
			if s.To != tt.to || s.MaxProbes != tt.probes {
				t.Errorf("to %v, max_probes %d, want %v, %d", s.To, s.MaxProbes, tt.to, tt.probes)
			}
			if len(s.Capped) != len(tt.capped) {
				t.Fatalf("capped %q, want %d notes", s.Capped, len(tt.capped))
			}
			for i, want := range tt.capped {
				if !strings.Contains(s.Capped[i], want) {
					t.Errorf("note %d %q, want %q", i, s.Capped[i], want)
				}
			}
			if shared.Load.Search != before || before.MaxProbes != 10 || before.To != 2000 {
				t.Errorf("Fit changed the search of another copy: %+v", before)
			}
			probs := pol.Check(p)
			if tt.path == "" {
				if len(probs) > 0 {
					t.Errorf("Check after Fit = %v, want none", probs)
				}
				if err := p.Validate(); err != nil {
					t.Errorf("fitted plan invalid: %v", err)
				}
				return
			}
			if !slices.ContainsFunc(probs, func(pr Problem) bool {
				return pr.Kind == KindOverLimit && pr.Path == tt.path && strings.Contains(pr.Reason, tt.reason)
			}) {
				t.Errorf("Check = %v, want %s: %q", probs, tt.path, tt.reason)
			}
		})
	}
}

// TestCheckSearchUnfitted: Check alone refuses a search over the rate limit
// (a worker holds a stored plan to its own limits without shrinking it).
func TestCheckSearchUnfitted(t *testing.T) {
	t.Parallel()
	r := DefaultRules()
	r.MaxRate = 1000
	probs := workerPolicy(t, r).Check(searchPlan(t))
	if len(probs) != 1 || probs[0].Path != "load.search.to" || probs[0].Limit != "CICADA_WORKER_MAX_RATE" {
		t.Errorf("Check = %v, want load.search.to over CICADA_WORKER_MAX_RATE", probs)
	}
	if probs := workerPolicy(t, DefaultRules()).Check(basePlan(t)); len(probs) != 0 {
		t.Errorf("a plan without search: %v", probs)
	}
}
