package load

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/predict"
)

// startPredictGRPC serves the sample predict service's gRPC side (with
// server reflection) on 127.0.0.1.
func startPredictGRPC(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = predict.NewServer(predict.Config{GRPCAddr: ln.Addr().String()}, zap.NewNop()).Serve(ctx, nil, ln)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func TestResolveMethod(t *testing.T) {
	t.Parallel()
	addr := startPredictGRPC(t)
	tests := []struct {
		name, method string
		wantType     string // full name of the request type
		wantErr      string
	}{
		{"bundled service", "/cicada.v1.Predictor/Predict", "cicada.v1.PredictRequest", ""},
		{"another service on the server", "/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest", ""},
		{"unknown service", "/no.Such/Thing", "", "no.Such"},
		{"unknown method", "/cicada.v1.Predictor/Nope", "", "no method Nope"},
		{"streaming method", "/grpc.health.v1.Health/Watch", "", "streaming"},
		{"malformed", "Predict", "", "want /package.Service/Method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			md, err := resolveMethod(ctx, addr, tt.method, grpcCreds(nil), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveMethod(%s) error = %v, want one containing %q", tt.method, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveMethod(%s): %v", tt.method, err)
			}
			if got := string(md.Input().FullName()); got != tt.wantType {
				t.Errorf("request type %s, want %s", got, tt.wantType)
			}
		})
	}
}

// TestReflectedMethodRun load-tests a method cicada knows only through
// server reflection.
func TestReflectedMethodRun(t *testing.T) {
	t.Parallel()
	addr := startPredictGRPC(t)
	p := testPlan("http://unused/", 100, time.Second, time.Second, 2, 100) // room for a slow start: drops are not what this tests
	p.Target = plan.Target{Protocol: plan.ProtocolGRPC, Address: addr, Method: "/grpc.health.v1.Health/Check",
		Request: `{"service": ""}`, Timeout: plan.Duration(time.Second), Connections: 2}
	got := run(t, p, time.Now().Add(200*time.Millisecond))
	if len(got) != 1 {
		t.Fatalf("%d slices, want 1", len(got))
	}
	if r := got[0]; r.Intended != 100 || r.Outcomes["grpc:OK"] != 100 || r.Errors != 0 {
		t.Errorf("intended %d outcomes %v errors %d (samples %q); want 100 grpc:OK", r.Intended, r.Outcomes, r.Errors, r.SampleErrors)
	}
}
