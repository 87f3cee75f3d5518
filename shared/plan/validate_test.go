package plan

import (
	"math"
	"strings"
	"testing"
	"time"
)

func validHTTP() *Plan {
	return &Plan{
		Name: "rest",
		Target: Target{
			Protocol: "http", URL: "http://127.0.0.1:8501/v1/predict",
			Headers: map[string]string{"Content-Type": "application/json"},
			Body:    `{"text": {{json .Text}}}`,
		},
		Data: Data{Texts: []string{"a", "b"}},
		Load: Load{Model: "open", Stages: []Stage{{Duration: sec(10), Rate: 10}, {Duration: sec(10), Rate: 20}}},
	}
}

func validGRPC() *Plan {
	p := validHTTP()
	p.Target = Target{Protocol: "grpc", Address: "127.0.0.1:8500", Method: "/cicada.v1.Predictor/Predict", Request: `{"text": {{json .Text}}}`}
	return p
}

func validClosed() *Plan {
	p := validHTTP()
	p.Load = Load{Model: "closed", Stages: []Stage{{Duration: sec(10), Users: 5}, {Duration: sec(10), Users: 10}}}
	return p
}

func sec(s float64) Duration { return Duration(s * float64(time.Second)) }

func ptr[T any](v T) *T { return &v }

func TestValidateAcceptsValidPlans(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		p    *Plan
	}{
		{"http", validHTTP()},
		{"grpc", validGRPC()},
		{"grpc method without slash", func() *Plan { p := validGRPC(); p.Target.Method = "cicada.v1.Predictor/Predict"; return p }()},
		{"closed", validClosed()},
		{"open from start_rate 0", func() *Plan { p := validHTTP(); p.Load.StartRate = ptr(0.0); return p }()},
		{"zero-rate stage between", func() *Plan {
			p := validHTTP()
			p.Load.Stages = []Stage{{Duration: sec(1), Rate: 0}, {Duration: sec(1), Rate: 0}, {Duration: sec(1), Rate: 5}}
			return p
		}()},
		{"https with port and query", func() *Plan { p := validHTTP(); p.Target.URL = "https://example.com:8443/x?y=1"; return p }()},
		{"data file", func() *Plan { p := validHTTP(); p.Data = Data{File: "texts.txt"}; return p }()},
		{"threshold on a last stage shorter than a slice", func() *Plan {
			// The plan's last slice, cut to 5s, lies within stage 2.
			p := validHTTP()
			p.Load.Stages[1].Duration = sec(5)
			p.Thresholds = []string{"p99 < 1s stage 2"}
			return p
		}()},
		{"thresholds and verdict fields", func() *Plan {
			p := validHTTP()
			p.Thresholds = []string{"p99 < 250ms", "error_rate < 1%", "rps >= 95% ignore_first 10s per_slice abort_on_fail 2", "dropped == 0",
				"p99 < 100ms stage 1", "p99 < 250ms phase 2 per_slice abort_on_fail 1", "error_rate < 1% stage 2 ignore_first 10s"}
			p.MinCoverage, p.MaxLateness, p.CompareTolerance = 90, Duration(100*time.Millisecond), 5
			p.Baseline = "last-pass"
			return p
		}()},
		{"baseline run id", func() *Plan { p := validHTTP(); p.Baseline = "20261127-040512-3f9a1c"; return p }()},
		{"min_coverage 100", func() *Plan { p := validHTTP(); p.MinCoverage = 100; return p }()},
		{"exactly 24h", func() *Plan {
			p := validHTTP()
			p.Load.Stages = []Stage{{Duration: Duration(24 * time.Hour), Rate: 1}}
			return p
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := *tt.p
			if err := tt.p.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if tt.p.Slice != before.Slice || tt.p.Target.Method != before.Target.Method {
				t.Errorf("Validate modified the plan")
			}
		})
	}
}

