package predict

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/protobuf/types/known/structpb"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	tfsapis "github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
)

// Stats are the server's counters since it was created.
type Stats struct {
	// Requests is HTTPRequests + GRPCRequests.
	Requests int64 `json:"requests"`
	// HTTPRequests counts every request routed to /v1/predict or to a
	// serving protocol's predict or infer route, whatever its method or body.
	HTTPRequests int64 `json:"http_requests"`
	// GRPCRequests counts every call of cicada.v1.Predictor/Predict or of a
	// serving protocol's predict or infer method that reached the handler
	// (messages too large for gRPC to decode never do).
	GRPCRequests int64 `json:"grpc_requests"`
	// Invalid counts requests rejected as 400, 404 (unknown model), 405,
	// 413, INVALID_ARGUMENT or NOT_FOUND.
	Invalid int64 `json:"invalid"`
	// ErrorsInjected counts 503 / UNAVAILABLE answers caused by ErrorRatio.
	ErrorsInjected int64 `json:"errors_injected"`
	// Stalled counts requests held by the stall knob.
	Stalled int64 `json:"stalled"`
	// Queued counts requests that waited for a free server (Concurrency).
	Queued int64 `json:"queued,omitempty"`
	// Presets holds the counters of each serving protocol and transport
	// that saw a request, by key ("oip_v2/grpc", ...; see KServeV1REST and
	// the other keys). They are included in the totals above.
	Presets map[string]PresetStats `json:"presets,omitempty"`
}

// Server serves the default model over REST and gRPC, with the demo knobs
// of its Config. All methods are safe for concurrent use; Serve may be
// called once.
type Server struct {
	cfg    Config
	log    *zap.Logger
	model  *Model
	health *health.Server
	knobs  bool // any knob set: lets the hot path skip them with one branch
	// now is the clock used for stall phases; tests replace it.
	now func() time.Time

	stop     chan struct{} // closed when shutdown starts: ends knob waits
	stopOnce sync.Once
	served   atomic.Bool

	httpRequests, grpcRequests, invalid, injected, stalled atomic.Int64

	capacity *capacity // Concurrency and ServiceTime; nil without them

	bufs      sync.Pool // *[]byte request body buffers
	responses [][]byte  // pre-encoded 200 bodies, by category

	presets [numPresets]presetCounters
	// Answers of the serving protocols built once: the model's metadata,
	// and Vertex AI's prediction values by category.
	predictionJSON   [][]byte          // {"label":...,"category":...} by category
	labelBytes       [][]byte          // the labels by category, for BYTES and DT_STRING outputs
	modelVersion     int64             // Config.ModelVersion as TF Serving's number
	oipMetadata      []byte            // GET /v2/models/{m}
	vertexTail       []byte            // the end of a Vertex AI REST answer, after the predictions
	vertexPrediction []*structpb.Value // Vertex AI gRPC predictions by category
}

// NewServer returns a server for cfg using Default(). A MaxBody or
// ShutdownTimeout <= 0 gets its default; the other fields are used as given
// (check them with Config.Validate).
func NewServer(cfg Config, log *zap.Logger) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	cfg = cfg.withDefaults()
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{
		cfg:    cfg,
		log:    log,
		model:  Default(),
		health: health.NewServer(),
		knobs:  cfg.Latency > 0 || cfg.Jitter > 0 || cfg.ErrorRatio > 0 || (cfg.StallEvery > 0 && cfg.StallFor > 0) || cfg.Concurrency > 0,
		now:    time.Now,
		stop:   make(chan struct{}),
	}
	if cfg.Concurrency > 0 {
		s.capacity = newCapacity(cfg.Concurrency, cfg.ServiceTime)
	}
	s.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	for c, l := range s.model.labels {
		body, _ := json.Marshal(predictResponse{Category: c, Label: l}) // cannot fail: int and string
		s.responses = append(s.responses, append(body, '\n'))
	}
	s.initPresets()
	for _, svc := range []string{
		cicadav1.Predictor_ServiceDesc.ServiceName,
		inferencev2.GRPCInferenceService_ServiceDesc.ServiceName,
		tfsapis.PredictionService_ServiceDesc.ServiceName,
		aiplatformpb.PredictionService_ServiceDesc.ServiceName,
	} {
		s.health.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	return s
}

