package load

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/policy/policytest"
	"github.com/cicadaload/cicada/shared/slice"
)

// acceptCounter is a TCP listener on 127.0.0.1 that counts the
// connections it accepts and closes them: whether anything reached it.
type acceptCounter struct {
	port     string
	accepted atomic.Int64
}

func countAccepts(t *testing.T) *acceptCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &acceptCounter{}
	_, a.port, _ = net.SplitHostPort(ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return a
}

// TestGuardedDials: a name the allow-list allows resolves, through a stub
// DNS, to an address it does not: every path that dials (the event loop,
// the goroutine HTTP/1.1 client, https through net/http, gRPC) records
// each request as error:refused with the reason among the sample errors,
// and nothing reaches the address. Listing the address lets the same run
// connect.
func TestGuardedDials(t *testing.T) {
	t.Parallel()
	dns := policytest.NewDNS(t, map[string][]string{
		"loop.test":     {"127.0.0.1"},
		"metadata.test": {"169.254.169.254"},
		"private.test":  {"10.11.12.13"},
	})
	type kind struct {
		name       string
		goroutines bool
		target     func(host, port string) plan.Target
	}
	kinds := []kind{
		{"event loop", false, func(h, p string) plan.Target {
			return plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://" + net.JoinHostPort(h, p) + "/v1/predict", Body: `{"text": {{json .Text}}}`}
		}},
		{"goroutines", true, func(h, p string) plan.Target {
			return plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://" + net.JoinHostPort(h, p) + "/v1/predict", Body: `{"text": {{json .Text}}}`}
		}},
		{"https", false, func(h, p string) plan.Target {
			return plan.Target{Protocol: plan.ProtocolHTTP, URL: "https://" + net.JoinHostPort(h, p) + "/v1/predict", Body: `{"text": {{json .Text}}}`}
		}},
		{"grpc", false, func(h, p string) plan.Target {
			return plan.Target{Protocol: plan.ProtocolGRPC, Address: net.JoinHostPort(h, p), Method: "/cicada.v1.Predictor/Predict", Request: `{"text": {{json .Text}}}`}
		}},
	}
	cases := []struct {
		name    string
		host    string
		list    []string
		refused string // the reason in the sample errors; "" = connects
	}{
		{"loopback", "loop.test", []string{"*.test"}, "127.0.0.1 is loopback"},
		{"metadata server", "metadata.test", []string{"*.test"}, "169.254.169.254 is link-local (the cloud metadata server)"},
		{"private", "private.test", []string{"*.test"}, "10.11.12.13 is private"},
		{"loopback listed", "loop.test", []string{"*.test", "127.0.0.1"}, ""},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				tg := countAccepts(t)
				pol, err := policy.New(policy.Rules{AllowedTargets: c.list}, policy.Worker)
				if err != nil {
					t.Fatal(err)
				}
				p := &plan.Plan{
					Name:   "guarded",
					Target: k.target(c.host, tg.port),
					Data:   plan.Data{Texts: []string{"a"}},
					Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(400 * time.Millisecond), Rate: 50}}},
					Slice:  plan.Duration(200 * time.Millisecond),
				}
				p.Target.Timeout = plan.Duration(time.Second)
				p.Target.Connections = 2
				p.ApplyDefaults()
				var mu sync.Mutex
				var got []*slice.Result
				e, err := New(Options{Plan: p, RunID: "r1", Goroutines: k.goroutines,
					Guard: pol.Guard(time.Time{}).WithResolver(dns.Resolver()),
					Sink: func(r *slice.Result) {
						mu.Lock()
						got = append(got, r)
						mu.Unlock()
					}})
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := e.Run(ctx); err != nil {
					t.Fatalf("Run: %v", err)
				}
				if len(got) == 0 {
					t.Fatal("no slices")
				}
				m := merged(got)
				if c.refused == "" {
					if tg.accepted.Load() == 0 {
						t.Errorf("the listed address got no connection; outcomes %v", m.Outcomes)
					}
					if m.Outcomes[outcomeRefused] != 0 {
						t.Errorf("outcomes %v: refused although listed", m.Outcomes)
					}
					return
				}
				if n := tg.accepted.Load(); n != 0 {
					t.Errorf("%d connections reached the refused address", n)
				}
				if m.Completed == 0 || m.Outcomes[outcomeRefused] != m.Completed {
					t.Errorf("outcomes %v, want every completed request (%d) error:refused", m.Outcomes, m.Completed)
				}
				if !strings.Contains(strings.Join(m.SampleErrors, "\n"), c.refused) {
					t.Errorf("sample errors %q do not say %q", m.SampleErrors, c.refused)
				}
			})
		}
	}
}

// BenchmarkHTTP1DoGuarded is BenchmarkHTTP1Do's raw case with a guard on
// the connection: the check runs when it dials, never per request, so the
// two cost the same.
func BenchmarkHTTP1DoGuarded(b *testing.B) {
	body := []byte(`{"text": "the striker scored a late winner"}`)
	h, err := newHTTP1(&url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/v1/predict"}, "POST", nil, [][]byte{body}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h.addr = startEchoServer(b, len(h.reqs[0]))
	pol, err := policy.New(policy.Rules{AllowedTargets: []string{"127.0.0.1"}}, policy.Worker)
	if err != nil {
		b.Fatal(err)
	}
	h.guard = pol.Guard(time.Time{})
	c := h.newConn().(*http1Conn)
	defer c.closeConn()
	deadline := time.Now().Add(time.Hour)
	if r := c.do(0, deadline); !r.ok { // dial, and check, outside the loop
		b.Fatalf("warm-up: %s: %v", r.outcome, r.err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := c.do(0, deadline); !r.ok {
			b.Fatalf("%s: %v", r.outcome, r.err)
		}
	}
}