// TestValidateRules has one row per rule: a valid plan, one change, and the
// exact path and part of the reason that must be reported.
func TestValidateRules(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		base   func() *Plan
		change func(p *Plan)
		path   string
		reason string
	}{
		{"name required", validHTTP, func(p *Plan) { p.Name = "" }, "name", "required"},
		{"name too long", validHTTP, func(p *Plan) { p.Name = strings.Repeat("é", 101) }, "name", "at most 100 characters"},
		{"name control char", validHTTP, func(p *Plan) { p.Name = "a\tb" }, "name", "control characters"},
		{"protocol required", validHTTP, func(p *Plan) { p.Target.Protocol = "" }, "target.protocol", "required"},
		{"protocol unknown", validHTTP, func(p *Plan) { p.Target.Protocol = "ftp" }, "target.protocol", "must be http or grpc"},
		{"protocol case", validHTTP, func(p *Plan) { p.Target.Protocol = "HTTP" }, "target.protocol", "must be http or grpc"},
		{"url required", validHTTP, func(p *Plan) { p.Target.URL = "" }, "target.url", "required"},
		{"url relative", validHTTP, func(p *Plan) { p.Target.URL = "/v1/predict" }, "target.url", "absolute http:// or https://"},
		{"url scheme", validHTTP, func(p *Plan) { p.Target.URL = "ftp://host/x" }, "target.url", "absolute http:// or https://"},
		{"url no host", validHTTP, func(p *Plan) { p.Target.URL = "http:///x" }, "target.url", "must name a host"},
		{"url unparsable", validHTTP, func(p *Plan) { p.Target.URL = "http://[::1" }, "target.url", "invalid URL"},
		{"http method", validHTTP, func(p *Plan) { p.Target.Method = "GE T" }, "target.method", "invalid HTTP method"},
		{"header name", validHTTP, func(p *Plan) { p.Target.Headers["Bad Header"] = "x" }, `target.headers["Bad Header"]`, "invalid header name"},
		{"header value", validHTTP, func(p *Plan) { p.Target.Headers["X-A"] = "a\r\nb" }, `target.headers["X-A"]`, "CR, LF or NUL"},
		{"body template syntax", validHTTP, func(p *Plan) { p.Target.Body = "{{.Text" }, "target.body", "invalid template"},
		{"body template func", validHTTP, func(p *Plan) { p.Target.Body = "{{quote .Text}}" }, "target.body", `function "quote" not defined`},
		{"body template field", validHTTP, func(p *Plan) { p.Target.Body = "{{.Txt}}" }, "target.body", "fails on a sample text"},
		{"expect_status low", validHTTP, func(p *Plan) { p.Target.ExpectStatus = []int{200, 99} }, "target.expect_status[1]", "must be 100..599"},
		{"expect_status high", validHTTP, func(p *Plan) { p.Target.ExpectStatus = []int{600} }, "target.expect_status[0]", "must be 100..599"},
		{"http with address", validHTTP, func(p *Plan) { p.Target.Address = "h:1" }, "target.address", "only for protocol grpc"},
		{"http with request", validHTTP, func(p *Plan) { p.Target.Request = "{}" }, "target.request", "only for protocol grpc"},
		{"grpc address required", validGRPC, func(p *Plan) { p.Target.Address = "" }, "target.address", "required"},
		{"grpc address no port", validGRPC, func(p *Plan) { p.Target.Address = "localhost" }, "target.address", "want host:port"},
		{"grpc address no host", validGRPC, func(p *Plan) { p.Target.Address = ":8500" }, "target.address", "want host:port"},
		{"grpc address bad port", validGRPC, func(p *Plan) { p.Target.Address = "h:99999" }, "target.address", "want host:port"},
		{"grpc method required", validGRPC, func(p *Plan) { p.Target.Method = "" }, "target.method", "required"},
		{"grpc method no service", validGRPC, func(p *Plan) { p.Target.Method = "Predict" }, "target.method", "want /package.Service/Method"},
		{"grpc method extra part", validGRPC, func(p *Plan) { p.Target.Method = "/a.B/C/D" }, "target.method", "want /package.Service/Method"},
		{"grpc method bad chars", validGRPC, func(p *Plan) { p.Target.Method = "/a B/C" }, "target.method", "want /package.Service/Method"},
		{"grpc request not JSON", validGRPC, func(p *Plan) { p.Target.Request = `{"text": "{{.Text}}"}` }, "target.request", "valid JSON"},
		{"grpc request template", validGRPC, func(p *Plan) { p.Target.Request = `{{.Nope}}` }, "target.request", "fails on a sample text"},
		{"grpc with url", validGRPC, func(p *Plan) { p.Target.URL = "http://h/" }, "target.url", "only for protocol http"},
		{"grpc with body", validGRPC, func(p *Plan) { p.Target.Body = "x" }, "target.body", "only for protocol http"},
		{"grpc with expect_status", validGRPC, func(p *Plan) { p.Target.ExpectStatus = []int{200} }, "target.expect_status", "only for protocol http"},
		{"timeout negative", validHTTP, func(p *Plan) { p.Target.Timeout = sec(-1) }, "target.timeout", "must be > 0"},
		{"timeout too long", validHTTP, func(p *Plan) { p.Target.Timeout = sec(301) }, "target.timeout", "<= 5m0s"},
		{"connections negative", validHTTP, func(p *Plan) { p.Target.Connections = -1 }, "target.connections", "must be 1..10000"},
		{"connections too many", validHTTP, func(p *Plan) { p.Target.Connections = 10001 }, "target.connections", "must be 1..10000"},
		{"data missing", validHTTP, func(p *Plan) { p.Data.Texts = nil }, "data", "one of texts, file or uri is required"},
		{"data both", validHTTP, func(p *Plan) { p.Data.File = "x.txt" }, "data", "exactly one of texts, file or uri, not texts and file"},
		{"data empty text", validHTTP, func(p *Plan) { p.Data.Texts = []string{"a", ""} }, "data.texts[1]", "must not be empty"},
		{"data order", validHTTP, func(p *Plan) { p.Data.Order = "shuffled" }, "data.order", "must be sequential or random"},
		{"model required", validHTTP, func(p *Plan) { p.Load.Model = "" }, "load.model", "required"},
		{"model unknown", validHTTP, func(p *Plan) { p.Load.Model = "poisson" }, "load.model", "must be open or closed"},
		{"stages required", validHTTP, func(p *Plan) { p.Load.Stages = nil }, "load.stages", "at least one stage"},
		{"stages too many", validHTTP, func(p *Plan) { p.Load.Stages = make([]Stage, 101); p.Load.Stages[0].Rate = 1 }, "load.stages", "at most 100 stages"},
		{"stage duration zero", validHTTP, func(p *Plan) { p.Load.Stages[0].Duration = 0 }, "load.stages[0].duration", "must be > 0"},
		{"stage duration negative", validHTTP, func(p *Plan) { p.Load.Stages[1].Duration = sec(-1) }, "load.stages[1].duration", "must be > 0"},
		{"total duration", validHTTP, func(p *Plan) { p.Load.Stages[1].Duration = Duration(24 * time.Hour) }, "load.stages", "total duration must be <= 24h0m0s"},
		{"rate negative", validHTTP, func(p *Plan) { p.Load.Stages[1].Rate = -5 }, "load.stages[1].rate", "must be >= 0"},
		{"rate too high", validHTTP, func(p *Plan) { p.Load.Stages[0].Rate = 2e6 }, "load.stages[0].rate", "must be <= 1e+06"},
		{"rate NaN", validHTTP, func(p *Plan) { p.Load.Stages[0].Rate = math.NaN() }, "load.stages[0].rate", "finite"},
		{"no load open", validHTTP, func(p *Plan) { p.Load.Stages[0].Rate, p.Load.Stages[1].Rate = 0, 0 }, "load.stages", "no load"},
		{"users in open", validHTTP, func(p *Plan) { p.Load.Stages[1].Users = 3 }, "load.stages[1].users", "not allowed for model open"},
		{"start_rate negative", validHTTP, func(p *Plan) { p.Load.StartRate = ptr(-1.0) }, "load.start_rate", "must be >= 0"},
		{"start_users in open", validHTTP, func(p *Plan) { p.Load.StartUsers = ptr(1) }, "load.start_users", "not allowed for model open"},
		{"max_in_flight negative", validHTTP, func(p *Plan) { p.Load.MaxInFlight = -1 }, "load.max_in_flight", "must be 1..1000000"},
		{"max_in_flight too many", validHTTP, func(p *Plan) { p.Load.MaxInFlight = 1_000_001 }, "load.max_in_flight", "must be 1..1000000"},
		{"think_time in open", validHTTP, func(p *Plan) { p.Load.ThinkTime = sec(1) }, "load.think_time", "only for model closed"},
		{"rate in closed", validClosed, func(p *Plan) { p.Load.Stages[0].Rate = 5 }, "load.stages[0].rate", "not allowed for model closed"},
		{"users negative", validClosed, func(p *Plan) { p.Load.Stages[1].Users = -1 }, "load.stages[1].users", "must be 0..100000"},
		{"users too many", validClosed, func(p *Plan) { p.Load.Stages[0].Users = 100_001 }, "load.stages[0].users", "must be 0..100000"},
		{"no load closed", validClosed, func(p *Plan) { p.Load.Stages[0].Users, p.Load.Stages[1].Users = 0, 0 }, "load.stages", "no load"},
		{"start_users negative", validClosed, func(p *Plan) { p.Load.StartUsers = ptr(-2) }, "load.start_users", "must be 0..100000"},
		{"start_rate in closed", validClosed, func(p *Plan) { p.Load.StartRate = ptr(0.0) }, "load.start_rate", "only for model open"},
		{"max_in_flight in closed", validClosed, func(p *Plan) { p.Load.MaxInFlight = 10 }, "load.max_in_flight", "only for model open"},
		{"think_time negative", validClosed, func(p *Plan) { p.Load.ThinkTime = sec(-1) }, "load.think_time", "must be >= 0"},
		{"slice too short", validHTTP, func(p *Plan) { p.Slice = Duration(99 * time.Millisecond) }, "slice", "must be 100ms..1h0m0s"},
		{"slice too long", validHTTP, func(p *Plan) { p.Slice = Duration(time.Hour + 1) }, "slice", "must be 100ms..1h0m0s"},
		{"shards negative", validHTTP, func(p *Plan) { p.Shards = -1 }, "shards", "must be 1..1000"},
		{"shards too many", validHTTP, func(p *Plan) { p.Shards = 1001 }, "shards", "must be 1..1000"},
		{"start_delay negative", validHTTP, func(p *Plan) { p.StartDelay = sec(-1) }, "start_delay", "must be 0s..1h0m0s"},
		{"start_delay too long", validHTTP, func(p *Plan) { p.StartDelay = sec(3601) }, "start_delay", "must be 0s..1h0m0s"},
		{"threshold empty", validHTTP, func(p *Plan) { p.Thresholds = []string{"p99 < 1s", " "} }, "thresholds[1]", "must not be empty"},
		{"threshold unknown metric", validHTTP, func(p *Plan) { p.Thresholds = []string{"p98 < 1s"} }, "thresholds[0]", `threshold "p98 < 1s": unknown metric "p98"`},
		{"threshold bad value", validHTTP, func(p *Plan) { p.Thresholds = []string{"p99 < 1s", "p99 < fast"} }, "thresholds[1]", `threshold "p99 < fast": bad value`},
		{"threshold abort without per_slice", validHTTP, func(p *Plan) { p.Thresholds = []string{"p99 < 1s abort_on_fail 2"} }, "thresholds[0]", "needs per_slice"},
		{"threshold warm-up longer than the plan", validHTTP, func(p *Plan) { p.Thresholds = []string{"p99 < 1s ignore_first 20s"} }, "thresholds[0]", "leaves nothing to judge"},
		{"threshold stage 0", validHTTP, func(p *Plan) { p.Thresholds = []string{"p99 < 1s stage 0"} }, "thresholds[0]", `threshold "p99 < 1s stage 0": stage: want a stage number >= 1`},
		{"threshold stage beyond the stages", validHTTP, func(p *Plan) { p.Thresholds = []string{"p99 < 1s", "p99 < 1s phase 3"} }, "thresholds[1]", `threshold "p99 < 1s phase 3": stage 3 does not exist, the plan has 2 stages`},
		{"threshold stage shorter than a slice", validHTTP, func(p *Plan) {
			p.Load.Stages = []Stage{{Duration: sec(10), Rate: 10}, {Duration: sec(5), Rate: 20}, {Duration: sec(5), Rate: 20}}
			p.Thresholds = []string{"p99 < 1s stage 2"}
		}, "thresholds[0]", "stage 2 (10s to 15s) holds no whole slice of 10s, so there is nothing to judge"},
		{"threshold stage off the slices' grid", validHTTP, func(p *Plan) {
			// Longer than a slice, yet slices 0-10s and 10-20s both straddle it.
			p.Load.Stages = []Stage{{Duration: sec(5), Rate: 10}, {Duration: sec(14), Rate: 10}, {Duration: sec(6), Rate: 10}}
			p.Thresholds = []string{"p99 < 1s stage 2"}
		}, "thresholds[0]", "stage 2 (5s to 19s) holds no whole slice of 10s"},
		{"threshold warm-up past its stage", validHTTP, func(p *Plan) { p.Thresholds = []string{"p99 < 1s stage 1 ignore_first 10s"} }, "thresholds[0]", "ignore_first 10s (counted from the run's start) leaves nothing to judge in stage 1 (0s to 10s)"},
		{"threshold stage 1 of 1", validHTTP, func(p *Plan) {
			p.Load.Stages = p.Load.Stages[:1]
			p.Thresholds = []string{"p99 < 1s stage 2"}
		}, "thresholds[0]", "stage 2 does not exist, the plan has 1 stage (load.stages, counted from 1)"},
		{"threshold abort beyond the stage's slices", validHTTP, func(p *Plan) {
			p.Slice = sec(5)
			p.Thresholds = []string{"p99 < 1s stage 2 per_slice abort_on_fail 3"}
		}, "thresholds[0]", "abort_on_fail 3 can never trigger, stage 2 has 2 judged slices"},
		{"threshold abort beyond the slices", validHTTP, func(p *Plan) { p.Thresholds = []string{"p99 < 1s per_slice abort_on_fail 3"} }, "thresholds[0]", "can never trigger, the plan has 2 slices"},
		{"min_coverage negative", validHTTP, func(p *Plan) { p.MinCoverage = -1 }, "min_coverage", "must be 0..100"},
		{"min_coverage over 100", validHTTP, func(p *Plan) { p.MinCoverage = 100.5 }, "min_coverage", "must be 0..100"},
		{"min_coverage NaN", validHTTP, func(p *Plan) { p.MinCoverage = math.NaN() }, "min_coverage", "finite"},
		{"max_lateness negative", validHTTP, func(p *Plan) { p.MaxLateness = sec(-0.001) }, "max_lateness", "must be >= 0"},
		{"compare_tolerance negative", validHTTP, func(p *Plan) { p.CompareTolerance = -5 }, "compare_tolerance", "must be >= 0"},
		{"compare_tolerance infinite", validHTTP, func(p *Plan) { p.CompareTolerance = math.Inf(1) }, "compare_tolerance", "finite"},
		{"baseline neither run id nor last-pass", validHTTP, func(p *Plan) { p.Baseline = "yesterday" }, "baseline", `got "yesterday"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.base()
			tt.change(p)
			err := p.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want %s: %s", tt.path, tt.reason)
			}
			if probs := problemsOf(t, err); !hasProblem(probs, tt.path, tt.reason) {
				t.Errorf("got %v\nwant %s: ...%s...", err, tt.path, tt.reason)
			}
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		probs []Problem
		want  string
	}{
		{"one", []Problem{{"target.url", "required"}}, "invalid plan: 1 problem:\n  target.url: required"},
		{"two", []Problem{{"name", "required"}, {"", "yaml: bad"}}, "invalid plan: 2 problems:\n  name: required\n  yaml: bad"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (&ValidationError{Problems: tt.probs}).Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPlanDurationAndSlices(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		stages    []Stage
		slice     Duration
		wantD     time.Duration
		wantSlice int
	}{
		{"exact", []Stage{{Duration: sec(10)}, {Duration: sec(20)}}, sec(10), 30 * time.Second, 3},
		{"partial last slice", []Stage{{Duration: sec(25)}}, sec(10), 25 * time.Second, 3},
		{"default slice", []Stage{{Duration: sec(25)}}, 0, 25 * time.Second, 3},
		{"no stages", nil, sec(10), 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Plan{Load: Load{Stages: tt.stages}, Slice: tt.slice}
			if got := p.Duration(); got != tt.wantD {
				t.Errorf("Duration() = %v, want %v", got, tt.wantD)
			}
			if got := p.NumSlices(); got != tt.wantSlice {
				t.Errorf("NumSlices() = %d, want %d", got, tt.wantSlice)
			}
		})
	}
}