type predictResponse struct {
	Category int    `json:"category"`
	Label    string `json:"label"`
}

// Requests returns the number of predict requests received over both
// protocols: every HTTP request routed to /v1/predict or a serving
// protocol's predict or infer route (any method, counted on arrival, before
// validation) plus every gRPC Predict, ModelInfer or serving protocol
// Predict call that reached the handler. Health, metadata and stats routes
// are not counted.
func (s *Server) Requests() int64 {
	return s.httpRequests.Load() + s.grpcRequests.Load()
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	h, g := s.httpRequests.Load(), s.grpcRequests.Load()
	return Stats{
		Requests: h + g, HTTPRequests: h, GRPCRequests: g,
		Invalid: s.invalid.Load(), ErrorsInjected: s.injected.Load(), Stalled: s.stalled.Load(),
		Queued: s.capacity.queuedCount(), Presets: s.presetStats(),
	}
}

// Serve serves REST on httpLn and gRPC on grpcLn (either may be nil to skip
// that protocol) until ctx ends or a listener fails, then shuts both down
// gracefully within Config.ShutdownTimeout: requests held by the knobs are
// released and answered, in-flight requests finish, and what is left after
// the bound is cut. With Config.TLSCert both are served over TLS (REST as
// HTTP/1.1). It closes the listeners. It returns nil after ctx ends,
// or the error that stopped a listener.
func (s *Server) Serve(ctx context.Context, httpLn, grpcLn net.Listener) error {
	if httpLn == nil && grpcLn == nil {
		return errors.New("predict serve: no listener")
	}
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("predict serve: already called")
	}
	tlsConf, err := s.cfg.serverTLS()
	if err != nil {
		closeAll(httpLn, grpcLn)
		return err
	}
	if tlsConf != nil && httpLn != nil {
		// HTTP/1.1 only, as in plaintext: every client (wrk, h2load --h1,
		// cicada's net/http) then measures the same protocol.
		h1 := tlsConf.Clone()
		h1.NextProtos = []string{"http/1.1"}
		httpLn = tls.NewListener(httpLn, h1)
	}
	errc := make(chan error, 2)
	running := 0
	var hs *http.Server
	if httpLn != nil {
		hs = &http.Server{
			Handler:           s.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          zap.NewStdLog(s.log.Named("http")),
		}
		running++
		go func() {
			err := hs.Serve(httpLn)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- wrapServeErr("http", httpLn, err)
		}()
	}
	var gs *grpc.Server
	if grpcLn != nil {
		opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(int(s.cfg.MaxBody))}
		if tlsConf != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf)))
		}
		gs = grpc.NewServer(opts...)
		s.RegisterGRPC(gs)
		running++
		go func() { errc <- wrapServeErr("grpc", grpcLn, gs.Serve(grpcLn)) }()
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		running--
		if err == nil {
			err = errors.New("predict serve: a listener stopped unexpectedly")
		}
		s.log.Error("listener failed, shutting down", zap.Error(err))
	}
	s.shutdown(hs, gs)
	for ; running > 0; running-- {
		if e := <-errc; err == nil && e != nil {
			err = e
		}
	}
	return err
}

// serverTLS loads TLSCert and TLSKey, or returns nil for plaintext.
func (c Config) serverTLS() (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSKey == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("predict serve: TLS_CERT %s, TLS_KEY %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// closeAll closes the listeners that are not nil.
func closeAll(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

func wrapServeErr(proto string, ln net.Listener, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("predict serve %s on %s: %w", proto, ln.Addr(), err)
}

func (s *Server) shutdown(hs *http.Server, gs *grpc.Server) {
	s.stopOnce.Do(func() { close(s.stop) })
	s.health.Shutdown() // health checks answer NOT_SERVING while draining
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if hs != nil {
		wg.Go(func() {
			if err := hs.Shutdown(ctx); err != nil {
				s.log.Warn("http graceful shutdown cut short", zap.Error(err))
				hs.Close()
			}
		})
	}
	if gs != nil {
		wg.Go(func() {
			done := make(chan struct{})
			go func() { gs.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				s.log.Warn("grpc graceful shutdown cut short")
				gs.Stop()
				<-done
			}
		})
	}
	wg.Wait()
}
