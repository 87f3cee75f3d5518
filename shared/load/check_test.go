package load

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/predict"
)

// The check tests' classifier labels a text by its last word, so that a
// record's label says exactly what the target will answer.
func lastWord(s string) string { return s[strings.LastIndexByte(s, ' ')+1:] }

// labeledCorpus is 8 texts labeled by their last word, but with
// wrongLabel (when not "") as text 7's label: with batch 4, instance 3 of
// request 1.
func labeledCorpus(wrongLabel string) *plan.Corpus {
	texts := []string{
		"the striker scored twice sports", "shares fell after the report business",
		"a faster chip technology", "the probe reached orbit science",
		"extra time decided it sports", "the merger was approved business",
		"the phone got a new camera technology", "a new species was found science",
	}
	c := &plan.Corpus{Texts: texts}
	for _, s := range texts {
		c.Records = append(c.Records, map[string]any{"text": s, "label": lastWord(s)})
	}
	if wrongLabel != "" {
		c.Records[7]["label"] = wrongLabel
	}
	return c
}

// batchSizes counts the requests a test server saw by the texts they
// carried.
type batchSizes struct {
	mu sync.Mutex
	n  map[int]int
}

func (b *batchSizes) add(n int) {
	b.mu.Lock()
	if b.n == nil {
		b.n = map[int]int{}
	}
	b.n[n]++
	b.mu.Unlock()
}

func (b *batchSizes) get() map[int]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[int]int{}
	for k, v := range b.n {
		out[k] = v
	}
	return out
}

