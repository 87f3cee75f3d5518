package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/plan"
)

// basePlan is a valid open-model plan within DefaultRules.
func basePlan(t *testing.T) *plan.Plan {
	t.Helper()
	p, err := plan.Parse([]byte(`{"name": "p", "target": {"protocol": "http", "url": "http://127.0.0.1:8501/v1/predict", "body": "{\"text\": {{json .Text}}}"},
		"data": {"texts": ["a", "b"]}, "load": {"model": "open", "stages": [{"duration": "10s", "rate": 100}]}}`), "json")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPlan is a valid closed-model plan within DefaultRules.
func closedPlan(t *testing.T) *plan.Plan {
	t.Helper()
	p, err := plan.Parse([]byte(`{"name": "p", "target": {"protocol": "grpc", "address": "localhost:8500", "method": "/cicada.v1.Predictor/Predict", "request": "{\"text\": {{json .Text}}}"},
		"data": {"texts": ["a"]}, "load": {"model": "closed", "stages": [{"duration": "10s", "users": 10}], "think_time": "100ms"}}`), "json")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func workerPolicy(t *testing.T, r Rules) *Policy {
	t.Helper()
	p, err := New(r, Worker)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheck: each rule refuses the plan that breaks it, with the field,
// the variable that widens it, and the plan's value in the reason.
func TestCheck(t *testing.T) {
	t.Parallel()
	ptr := func(v float64) *float64 { return &v }
	users := func(v int) *int { return &v }
	tests := []struct {
		name       string
		closed     bool
		edit       func(*plan.Plan)
		kind       Kind
		path       string
		limit      string // "" = none
		wantReason string
	}{
		{"data.file", false, func(p *plan.Plan) { p.Data = plan.Data{File: "/etc/passwd", Order: "sequential"} }, KindInvalid, "data.file", "", "not accepted by the worker"},
		{"refused host", false, func(p *plan.Plan) { p.Target.URL = "http://10.1.2.3:8501/x" }, KindForbidden, "target.url", "CICADA_WORKER_ALLOWED_TARGETS",
			"target host 10.1.2.3 of target.url (10.1.2.3:8501) is not allowed by this worker; allowed targets: 127.0.0.1, localhost"},
		{"refused grpc host", true, func(p *plan.Plan) { p.Target.Address = "metadata.google.internal:80" }, KindForbidden, "target.address", "CICADA_WORKER_ALLOWED_TARGETS", "metadata.google.internal"},
		{"rate", false, func(p *plan.Plan) { p.Load.Stages[0].Rate = 20000 }, KindOverLimit, "load.stages[0].rate", "CICADA_WORKER_MAX_RATE", "20000 req/s is over this worker's limit of 10000 req/s (CICADA_WORKER_MAX_RATE)"},
		{"start rate", false, func(p *plan.Plan) { p.Load.StartRate = ptr(50000) }, KindOverLimit, "load.start_rate", "CICADA_WORKER_MAX_RATE", "50000 req/s"},
		{"users", true, func(p *plan.Plan) { p.Load.Stages[0].Users = 10001; p.Load.ThinkTime = 0 }, KindOverLimit, "load.stages[0].users", "CICADA_WORKER_MAX_USERS", "10001 users"},
		{"start users", true, func(p *plan.Plan) { p.Load.StartUsers = users(20000); p.Load.ThinkTime = 0 }, KindOverLimit, "load.start_users", "CICADA_WORKER_MAX_USERS", "20000 users"},
		{"closed rate", true, func(p *plan.Plan) { p.Load.Stages[0].Users = 5000; p.Load.ThinkTime = plan.Duration(time.Millisecond) }, KindOverLimit, "load.think_time", "CICADA_WORKER_MAX_RATE",
			"5000 users every 1ms is up to 5e+06 req/s, over this worker's limit of 10000 req/s"},
		{"duration", false, func(p *plan.Plan) { p.Load.Stages[0].Duration = plan.Duration(2 * time.Hour) }, KindOverLimit, "load.stages", "CICADA_WORKER_MAX_DURATION", "total duration 2h0m0s"},
		{"shards", false, func(p *plan.Plan) { p.Shards = 101 }, KindOverLimit, "shards", "CICADA_WORKER_MAX_PLAN_SHARDS", "101 shards"},
		{"connections", false, func(p *plan.Plan) { p.Target.Connections = 1001; p.Load.MaxInFlight = 1001 }, KindOverLimit, "target.connections", "CICADA_WORKER_MAX_CONNECTIONS", "1001 connections per shard"},
		{"total connections", false, func(p *plan.Plan) { p.Target.Connections = 500; p.Shards = 21 }, KindOverLimit, "target.connections", "CICADA_WORKER_MAX_TOTAL_CONNECTIONS", "500 connections × 21 shards = 10500"},
		{"max in flight", false, func(p *plan.Plan) { p.Load.MaxInFlight = 1_000_000 }, KindOverLimit, "load.max_in_flight", "CICADA_WORKER_MAX_IN_FLIGHT", "1000000 requests in flight"},
		{"timeout", false, func(p *plan.Plan) { p.Target.Timeout = plan.Duration(5 * time.Minute) }, KindOverLimit, "target.timeout", "CICADA_WORKER_MAX_TIMEOUT", "5m0s is over this worker's limit of 1m0s"},
		{"start delay", false, func(p *plan.Plan) { p.StartDelay = plan.Duration(time.Hour) }, KindOverLimit, "start_delay", "CICADA_WORKER_MAX_START_DELAY", "1h0m0s is over this worker's limit of 15m0s"},
		{"requests", false, func(p *plan.Plan) {
			p.Load.Stages[0] = plan.Stage{Duration: plan.Duration(time.Hour), Rate: 10000}
			p.Load.Stages = append(p.Load.Stages, p.Load.Stages[0])
		},
			KindOverLimit, "load.stages", "CICADA_WORKER_MAX_REQUESTS", "the stages hold 72000000 requests in all, over this worker's limit of 36000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := basePlan(t)
			if tt.closed {
				p = closedPlan(t)
			}
			tt.edit(p)
			var found []string
			for _, pr := range workerPolicy(t, DefaultRules()).Check(p) {
				found = append(found, fmt.Sprintf("%d %s [%s] %s", pr.Kind, pr.Path, pr.Limit, pr.Reason))
				if pr.Kind == tt.kind && pr.Path == tt.path && pr.Limit == tt.limit && strings.Contains(pr.Reason, tt.wantReason) {
					return
				}
			}
			t.Errorf("no problem %d %s [%s] %q among %q", tt.kind, tt.path, tt.limit, tt.wantReason, found)
		})
	}

	t.Run("within every limit", func(t *testing.T) {
		t.Parallel()
		for _, p := range []*plan.Plan{basePlan(t), closedPlan(t)} {
			if probs := workerPolicy(t, DefaultRules()).Check(p); len(probs) > 0 {
				t.Errorf("Check(%s) = %v, want none", p.Load.Model, probs)
			}
		}
	})
	t.Run("zero limits are no operator limit", func(t *testing.T) {
		t.Parallel()
		p := basePlan(t)
		p.Load.Stages[0].Rate = 900_000
		p.Target.Connections, p.Load.MaxInFlight, p.Shards = 10_000, 1_000_000, 1000
		if probs := workerPolicy(t, Rules{AllowedTargets: []string{"127.0.0.1"}}).Check(p); len(probs) > 0 {
			t.Errorf("Check = %v, want none", probs)
		}
	})
	t.Run("closed model without think time has no rate bound", func(t *testing.T) {
		t.Parallel()
		p := closedPlan(t)
		p.Load.ThinkTime = 0
		p.Load.Stages[0].Users = 10000
		if probs := workerPolicy(t, DefaultRules()).Check(p); len(probs) > 0 {
			t.Errorf("Check = %v, want none (MAX_USERS bounds it)", probs)
		}
	})
}

// TestCheckRender: a template rendering too much for one text, or for all
// of them, is refused at the first text that fails, naming the limit.
func TestCheckRender(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 600)
	tests := []struct {
		name      string
		rules     Rules
		texts     []string
		body      string
		deadline  time.Time
		wantPath  string
		wantLimit string
		wantIn    string
	}{
		{"one body too large", Rules{MaxRenderedBody: 1000}, []string{"a", "b", big + big}, `{{.Text}}`, time.Time{}, "data.texts[2]", "CICADA_WORKER_MAX_RENDERED_BODY", "more than 1000 bytes"},
		{"all bodies too large", Rules{MaxRenderedBody: 1000, MaxRenderedTotal: 1500}, []string{big, big, big}, `{{.Text}}`, time.Time{}, "data.texts[2]", "CICADA_WORKER_MAX_RENDERED_TOTAL", "add up to more than 1500 bytes"},
		{"repeated text", Rules{MaxRenderedBody: 1 << 20}, []string{"a", big}, strings.Repeat(`{{.Text}}`, 2000), time.Time{}, "data.texts[1]", "CICADA_WORKER_MAX_RENDERED_BODY", "more than 1048576 bytes"},
		{"deadline", Rules{}, []string{"a"}, `{{.Text}}`, time.Now().Add(-time.Second), "data.texts[0]", "", "rendering took too long"},
		{"fits", Rules{MaxRenderedBody: 1000}, []string{"a", big}, `{{.Text}}`, time.Time{}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := basePlan(t)
			p.Data.Texts, p.Target.Body = tt.texts, tt.body
			tt.rules.AllowedTargets = []string{"*"}
			pr := workerPolicy(t, tt.rules).CheckRender(p, tt.deadline)
			if tt.wantPath == "" {
				if pr != nil {
					t.Fatalf("CheckRender = %v, want none", pr)
				}
				return
			}
			if pr == nil || pr.Path != tt.wantPath || pr.Limit != tt.wantLimit || !strings.Contains(pr.Reason, tt.wantIn) || pr.Kind != KindInvalid {
				t.Errorf("CheckRender = %+v, want %s [%s] %q", pr, tt.wantPath, tt.wantLimit, tt.wantIn)
			}
		})
	}
}

