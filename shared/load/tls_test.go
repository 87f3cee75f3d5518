package load

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"go.uber.org/zap/zaptest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cicadaload/cicada/internal/testpki"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/slice"
)

// secretManagerStandIn is Secret Manager's AccessSecretVersion served over
// gRPC on 127.0.0.1: the payloads it holds by version name, and
// PERMISSION_DENIED for any other name, as the service answers a version
// the caller may not read.
type secretManagerStandIn struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	secrets map[string][]byte

	mu    sync.Mutex
	asked []string
}

func (s *secretManagerStandIn) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s.mu.Lock()
	s.asked = append(s.asked, req.GetName())
	s.mu.Unlock()
	b, ok := s.secrets[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'secretmanager.versions.access' denied for resource '%s' (or it may not exist).", req.GetName())
	}
	return &secretmanagerpb.AccessSecretVersionResponse{Name: req.GetName(), Payload: &secretmanagerpb.SecretPayload{Data: b}}, nil
}

// startSecretManager serves the stand-in and returns a secret reader that
// goes through the real Secret Manager client library, pointed at it with
// the library's endpoint option.
func startSecretManager(t *testing.T, secrets map[string][]byte) (func(ctx context.Context, name string) ([]byte, error), *secretManagerStandIn) {
	t.Helper()
	sm := &secretManagerStandIn{secrets: secrets}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(gs, sm)
	go gs.Serve(ln) //nolint:errcheck // Stop ends it
	t.Cleanup(gs.Stop)
	client, err := secretmanager.NewClient(context.Background(),
		option.WithEndpoint(ln.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("secret manager client: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	read := func(ctx context.Context, name string) ([]byte, error) {
		resp, err := client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
		if err != nil {
			return nil, err
		}
		return resp.GetPayload().GetData(), nil
	}
	return read, sm
}

// pki is the certificates of the TLS tests: a CA the plans trust, another
// one they do not, server certificates for 127.0.0.1 and for a name only,
// and a client certificate.
type pki struct {
	ca, other        *testpki.CA
	ip, named, rogue *testpki.Leaf // for 127.0.0.1; for predict.test only; for 127.0.0.1 by the other CA
	client           *testpki.Leaf
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	var p pki
	var err error
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	p.ca, err = testpki.NewCA("cicada test CA")
	must(err)
	p.other, err = testpki.NewCA("someone else's CA")
	must(err)
	p.ip, err = p.ca.Server("127.0.0.1")
	must(err)
	p.named, err = p.ca.Server("predict.test")
	must(err)
	p.rogue, err = p.other.Server("127.0.0.1")
	must(err)
	p.client, err = p.ca.Client("load generator")
	must(err)
	return &p
}

// httpsTarget is an https server on 127.0.0.1 that answers 200 and counts
// requests, the HTTP versions they came in and the client certificates it
// saw.
type httpsTarget struct {
	*httptest.Server
	requests    atomic.Int64
	wrongProto  atomic.Int64 // requests in another HTTP version than it offers
	clientNames sync.Map     // common names of client certificates
}

// startHTTPS serves cert, offering HTTP/2 and HTTP/1.1 by ALPN, or HTTP/1.1
// only; with clientCAs it requires a client certificate they issued.
func startHTTPS(t *testing.T, cert tls.Certificate, clientCAs *testpki.CA, h2 bool) *httpsTarget {
	t.Helper()
	h := &httpsTarget{}
	wantMajor := 1
	if h2 {
		wantMajor = 2
	}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if r.ProtoMajor != wantMajor {
			h.wrongProto.Add(1)
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			h.clientNames.Store(r.TLS.PeerCertificates[0].Subject.CommonName, true)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"label": "sports"}`)) //nolint:errcheck // the client counts what it gets
	}))
	h.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCAs != nil {
		h.TLS.ClientAuth, h.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCAs.Pool()
	}
	h.EnableHTTP2 = h2
	// Refused handshakes are what some cases test; their log lines are noise.
	h.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.StartTLS()
	t.Cleanup(h.Close)
	return h
}

// startPredictTLS serves the bundled predict service's gRPC over TLS with
// leaf, on 127.0.0.1.
func startPredictTLS(t *testing.T, leaf *testpki.Leaf) (*predict.Server, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := predict.Config{MaxBody: 64 << 10, ShutdownTimeout: 5 * time.Second,
		TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(cfg.TLSCert, leaf.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.TLSKey, leaf.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := predict.NewServer(cfg, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, nil, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("predict Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

const (
	certSecret   = "projects/cicada-test/secrets/client-cert/versions/1"
	keySecret    = "projects/cicada-test/secrets/client-key/versions/latest"
	caSecret     = "projects/cicada-test/secrets/ca/versions/2"
	deniedSecret = "projects/cicada-test/secrets/not-yours/versions/1"
	notPEMSecret = "projects/cicada-test/secrets/not-pem/versions/1"
	otherKey     = "projects/cicada-test/secrets/other-key/versions/1"
)

// tlsTestPlan is 40 requests in one second, one slice.
func tlsTestPlan(target plan.Target) *plan.Plan {
	target.Timeout = plan.Duration(2 * time.Second)
	target.Connections = 2
	p := &plan.Plan{
		Name:   "tls",
		Target: target,
		Data:   plan.Data{Texts: []string{"the striker scored twice", "shares fell sharply"}},
		Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(time.Second), Rate: 40}}},
		Slice:  plan.Duration(time.Second),
	}
	p.ApplyDefaults()
	return p
}

// TestTLSTargets runs the engine against https and gRPC targets with a test
// CA: each either answers every request or refuses every handshake, which
// the engine records as errors (error:tls, or grpc:UNAVAILABLE with the
// reason), never a crash.
func TestTLSTargets(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	read, _ := startSecretManager(t, map[string][]byte{
		certSecret: k.client.CertPEM,
		keySecret:  k.client.KeyPEM,
		caSecret:   k.ca.CertPEM,
	})
	predictSrv, predictAddr := startPredictTLS(t, k.ip)
	caPEM, otherPEM := string(k.ca.CertPEM), string(k.other.CertPEM)

	type tlsCase struct {
		name    string
		target  plan.Target
		srv     *httpsTarget // nil for gRPC
		outcome string       // of every request, or of each a failure of several kinds (comma-separated)
		sample  string       // in a sample error, for failures
		client  string       // client certificate the server must have seen
	}
	var (
		tests   []tlsCase
		servers = map[string]*httpsTarget{}
	)
	// Every https case runs against a server offering HTTP/2 (net/http
	// drives it) and one offering HTTP/1.1 only (the lean client does).
	for _, h2 := range []bool{true, false} {
		kind := "h2"
		if !h2 {
			kind = "http/1.1"
		}
		plain := startHTTPS(t, k.ip.TLS, nil, h2)
		named := startHTTPS(t, k.named.TLS, nil, h2)
		rogue := startHTTPS(t, k.rogue.TLS, nil, h2)
		mutual := startHTTPS(t, k.ip.TLS, k.ca, h2)
		for name, srv := range map[string]*httpsTarget{"plain": plain, "named": named, "rogue": rogue, "mutual": mutual} {
			servers[kind+" "+name] = srv
		}
		https := func(srv *httpsTarget, x *plan.TLS) plan.Target {
			return plan.Target{Protocol: plan.ProtocolHTTP, URL: srv.URL + "/v1/predict", Body: `{"text": {{json .Text}}}`, TLS: x}
		}
		for _, c := range []tlsCase{
			{"trusting the CA", https(plain, &plan.TLS{CA: caPEM}), plain, "http:200", "", ""},
			{"trusting another CA", https(plain, &plan.TLS{CA: otherPEM}), plain, "error:tls", "certificate", ""},
			{"with the system's roots", https(plain, nil), plain, "error:tls", "certificate", ""},
			{"certificate from an untrusted CA", https(rogue, &plan.TLS{CA: caPEM}), rogue, "error:tls", "certificate", ""},
			{"skipping verification", https(rogue, &plan.TLS{InsecureSkipVerify: true}), rogue, "http:200", "", ""},
			{"server_name", https(named, &plan.TLS{CA: caPEM, ServerName: "predict.test"}), named, "http:200", "", ""},
			{"certificate for another name", https(named, &plan.TLS{CA: caPEM}), named, "error:tls", "127.0.0.1", ""},
			{"client certificate by secret", https(mutual, &plan.TLS{CASecret: caSecret, ClientCertSecret: certSecret, ClientKeySecret: keySecret}),
				mutual, "http:200", "", "load generator"},
			// TLS 1.3 refuses a client certificate after the handshake, and
			// the server closes: requests already written on the connection
			// see a reset, and over HTTP/2 net/http loses the reason on some.
			{"client certificate missing", https(mutual, &plan.TLS{CA: caPEM}), mutual, "error:tls,error:io,error:reset", "certificate required", ""},
		} {
			c.name = "https " + kind + " " + c.name
			tests = append(tests, c)
		}
	}
	grpcPredict := func(x *plan.TLS) plan.Target {
		return plan.Target{Protocol: plan.ProtocolGRPC, Address: predictAddr, Method: "/cicada.v1.Predictor/Predict",
			Request: `{"text": {{json .Text}}}`, TLS: x}
	}
	tests = append(tests,
		tlsCase{"grpc predict trusting the CA by secret", grpcPredict(&plan.TLS{CASecret: caSecret}), nil, "grpc:OK", "", ""},
		tlsCase{"grpc predict trusting another CA", grpcPredict(&plan.TLS{CA: otherPEM}), nil, "grpc:UNAVAILABLE", "certificate", ""},
		tlsCase{"grpc method found by reflection over TLS", plan.Target{Protocol: plan.ProtocolGRPC, Address: predictAddr,
			Method: "/grpc.health.v1.Health/Check", Request: `{"service": "cicada.v1.Predictor"}`, TLS: &plan.TLS{CA: caPEM}}, nil, "grpc:OK", "", ""},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tlsTestPlan(tt.target)
			if err := p.Validate(); err != nil {
				t.Fatalf("plan: %v", err)
			}
			rs := runEngine(t, Options{Plan: p, RunID: "tls", Start: time.Now().Add(300 * time.Millisecond), ReadSecret: read})
			if len(rs) != 1 {
				t.Fatalf("got %d slices, want 1", len(rs))
			}
			r := rs[0]
			if r.Intended != 40 || r.Completed != r.Sent {
				t.Errorf("intended %d sent %d completed %d, want 40 intended and every request sent completed", r.Intended, r.Sent, r.Completed)
			}
			var matching int64
			for _, o := range strings.Split(tt.outcome, ",") {
				matching += r.Outcomes[o]
			}
			if matching != r.Completed {
				t.Errorf("outcomes %v, want every request %s (samples %q)", r.Outcomes, tt.outcome, r.SampleErrors)
			}
			if tt.sample == "" {
				// The trusted cases must send everything: the servers count them.
				if r.Sent != 40 || r.Errors != 0 {
					t.Errorf("sent %d, errors %d (dropped %d), want 40 sent and no error", r.Sent, r.Errors, r.Dropped)
				}
			} else {
				// A refused handshake may leave every slot waiting for a
				// channel at some instant: a request dropped then is fine.
				if r.Sent < 35 || r.Errors != r.Completed {
					t.Errorf("sent %d (dropped %d), errors %d of %d completed, want nearly all sent, all errors", r.Sent, r.Dropped, r.Errors, r.Completed)
				}
				if !strings.Contains(strings.Join(r.SampleErrors, "\n"), tt.sample) {
					t.Errorf("sample errors %q, want one naming %q", r.SampleErrors, tt.sample)
				}
			}
			if tt.client != "" {
				if _, ok := tt.srv.clientNames.Load(tt.client); !ok {
					t.Errorf("server saw no client certificate %q", tt.client)
				}
			}
		})
	}
	// Each server answered the 40 requests of its one trusted case, in the
	// HTTP version it offers, and nothing of the refused ones. Predict
	// counts its own calls; the health checks are not among them.
	t.Cleanup(func() {
		for name, srv := range servers {
			if got, wrong := srv.requests.Load(), srv.wrongProto.Load(); got != 40 || wrong != 0 {
				t.Errorf("%s server answered %d requests (%d in another HTTP version), want 40 in its own", name, got, wrong)
			}
		}
		if got := predictSrv.Requests(); got != 40 {
			t.Errorf("predict answered %d requests, want 40", got)
		}
	})
}

// runEngine creates the engine of o, runs it and returns its slices in
// order.
func runEngine(t *testing.T, o Options) []*slice.Result {
	t.Helper()
	var (
		mu  sync.Mutex
		got []*slice.Result
	)
	o.Sink = func(r *slice.Result) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	}
	e, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Plan.Duration()+20*time.Second)
	defer cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// TestTLSSecretsUnreadable checks that New fails, naming the plan field
// and the secret, when a secret of target.tls cannot be had or is not what
// it must be, and that no error carries a secret's value.
func TestTLSSecretsUnreadable(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	rogueKey := k.rogue.KeyPEM
	read, sm := startSecretManager(t, map[string][]byte{
		certSecret:   k.client.CertPEM,
		keySecret:    k.client.KeyPEM,
		notPEMSecret: []byte("hello"),
		otherKey:     rogueKey,
	})
	target := plan.Target{Protocol: plan.ProtocolHTTP, URL: "https://127.0.0.1:1/v1/predict"}
	tests := []struct {
		name string
		tls  plan.TLS
		read func(ctx context.Context, name string) ([]byte, error)
		want []string
	}{
		{"client key denied", plan.TLS{ClientCertSecret: certSecret, ClientKeySecret: deniedSecret}, read,
			[]string{"target.tls.client_key_secret", deniedSecret, "PermissionDenied"}},
		{"ca denied", plan.TLS{CASecret: deniedSecret}, read, []string{"target.tls.ca_secret", deniedSecret, "PermissionDenied"}},
		{"ca secret not PEM", plan.TLS{CASecret: notPEMSecret}, read, []string{"target.tls.ca_secret", "not PEM certificates"}},
		{"key of another certificate", plan.TLS{ClientCertSecret: certSecret, ClientKeySecret: otherKey}, read,
			[]string{"target.tls.client_cert_secret, client_key_secret", "does not match"}},
		{"no secret reader", plan.TLS{ClientCertSecret: certSecret, ClientKeySecret: keySecret}, nil,
			[]string{"target.tls.client_cert_secret", certSecret, "no Secret Manager access"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := tt.tls
			tg := target
			tg.TLS = &x
			p := tlsTestPlan(tg)
			if err := p.Validate(); err != nil {
				t.Fatalf("plan: %v", err)
			}
			_, err := New(Options{Plan: p, ReadSecret: tt.read})
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, secret := range [][]byte{k.client.KeyPEM, rogueKey} {
				if line := strings.Split(string(secret), "\n")[1]; strings.Contains(err.Error(), line) {
					t.Errorf("error %q carries a key", err)
				}
			}
		})
	}
	t.Cleanup(func() {
		sm.mu.Lock()
		defer sm.mu.Unlock()
		if len(sm.asked) == 0 {
			t.Error("the Secret Manager stand-in was never asked")
		}
	})
}

// TestClientTLS checks when the engine speaks TLS and what it trusts.
func TestClientTLS(t *testing.T) {
	t.Parallel()
	ca := newPKI(t).ca
	tests := []struct {
		name       string
		target     plan.Target
		tls        bool
		serverName string
		ownRoots   bool
	}{
		{"plain http", plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://127.0.0.1:8501/"}, false, "", false},
		{"https without a tls block", plan.Target{Protocol: plan.ProtocolHTTP, URL: "https://127.0.0.1:8501/"}, true, "", false},
		{"grpc plaintext", plan.Target{Protocol: plan.ProtocolGRPC, Address: "127.0.0.1:8500"}, false, "", false},
		{"grpc on port 443", plan.Target{Protocol: plan.ProtocolGRPC, Address: "predict.example.com:443"}, true, "", false},
		{"grpc with a tls block", plan.Target{Protocol: plan.ProtocolGRPC, Address: "127.0.0.1:8500",
			TLS: &plan.TLS{CA: string(ca.CertPEM), ServerName: "predict.test"}}, true, "predict.test", true},
	}
	for _, tt := range tests {
		c, err := clientTLS(&tt.target, nil)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if (c != nil) != tt.tls {
			t.Errorf("%s: TLS %v, want %v", tt.name, c != nil, tt.tls)
			continue
		}
		if c == nil {
			continue
		}
		if c.ServerName != tt.serverName || (c.RootCAs != nil) != tt.ownRoots || c.InsecureSkipVerify || c.MinVersion != tls.VersionTLS12 {
			t.Errorf("%s: server name %q, own roots %v, insecure %v, min version %x; want %q, %v, false, TLS 1.2",
				tt.name, c.ServerName, c.RootCAs != nil, c.InsecureSkipVerify, c.MinVersion, tt.serverName, tt.ownRoots)
		}
	}
}

// TestHTTP1TLSRefused checks that the lean client records a refused
// handshake as error:tls: a certificate it does not trust, and a server
// that does not speak TLS. (newHTTPS gives such targets net/http, as its
// ALPN probe fails; the lean client meets them when a target changes
// during a run.)
func TestHTTP1TLSRefused(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	rogue := startHTTPS(t, k.rogue.TLS, nil, false)
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(plain.Close)
	for _, tt := range []struct {
		name, url, sample string
	}{
		{"untrusted certificate", rogue.URL, "certificate"},
		{"plaintext server", plain.URL, "TLS handshake"},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		h, err := newHTTP1(u, "GET", nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.tls = &tls.Config{RootCAs: k.ca.Pool(), ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}
		c := h.newConn()
		r := c.do(0, time.Now().Add(5*time.Second))
		c.closeConn()
		if r.outcome != outcomeTLS || r.ok || r.err == nil || !strings.Contains(r.err.Error(), tt.sample) {
			t.Errorf("%s: outcome %s ok %v err %v, want error:tls naming %q", tt.name, r.outcome, r.ok, r.err, tt.sample)
		}
	}
	if got := rogue.requests.Load(); got != 0 {
		t.Errorf("the untrusted server answered %d requests", got)
	}
}
