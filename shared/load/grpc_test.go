package load

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/slice"
)

// livePredict is the real predict service serving REST and gRPC on
// 127.0.0.1:0.
type livePredict struct {
	*predict.Server
	httpAddr, grpcAddr string
}

func startPredict(t *testing.T, errorRatio float64) *livePredict {
	t.Helper()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hl.Close()
		t.Fatal(err)
	}
	cfg := predict.Config{ErrorRatio: errorRatio, MaxBody: 64 << 10, ShutdownTimeout: 5 * time.Second}
	s := predict.NewServer(cfg, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, hl, gl) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("predict Serve: %v", err)
		}
	})
	return &livePredict{Server: s, httpAddr: hl.Addr().String(), grpcAddr: gl.Addr().String()}
}

// runOneShard runs shard 0 of p starting shortly and returns its slices in
// index order.
func runOneShard(t *testing.T, p *plan.Plan) []*slice.Result {
	t.Helper()
	var (
		mu  sync.Mutex
		got []*slice.Result
	)
	e, err := New(Options{Plan: p, RunID: "test", Start: time.Now().Add(300 * time.Millisecond), Sink: func(r *slice.Result) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
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
	for i, r := range got {
		if r.Index != i {
			t.Fatalf("slice %d emitted as number %d", r.Index, i)
		}
	}
	return got
}

// TestPredictService runs the engine against the real predict service, both
// protocols, healthy and failing every request.
func TestPredictService(t *testing.T) {
	t.Parallel()
	texts := []string{"the striker scored twice", "shares fell sharply", "a new chip design", "the telescope found a planet"}
	tests := []struct {
		name       string
		protocol   string
		errorRatio float64
		outcome    string
		failing    bool
		// An HTTP status says it all; a gRPC status carries a message worth
		// sampling, and a failed call has no response message to count.
		samples, recv bool
	}{
		{"grpc", plan.ProtocolGRPC, 0, "grpc:OK", false, false, true},
		{"grpc with every request failing", plan.ProtocolGRPC, 1, "grpc:UNAVAILABLE", true, true, false},
		{"http", plan.ProtocolHTTP, 0, "http:200", false, false, true},
		{"http with every request failing", plan.ProtocolHTTP, 1, "http:503", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startPredict(t, tt.errorRatio)
			p := &plan.Plan{
				Name: tt.name,
				Target: plan.Target{
					Protocol: tt.protocol,
					Timeout:  plan.Duration(2 * time.Second),
					// Fewer channels than requests in flight: slots share them.
					Connections: 2,
				},
				Data:  plan.Data{Texts: texts},
				Load:  plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(time.Second), Rate: 200}}},
				Slice: plan.Duration(time.Second),
			}
			if tt.protocol == plan.ProtocolGRPC {
				p.Target.Address = srv.grpcAddr
				p.Target.Method = "/cicada.v1.Predictor/Predict"
				p.Target.Request = `{"text": {{json .Text}}}`
			} else {
				p.Target.URL = "http://" + srv.httpAddr + "/v1/predict"
				p.Target.Body = `{"text": {{json .Text}}}`
			}
			p.ApplyDefaults()
			rs := runOneShard(t, p)
			if len(rs) != 1 {
				t.Fatalf("got %d slices, want 1", len(rs))
			}
			r := rs[0]
			if r.Intended != 200 || r.Dropped != 0 || r.Sent != 200 || r.Completed != 200 {
				t.Errorf("intended %d dropped %d sent %d completed %d, want 200, 0, 200, 200", r.Intended, r.Dropped, r.Sent, r.Completed)
			}
			if got := r.Outcomes[tt.outcome]; got != r.Completed {
				t.Errorf("outcomes %v: %s = %d, want every completed request (%d)", r.Outcomes, tt.outcome, got, r.Completed)
			}
			if got := srv.Requests(); got != r.Sent {
				t.Errorf("server counted %d requests, engine sent %d", got, r.Sent)
			}
			if r.BytesSent <= 0 || (r.BytesReceived > 0) != tt.recv {
				t.Errorf("bytes sent %d received %d, want sent counted and received counted %v", r.BytesSent, r.BytesReceived, tt.recv)
			}
			var wantErrors int64
			if tt.failing {
				wantErrors = r.Completed
			}
			if r.Errors != wantErrors {
				t.Errorf("errors %d of %d completed, want %d", r.Errors, r.Completed, wantErrors)
			}
			if (len(r.SampleErrors) > 0) != tt.samples {
				t.Errorf("sample errors %q, want some: %v", r.SampleErrors, tt.samples)
			}
		})
	}
}