// TestDefaultRules: DefaultRules are the struct tags' defaults, which an
// environment that sets nothing gives.
func TestDefaultRules(t *testing.T) {
	var env struct {
		Rules `envconfig:"POLICYTEST"`
	}
	if err := config.Read(&env); err != nil {
		t.Fatal(err)
	}
	env.Rules.MaxShards = 100 // each component reads it under its own name
	if fmt.Sprint(env.Rules) != fmt.Sprint(DefaultRules()) {
		t.Errorf("tag defaults %+v, DefaultRules %+v", env.Rules, DefaultRules())
	}
	if DefaultRules().IsZero() || !(Rules{}).IsZero() || (Rules{MaxRate: 1}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestRulesCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rules Rules
		want  string
	}{
		{Rules{MaxRate: -1}, "MAX_RATE must be >= 0"},
		{Rules{MaxTimeout: -time.Second}, "MAX_TIMEOUT must be >= 0"},
		{Rules{MaxRenderedBody: -1}, "MAX_RENDERED_BODY must be >= 0"},
		{Rules{AllowedTargets: []string{"a.*.b"}}, `allowed target "a.*.b"`},
		{Rules{AllowedTargets: []string{"10.0.0.0/40"}}, "bad CIDR"},
	}
	for _, tt := range tests {
		if _, err := New(tt.rules, Worker); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error saying %q", tt.rules, err, tt.want)
		}
	}
	r := DefaultRules().Refusing("127.0.0.1:8080")
	if got := fmt.Sprint(r.AllowedTargets); got != "[127.0.0.1 localhost !127.0.0.1:8080]" || len(DefaultRules().AllowedTargets) != 2 {
		t.Errorf("Refusing: %s", got)
	}
}

// TestNames: Names are the variables a component reads for its Rules,
// after its prefix, as the environment tables list them.
func TestNames(t *testing.T) {
	all, err := config.Names(&Rules{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range all {
		want = append(want, strings.TrimPrefix(n, "CICADA_"))
	}
	if got := Names(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got := Names(); len(got) < 10 || got[0] != "ALLOWED_TARGETS" {
		t.Errorf("Names() = %v, want ALLOWED_TARGETS first and every limit", got)
	}
}
