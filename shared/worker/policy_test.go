package worker

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/policy/policytest"
	"github.com/cicadaload/cicada/shared/runs"
)

// TestRefusedPlans writes plans straight into the bucket, as anyone with
// write access to it could, and hands their shard to a worker: each plan
// the worker's policy refuses sends no request, takes no lease, and ends
// its shard failed with the reason, which names the field and the
// variable that widens the limit.
func TestRefusedPlans(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("the worker's secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dns := policytest.NewDNS(t, map[string][]string{"predict.test": {"127.0.0.1"}})
	tests := []struct {
		name  string
		rules *policy.Rules
		edit  func(p *plan.Plan, url string)
		want  []string
	}{
		{"target outside the allow-list", &policy.Rules{AllowedTargets: []string{"predict.example"}}, nil,
			[]string{"target.url", "is not allowed by this worker", "allowed targets: predict.example"}},
		{"the trigger's own port", nil, func(p *plan.Plan, url string) {}, nil}, // filled below
		{"rate over the limit", &policy.Rules{AllowedTargets: []string{"127.0.0.1"}, MaxRate: 10}, nil,
			[]string{"load.stages[0].rate", "50 req/s is over this worker's limit of 10 req/s (CICADA_WORKER_MAX_RATE)"}},
		{"data.file", nil, func(p *plan.Plan, _ string) { p.Data = plan.Data{File: secret, Order: plan.OrderSequential} },
			[]string{"data.file: not accepted by the worker"}},
		{"connections", &policy.Rules{AllowedTargets: []string{"127.0.0.1"}, MaxConnections: 5}, func(p *plan.Plan, _ string) { p.Target.Connections = 6 },
			[]string{"target.connections", "CICADA_WORKER_MAX_CONNECTIONS"}},
		{"start far ahead", &policy.Rules{AllowedTargets: []string{"127.0.0.1"}, MaxStartDelay: time.Minute}, nil, nil}, // start set below
		{"rendered body", &policy.Rules{AllowedTargets: []string{"127.0.0.1"}, MaxRenderedBody: 100},
			func(p *plan.Plan, _ string) {
				p.Data.Texts = []string{"short", strings.Repeat("long ", 30)}
				p.Target.Body = `{{.Text}}`
			},
			[]string{"data.texts[1]: target.body: rendered body too large: more than 100 bytes", "CICADA_WORKER_MAX_RENDERED_BODY"}},
		{"unverified TLS", nil, func(p *plan.Plan, url string) {
			p.Target.URL = strings.Replace(url, "http://", "https://", 1)
			p.Target.TLS = &plan.TLS{InsecureSkipVerify: true}
		}, []string{"target.tls.insecure_skip_verify: not allowed by this worker", "CICADA_WORKER_ALLOW_INSECURE_TLS=true"}},
		{"literal credential", nil, func(p *plan.Plan, url string) {
			p.Target.Headers = map[string]string{"Authorization": "Bearer PLANTED"}
			p.Target.URL = url + "/?api_key=PLANTED"
		}, []string{`target.headers["Authorization"]: Authorization is a credential header`, `target.url: query parameter "api_key" carries a credential`,
			"this worker accepts no literal credential", "target.auth", "CICADA_WORKER_LITERAL_SECRETS"}},
		{"template bomb", nil, func(p *plan.Plan, _ string) { p.Target.Body = `{{range 30000000}}x{{end}}` },
			[]string{"refused by the worker: plan.json is not a valid plan (no trigger accepted it): target.body", "range"}},
		{"allowed name resolving to a refused address", &policy.Rules{AllowedTargets: []string{"*.test"}}, func(p *plan.Plan, url string) {
			p.Target.URL = strings.Replace(url, "127.0.0.1", "predict.test", 1)
		}, nil}, // the dial is refused: every request error:refused, checked below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := testConfig()
			cfg.Rules, cfg.Resolver = tt.rules, dns.Resolver()
			_, port, _ := strings.Cut(strings.TrimPrefix(e.url, "http://"), ":")
			start := time.Now().Add(300 * time.Millisecond)
			want := tt.want
			switch tt.name {
			case "the trigger's own port":
				r := policy.DefaultRules().Refusing("127.0.0.1:" + port)
				cfg.Rules = &r
				want = []string{"target.url", `is refused by "!127.0.0.1:` + port + `"`}
			case "start far ahead":
				start = time.Now().Add(10 * time.Minute)
				want = []string{"start_at: the run starts 10m0s from now", "CICADA_WORKER_MAX_START_DELAY"}
			}
			e.w = New(cfg, e.st, e.b, testLog(t), nil)
			const id = "run-refused"
			p := e.writeRun(t, id, start, time.Second)
			if tt.edit != nil {
				tt.edit(p, e.url)
				e.put(t, runs.PlanPath(id), runs.Encode(p)) // straight into the bucket: no trigger saw it
			}
			e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: "start"}))
			e.handle(t, context.Background(), e.pullWork(t), 15*time.Second)

			if tt.name == "allowed name resolving to a refused address" {
				// The plan passes; each dial is refused at the address.
				var completed, refused int64
				for _, r := range e.written(t, id) {
					completed += r.Completed
					refused += r.Outcomes["error:refused"]
					if !strings.Contains(strings.Join(r.SampleErrors, " "), "127.0.0.1 is loopback") {
						t.Errorf("slice %d sample errors %q, want the refusal's reason", r.Index, r.SampleErrors)
					}
				}
				if completed == 0 || refused != completed {
					t.Errorf("%d of %d requests error:refused, want all", refused, completed)
				}
				if n := e.hits.Load(); n != 0 {
					t.Errorf("the target got %d requests", n)
				}
				return
			}
			if n := e.hits.Load(); n != 0 {
				t.Errorf("the target got %d requests from a refused plan", n)
			}
			obj, err := e.st.Get(context.Background(), runs.FailedPath(id, 0))
			if err != nil {
				t.Fatalf("no failed-shard marker: %v", err)
			}
			var f runs.ShardFailure
			if err := json.Unmarshal(obj.Data, &f); err != nil {
				t.Fatal(err)
			}
			t.Logf("shard failed: %s", f.Reason)
			for _, w := range want {
				if !strings.Contains(f.Reason, w) {
					t.Errorf("reason %q does not say %q", f.Reason, w)
				}
			}
			if strings.Contains(f.Reason, "the worker's secret") {
				t.Errorf("reason %q shows the file's contents", f.Reason)
			}
			if strings.Contains(f.Reason, "PLANTED") {
				t.Errorf("reason %q repeats a credential", f.Reason)
			}
			if len(e.written(t, id)) != 0 || e.exists(t, runs.DonePath(id, 0)) {
				t.Error("slices or a done marker written for a refused shard")
			}
			if tt.name != "rendered body" && e.exists(t, runs.LeasePath(id, 0)) {
				t.Error("a lease was taken for a plan refused before")
			}
			n := 1
			if tt.name == "rendered body" {
				n = 2 // leased, then failed
			}
			// Pub/Sub does not keep order: the failed event may come first.
			evs := e.events(t, n, 5*time.Second)
			if len(evs) != n || !slices.ContainsFunc(evs, func(ev runs.Event) bool { return ev.Type == runs.EventFailed }) {
				t.Errorf("events %v, want a failed event for the aggregator", evs)
			}
			if got := e.redelivered(t, quiet); got != nil {
				t.Errorf("message %s came back: want it acked", got)
			}
		})
	}
}

