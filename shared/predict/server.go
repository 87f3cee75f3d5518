package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

// Config configures the predict server. It is flat on purpose: envconfig
// prefixes nested structs' fields with their parent's name. It is the
// field Predict of Env, so HTTPAddr comes from CICADA_PREDICT_HTTP_ADDR
// and so on. The demo knobs are all off by default.
type Config struct {
	// HTTPAddr is the REST listen address; empty disables REST.
	HTTPAddr string `envconfig:"HTTP_ADDR" default:"127.0.0.1:8501" desc:"REST listen address; empty disables REST"`
	// GRPCAddr is the gRPC listen address; empty disables gRPC.
	GRPCAddr string `envconfig:"GRPC_ADDR" default:"127.0.0.1:8500" desc:"gRPC listen address; empty disables gRPC"`
	// Latency is added to every valid predict request.
	Latency time.Duration `envconfig:"LATENCY" default:"0s" desc:"fixed latency added to every valid request"`
	// Jitter adds a uniformly random extra 0..Jitter to every valid request.
	Jitter time.Duration `envconfig:"JITTER" default:"0s" desc:"random extra latency, uniform in 0..JITTER"`
	// ErrorRatio is the fraction (0..1) of valid requests answered with 503
	// or gRPC UNAVAILABLE, after any added latency.
	ErrorRatio float64 `envconfig:"ERROR_RATIO" default:"0" desc:"fraction (0..1) of valid requests answered 503 / UNAVAILABLE"`
	// StallEvery and StallFor simulate a pause such as a GC: time is cut
	// into periods of StallEvery counted from the Unix epoch (so a 1s period
	// starts on every wall-clock second), and a valid request arriving in
	// the first StallFor of a period is held until StallFor has passed.
	StallEvery time.Duration `envconfig:"STALL_EVERY" default:"0s" desc:"period of a simulated pause (like a GC), counted from the Unix epoch; 0 = off"`
	// StallFor is the length of the stall at the start of each period.
	StallFor time.Duration `envconfig:"STALL_FOR" default:"0s" desc:"length of the pause at the start of each period; requests arriving in it wait until it ends"`
	// MaxBody bounds a REST request body and a gRPC request message, in bytes.
	MaxBody int64 `envconfig:"MAX_BODY" default:"65536" desc:"largest REST body or gRPC message, bytes (413 / RESOURCE_EXHAUSTED beyond)"`
	// ShutdownTimeout bounds the graceful shutdown once the context ends.
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"5s" desc:"bound on the graceful shutdown"`
}

// Validate reports every invalid field of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" && c.GRPCAddr == "" {
		errs = append(errs, errors.New("HTTP_ADDR and GRPC_ADDR: at least one must be set"))
	}
	if c.Latency < 0 {
		errs = append(errs, errors.New("LATENCY: must be >= 0"))
	}
	if c.Jitter < 0 {
		errs = append(errs, errors.New("JITTER: must be >= 0"))
	}
	if !(c.ErrorRatio >= 0 && c.ErrorRatio <= 1) {
		errs = append(errs, errors.New("ERROR_RATIO: must be in [0, 1]"))
	}
	if c.StallEvery < 0 || c.StallFor < 0 {
		errs = append(errs, errors.New("STALL_EVERY, STALL_FOR: must be >= 0"))
	}
	if c.StallFor > 0 && c.StallFor >= c.StallEvery {
		errs = append(errs, errors.New("STALL_FOR: must be shorter than STALL_EVERY"))
	}
	if c.MaxBody <= 0 || c.MaxBody > 1<<30 {
		errs = append(errs, errors.New("MAX_BODY: must be in 1..1GiB"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT: must be > 0"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("predict config: %w", err)
	}
	return nil
}

// Stats are the server's counters since it was created.
type Stats struct {
	// Requests is HTTPRequests + GRPCRequests.
	Requests int64 `json:"requests"`
	// HTTPRequests counts every request routed to /v1/predict, whatever its
	// method or body.
	HTTPRequests int64 `json:"http_requests"`
	// GRPCRequests counts every call of cicada.v1.Predictor/Predict that
	// reached the handler (messages too large for gRPC to decode never do).
	GRPCRequests int64 `json:"grpc_requests"`
	// Invalid counts requests rejected as 400, 405, 413 or INVALID_ARGUMENT.
	Invalid int64 `json:"invalid"`
	// ErrorsInjected counts 503 / UNAVAILABLE answers caused by ErrorRatio.
	ErrorsInjected int64 `json:"errors_injected"`
	// Stalled counts requests held by the stall knob.
	Stalled int64 `json:"stalled"`
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

	bufs      sync.Pool // *[]byte request body buffers
	responses [][]byte  // pre-encoded 200 bodies, by category
}

// NewServer returns a server for cfg using Default(). A MaxBody or
// ShutdownTimeout <= 0 gets its default; the other fields are used as given
// (check them with Config.Validate).
func NewServer(cfg Config, log *zap.Logger) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
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
		knobs:  cfg.Latency > 0 || cfg.Jitter > 0 || cfg.ErrorRatio > 0 || (cfg.StallEvery > 0 && cfg.StallFor > 0),
		now:    time.Now,
		stop:   make(chan struct{}),
	}
	s.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	for c, l := range s.model.labels {
		body, _ := json.Marshal(predictResponse{Category: c, Label: l}) // cannot fail: int and string
		s.responses = append(s.responses, append(body, '\n'))
	}
	s.health.SetServingStatus(cicadav1.Predictor_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s
}

type predictResponse struct {
	Category int    `json:"category"`
	Label    string `json:"label"`
}

// Requests returns the number of predict requests received over both
// protocols: every HTTP request routed to /v1/predict (any method, counted
// on arrival, before validation) plus every gRPC Predict call that reached
// the handler. /healthz and /v1/stats are not counted.
func (s *Server) Requests() int64 {
	return s.httpRequests.Load() + s.grpcRequests.Load()
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	h, g := s.httpRequests.Load(), s.grpcRequests.Load()
	return Stats{
		Requests: h + g, HTTPRequests: h, GRPCRequests: g,
		Invalid: s.invalid.Load(), ErrorsInjected: s.injected.Load(), Stalled: s.stalled.Load(),
	}
}

// Serve serves REST on httpLn and gRPC on grpcLn (either may be nil to skip
// that protocol) until ctx ends or a listener fails, then shuts both down
// gracefully within Config.ShutdownTimeout: requests held by the knobs are
// released and answered, in-flight requests finish, and what is left after
// the bound is cut. It closes the listeners. It returns nil after ctx ends,
// or the error that stopped a listener.
func (s *Server) Serve(ctx context.Context, httpLn, grpcLn net.Listener) error {
	if httpLn == nil && grpcLn == nil {
		return errors.New("predict serve: no listener")
	}
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("predict serve: already called")
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
		gs = grpc.NewServer(grpc.MaxRecvMsgSize(int(s.cfg.MaxBody)))
		s.RegisterGRPC(gs)
		running++
		go func() { errc <- wrapServeErr("grpc", grpcLn, gs.Serve(grpcLn)) }()
	}

	var err error
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

// RegisterGRPC registers cicada.v1.Predictor, the standard health service
// (SERVING for "" and "cicada.v1.Predictor" until shutdown) and server
// reflection on gs.
func (s *Server) RegisterGRPC(gs *grpc.Server) {
	cicadav1.RegisterPredictorServer(gs, grpcPredictor{s: s})
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
}

type grpcPredictor struct {
	cicadav1.UnimplementedPredictorServer
	s *Server
}

// Predict implements cicadav1.PredictorServer.
func (g grpcPredictor) Predict(ctx context.Context, req *cicadav1.PredictRequest) (*cicadav1.PredictResponse, error) {
	s := g.s
	s.grpcRequests.Add(1)
	var arrival time.Time
	if s.knobs {
		arrival = s.now()
	}
	text := req.GetText()
	if isBlank(text) {
		s.invalid.Add(1)
		return nil, status.Error(codes.InvalidArgument, `field "text" must not be empty`)
	}
	if s.knobs {
		fail, err := s.applyKnobs(ctx, arrival)
		if err != nil {
			return nil, status.FromContextError(err).Err()
		}
		if fail {
			return nil, status.Error(codes.Unavailable, "injected error (CICADA_PREDICT_ERROR_RATIO)")
		}
	}
	c, l := s.model.Predict(text)
	return &cicadav1.PredictResponse{Category: int32(c), Label: l}, nil
}

// stallWait is how long a request arriving at t waits for the stall to end:
// StallFor minus the phase of t in its StallEvery period (counted from the
// Unix epoch) when the phase is below StallFor, else 0.
func stallWait(t time.Time, every, stallFor time.Duration) time.Duration {
	if every <= 0 || stallFor <= 0 {
		return 0
	}
	phase := time.Duration(t.UnixNano() % int64(every))
	if phase < 0 { // before 1970
		phase += every
	}
	if phase < stallFor {
		return stallFor - phase
	}
	return 0
}

// applyKnobs holds a valid request for the stall (from its arrival), then
// the added latency and jitter, and decides whether to inject an error. A
// request whose context ends while held returns the context's error;
// shutdown releases held requests at once.
func (s *Server) applyKnobs(ctx context.Context, arrival time.Time) (fail bool, err error) {
	var wait time.Duration
	if sw := stallWait(arrival, s.cfg.StallEvery, s.cfg.StallFor); sw > 0 {
		s.stalled.Add(1)
		// Count from arrival so that time spent decoding is not added twice.
		wait = sw - s.now().Sub(arrival)
	}
	wait += s.cfg.Latency
	if s.cfg.Jitter > 0 {
		wait += rand.N(s.cfg.Jitter + 1)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		}
	}
	if s.cfg.ErrorRatio > 0 && rand.Float64() < s.cfg.ErrorRatio {
		s.injected.Add(1)
		return true, nil
	}
	return false, nil
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			if c >= utf8.RuneSelf {
				return strings.TrimSpace(s[i:]) == ""
			}
			return false
		}
	}
	return true
}

// Handler returns the REST handler:
//
//	POST /v1/predict  {"text": "..."} -> 200 {"category": 2, "label": "technology"}
//	GET  /healthz     -> 200 "ok"
//	GET  /v1/stats    -> 200 Stats as JSON
//
// Errors are JSON {"error": "..."}: 400 for a body that is not exactly one
// JSON object with a non-blank string "text" and no other field, 405 for a
// wrong method, 413 for a body over MaxBody, 404 for other paths and 503
// for injected errors.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/predict":
		s.servePredict(w, r)
	case "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		w.Header()["Content-Type"] = textContentType
		io.WriteString(w, "ok\n")
	case "/v1/stats":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, "GET")
			return
		}
		b, _ := json.Marshal(s.Stats()) // cannot fail: only integers
		w.Header()["Content-Type"] = jsonContentType
		w.Write(append(b, '\n'))
	default:
		writeError(w, http.StatusNotFound, "no route for "+strconv.Quote(r.URL.Path))
	}
}

// Header values shared by all responses, assigned without Header().Set's
// allocation; net/http only reads them.
var (
	jsonContentType = []string{"application/json"}
	textContentType = []string{"text/plain; charset=utf-8"}
)

func (s *Server) servePredict(w http.ResponseWriter, r *http.Request) {
	s.httpRequests.Add(1)
	var arrival time.Time
	if s.knobs {
		arrival = s.now()
	}
	if r.Method != http.MethodPost {
		s.invalid.Add(1)
		methodNotAllowed(w, r, "POST")
		return
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	body, err := readBody(w, r, s.cfg.MaxBody, (*bp)[:0])
	*bp = body[:0]
	if err != nil {
		s.invalid.Add(1)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return
	}
	text, ok := parseFast(body)
	if !ok {
		var msg string
		if text, msg = parseSlow(body); msg != "" {
			s.invalid.Add(1)
			writeError(w, http.StatusBadRequest, msg)
			return
		}
	}
	if isBlank(text) {
		s.invalid.Add(1)
		writeError(w, http.StatusBadRequest, `field "text" must not be empty`)
		return
	}
	if s.knobs {
		fail, err := s.applyKnobs(r.Context(), arrival)
		if err != nil {
			// The client is gone, so nobody reads this; it only keeps
			// net/http from sending an implicit empty 200.
			writeError(w, http.StatusServiceUnavailable, "request cancelled: "+err.Error())
			return
		}
		if fail {
			writeError(w, http.StatusServiceUnavailable, "injected error (CICADA_PREDICT_ERROR_RATIO)")
			return
		}
	}
	c, _ := s.model.Predict(text)
	w.Header()["Content-Type"] = jsonContentType
	w.Write(s.responses[c])
}

// readBody reads at most limit bytes of the body into buf. A longer body
// gives an *http.MaxBytesError, and a declared Content-Length over the
// limit is refused before reading anything.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if r.ContentLength > limit {
		return buf, &http.MaxBytesError{Limit: limit}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// parseFast accepts exactly the common request shape, {"text":"..."} with
// optional whitespace, a string without escapes or control characters and
// valid UTF-8, and returns the text. Anything else, valid or not, returns
// false and is left to parseSlow, so both agree on every input.
func parseFast(b []byte) (string, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", false
	}
	i = skipSpace(b, i+1)
	if !bytes.HasPrefix(b[i:], []byte(`"text"`)) {
		return "", false
	}
	i = skipSpace(b, i+len(`"text"`))
	if i >= len(b) || b[i] != ':' {
		return "", false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '"' {
		return "", false
	}
	start := i + 1
	ascii := true
	for i = start; i < len(b) && b[i] != '"'; i++ {
		switch c := b[i]; {
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if i >= len(b) {
		return "", false
	}
	text := b[start:i]
	if !ascii && !utf8.Valid(text) {
		return "", false // encoding/json would replace bad bytes with U+FFFD
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '}' {
		return "", false
	}
	if skipSpace(b, i+1) != len(b) {
		return "", false
	}
	return string(text), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// parseSlow decodes the body with encoding/json and returns the text, or a
// message naming what is wrong with the body.
func parseSlow(b []byte) (text, problem string) {
	var req struct {
		Text *string `json:"text"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return "", `request body is empty, want a JSON object such as {"text": "..."}`
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "", "invalid JSON: unexpected end of input"
		case errors.As(err, &syntax):
			return "", fmt.Sprintf("invalid JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(err.Error(), "json: "))
		case errors.As(err, &typ):
			if typ.Field == "" {
				return "", "request body must be a JSON object, not " + typ.Value
			}
			return "", fmt.Sprintf("field %q must be a string, not %s", typ.Field, typ.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return "", strings.TrimPrefix(err.Error(), "json: ")
		default:
			return "", "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", "unexpected data after the JSON object"
	}
	if req.Text == nil {
		return "", `missing field "text"`
	}
	return *req.Text, ""
}

type errorResponse struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(errorResponse{Error: msg}) // cannot fail: one string
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed, use %s", r.Method, allow))
}
