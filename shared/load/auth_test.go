package load

import (
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cicadaload/cicada/internal/devenv/gcemetadata"
	"github.com/cicadaload/cicada/internal/devenv/secretmanager"
	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/slice"
)

// assertTokens checks that every one of sent requests carried a current
// token, and that at least minDistinct tokens were used.
func assertTokens(t *testing.T, a *gcemetadata.Audit, sent int64, minDistinct int) {
	t.Helper()
	c := a.Counts()
	if c.Expired != 0 || c.Unknown != 0 || c.Missing != 0 {
		t.Errorf("requests with an expired token %d, an unknown one %d, none %d; want 0", c.Expired, c.Unknown, c.Missing)
	}
	if int64(c.OK) != sent || sent == 0 {
		t.Errorf("target saw %d requests with a current token, engine sent %d", c.OK, sent)
	}
	if c.Distinct < minDistinct {
		t.Errorf("target saw %d distinct tokens, want at least %d", c.Distinct, minDistinct)
	}
}

// startMetadata serves tokens of lifetime and points the Google libraries
// of this test process at it.
func startMetadata(t *testing.T, lifetime time.Duration) *gcemetadata.Server {
	t.Helper()
	md := gcemetadata.Start(lifetime)
	t.Cleanup(md.Close)
	// With GCE_METADATA_HOST set the libraries take this process to be on
	// Google Cloud without probing the network; no ADC file may come first.
	t.Setenv("GCE_METADATA_HOST", md.Host)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("HOME", t.TempDir())
	return md
}

func openAuth(t *testing.T, a *plan.Auth) *credential.Header {
	t.Helper()
	h, err := credential.Open(context.Background(), a, credential.Options{OnError: func(err error) { t.Errorf("refresh: %v", err) }})
	if err != nil {
		t.Fatalf("credential.Open: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// runAuth runs shard 0 of p with auth and returns the requests it sent.
func runAuth(t *testing.T, p *plan.Plan, auth *credential.Header, goroutines bool) int64 {
	t.Helper()
	var (
		mu   sync.Mutex
		sent int64
	)
	e, err := New(Options{Plan: p, RunID: "auth", Start: time.Now().Add(300 * time.Millisecond), Auth: auth, Goroutines: goroutines,
		Sink: func(r *slice.Result) {
			mu.Lock()
			defer mu.Unlock()
			sent += r.Sent
			if r.Errors != 0 || r.Dropped != 0 {
				t.Errorf("slice %d: %d errors %v, %d dropped (samples %q)", r.Index, r.Errors, r.Outcomes, r.Dropped, r.SampleErrors)
			}
		}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.Duration()+20*time.Second)
	defer cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return sent
}

// TestAuthHTTP1 sends Google tokens that expire every 2 s through each way
// of sending plain HTTP: every request carries a current token, and the
// tokens change as they are refreshed.
func TestAuthHTTP1(t *testing.T) {
	md := startMetadata(t, 2*time.Second)
	for _, tt := range []struct {
		name       string
		auth       plan.Auth
		closed     bool
		goroutines bool
	}{
		{"event loop, access token", plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}}, false, false},
		{"event loop, ID token", plan.Auth{GoogleIDToken: &plan.GoogleIDToken{Audience: "https://svc.a.run.app"}}, false, false},
		{"goroutines", plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}}, false, true},
		{"closed model", plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			check := md.NewAudit()
			tg := startTarget(t, func(w http.ResponseWriter, r *http.Request) {
				if !check.Check(r.Header.Get("Authorization")) {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				okHandler(w, r)
			})
			p := testPlan(tg.url, 100, 4*time.Second, time.Second, 4, 40)
			if tt.closed {
				p.Load = plan.Load{Model: plan.ModelClosed, ThinkTime: plan.Duration(10 * time.Millisecond), Stages: []plan.Stage{{Duration: plan.Duration(4 * time.Second), Users: 2}}}
			}
			p.Target.Auth = &tt.auth
			sent := runAuth(t, p, openAuth(t, &tt.auth), tt.goroutines)
			assertTokens(t, check, sent, 3)
		})
	}
}