// TestOperatorAllows: a plan with a literal credential, or one that does
// not verify the target's certificate, runs on a worker whose operator
// allows it, as on the trigger.
func TestOperatorAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		allow func(r *policy.Rules)
		edit  func(p *plan.Plan)
		want  func(t *testing.T, e *env, id string)
	}{
		{"literal credential", func(r *policy.Rules) { r.LiteralSecrets = true },
			func(p *plan.Plan) { p.Target.Headers = map[string]string{"Authorization": "Bearer PLANTED"} },
			func(t *testing.T, e *env, _ string) {
				if e.hits.Load() == 0 {
					t.Error("the target got no request")
				}
			}},
		{"unverified TLS", func(r *policy.Rules) { r.AllowInsecureTLS = true },
			func(p *plan.Plan) {
				p.Target.URL = strings.Replace(p.Target.URL, "http://", "https://", 1)
				p.Target.TLS = &plan.TLS{InsecureSkipVerify: true}
			},
			func(t *testing.T, e *env, id string) {
				// The test target speaks plain HTTP: the handshakes fail,
				// but the shard ran.
				var completed int64
				for _, r := range e.written(t, id) {
					completed += r.Completed
				}
				if completed == 0 {
					t.Error("no request was sent")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := testConfig()
			r := policy.DefaultRules()
			tt.allow(&r)
			cfg.Rules = &r
			e.w = New(cfg, e.st, e.b, testLog(t), nil)
			const id = "run-allowed"
			p := e.writeRun(t, id, time.Now().Add(300*time.Millisecond), time.Second)
			tt.edit(p)
			e.put(t, runs.PlanPath(id), runs.Encode(p))
			e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: "start"}))
			e.handle(t, context.Background(), e.pullWork(t), 15*time.Second)
			if e.exists(t, runs.FailedPath(id, 0)) {
				t.Fatal("the shard failed: want it run")
			}
			tt.want(t, e, id)
		})
	}
}

