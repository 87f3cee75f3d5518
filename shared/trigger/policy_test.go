package trigger

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/policy"
)

// TestEveryLimit posts a plan over each limit of the default policy: 422,
// the problem at the plan's field, naming the value and the variable that
// widens it. Refused targets answer 403, and a text the template renders
// too large for 400 at its path.
func TestEveryLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Rules = policy.DefaultRules()
	cfg.Rules = cfg.Rules.Refusing("127.0.0.1:8080") // this trigger's own address
	cfg.MaxShards = 100
	tests := []struct {
		name  string
		plan  string
		code  int
		path  string
		wants []string
	}{
		{"rate", strings.Replace(planJSON(1, ""), `"rate": 20`, `"rate": 20000`, 1), 422, "load.stages[0].rate",
			[]string{"20000 req/s", "limit of 10000 req/s", "CICADA_TRIGGER_MAX_RATE"}},
		{"duration", strings.Replace(planJSON(1, ""), `"duration": "10s"`, `"duration": "2h"`, 1), 422, "load.stages",
			[]string{"total duration 2h0m0s", "limit of 1h0m0s", "CICADA_TRIGGER_MAX_DURATION"}},
		{"shards", planJSON(101, ""), 422, "shards", []string{"101 shards", "limit of 100", "CICADA_TRIGGER_MAX_SHARDS"}},
		{"connections", strings.Replace(strings.Replace(planJSON(1, ""), `"rate": 20}]`, `"rate": 20}], "max_in_flight": 2000`, 1),
			`"url"`, `"connections": 2000, "url"`, 1), 422, "target.connections",
			[]string{"2000 connections per shard", "limit of 1000", "CICADA_TRIGGER_MAX_CONNECTIONS"}},
		{"connections in all", strings.Replace(planJSON(20, ""), `"url"`, `"connections": 600, "url"`, 1), 422, "target.connections",
			[]string{"600 connections × 20 shards = 12000", "limit of 10000", "CICADA_TRIGGER_MAX_TOTAL_CONNECTIONS"}},
		{"max_in_flight", strings.Replace(planJSON(1, ""), `"rate": 20}]`, `"rate": 20}], "max_in_flight": 1000000`, 1), 422, "load.max_in_flight",
			[]string{"1000000 requests in flight", "limit of 10000", "CICADA_TRIGGER_MAX_IN_FLIGHT"}},
		{"timeout", strings.Replace(planJSON(1, ""), `"url"`, `"timeout": "5m", "url"`, 1), 422, "target.timeout",
			[]string{"5m0s", "limit of 1m0s", "CICADA_TRIGGER_MAX_TIMEOUT"}},
		{"start_delay", planJSON(1, `"start_delay": "1h"`), 422, "start_delay",
			[]string{"1h0m0s", "limit of 15m0s", "CICADA_TRIGGER_MAX_START_DELAY"}},
		{"closed model's rate", `{"name": "closed", "target": {"protocol": "grpc", "address": "127.0.0.1:8500", "method": "/cicada.v1.Predictor/Predict"},
			"data": {"texts": ["a"]}, "load": {"model": "closed", "stages": [{"duration": "10s", "users": 5000}], "think_time": "10ms"}}`, 422, "load.think_time",
			[]string{"5000 users every 10ms is up to 5e+05 req/s", "limit of 10000 req/s", "CICADA_TRIGGER_MAX_RATE"}},
		{"users", `{"name": "closed", "target": {"protocol": "grpc", "address": "127.0.0.1:8500", "method": "/cicada.v1.Predictor/Predict"},
			"data": {"texts": ["a"]}, "load": {"model": "closed", "stages": [{"duration": "10s", "users": 20000}]}}`, 422, "load.stages[0].users",
			[]string{"20000 users", "limit of 10000", "CICADA_TRIGGER_MAX_USERS"}},
		{"requests", strings.Replace(planJSON(1, ""), `[{"duration": "10s", "rate": 20}]`,
			`[{"duration": "1h", "rate": 10000}, {"duration": "1s", "rate": 10000}]`, 1), 422, "load.stages",
			[]string{"the stages hold 36010000 requests", "limit of 36000000", "CICADA_TRIGGER_MAX_REQUESTS"}},
		{"the trigger's own port", strings.Replace(planJSON(1, ""), "127.0.0.1:8501", "127.0.0.1:8080", 1), 403, "target.url",
			[]string{`refused by \"!127.0.0.1:8080\"`}},
		{"a private address", strings.Replace(planJSON(1, ""), "127.0.0.1:8501", "169.254.169.254", 1), 403, "target.url",
			[]string{"169.254.169.254", "is not allowed by this trigger"}},
		{"a text rendering too large", strings.Replace(planJSON(1, ""), `"texts": ["a", "b"]`,
			`"texts": ["a", "b", "`+strings.Repeat("x", 700)+`"]`, 1), 400, "data.texts[2]",
			[]string{"more than 1048576 bytes", "CICADA_TRIGGER_MAX_RENDERED_BODY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, cfg)
			body := tt.plan
			if tt.name == "a text rendering too large" {
				// 700 bytes repeated 2000 times by the template: 1.4 MB.
				body = strings.Replace(body, `"body": "{\"text\": {{json .Text}}}"`, `"body": "`+strings.Repeat("{{.Text}}", 2000)+`"`, 1)
			}
			w := e.do(t, http.MethodPost, "/runs", "application/json", body)
			if w.Code != tt.code {
				t.Fatalf("POST /runs = %d %s, want %d", w.Code, w.Body, tt.code)
			}
			got := decode[errorBody](t, w)
			for _, p := range got.Problems {
				if p.Path != tt.path {
					continue
				}
				ok := true
				for _, want := range tt.wants {
					ok = ok && strings.Contains(p.Reason+" "+got.Error, strings.ReplaceAll(want, `\"`, `"`))
				}
				if ok {
					return
				}
			}
			t.Errorf("answer %s has no problem at %s saying %q", w.Body, tt.path, tt.wants)
		})
	}
}