// TestAuthSecretHeader sends a Secret Manager value in a header of its
// own, formatted as the plan says.
func TestAuthSecretHeader(t *testing.T) {
	sm, err := secretmanager.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	t.Setenv(credential.EmulatorHostEnv, sm.Addr)
	const name = "projects/p/secrets/api-key/versions/latest"
	sm.Set(name, []byte("k3y\n"))

	var (
		mu  sync.Mutex
		got = map[string]int{}
	)
	tg := startTarget(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("X-Api-Key")+"|"+r.Header.Get("Authorization")]++
		mu.Unlock()
		okHandler(w, r)
	})
	p := testPlan(tg.url, 50, time.Second, time.Second, 2, 20)
	p.Target.Auth = &plan.Auth{Secret: &plan.SecretAuth{Name: name, Header: "X-Api-Key", Format: "Key {{.}}"}}
	sent := runAuth(t, p, openAuth(t, p.Target.Auth), false)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || int64(got["Key k3y|"]) != sent || sent != 50 {
		t.Errorf("target saw X-Api-Key|Authorization %v, want %d × %q", got, sent, "Key k3y|")
	}
}

// TestAuthHTTPS sends tokens over TLS, through both https:// clients: the
// lean HTTP/1.1 one over crypto/tls, and net/http for a target that speaks
// HTTP/2.
func TestAuthHTTPS(t *testing.T) {
	md := startMetadata(t, 2*time.Second)
	for _, tt := range []struct {
		name  string
		http2 bool
	}{
		{"HTTP/1.1", false},
		{"HTTP/2", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			check := md.NewAudit()
			var protos sync.Map
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				protos.Store(r.Proto, true)
				if !check.Check(r.Header.Get("Authorization")) {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				okHandler(w, r)
			}))
			srv.EnableHTTP2 = tt.http2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

			p := testPlan(srv.URL+"/v1/predict", 100, 4*time.Second, time.Second, 2, 40)
			p.Target.TLS = &plan.TLS{CA: string(ca)}
			p.Target.Auth = &plan.Auth{GoogleIDToken: &plan.GoogleIDToken{Audience: srv.URL}}
			sent := runAuth(t, p, openAuth(t, p.Target.Auth), false)
			assertTokens(t, check, sent, 3)
			want := "HTTP/1.1"
			if tt.http2 {
				want = "HTTP/2.0"
			}
			protos.Range(func(k, _ any) bool {
				if k != want {
					t.Errorf("the target got %s, want only %s", k, want)
				}
				return true
			})
		})
	}
}

// TestAuthGRPC sends tokens as call metadata, including on the server
// reflection call that resolves a method cicada does not know: the server
// refuses any call without a current token.
func TestAuthGRPC(t *testing.T) {
	md := startMetadata(t, 2*time.Second)
	check := md.NewAudit()
	auth := func(ctx context.Context) error {
		m, _ := metadata.FromIncomingContext(ctx)
		if v := m.Get("authorization"); len(v) != 1 || !check.Check(v[0]) {
			return status.Error(codes.Unauthenticated, "no current token")
		}
		return nil
	}
	gs := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := auth(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := auth(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}))
	predict.NewServer(predict.Config{}, zap.NewNop()).RegisterGRPC(gs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	for _, method := range []string{"/cicada.v1.Predictor/Predict", "/grpc.health.v1.Health/Check"} {
		t.Run(method, func(t *testing.T) {
			p := testPlan("http://unused/", 100, 4*time.Second, time.Second, 2, 40)
			request := `{"text": {{json .Text}}}`
			if strings.Contains(method, "Health") {
				request = `{"service": ""}`
			}
			p.Target = plan.Target{Protocol: plan.ProtocolGRPC, Address: ln.Addr().String(), Method: method, Request: request,
				Timeout: plan.Duration(2 * time.Second), Connections: 2, Auth: &plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}}}
			before := check.Counts()
			sent := runAuth(t, p, openAuth(t, p.Target.Auth), false)
			c := check.Counts()
			// The reflection stream, for the method cicada does not know,
			// counts as one more.
			if calls := int64(c.OK - before.OK); sent == 0 || calls < sent || calls > sent+1 {
				t.Errorf("%d calls with a current token, %d sent", calls, sent)
			}
			if c.Expired != 0 || c.Unknown != 0 || c.Missing != 0 || c.Distinct-before.Distinct < 3 {
				t.Errorf("calls with an expired token %d, an unknown one %d, none %d, %d new distinct tokens; want 0, 0, 0, >= 3",
					c.Expired, c.Unknown, c.Missing, c.Distinct-before.Distinct)
			}
		})
	}
}

func TestAuthRequired(t *testing.T) {
	p := testPlan("http://127.0.0.1:1/", 10, time.Second, time.Second, 1, 10)
	p.Target.Auth = &plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}}
	if _, err := New(Options{Plan: p}); err == nil || !strings.Contains(err.Error(), "target.auth") {
		t.Errorf("New without the plan's credential = %v, want a target.auth error", err)
	}
}