// TestSlowPreparation: a shard whose preparation hangs (a gRPC target
// whose reflection never answers) holds its lease, renewed from before the
// preparation on, and gives up within half the lease's life: the shard
// ends failed with the reason, and the worker is free again.
func TestSlowPreparation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accepts and never answers
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	const id = "run-slow"
	p := e.writeRun(t, id, time.Now().Add(5*time.Second), time.Second)
	p.Target = plan.Target{Protocol: plan.ProtocolGRPC, Address: ln.Addr().String(), Method: "/hang.Service/Forever", Request: `{}`}
	p.ApplyDefaults()
	e.put(t, runs.PlanPath(id), runs.Encode(p))
	e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: "start"}))
	msg := e.pullWork(t)

	cfg := testConfig() // LeaseTTL 2s, RenewEvery 200ms: preparation bounded by 1s
	begin := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.handle(t, context.Background(), msg, 10*time.Second)
	}()
	var acquired, renewed time.Time
	for time.Since(begin) < cfg.LeaseTTL/2 {
		if rec, err := lease.Read(context.Background(), e.st, runs.LeasePath(id, 0)); err == nil {
			if acquired.IsZero() {
				acquired = rec.Expires
			} else if rec.Expires.After(acquired) {
				renewed = rec.Expires
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	<-done
	took := time.Since(begin)
	if acquired.IsZero() || renewed.IsZero() {
		t.Errorf("lease taken %v, renewed %v: want it renewed while the engine was prepared", acquired, renewed)
	}
	if took > cfg.LeaseTTL {
		t.Errorf("the shard was given up after %v, want within half the lease's life (%v) and a little", took, cfg.LeaseTTL/2)
	}
	obj, err := e.st.Get(context.Background(), runs.FailedPath(id, 0))
	if err != nil {
		t.Fatalf("no failed-shard marker: %v", err)
	}
	var f runs.ShardFailure
	err = json.Unmarshal(obj.Data, &f)
	t.Logf("shard failed after %v: %s", took, f.Reason)
	if err != nil || !strings.Contains(f.Reason, "set up load") || !strings.Contains(f.Reason, "hang.Service") {
		t.Errorf("reason %q (%v), want the set-up failure", f.Reason, err)
	}
	if rec, err := lease.Read(context.Background(), e.st, runs.LeasePath(id, 0)); err != nil || !rec.Released {
		t.Errorf("lease %+v (%v), want released", rec, err)
	}
}