// classifierHandler answers {"instances": [...]} (kserve_v1's shape) with
// {"predictions": [{"label": ...}, ...]}, every other answer chunked, so
// that both framings of a body are checked.
func classifierHandler(sizes *batchSizes) http.HandlerFunc {
	var count atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Instances []string `json:"instances"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sizes.add(len(req.Instances))
		type pred struct {
			Label string `json:"label"`
		}
		var resp struct {
			Predictions []pred `json:"predictions"`
		}
		for _, s := range req.Instances {
			resp.Predictions = append(resp.Predictions, pred{lastWord(s)})
		}
		b, _ := json.Marshal(resp)
		w.Header().Set("Content-Type", "application/json")
		if count.Add(1)%2 == 0 {
			w.Write(b[:5]) //nolint:errcheck // the client judges what it gets
			w.(http.Flusher).Flush()
			b = b[5:]
		}
		w.Write(b) //nolint:errcheck // as above
	}
}

// oipClassifier is an Open Inference Protocol server with no reflection:
// it answers each BYTES text with its last word as output "label".
type oipClassifier struct {
	inferencev2.UnimplementedGRPCInferenceServiceServer
	sizes *batchSizes
}

func (o oipClassifier) ModelInfer(_ context.Context, req *inferencev2.ModelInferRequest) (*inferencev2.ModelInferResponse, error) {
	in := req.GetInputs()[0].GetContents().GetBytesContents()
	o.sizes.add(len(in))
	labels := make([][]byte, len(in))
	for i, b := range in {
		labels[i] = []byte(lastWord(string(b)))
	}
	return &inferencev2.ModelInferResponse{ModelName: req.GetModelName(), Outputs: []*inferencev2.ModelInferResponse_InferOutputTensor{{
		Name: "label", Datatype: "BYTES", Shape: []int64{int64(len(in))},
		Contents: &inferencev2.InferTensorContents{BytesContents: labels},
	}}}, nil
}

// checkPlan is 100 requests at 100 req/s in one slice against target,
// carrying corpus.
func checkPlan(target plan.Target, corpus *plan.Corpus) *plan.Plan {
	target.Timeout = plan.Duration(5 * time.Second)
	p := &plan.Plan{
		Name:   "check",
		Target: target,
		Data:   plan.Data{Texts: corpus.Texts},
		Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(time.Second), Rate: 100}}},
		Slice:  plan.Duration(time.Second),
	}
	p.ApplyDefaults()
	if p.Target.Preset != nil && p.Target.Preset.Name == plan.PresetVertex {
		p.Target.Auth = nil // the sample service asks for no token
	}
	return p
}

// wantTextChars is the length distribution of n requests that send every
// text of c equally often.
func wantTextChars(c *plan.Corpus, n, batch int) map[int64]int64 {
	per := int64(n * batch / len(c.Texts))
	out := map[int64]int64{}
	for _, s := range c.Texts {
		out[int64(utf8.RuneCountInString(s))] += per
	}
	return out
}

// TestChecks runs each transport against a classifier with batches of 4
// and a check: a right answer keeps the status outcome, a wrong one is
// check:mismatch, a path that leads nowhere check:missing, and count_as:
// metric counts without failing. The server sees 4 texts per request.
func TestChecks(t *testing.T) {
	t.Parallel()
	pk := newPKI(t)
	type transport struct {
		name       string
		goroutines bool
		status     string
		path       string // the check path of the classifier's label
		missing    string // a path that leads nowhere
		target     func(t *testing.T, sizes *batchSizes) plan.Target
	}
	httpTarget := func(url string) plan.Target {
		return plan.Target{Protocol: plan.ProtocolHTTP, URL: url, Method: "POST", Body: `{"instances": {{json .Texts}}}`, Connections: 4}
	}
	httpsTarget := func(h2 bool) func(t *testing.T, sizes *batchSizes) plan.Target {
		return func(t *testing.T, sizes *batchSizes) plan.Target {
			s := httptest.NewUnstartedServer(classifierHandler(sizes))
			s.TLS = &tls.Config{Certificates: []tls.Certificate{pk.ip.TLS}}
			s.EnableHTTP2 = h2
			s.StartTLS()
			t.Cleanup(s.Close)
			tg := httpTarget(s.URL + "/predict")
			tg.TLS = &plan.TLS{CA: string(pk.ca.CertPEM)}
			return tg
		}
	}
	plainTarget := func(t *testing.T, sizes *batchSizes) plan.Target {
		s := httptest.NewServer(classifierHandler(sizes))
		t.Cleanup(s.Close)
		return httpTarget(s.URL + "/predict")
	}
	transports := []transport{
		{name: "event loop", status: "http:200", path: "predictions[*].label", missing: "predictions[*].category", target: plainTarget},
		{name: "lean client", goroutines: true, status: "http:200", path: "predictions[*].label", missing: "predictions[*].category", target: plainTarget},
		{name: "https HTTP/1.1", status: "http:200", path: "predictions[*].label", missing: "predictions[*].category", target: httpsTarget(false)},
		{name: "https HTTP/2", status: "http:200", path: "predictions[*].label", missing: "predictions[*].category", target: httpsTarget(true)},
		{name: "grpc oip_v2 without reflection", status: "grpc:OK", path: "outputs[0].contents.bytes_contents[*]", missing: "outputs[1].contents.bytes_contents[*]",
			target: func(t *testing.T, sizes *batchSizes) plan.Target {
				addr := startBareGRPC(t, func(s *grpc.Server) { inferencev2.RegisterGRPCInferenceServiceServer(s, oipClassifier{sizes: sizes}) })
				return plan.Target{Protocol: plan.ProtocolGRPC, Address: addr, Preset: &plan.Preset{Name: plan.PresetOIPV2, Model: "clf"}, Connections: 2}
			}},
	}
	cases := []struct {
		name     string
		wrong    string // text 7's label, "" for the right one
		missing  bool
		countAs  string
		bad      string // the outcome of a failed check; "" when none fails
		failures int    // requests failing the check, of 100
		correct  int64  // instances of 400
		sample   string
	}{
		{name: "all right", correct: 400},
		{name: "one wrong", wrong: "sports", bad: outcomeCheckMismatch, failures: 50, correct: 350, sample: `[3]`},
		{name: "path leads nowhere", missing: true, bad: outcomeCheckMissing, failures: 100, correct: 0, sample: "missing from the response"},
		{name: "count_as metric", wrong: "sports", countAs: plan.CountAsMetric, failures: 50, correct: 350},
	}
	for _, tr := range transports {
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				sizes := &batchSizes{}
				corpus := labeledCorpus(tc.wrong)
				tg := tr.target(t, sizes)
				tg.Batch = 4
				path := tr.path
				if tc.missing {
					path = tr.missing
				}
				tg.Check = &plan.Check{Path: path, Equals: "{{.Record.label}}", CountAs: tc.countAs}
				p := checkPlan(tg, corpus)
				all := merged(runShard(t, Options{Plan: p, Corpus: corpus, Goroutines: tr.goroutines, Start: time.Now().Add(300 * time.Millisecond)}))
				if all.Completed != 100 || all.Dropped != 0 {
					t.Fatalf("completed %d dropped %d, want 100, 0 (outcomes %v, samples %q)", all.Completed, all.Dropped, all.Outcomes, all.SampleErrors)
				}
				if got := sizes.get(); len(got) != 1 || got[4] != 100 {
					t.Errorf("server saw requests by batch size %v, want 100 of 4 texts", got)
				}
				wantOutcomes := map[string]int64{tr.status: 100}
				wantErrors := int64(0)
				if tc.bad != "" {
					wantOutcomes = map[string]int64{tr.status: int64(100 - tc.failures), tc.bad: int64(tc.failures)}
					if tc.failures == 100 {
						delete(wantOutcomes, tr.status)
					}
					wantErrors = int64(tc.failures)
				}
				if fmt.Sprint(all.Outcomes) != fmt.Sprint(wantOutcomes) || all.Errors != wantErrors {
					t.Errorf("outcomes %v errors %d, want %v and %d errors (samples %q)", all.Outcomes, all.Errors, wantOutcomes, wantErrors, all.SampleErrors)
				}
				if all.Instances != 400 || all.Checked != 400 || all.Correct != tc.correct {
					t.Errorf("instances %d checked %d correct %d, want 400, 400, %d", all.Instances, all.Checked, all.Correct, tc.correct)
				}
				if want := wantTextChars(corpus, 100, 4); fmt.Sprint(all.TextChars) != fmt.Sprint(want) {
					t.Errorf("text lengths %v, want %v", all.TextChars, want)
				}
				if tc.sample != "" {
					found := false
					for _, s := range all.SampleErrors {
						found = found || strings.Contains(s, tc.sample) && strings.HasPrefix(s, "check ")
					}
					if !found {
						t.Errorf("sample errors %q, want one naming the instance (%q)", all.SampleErrors, tc.sample)
					}
				} else if len(all.SampleErrors) != 0 {
					t.Errorf("sample errors %q, want none", all.SampleErrors)
				}
			})
		}
	}
}

// TestCheckMismatchMessage: the sample error of a wrong prediction names
// the instance's path, the expected and the received value.
func TestCheckMismatchMessage(t *testing.T) {
	t.Parallel()
	path, err := plan.CompileCheckPath("predictions[*].label")
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{path: path, expect: [][]string{{"sports", "sports"}}}
	tests := []struct {
		name, body string
		want       checkVerdict
		msg        string
	}{
		{"right", `{"predictions": [{"label": "sports"}, {"label": "sports"}]}`, checkVerdict{checked: 2, correct: 2}, ""},
		{"wrong", `{"predictions": [{"label": "sports"}, {"label": "technology"}]}`, checkVerdict{checked: 2, correct: 1, outcome: outcomeCheckMismatch},
			`check predictions[1].label: want "sports", got "technology"`},
		{"a number", `{"predictions": [{"label": "sports"}, {"label": 2.0}]}`, checkVerdict{checked: 2, correct: 1, outcome: outcomeCheckMismatch},
			`check predictions[1].label: want "sports", got 2`},
		{"missing outweighs wrong", `{"predictions": [{"label": "x"}]}`, checkVerdict{checked: 2, outcome: outcomeCheckMissing},
			`check predictions[1].label: want "sports", missing from the response`},
		{"not JSON", `<html>`, checkVerdict{checked: 2, outcome: outcomeCheckMissing}, "check: response is not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := c.checkJSON(0, []byte(tt.body), false)
			msg := ""
			if v.err != nil {
				msg = v.err.Error()
			}
			if v.checked != tt.want.checked || v.correct != tt.want.correct || v.outcome != tt.want.outcome || !strings.HasPrefix(msg, tt.msg) || (tt.msg == "") != (msg == "") {
				t.Errorf("verdict %d/%d %q %q, want %d/%d %q %q", v.correct, v.checked, v.outcome, msg, tt.want.correct, tt.want.checked, tt.want.outcome, tt.msg)
			}
		})
	}
	if v := c.checkJSON(0, nil, true); v.outcome != outcomeCheckMissing || v.err != errBodyTooLarge {
		t.Errorf("an answer over the bound: %q %v, want check:missing, %v", v.outcome, v.err, errBodyTooLarge)
	}
}

// TestPresetsWithoutReflection runs every preset, REST and gRPC, against
// the sample predict service with its server reflection off, batches of 3
// and a check against the labels its classifier gives: every instance is
// checked and right, so the presets' requests and the engine's reading of
// their answers (built-in descriptors for gRPC) agree with the service.
func TestPresetsWithoutReflection(t *testing.T) {
	t.Parallel()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := predict.NewServer(predict.Config{MaxBody: 64 << 10, ShutdownTimeout: 5 * time.Second, DisableReflection: true}, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, hl, gl) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("predict Serve: %v", err)
		}
	})
	base := "http://" + hl.Addr().String()
	corpus := &plan.Corpus{Texts: predict.SampleTexts()[:6]}
	for _, s := range corpus.Texts {
		_, label := predict.Default().Predict(s)
		corpus.Records = append(corpus.Records, map[string]any{"text": s, "label": label})
	}
	vertex := &plan.Preset{Name: plan.PresetVertex, Project: "p", Location: "l", Endpoint: predict.DefaultModelName}
	tests := []struct {
		name   string
		target plan.Target
		path   string
	}{
		{"kserve_v1 REST", plan.Target{Protocol: plan.ProtocolHTTP, URL: base, Preset: &plan.Preset{Name: plan.PresetKServeV1, Model: predict.DefaultModelName}}, "predictions[*].label"},
		{"oip_v2 REST", plan.Target{Protocol: plan.ProtocolHTTP, URL: base, Preset: &plan.Preset{Name: plan.PresetOIPV2, Model: predict.DefaultModelName}}, "outputs[0].data[*]"},
		{"tfserving REST", plan.Target{Protocol: plan.ProtocolHTTP, URL: base, Preset: &plan.Preset{Name: plan.PresetTFServing, Model: predict.DefaultModelName}}, "predictions[*].label"},
		{"vertex REST", plan.Target{Protocol: plan.ProtocolHTTP, URL: base, Preset: vertex}, "predictions[*].label"},
		{"oip_v2 gRPC", plan.Target{Protocol: plan.ProtocolGRPC, Address: gl.Addr().String(), Preset: &plan.Preset{Name: plan.PresetOIPV2, Model: predict.DefaultModelName}}, "outputs[0].contents.bytes_contents[*]"},
		{"tfserving gRPC", plan.Target{Protocol: plan.ProtocolGRPC, Address: gl.Addr().String(), Preset: &plan.Preset{Name: plan.PresetTFServing, Model: predict.DefaultModelName}}, "outputs.label.string_val[*]"},
		{"vertex gRPC", plan.Target{Protocol: plan.ProtocolGRPC, Address: gl.Addr().String(), Preset: vertex}, "predictions[*].label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := tt.target
			tg.Batch = 3
			tg.Connections = 2
			tg.Check = &plan.Check{Path: tt.path, Equals: "{{.Record.label}}"}
			p := checkPlan(tg, corpus)
			all := merged(runShard(t, Options{Plan: p, Corpus: corpus, Start: time.Now().Add(300 * time.Millisecond)}))
			status := "http:200"
			if tg.Protocol == plan.ProtocolGRPC {
				status = "grpc:OK"
			}
			if all.Completed != 100 || all.Outcomes[status] != 100 || all.Errors != 0 {
				t.Fatalf("completed %d outcomes %v errors %d, want 100 %s (samples %q)", all.Completed, all.Outcomes, all.Errors, status, all.SampleErrors)
			}
			if all.Instances != 300 || all.Checked != 300 || all.Correct != 300 {
				t.Errorf("instances %d checked %d correct %d, want 300 each", all.Instances, all.Checked, all.Correct)
			}
		})
	}
}

// TestProtosetRun load-tests a method of a server without reflection,
// known from target.protoset only; without it the run cannot be set up.
func TestProtosetRun(t *testing.T) {
	t.Parallel()
	addr := startBareGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, healthServer{}) })
	tests := []struct {
		name     string
		protoset string
		wantErr  string
	}{
		{"with the protoset", protosetOf(t, healthpb.File_grpc_health_v1_health_proto), ""},
		{"without", "", "target.protoset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			corpus := &plan.Corpus{Texts: []string{"a"}}
			tg := plan.Target{Protocol: plan.ProtocolGRPC, Address: addr, Method: "/grpc.health.v1.Health/Check", Request: `{"service": ""}`, Protoset: tt.protoset,
				Check: &plan.Check{Path: "status", Equals: "SERVING"}}
			p := checkPlan(tg, corpus)
			if tt.wantErr != "" {
				_, err := New(Options{Plan: p, Corpus: corpus})
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			all := merged(runShard(t, Options{Plan: p, Corpus: corpus, Start: time.Now().Add(300 * time.Millisecond)}))
			if all.Completed != 100 || all.Outcomes["grpc:OK"] != 100 || all.Checked != 100 || all.Correct != 100 {
				t.Errorf("completed %d outcomes %v checked %d correct %d, want 100 grpc:OK, all checked and right (samples %q)", all.Completed, all.Outcomes, all.Checked, all.Correct, all.SampleErrors)
			}
		})
	}
}
