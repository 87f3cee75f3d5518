package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

func testConfig() Config {
	return Config{MaxBody: 64 << 10, ShutdownTimeout: 5 * time.Second}
}

// liveServer is a Server serving both protocols on 127.0.0.1:0.
type liveServer struct {
	*Server
	url    string
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   chan error
}

func startServer(t *testing.T, cfg Config, setup func(*Server)) *liveServer {
	t.Helper()
	s := NewServer(cfg, zaptest.NewLogger(t))
	if setup != nil {
		setup(s)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen http: %v", err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen grpc: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ls := &liveServer{Server: s, url: "http://" + httpLn.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ls.done <- s.Serve(ctx, httpLn, grpcLn) }()
	ls.conn, err = grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	t.Cleanup(func() {
		ls.conn.Close()
		cancel()
		select {
		case err := <-ls.done:
			if err != nil {
				t.Errorf("Serve returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return ls
}

func (ls *liveServer) predictGRPC(ctx context.Context, text string) (*cicadav1.PredictResponse, error) {
	return cicadav1.NewPredictorClient(ls.conn).Predict(ctx, &cicadav1.PredictRequest{Text: text})
}

func (ls *liveServer) post(t *testing.T, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(ls.url+"/v1/predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST /v1/predict: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp.StatusCode, string(b)
}

func TestRESTPredict(t *testing.T) {
	t.Parallel()
	s := NewServer(testConfig(), zaptest.NewLogger(t))
	big := `{"text":"` + strings.Repeat("a", 64<<10) + `"}`
	exact := `{"text":"` + strings.Repeat("b ", (64<<10-len(`{"text":""}`))/2) + `"}`
	tests := []struct {
		name       string
		method     string
		body       string
		chunked    bool // unknown Content-Length, so only MaxBytesReader can catch size
		wantStatus int
		wantBody   string // exact for 200, a substring of "error" otherwise
	}{
		{name: "ok", body: `{"text":"the striker scored twice in the final"}`, wantStatus: 200, wantBody: `{"category":0,"label":"sports"}` + "\n"},
		{name: "ok spaced", body: " {\n \"text\" : \"hackers found a security flaw in the browser\" } \n", wantStatus: 200, wantBody: `{"category":2,"label":"technology"}` + "\n"},
		{name: "ok escaped", body: `{"text":"quarterly profit f\u0065ll and shares slumped"}`, wantStatus: 200, wantBody: `{"category":1,"label":"business"}` + "\n"},
		{name: "ok unicode", body: `{"text":"astronomers observed a distant galaxy — ünïcode"}`, wantStatus: 200, wantBody: `{"category":3,"label":"science"}` + "\n"},
		{name: "ok at size limit", body: exact, wantStatus: 200},
		{name: "empty text", body: `{"text":""}`, wantStatus: 400, wantBody: `field "text" must not be empty`},
		{name: "blank text", body: `{"text":" \t "}`, wantStatus: 400, wantBody: `field "text" must not be empty`},
		{name: "missing text", body: `{}`, wantStatus: 400, wantBody: `missing field "text"`},
		{name: "null", body: `null`, wantStatus: 400, wantBody: `missing field "text"`},
		{name: "empty body", body: ``, wantStatus: 400, wantBody: "request body is empty"},
		{name: "not JSON", body: `text=hello`, wantStatus: 400, wantBody: "invalid JSON"},
		{name: "truncated", body: `{"text": "abc`, wantStatus: 400, wantBody: "invalid JSON"},
		{name: "unknown field", body: `{"text":"a","lang":"en"}`, wantStatus: 400, wantBody: `unknown field "lang"`},
		{name: "trailing garbage", body: `{"text":"a"} xyz`, wantStatus: 400, wantBody: "unexpected data after the JSON object"},
		{name: "two objects", body: `{"text":"a"}{"text":"b"}`, wantStatus: 400, wantBody: "unexpected data after the JSON object"},
		{name: "text not a string", body: `{"text": 5}`, wantStatus: 400, wantBody: `field "text" must be a string`},
		{name: "array", body: `["a"]`, wantStatus: 400, wantBody: "request body must be a JSON object"},
		{name: "too large", body: big, wantStatus: 413, wantBody: "request body exceeds 65536 bytes"},
		{name: "too large chunked", body: big, chunked: true, wantStatus: 413, wantBody: "request body exceeds 65536 bytes"},
		{name: "GET", method: http.MethodGet, wantStatus: 405, wantBody: "method GET not allowed, use POST"},
		{name: "PUT", method: http.MethodPut, body: `{"text":"a"}`, wantStatus: 405, wantBody: "method PUT not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length from httptest
			}
			req := httptest.NewRequest(method, "/v1/predict", body)
			if tt.chunked && req.ContentLength != -1 {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tt.wantStatus == 200 {
				var got predictResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("200 body %q is not a prediction: %v", rec.Body.String(), err)
				}
				if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
					t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
				}
				return
			}
			var e errorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
			}
			if !strings.Contains(e.Error, tt.wantBody) {
				t.Errorf("error = %q, want it to contain %q", e.Error, tt.wantBody)
			}
			if tt.wantStatus == 405 && rec.Header().Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", rec.Header().Get("Allow"))
			}
		})
	}
}

// TestParseFastAgreesWithSlow checks that the hand-written fast path only
// accepts bodies that encoding/json decodes to the same text.
func TestParseFastAgreesWithSlow(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"text":"a"}`, ` {"text" : "b c" } `, `{"text":"é"}`, `{"text":"\u00e9"}`, `{"text":"a\"b"}`,
		`{"text":"a"`, `{"text":"a"}x`, `{"text":"\xff"}`, `{"text":"tab	in"}`, `{"Text":"a"}`, `{"text":""}`,
	}
	for _, b := range bodies {
		fast, ok := parseFast([]byte(b))
		slow, problem := parseSlow([]byte(b))
		if ok && (problem != "" || fast != slow) {
			t.Errorf("body %q: fast path gives %q, encoding/json gives %q (problem %q)", b, fast, slow, problem)
		}
	}
}

func TestRESTRoutes(t *testing.T) {
	t.Parallel()
	s := NewServer(testConfig(), zaptest.NewLogger(t))
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/healthz", 200, "ok\n"},
		{"HEAD", "/healthz", 200, ""},
		{"POST", "/healthz", 405, "method POST not allowed"},
		{"GET", "/v1/stats", 200, `"requests":0`},
		{"DELETE", "/v1/stats", 405, "not allowed"},
		{"GET", "/nope", 404, `no route for \"/nope\"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.method != "HEAD" && !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body = %q, want it to contain %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
	if got := s.Requests(); got != 0 {
		t.Errorf("Requests() = %d after non-predict routes, want 0", got)
	}
}

func TestGRPC(t *testing.T) {
	t.Parallel()
	ls := startServer(t, testConfig(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("predict", func(t *testing.T) {
		resp, err := ls.predictGRPC(ctx, "biologists sequenced the genome of the honeybee")
		if err != nil {
			t.Fatalf("Predict: %v", err)
		}
		if resp.GetCategory() != 3 || resp.GetLabel() != "science" {
			t.Errorf("Predict = %d %q, want 3 science", resp.GetCategory(), resp.GetLabel())
		}
	})
	t.Run("invalid argument", func(t *testing.T) {
		_, err := ls.predictGRPC(ctx, "  ")
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "must not be empty") {
			t.Errorf("Predict(blank) = %v, want InvalidArgument naming the empty text", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		_, err := ls.predictGRPC(ctx, strings.Repeat("x", 64<<10))
		if code := status.Code(err); code != codes.ResourceExhausted {
			t.Errorf("Predict(64KiB) code = %v, want ResourceExhausted", code)
		}
	})
	t.Run("health", func(t *testing.T) {
		for _, svc := range []string{"", "cicada.v1.Predictor"} {
			resp, err := healthpb.NewHealthClient(ls.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health %q = %v, %v; want SERVING", svc, resp.GetStatus(), err)
			}
		}
	})
	t.Run("reflection", func(t *testing.T) {
		stream, err := reflectionpb.NewServerReflectionClient(ls.conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatalf("reflection stream: %v", err)
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
		}); err != nil {
			t.Fatalf("send list services: %v", err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv list services: %v", err)
		}
		var names []string
		for _, svc := range resp.GetListServicesResponse().GetService() {
			names = append(names, svc.GetName())
		}
		joined := strings.Join(names, ",")
		for _, want := range []string{"cicada.v1.Predictor", "grpc.health.v1.Health"} {
			if !strings.Contains(joined, want) {
				t.Errorf("reflection lists %v, want %s among them", names, want)
			}
		}
	})
}

func TestRequestsCountsBothProtocols(t *testing.T) {
	t.Parallel()
	ls := startServer(t, testConfig(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, body := range []string{`{"text":"a goal"}`, `{"text":""}`, `nonsense`} {
		ls.post(t, body)
	}
	resp, err := http.Get(ls.url + "/v1/predict") // wrong method still counts
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()
	if _, err := ls.predictGRPC(ctx, "a chip"); err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if _, err := ls.predictGRPC(ctx, ""); err == nil {
		t.Fatalf("Predict(empty) succeeded")
	}
	if got := ls.Requests(); got != 6 {
		t.Errorf("Requests() = %d, want 6 (4 REST + 2 gRPC)", got)
	}
	want := Stats{Requests: 6, HTTPRequests: 4, GRPCRequests: 2, Invalid: 4}
	if got := ls.Stats(); !reflect.DeepEqual(got, want) {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	r, err := http.Get(ls.url + "/v1/stats")
	if err != nil {
		t.Fatalf("GET /v1/stats: %v", err)
	}
	defer r.Body.Close()
	var got Stats
	if err := json.NewDecoder(r.Body).Decode(&got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("/v1/stats = %+v (%v), want %+v", got, err, want)
	}
}

func TestErrorRatio(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ErrorRatio = 1
	ls := startServer(t, cfg, nil)
	code, body := ls.post(t, `{"text":"a goal"}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "injected error") {
		t.Errorf("REST = %d %q, want 503 injected error", code, body)
	}
	_, err := ls.predictGRPC(context.Background(), "a goal")
	if status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC error = %v, want UNAVAILABLE", err)
	}
	// Invalid input is rejected before the knobs.
	if code, _ := ls.post(t, `{"text":""}`); code != http.StatusBadRequest {
		t.Errorf("REST empty text with ErrorRatio=1 = %d, want 400", code)
	}
	if got := ls.Stats().ErrorsInjected; got != 2 {
		t.Errorf("ErrorsInjected = %d, want 2", got)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	const latency = 150 * time.Millisecond
	cfg := testConfig()
	cfg.Latency = latency
	cfg.Jitter = 20 * time.Millisecond
	ls := startServer(t, cfg, nil)
	start := time.Now()
	if code, body := ls.post(t, `{"text":"a goal"}`); code != 200 {
		t.Fatalf("REST = %d %q, want 200", code, body)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("REST took %v, want >= %v", d, latency)
	}
	start = time.Now()
	if _, err := ls.predictGRPC(context.Background(), "a goal"); err != nil {
		t.Fatalf("gRPC: %v", err)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("gRPC took %v, want >= %v", d, latency)
	}
	// A caller that gives up stops waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := ls.predictGRPC(ctx, "a goal"); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("gRPC with 20ms deadline = %v, want DeadlineExceeded", err)
	}
}

func TestStallWait(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_800_000_000, 0) // a whole second, so phases below are exact
	tests := []struct {
		name          string
		at            time.Time
		every, forDur time.Duration
		want          time.Duration
	}{
		{"off", base, 0, 0, 0},
		{"for without every", base, 0, time.Second, 0},
		{"period start waits the whole stall", base, time.Second, 300 * time.Millisecond, 300 * time.Millisecond},
		{"inside the stall waits for its end", base.Add(100 * time.Millisecond), time.Second, 300 * time.Millisecond, 200 * time.Millisecond},
		{"last nanosecond of the stall", base.Add(300*time.Millisecond - 1), time.Second, 300 * time.Millisecond, 1},
		{"stall end does not wait", base.Add(300 * time.Millisecond), time.Second, 300 * time.Millisecond, 0},
		{"after the stall", base.Add(900 * time.Millisecond), time.Second, 300 * time.Millisecond, 0},
		{"next period", base.Add(10*time.Second + 50*time.Millisecond), 10 * time.Second, time.Second, 950 * time.Millisecond},
		{"before 1970", time.Unix(-1, 0).Add(100 * time.Millisecond), time.Second, 300 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := stallWait(tt.at, tt.every, tt.forDur); got != tt.want {
				t.Errorf("stallWait = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStallHoldsRequests(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name    string
		phase   time.Duration
		minWait time.Duration
		maxWait time.Duration
		stalled int64
	}{
		{"arrives in the stall", 100 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second, 1},
		{"arrives after the stall", 500 * time.Millisecond, 0, 150 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.StallEvery, cfg.StallFor = time.Second, 300*time.Millisecond
			s := NewServer(cfg, zaptest.NewLogger(t))
			s.now = func() time.Time { return base.Add(tt.phase) } // frozen clock
			start := time.Now()
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/predict", strings.NewReader(`{"text":"a goal"}`)))
			d := time.Since(start)
			if rec.Code != 200 {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if d < tt.minWait || d > tt.maxWait {
				t.Errorf("request took %v, want %v..%v", d, tt.minWait, tt.maxWait)
			}
			if got := s.Stats().Stalled; got != tt.stalled {
				t.Errorf("Stalled = %d, want %d", got, tt.stalled)
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Latency = 2 * time.Second // released by shutdown, so it must not be waited out
	s := NewServer(cfg, zaptest.NewLogger(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, nil) }()

	type result struct {
		code int
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/v1/predict", "application/json", strings.NewReader(`{"text":"a goal"}`))
		if err != nil {
			inflight <- result{err: err}
			return
		}
		resp.Body.Close()
		inflight <- result{code: resp.StatusCode}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Requests() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(cfg.ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return within the shutdown bound")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("shutdown took %v, want held requests released at once", d)
	}
	if r := <-inflight; r.err != nil || r.code != 200 {
		t.Errorf("in-flight request = %d, %v; want 200 answered during shutdown", r.code, r.err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Errorf("listener still accepts after Serve returned")
	}
	if err := s.Serve(context.Background(), ln, nil); err == nil {
		t.Errorf("second Serve succeeded, want an error")
	}
}

func TestServeErrors(t *testing.T) {
	t.Parallel()
	s := NewServer(testConfig(), zaptest.NewLogger(t))
	if err := s.Serve(context.Background(), nil, nil); err == nil {
		t.Errorf("Serve with no listener succeeded, want an error")
	}
	// A listener that fails makes Serve stop everything and report it.
	bad, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	bad.Close()
	good, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- NewServer(testConfig(), zaptest.NewLogger(t)).Serve(context.Background(), good, bad) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "grpc") {
			t.Errorf("Serve with a closed gRPC listener = %v, want an error naming grpc", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its listener failed")
	}
}

func TestConfig(t *testing.T) {
	t.Run("env defaults", func(t *testing.T) {
		var cfg Config
		if err := envconfig.Process("CICADA_PREDICT_TEST_UNSET", &cfg); err != nil {
			t.Fatalf("envconfig: %v", err)
		}
		want := Config{HTTPAddr: "127.0.0.1:8501", GRPCAddr: "127.0.0.1:8500", MaxBody: 1 << 20, ShutdownTimeout: 5 * time.Second,
			ModelName: DefaultModelName, ModelVersion: DefaultModelVersion, InputName: DefaultInputName}
		if cfg != want {
			t.Errorf("defaults = %+v, want %+v", cfg, want)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("defaults invalid: %v", err)
		}
	})
	t.Run("env names", func(t *testing.T) {
		t.Setenv("CICADA_PREDICT_HTTP_ADDR", "127.0.0.1:1")
		t.Setenv("CICADA_PREDICT_STALL_EVERY", "10s")
		t.Setenv("CICADA_PREDICT_STALL_FOR", "300ms")
		t.Setenv("CICADA_PREDICT_ERROR_RATIO", "0.25")
		var cfg Config
		if err := envconfig.Process("CICADA_PREDICT", &cfg); err != nil {
			t.Fatalf("envconfig: %v", err)
		}
		if cfg.HTTPAddr != "127.0.0.1:1" || cfg.StallEvery != 10*time.Second || cfg.StallFor != 300*time.Millisecond || cfg.ErrorRatio != 0.25 {
			t.Errorf("config from env = %+v", cfg)
		}
	})
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; empty means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no address", func(c *Config) { c.HTTPAddr, c.GRPCAddr = "", "" }, "at least one"},
		{"only grpc", func(c *Config) { c.HTTPAddr = "" }, ""},
		{"negative latency", func(c *Config) { c.Latency = -1 }, "LATENCY"},
		{"negative jitter", func(c *Config) { c.Jitter = -1 }, "JITTER"},
		{"ratio above 1", func(c *Config) { c.ErrorRatio = 1.5 }, "ERROR_RATIO"},
		{"stall longer than period", func(c *Config) { c.StallEvery, c.StallFor = time.Second, time.Second }, "STALL_FOR"},
		{"stall without period", func(c *Config) { c.StallFor = time.Second }, "STALL_FOR"},
		{"max body", func(c *Config) { c.MaxBody = 0 }, "MAX_BODY"},
		{"capacity", func(c *Config) { c.Concurrency, c.ServiceTime = 4, 10*time.Millisecond }, ""},
		{"concurrency alone", func(c *Config) { c.Concurrency = 4 }, ""},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "CONCURRENCY"},
		{"negative service time", func(c *Config) { c.Concurrency, c.ServiceTime = 1, -1 }, "SERVICE_TIME"},
		{"service time without concurrency", func(c *Config) { c.ServiceTime = time.Millisecond }, "SERVICE_TIME: needs CONCURRENCY"},
		{"tls cert without key", func(c *Config) { c.TLSCert = "cert.pem" }, "TLS_CERT, TLS_KEY"},
		{"tls key without cert", func(c *Config) { c.TLSKey = "key.pem" }, "TLS_CERT, TLS_KEY"},
		{"tls cert and key", func(c *Config) { c.TLSCert, c.TLSKey = "cert.pem", "key.pem" }, ""},
		{"model name", func(c *Config) { c.ModelName, c.ModelVersion, c.InputName = "bert-base_v2.1", "42", "input_ids" }, ""},
		{"model name with a slash", func(c *Config) { c.ModelName = "a/b" }, "MODEL_NAME"},
		{"version not a number", func(c *Config) { c.ModelVersion = "v1" }, "MODEL_VERSION"},
		{"version zero", func(c *Config) { c.ModelVersion = "0" }, "MODEL_VERSION"},
		{"version with a leading zero", func(c *Config) { c.ModelVersion = "01" }, "MODEL_VERSION"},
		{"input name with a space", func(c *Config) { c.InputName = "a b" }, "INPUT_NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{HTTPAddr: "a", GRPCAddr: "b", MaxBody: 1, ShutdownTimeout: time.Second}
			tt.mod(&cfg)
			err := cfg.Validate()
			if tt.want == "" && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func FuzzPredictHandler(f *testing.F) {
	for _, seed := range []string{`{"text":"a goal"}`, `{"text":""}`, `{}`, `null`, `[`, `{"text":"\u00e9"}`, `{"text":"a"} x`, "{\"text\":\"\xff\"}"} {
		f.Add([]byte(seed))
	}
	cfg := testConfig()
	cfg.MaxBody = 1024 // reachable by the fuzzer
	s := NewServer(cfg, nil)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/predict", bytes.NewReader(body)))
		switch rec.Code {
		case 200, 400, 413:
		default:
			t.Fatalf("status %d for body %q", rec.Code, body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response %q is not JSON", rec.Body.String())
		}
		if fast, ok := parseFast(body); ok {
			if slow, problem := parseSlow(body); problem != "" || slow != fast {
				t.Fatalf("fast path %q disagrees with encoding/json %q (%q)", fast, slow, problem)
			}
		}
	})
}

// discardResponse is a minimal ResponseWriter, so that the benchmark
// measures the handler rather than httptest.ResponseRecorder.
type discardResponse struct{ h http.Header }

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardResponse) WriteHeader(int)             {}

func BenchmarkHTTPPredict(b *testing.B) {
	s := NewServer(testConfig(), nil)
	h := s.Handler()
	bodies := map[string]string{
		"fast":          `{"text":"the striker scored twice in the final on Sunday"}`,
		"slow-escaped":  `{"text":"the striker scored twice in the final on \u0053unday"}`,
		"invalid-empty": `{"text":""}`,
	}
	for _, name := range []string{"fast", "slow-escaped", "invalid-empty"} {
		body := []byte(bodies[name])
		b.Run(name+"/recorder", func(b *testing.B) {
			b.ReportAllocs()
			r := bytes.NewReader(body)
			req := httptest.NewRequest("POST", "/v1/predict", r)
			for b.Loop() {
				r.Reset(body)
				req.Body = io.NopCloser(r)
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
		b.Run(name+"/discard", func(b *testing.B) {
			b.ReportAllocs()
			r := bytes.NewReader(body)
			req := httptest.NewRequest("POST", "/v1/predict", r)
			w := &discardResponse{h: make(http.Header)}
			for b.Loop() {
				r.Reset(body)
				req.Body = io.NopCloser(r)
				h.ServeHTTP(w, req)
			}
		})
	}
}
