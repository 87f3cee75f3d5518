package predict

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	"github.com/cicadaload/cicada/proto/tensorflow/core/framework"
	tfsapis "github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
)

// presetTexts are one text of each category, so that a batch's answer
// shows the order of the predictions.
var presetTexts = []string{
	"the striker scored twice in the final",
	"quarterly profit fell and shares slumped",
	"hackers found a security flaw in the browser",
	"astronomers observed a distant galaxy",
}

// wantPredictions returns the classifier's labels and categories of texts.
func wantPredictions(texts []string) (labels []string, cats []int64) {
	for _, t := range texts {
		c, l := Default().Predict(t)
		labels, cats = append(labels, l), append(cats, int64(c))
	}
	return labels, cats
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

func objects(texts []string) []map[string]string {
	var out []map[string]string
	for _, t := range texts {
		out = append(out, map[string]string{"text": t})
	}
	return out
}

// restAnswer is every answer form of the REST routes, decoded.
type restAnswer struct {
	Predictions []struct {
		Label    string `json:"label"`
		Category int64  `json:"category"`
	} `json:"predictions"`
	DeployedModelID string `json:"deployedModelId"`
	ModelVersionID  string `json:"modelVersionId"`
	Outputs         json.RawMessage
	ModelName       string `json:"model_name"`
	ModelVersion    string `json:"model_version"`
	ID              string `json:"id"`
	Error           json.RawMessage
}

func TestPresetREST(t *testing.T) {
	t.Parallel()
	four := presetTexts
	oip := func(name, datatype string, shape []int64, data any, extra string) string {
		in := map[string]any{"name": name, "datatype": datatype, "shape": shape, "data": data}
		return `{"inputs":[` + mustJSON(t, in) + `]` + extra + `}`
	}
	vertexPath := "/v1/projects/p1/locations/us-central1/endpoints/textcls:predict"
	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		body       string
		key        string
		wantStatus int
		wantErr    string   // substring of the error message
		texts      []string // the texts of a 200
		form       string   // "predictions", "columnar", "oip", "vertex"; "" for an error
		outputs    []string // OIP outputs answered, default both
		shape      *WireShape
	}{
		// KServe V1.
		{name: "kserve strings", path: "/v1/models/textcls:predict", body: mustJSON(t, map[string]any{"instances": four}),
			key: KServeV1REST, wantStatus: 200, texts: four, form: "predictions",
			shape: &WireShape{Model: "textcls", Shape: []int64{4}, Encoding: "instances", Batch: 4}},
		{name: "kserve objects", path: "/v1/models/textcls:predict", body: mustJSON(t, map[string]any{"instances": objects(four[:2])}),
			key: KServeV1REST, wantStatus: 200, texts: four[:2], form: "predictions",
			shape: &WireShape{Model: "textcls", Input: "text", Shape: []int64{2}, Encoding: "instances", Batch: 2}},
		{name: "kserve one", path: "/v1/models/textcls:predict", body: `{"instances":["a goal"]}`,
			key: KServeV1REST, wantStatus: 200, texts: []string{"a goal"}, form: "predictions",
			shape: &WireShape{Model: "textcls", Shape: []int64{1}, Encoding: "instances", Batch: 1}},
		{name: "kserve unknown model", path: "/v1/models/other:predict", body: `{"instances":["a"]}`,
			key: KServeV1REST, wantStatus: 404, wantErr: `model \"other\" not found`},
		{name: "kserve unknown field", path: "/v1/models/textcls:predict", body: `{"instances":["a"],"parameters":{}}`,
			key: KServeV1REST, wantStatus: 400, wantErr: `unknown field \"parameters\"`},
		{name: "kserve no instances", path: "/v1/models/textcls:predict", body: `{}`,
			key: KServeV1REST, wantStatus: 400, wantErr: `missing field \"instances\"`},
		{name: "kserve empty instances", path: "/v1/models/textcls:predict", body: `{"instances":[]}`,
			key: KServeV1REST, wantStatus: 400, wantErr: "at least one instance"},
		{name: "kserve number instance", path: "/v1/models/textcls:predict", body: `{"instances":["a", 5]}`,
			key: KServeV1REST, wantStatus: 400, wantErr: "instance 1 must be a string or an object"},
		{name: "kserve object with two fields", path: "/v1/models/textcls:predict", body: `{"instances":[{"text":"a","lang":"en"}]}`,
			key: KServeV1REST, wantStatus: 400, wantErr: "instance 0 must be"},
		{name: "kserve object with another field", path: "/v1/models/textcls:predict", body: `{"instances":[{"sentence":"a"}]}`,
			key: KServeV1REST, wantStatus: 400, wantErr: "instance 0 must be"},
		{name: "kserve blank text", path: "/v1/models/textcls:predict", body: `{"instances":["a"," "]}`,
			key: KServeV1REST, wantStatus: 400, wantErr: "instance 1: the text must not be empty"},
		{name: "kserve instances not a list", path: "/v1/models/textcls:predict", body: `{"instances":"a"}`,
			key: KServeV1REST, wantStatus: 400, wantErr: `field \"instances\" must be an array`},
		{name: "kserve GET", method: "GET", path: "/v1/models/textcls:predict",
			key: KServeV1REST, wantStatus: 405, wantErr: "use POST"},

		// TF Serving.
		{name: "tfserving row format", path: "/v1/models/textcls/versions/1:predict",
			body: mustJSON(t, map[string]any{"signature_name": "serving_default", "instances": four}),
			key:  TFServingREST, wantStatus: 200, texts: four, form: "predictions",
			shape: &WireShape{Model: "textcls", Version: "1", Signature: "serving_default", Shape: []int64{4}, Encoding: "instances", Batch: 4}},
		{name: "tfserving row format objects", path: "/v1/models/textcls:predict",
			body: mustJSON(t, map[string]any{"signature_name": "serving_default", "instances": objects(four)}),
			key:  TFServingREST, wantStatus: 200, texts: four, form: "predictions",
			shape: &WireShape{Model: "textcls", Signature: "serving_default", Input: "text", Shape: []int64{4}, Encoding: "instances", Batch: 4}},
		{name: "tfserving version without signature", path: "/v1/models/textcls/versions/1:predict",
			body: mustJSON(t, map[string]any{"instances": four[:3]}),
			key:  TFServingREST, wantStatus: 200, texts: four[:3], form: "predictions",
			shape: &WireShape{Model: "textcls", Version: "1", Shape: []int64{3}, Encoding: "instances", Batch: 3}},
		{name: "tfserving columnar list", path: "/v1/models/textcls:predict", body: mustJSON(t, map[string]any{"inputs": four}),
			key: TFServingREST, wantStatus: 200, texts: four, form: "columnar",
			shape: &WireShape{Model: "textcls", Shape: []int64{4}, Encoding: "inputs", Batch: 4}},
		{name: "tfserving columnar object", path: "/v1/models/textcls:predict",
			body: mustJSON(t, map[string]any{"signature_name": "", "inputs": map[string]any{"text": four[1:]}}),
			key:  TFServingREST, wantStatus: 200, texts: four[1:], form: "columnar",
			shape: &WireShape{Model: "textcls", Input: "text", Shape: []int64{3}, Encoding: "inputs", Batch: 3}},
		{name: "tfserving unknown signature", path: "/v1/models/textcls:predict", body: `{"signature_name":"classify","instances":["a"]}`,
			key: TFServingREST, wantStatus: 400, wantErr: `signature name \"classify\" not found`},
		{name: "tfserving unknown version", path: "/v1/models/textcls/versions/2:predict", body: `{"instances":["a"]}`,
			key: TFServingREST, wantStatus: 404, wantErr: `version \"2\" of model \"textcls\" not found`},
		{name: "tfserving label", path: "/v1/models/textcls/labels/stable:predict", body: `{"instances":["a"]}`,
			key: TFServingREST, wantStatus: 404, wantErr: `version label \"stable\"`},
		{name: "tfserving instances and inputs", path: "/v1/models/textcls:predict", body: `{"instances":["a"],"inputs":["a"]}`,
			key: TFServingREST, wantStatus: 400, wantErr: "not both"},
		{name: "tfserving columnar wrong input", path: "/v1/models/textcls:predict", body: `{"inputs":{"sentence":["a"]}}`,
			key: TFServingREST, wantStatus: 400, wantErr: `\"inputs\" must be a list of strings`},

		// Open Inference Protocol.
		{name: "oip", path: "/v2/models/textcls/infer", body: oip("text", "BYTES", []int64{4}, four, `,"id":"r1"`),
			key: OIPv2REST, wantStatus: 200, texts: four, form: "oip",
			shape: &WireShape{Model: "textcls", Input: "text", Datatype: "BYTES", Shape: []int64{4}, Encoding: "data", Batch: 4}},
		{name: "oip version and nested data", path: "/v2/models/textcls/versions/1/infer",
			body: oip("text", "BYTES", []int64{2, 1}, [][]string{{four[0]}, {four[3]}}, ""),
			key:  OIPv2REST, wantStatus: 200, texts: []string{four[0], four[3]}, form: "oip",
			shape: &WireShape{Model: "textcls", Version: "1", Input: "text", Datatype: "BYTES", Shape: []int64{2, 1}, Encoding: "data", Batch: 2}},
		{name: "oip flat data of shape [N,1]", path: "/v2/models/textcls/infer", body: oip("text", "BYTES", []int64{2, 1}, four[:2], ""),
			key: OIPv2REST, wantStatus: 200, texts: four[:2], form: "oip",
			shape: &WireShape{Model: "textcls", Input: "text", Datatype: "BYTES", Shape: []int64{2, 1}, Encoding: "data", Batch: 2}},
		{name: "oip requested output", path: "/v2/models/textcls/infer",
			body: oip("text", "BYTES", []int64{4}, four, `,"outputs":[{"name":"category"}],"parameters":{"content_type":"str"}`),
			key:  OIPv2REST, wantStatus: 200, texts: four, form: "oip", outputs: []string{"category"},
			shape: &WireShape{Model: "textcls", Input: "text", Datatype: "BYTES", Shape: []int64{4}, Encoding: "data", Batch: 4}},
		{name: "oip wrong datatype", path: "/v2/models/textcls/infer", body: oip("text", "FP32", []int64{1}, []float64{1}, ""),
			key: OIPv2REST, wantStatus: 400, wantErr: `datatype \"FP32\", want BYTES`},
		{name: "oip shape mismatch", path: "/v2/models/textcls/infer", body: oip("text", "BYTES", []int64{3}, four, ""),
			key: OIPv2REST, wantStatus: 400, wantErr: "shape [3] holds 3 elements, data has 4"},
		{name: "oip shape of rank 2", path: "/v2/models/textcls/infer", body: oip("text", "BYTES", []int64{2, 2}, four, ""),
			key: OIPv2REST, wantStatus: 400, wantErr: "shape [2,2], want [N] or [N,1]"},
		{name: "oip nested data of shape [N]", path: "/v2/models/textcls/infer", body: oip("text", "BYTES", []int64{1}, [][]string{{"a"}}, ""),
			key: OIPv2REST, wantStatus: 400, wantErr: "data must be a list of strings"},
		{name: "oip wrong input name", path: "/v2/models/textcls/infer", body: oip("input_ids", "BYTES", []int64{1}, []string{"a"}, ""),
			key: OIPv2REST, wantStatus: 400, wantErr: `unexpected input \"input_ids\"`},
		{name: "oip two inputs", path: "/v2/models/textcls/infer",
			body: `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]},{"name":"text","datatype":"BYTES","shape":[1],"data":["b"]}]}`,
			key:  OIPv2REST, wantStatus: 400, wantErr: "the request has 2"},
		{name: "oip unknown model", path: "/v2/models/bert/infer", body: oip("text", "BYTES", []int64{1}, []string{"a"}, ""),
			key: OIPv2REST, wantStatus: 404, wantErr: `model \"bert\" not found`},
		{name: "oip unknown version", path: "/v2/models/textcls/versions/3/infer", body: oip("text", "BYTES", []int64{1}, []string{"a"}, ""),
			key: OIPv2REST, wantStatus: 404, wantErr: `version \"3\"`},
		{name: "oip unknown tensor field", path: "/v2/models/textcls/infer",
			body: `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"],"dims":[1]}]}`,
			key:  OIPv2REST, wantStatus: 400, wantErr: `unknown field \"dims\"`},
		{name: "oip missing shape", path: "/v2/models/textcls/infer", body: `{"inputs":[{"name":"text","datatype":"BYTES","data":["a"]}]}`,
			key: OIPv2REST, wantStatus: 400, wantErr: `missing field \"shape\"`},
		{name: "oip binary output", path: "/v2/models/textcls/infer",
			body: oip("text", "BYTES", []int64{1}, []string{"a"}, `,"parameters":{"binary_data_output":true}`),
			key:  OIPv2REST, wantStatus: 400, wantErr: "binary tensor data extension"},
		{name: "oip binary request", path: "/v2/models/textcls/infer", header: map[string]string{"Inference-Header-Content-Length": "10"},
			body: oip("text", "BYTES", []int64{1}, []string{"a"}, ""),
			key:  OIPv2REST, wantStatus: 400, wantErr: "binary tensor data extension"},
		{name: "oip unknown output", path: "/v2/models/textcls/infer",
			body: oip("text", "BYTES", []int64{1}, []string{"a"}, `,"outputs":[{"name":"probabilities"}]`),
			key:  OIPv2REST, wantStatus: 400, wantErr: `unknown output \"probabilities\"`},
		{name: "oip GET infer", method: "GET", path: "/v2/models/textcls/infer",
			key: OIPv2REST, wantStatus: 405, wantErr: "use POST"},

		// Vertex AI.
		{name: "vertex strings", path: vertexPath, body: mustJSON(t, map[string]any{"instances": four, "parameters": map[string]any{"k": 1}}),
			key: VertexREST, wantStatus: 200, texts: four, form: "vertex",
			shape: &WireShape{Model: "textcls", Endpoint: "projects/p1/locations/us-central1/endpoints/textcls", Shape: []int64{4}, Encoding: "instances", Batch: 4}},
		{name: "vertex objects", path: vertexPath, body: mustJSON(t, map[string]any{"instances": objects(four[2:])}),
			key: VertexREST, wantStatus: 200, texts: four[2:], form: "vertex",
			shape: &WireShape{Model: "textcls", Endpoint: "projects/p1/locations/us-central1/endpoints/textcls", Input: "text", Shape: []int64{2}, Encoding: "instances", Batch: 2}},
		{name: "vertex unknown endpoint", path: "/v1/projects/p1/locations/l/endpoints/123:predict", body: `{"instances":["a"]}`,
			key: VertexREST, wantStatus: 404, wantErr: `"status":"NOT_FOUND"`},
		{name: "vertex unknown field", path: vertexPath, body: `{"instances":["a"],"signature_name":"x"}`,
			key: VertexREST, wantStatus: 400, wantErr: `"status":"INVALID_ARGUMENT"`},
		{name: "vertex bad instance", path: vertexPath, body: `{"instances":[["a"]]}`,
			key: VertexREST, wantStatus: 400, wantErr: `"code":400`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(testConfig(), zaptest.NewLogger(t))
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got restAnswer
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("answer %s is not JSON: %v", rec.Body, err)
			}
			ps := s.Preset(tt.key)
			if ps.Requests != 1 || s.Requests() != 1 {
				t.Errorf("%s requests = %d, Requests() = %d, want 1", tt.key, ps.Requests, s.Requests())
			}
			if tt.wantStatus != 200 {
				if !strings.Contains(string(got.Error), tt.wantErr) {
					t.Errorf("error = %s, want it to contain %s", got.Error, tt.wantErr)
				}
				if ps.Invalid != 1 || s.Stats().Invalid != 1 || ps.Instances != 0 || ps.Last != nil {
					t.Errorf("%s stats after a refusal = %+v, want 1 invalid and nothing else", tt.key, ps)
				}
				return
			}
			labels, cats := wantPredictions(tt.texts)
			checkRESTAnswer(t, tt.form, tt.outputs, got, labels, cats, tt.shape.Shape)
			want := PresetStats{Requests: 1, Instances: int64(len(tt.texts)), BatchSizes: map[int]int64{len(tt.texts): 1}, Last: tt.shape}
			if !reflect.DeepEqual(ps, want) {
				t.Errorf("%s stats = %+v (last %+v), want %+v (last %+v)", tt.key, ps, ps.Last, want, want.Last)
			}
			for _, k := range presetKeys {
				if k != tt.key && s.Preset(k).Requests != 0 {
					t.Errorf("%s counted the request too", k)
				}
			}
		})
	}
}

// checkRESTAnswer compares a 200 answer of the given form with the labels
// and categories the classifier gives.
func checkRESTAnswer(t *testing.T, form string, outputs []string, got restAnswer, labels []string, cats []int64, shape []int64) {
	t.Helper()
	switch form {
	case "predictions", "vertex":
		if len(got.Predictions) != len(labels) {
			t.Fatalf("%d predictions, want %d", len(got.Predictions), len(labels))
		}
		for i, p := range got.Predictions {
			if p.Label != labels[i] || p.Category != cats[i] {
				t.Errorf("prediction %d = %s %d, want %s %d", i, p.Label, p.Category, labels[i], cats[i])
			}
		}
		if form == "vertex" && (got.DeployedModelID != "textcls" || got.ModelVersionID != "1") {
			t.Errorf("deployedModelId, modelVersionId = %q, %q, want textcls, 1", got.DeployedModelID, got.ModelVersionID)
		}
	case "columnar":
		var out struct {
			Label    []string `json:"label"`
			Category []int64  `json:"category"`
		}
		if err := json.Unmarshal(got.Outputs, &out); err != nil || !reflect.DeepEqual(out.Label, labels) || !reflect.DeepEqual(out.Category, cats) {
			t.Errorf("outputs = %s (%v), want labels %v categories %v", got.Outputs, err, labels, cats)
		}
	case "oip":
		var outs []struct {
			Name     string          `json:"name"`
			Datatype string          `json:"datatype"`
			Shape    []int64         `json:"shape"`
			Data     json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(got.Outputs, &outs); err != nil {
			t.Fatalf("outputs %s: %v", got.Outputs, err)
		}
		if outputs == nil {
			outputs = []string{"label", "category"}
		}
		if len(outs) != len(outputs) {
			t.Fatalf("outputs %s, want %v", got.Outputs, outputs)
		}
		if got.ModelName != "textcls" || got.ModelVersion != "1" {
			t.Errorf("model_name, model_version = %q, %q", got.ModelName, got.ModelVersion)
		}
		for i, o := range outs {
			want := map[string]struct {
				datatype string
				data     string
			}{"label": {"BYTES", mustJSON(t, labels)}, "category": {"INT64", mustJSON(t, cats)}}[outputs[i]]
			if o.Name != outputs[i] || o.Datatype != want.datatype || !reflect.DeepEqual(o.Shape, shape) || string(o.Data) != want.data {
				t.Errorf("output %d = %s %s %v %s, want %s %s %v %s", i, o.Name, o.Datatype, o.Shape, o.Data, outputs[i], want.datatype, shape, want.data)
			}
		}
	default:
		t.Fatalf("unknown form %q", form)
	}
}

// TestPresetRESTRoutes covers the routes that are not predictions: they
// answer, and count nothing.
func TestPresetRESTRoutes(t *testing.T) {
	t.Parallel()
	s := NewServer(testConfig(), zaptest.NewLogger(t))
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/v2", 200, `"extensions":[]`},
		{"GET", "/v2/health/live", 200, `{"live":true}`},
		{"GET", "/v2/health/ready", 200, `{"ready":true}`},
		{"POST", "/v2/health/ready", 405, "use GET"},
		{"GET", "/v2/models/textcls", 200, `"inputs":[{"name":"text","datatype":"BYTES","shape":[-1]}],"outputs":[{"name":"label","datatype":"BYTES","shape":[-1]},{"name":"category","datatype":"INT64","shape":[-1]}]`},
		{"GET", "/v2/models/textcls/versions/1", 200, `"versions":["1"]`},
		{"GET", "/v2/models/textcls/ready", 200, `{"name":"textcls","ready":true}`},
		{"GET", "/v2/models/textcls/versions/1/ready", 200, `"ready":true`},
		{"GET", "/v2/models/other/ready", 404, `model \"other\" not found`},
		{"GET", "/v2/models/other", 404, `model \"other\" not found`},
		{"GET", "/v2/models/textcls/versions/9", 404, `version \"9\"`},
		{"GET", "/v2/models/textcls/explain", 404, "no route"},
		{"GET", "/v2/repository/index", 404, "no route"},
		{"POST", "/v1/models/textcls:classify", 404, "no route"},
		{"POST", "/v1/models/textcls/a/b:predict", 404, "no route"},
		{"POST", "/v1/projects/p/locations/l/endpoints/textcls:rawPredict", 404, "no route"},
		{"POST", "/v1/projects/p/locations/l:predict", 404, "no route"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("%s %s = %d %s, want %d containing %s", tt.method, tt.path, rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	if got := s.Stats(); got.Requests != 0 || got.Invalid != 0 || got.Presets != nil {
		t.Errorf("Stats() = %+v after routes that are not predictions, want zeros", got)
	}
}

// grpcCase is one call of a table of gRPC tests: the call returns the
// answer's labels and categories (nil when it fails).
type grpcCase struct {
	name     string
	call     func(ctx context.Context) (labels []string, cats []int64, err error)
	texts    []string
	wantCode codes.Code
	wantMsg  string
	shape    *WireShape // of a valid call
}

// runGRPCCases runs cases against key's counters, one after the other so
// that each can assert the counters' change.
func runGRPCCases(t *testing.T, ls *liveServer, key string, cases []grpcCase) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			before := ls.Preset(key)
			labels, cats, err := tt.call(ctx)
			after := ls.Preset(key)
			if after.Requests != before.Requests+1 {
				t.Errorf("%s requests %d -> %d, want +1", key, before.Requests, after.Requests)
			}
			if tt.wantCode != codes.OK {
				st := status.Convert(err)
				if st.Code() != tt.wantCode || !strings.Contains(st.Message(), tt.wantMsg) {
					t.Errorf("call = %v, want %v containing %q", err, tt.wantCode, tt.wantMsg)
				}
				if after.Invalid != before.Invalid+1 || after.Instances != before.Instances {
					t.Errorf("%s invalid %d -> %d, instances %d -> %d; want +1 invalid only", key, before.Invalid, after.Invalid, before.Instances, after.Instances)
				}
				return
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			wantLabels, wantCats := wantPredictions(tt.texts)
			if labels != nil && !reflect.DeepEqual(labels, wantLabels) {
				t.Errorf("labels = %v, want %v", labels, wantLabels)
			}
			if cats != nil && !reflect.DeepEqual(cats, wantCats) {
				t.Errorf("categories = %v, want %v", cats, wantCats)
			}
			n := len(tt.texts)
			if after.Invalid != before.Invalid || after.Instances != before.Instances+int64(n) || after.BatchSizes[n] != before.BatchSizes[n]+1 {
				t.Errorf("%s stats %+v -> %+v, want +%d instances in one batch of %d", key, before, after, n, n)
			}
			if !reflect.DeepEqual(after.Last, tt.shape) {
				t.Errorf("%s last shape = %+v, want %+v", key, after.Last, tt.shape)
			}
		})
	}
}

// rawBytes is the raw form of a BYTES tensor: each element's 4-byte
// little-endian length, then its bytes.
func rawBytes(texts ...string) []byte {
	var b []byte
	for _, t := range texts {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t)))
		b = append(b, t...)
	}
	return b
}

func bytesOf(texts []string) [][]byte {
	var out [][]byte
	for _, t := range texts {
		out = append(out, []byte(t))
	}
	return out
}

func TestOIPGRPC(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DisableReflection = true // Triton has none: the generated types are enough
	ls := startServer(t, cfg, nil)
	client := inferencev2.NewGRPCInferenceServiceClient(ls.conn)
	four := presetTexts
	input := func(name, datatype string, shape []int64, texts []string) *inferencev2.ModelInferRequest_InferInputTensor {
		in := &inferencev2.ModelInferRequest_InferInputTensor{Name: name, Datatype: datatype, Shape: shape}
		if texts != nil {
			in.Contents = &inferencev2.InferTensorContents{BytesContents: bytesOf(texts)}
		}
		return in
	}
	infer := func(req *inferencev2.ModelInferRequest, wantOutputs ...string) func(context.Context) ([]string, []int64, error) {
		return func(ctx context.Context) ([]string, []int64, error) {
			resp, err := client.ModelInfer(ctx, req)
			if err != nil {
				return nil, nil, err
			}
			if wantOutputs == nil {
				wantOutputs = []string{"label", "category"}
			}
			if resp.GetModelName() != "textcls" || resp.GetModelVersion() != "1" || resp.GetId() != req.GetId() || len(resp.GetRawOutputContents()) != 0 {
				t.Errorf("response model %q version %q id %q raw %d", resp.GetModelName(), resp.GetModelVersion(), resp.GetId(), len(resp.GetRawOutputContents()))
			}
			if len(resp.GetOutputs()) != len(wantOutputs) {
				t.Fatalf("outputs %v, want %v", resp.GetOutputs(), wantOutputs)
			}
			var labels []string
			var cats []int64
			for i, o := range resp.GetOutputs() {
				if o.GetName() != wantOutputs[i] || !reflect.DeepEqual(o.GetShape(), req.GetInputs()[0].GetShape()) {
					t.Errorf("output %d: %s shape %v, want %s shape %v", i, o.GetName(), o.GetShape(), wantOutputs[i], req.GetInputs()[0].GetShape())
				}
				switch o.GetName() {
				case "label":
					if o.GetDatatype() != "BYTES" {
						t.Errorf("label datatype %s", o.GetDatatype())
					}
					for _, b := range o.GetContents().GetBytesContents() {
						labels = append(labels, string(b))
					}
				case "category":
					if o.GetDatatype() != "INT64" {
						t.Errorf("category datatype %s", o.GetDatatype())
					}
					cats = o.GetContents().GetInt64Contents()
				}
			}
			return labels, cats, nil
		}
	}
	shape := func(s []int64, enc string, version string) *WireShape {
		return &WireShape{Model: "textcls", Version: version, Input: "text", Datatype: "BYTES", Shape: s, Encoding: enc, Batch: int(s[0])}
	}
	runGRPCCases(t, ls, OIPv2GRPC, []grpcCase{
		{name: "bytes_contents", texts: four, shape: shape([]int64{4}, "bytes_contents", ""),
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Id: "r1", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{4}, four)}})},
		{name: "raw_input_contents", texts: four[1:], shape: shape([]int64{3}, "raw_input_contents", "1"),
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", ModelVersion: "1",
				Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{3}, nil)}, RawInputContents: [][]byte{rawBytes(four[1:]...)}})},
		{name: "shape [N,1]", texts: four[:2], shape: shape([]int64{2, 1}, "bytes_contents", ""),
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{2, 1}, four[:2])}})},
		{name: "requested output", texts: four, shape: shape([]int64{4}, "bytes_contents", ""),
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{4}, four)},
				Outputs: []*inferencev2.ModelInferRequest_InferRequestedOutputTensor{{Name: "label"}}}, "label")},
		{name: "wrong datatype", wantCode: codes.InvalidArgument, wantMsg: `datatype "FP32", want BYTES`,
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{
				{Name: "text", Datatype: "FP32", Shape: []int64{1}, Contents: &inferencev2.InferTensorContents{Fp32Contents: []float32{1}}}}})},
		{name: "shape mismatch", wantCode: codes.InvalidArgument, wantMsg: "shape [5] holds 5 elements, bytes_contents has 4",
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{5}, four)}})},
		{name: "contents of another type", wantCode: codes.InvalidArgument, wantMsg: "bytes_contents only",
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{
				{Name: "text", Datatype: "BYTES", Shape: []int64{1}, Contents: &inferencev2.InferTensorContents{BytesContents: [][]byte{[]byte("a")}, IntContents: []int32{1}}}}})},
		{name: "contents and raw", wantCode: codes.InvalidArgument, wantMsg: "both set",
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{1}, four[:1])},
				RawInputContents: [][]byte{rawBytes(four[0])}})},
		{name: "raw truncated", wantCode: codes.InvalidArgument, wantMsg: "length",
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{1}, nil)},
				RawInputContents: [][]byte{rawBytes(four[0])[:10]}})},
		{name: "raw with too many elements", wantCode: codes.InvalidArgument, wantMsg: "more than the 1 elements",
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{1}, nil)},
				RawInputContents: [][]byte{rawBytes(four[:2]...)}})},
		{name: "no contents", wantCode: codes.InvalidArgument, wantMsg: "no contents",
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{1}, nil)}})},
		{name: "wrong input name", wantCode: codes.InvalidArgument, wantMsg: `unexpected input "INPUT0"`,
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("INPUT0", "BYTES", []int64{1}, four[:1])}})},
		{name: "blank text", wantCode: codes.InvalidArgument, wantMsg: "element 1: the text must not be empty",
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{2}, []string{"a", ""})}})},
		{name: "unknown model", wantCode: codes.NotFound, wantMsg: `model "bert" not found`,
			call: infer(&inferencev2.ModelInferRequest{ModelName: "bert", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{1}, four[:1])}})},
		{name: "unknown version", wantCode: codes.NotFound, wantMsg: `version "2"`,
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", ModelVersion: "2", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{1}, four[:1])}})},
		{name: "no model", wantCode: codes.InvalidArgument, wantMsg: "model name is required",
			call: infer(&inferencev2.ModelInferRequest{Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{1}, four[:1])}})},
		{name: "unknown output", wantCode: codes.InvalidArgument, wantMsg: `unknown output "scores"`,
			call: infer(&inferencev2.ModelInferRequest{ModelName: "textcls", Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{input("text", "BYTES", []int64{1}, four[:1])},
				Outputs: []*inferencev2.ModelInferRequest_InferRequestedOutputTensor{{Name: "scores"}}})},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Run("health and metadata", func(t *testing.T) {
		live, err := client.ServerLive(ctx, &inferencev2.ServerLiveRequest{})
		if err != nil || !live.GetLive() {
			t.Errorf("ServerLive = %v, %v", live, err)
		}
		ready, err := client.ServerReady(ctx, &inferencev2.ServerReadyRequest{})
		if err != nil || !ready.GetReady() {
			t.Errorf("ServerReady = %v, %v", ready, err)
		}
		for _, tt := range []struct {
			name, version string
			want          bool
		}{{"textcls", "", true}, {"textcls", "1", true}, {"textcls", "2", false}, {"bert", "", false}} {
			r, err := client.ModelReady(ctx, &inferencev2.ModelReadyRequest{Name: tt.name, Version: tt.version})
			if err != nil || r.GetReady() != tt.want {
				t.Errorf("ModelReady(%s, %q) = %v, %v; want %v", tt.name, tt.version, r, err, tt.want)
			}
		}
		meta, err := client.ModelMetadata(ctx, &inferencev2.ModelMetadataRequest{Name: "textcls"})
		if err != nil {
			t.Fatalf("ModelMetadata: %v", err)
		}
		want := &inferencev2.ModelMetadataResponse{Name: "textcls", Versions: []string{"1"}, Platform: modelPlatform,
			Inputs: []*inferencev2.ModelMetadataResponse_TensorMetadata{{Name: "text", Datatype: "BYTES", Shape: []int64{-1}}},
			Outputs: []*inferencev2.ModelMetadataResponse_TensorMetadata{{Name: "label", Datatype: "BYTES", Shape: []int64{-1}},
				{Name: "category", Datatype: "INT64", Shape: []int64{-1}}}}
		if !proto.Equal(meta, want) {
			t.Errorf("ModelMetadata = %v, want %v", meta, want)
		}
		if _, err := client.ModelMetadata(ctx, &inferencev2.ModelMetadataRequest{Name: "bert"}); status.Code(err) != codes.NotFound {
			t.Errorf("ModelMetadata(bert) = %v, want NotFound", err)
		}
	})
	t.Run("no reflection", func(t *testing.T) {
		stream, err := reflectionpb.NewServerReflectionClient(ls.conn).ServerReflectionInfo(ctx)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("reflection with DisableReflection = %v, want Unimplemented", err)
		}
	})
}

func TestTFServingGRPC(t *testing.T) {
	t.Parallel()
	ls := startServer(t, testConfig(), nil)
	client := tfsapis.NewPredictionServiceClient(ls.conn)
	four := presetTexts
	tensor := func(dtype framework.DataType, shape []int64, texts []string) *framework.TensorProto {
		ts := &framework.TensorShapeProto{}
		for _, d := range shape {
			ts.Dim = append(ts.Dim, &framework.TensorShapeProto_Dim{Size: d})
		}
		return &framework.TensorProto{Dtype: dtype, TensorShape: ts, StringVal: bytesOf(texts)}
	}
	spec := &tfsapis.ModelSpec{Name: "textcls", VersionChoice: &tfsapis.ModelSpec_Version{Version: wrapperspb.Int64(1)}, SignatureName: "serving_default"}
	predict := func(req *tfsapis.PredictRequest, wantOutputs ...string) func(context.Context) ([]string, []int64, error) {
		return func(ctx context.Context) ([]string, []int64, error) {
			resp, err := client.Predict(ctx, req)
			if err != nil {
				return nil, nil, err
			}
			if wantOutputs == nil {
				wantOutputs = []string{"category", "label"}
			}
			if !proto.Equal(resp.GetModelSpec(), spec) {
				t.Errorf("model_spec = %v, want %v", resp.GetModelSpec(), spec)
			}
			var names []string
			for k := range resp.GetOutputs() {
				names = append(names, k)
			}
			if len(names) != len(wantOutputs) {
				t.Fatalf("outputs %v, want %v", names, wantOutputs)
			}
			inShape := req.GetInputs()["text"].GetTensorShape()
			var labels []string
			var cats []int64
			if l, ok := resp.GetOutputs()["label"]; ok {
				if l.GetDtype() != framework.DataType_DT_STRING || !proto.Equal(l.GetTensorShape(), inShape) {
					t.Errorf("label tensor %v %v", l.GetDtype(), l.GetTensorShape())
				}
				for _, b := range l.GetStringVal() {
					labels = append(labels, string(b))
				}
			}
			if c, ok := resp.GetOutputs()["category"]; ok {
				if c.GetDtype() != framework.DataType_DT_INT64 || !proto.Equal(c.GetTensorShape(), inShape) {
					t.Errorf("category tensor %v %v", c.GetDtype(), c.GetTensorShape())
				}
				cats = c.GetInt64Val()
			}
			return labels, cats, nil
		}
	}
	in := func(tp *framework.TensorProto) map[string]*framework.TensorProto {
		return map[string]*framework.TensorProto{"text": tp}
	}
	shape := func(s []int64, version, sig string) *WireShape {
		return &WireShape{Model: "textcls", Version: version, Signature: sig, Input: "text", Datatype: "DT_STRING", Shape: s, Encoding: "string_val", Batch: int(s[0])}
	}
	runGRPCCases(t, ls, TFServingGRPC, []grpcCase{
		{name: "full spec", texts: four, shape: shape([]int64{4}, "1", "serving_default"),
			call: predict(&tfsapis.PredictRequest{ModelSpec: spec, Inputs: in(tensor(framework.DataType_DT_STRING, []int64{4}, four))})},
		{name: "name only, shape [N,1]", texts: four[:3], shape: shape([]int64{3, 1}, "", ""),
			call: predict(&tfsapis.PredictRequest{ModelSpec: &tfsapis.ModelSpec{Name: "textcls"}, Inputs: in(tensor(framework.DataType_DT_STRING, []int64{3, 1}, four[:3]))})},
		{name: "output filter", texts: four, shape: shape([]int64{4}, "1", "serving_default"),
			call: predict(&tfsapis.PredictRequest{ModelSpec: spec, Inputs: in(tensor(framework.DataType_DT_STRING, []int64{4}, four)), OutputFilter: []string{"label"}}, "label")},
		{name: "wrong dtype", wantCode: codes.InvalidArgument, wantMsg: "dtype DT_INT64, want DT_STRING",
			call: predict(&tfsapis.PredictRequest{ModelSpec: spec, Inputs: in(&framework.TensorProto{Dtype: framework.DataType_DT_INT64,
				TensorShape: &framework.TensorShapeProto{Dim: []*framework.TensorShapeProto_Dim{{Size: 1}}}, Int64Val: []int64{1}})})},
		{name: "shape mismatch", wantCode: codes.InvalidArgument, wantMsg: "shape [2] holds 2 elements, string_val has 4",
			call: predict(&tfsapis.PredictRequest{ModelSpec: spec, Inputs: in(tensor(framework.DataType_DT_STRING, []int64{2}, four))})},
		{name: "no shape", wantCode: codes.InvalidArgument, wantMsg: "missing tensor_shape",
			call: predict(&tfsapis.PredictRequest{ModelSpec: spec, Inputs: in(&framework.TensorProto{Dtype: framework.DataType_DT_STRING, StringVal: bytesOf(four)})})},
		{name: "tensor_content", wantCode: codes.InvalidArgument, wantMsg: "string_val only",
			call: predict(&tfsapis.PredictRequest{ModelSpec: spec, Inputs: in(&framework.TensorProto{Dtype: framework.DataType_DT_STRING,
				TensorShape: &framework.TensorShapeProto{Dim: []*framework.TensorShapeProto_Dim{{Size: 1}}}, StringVal: bytesOf(four[:1]), TensorContent: []byte{1}})})},
		{name: "no model_spec", wantCode: codes.InvalidArgument, wantMsg: "missing model_spec",
			call: predict(&tfsapis.PredictRequest{Inputs: in(tensor(framework.DataType_DT_STRING, []int64{1}, four[:1]))})},
		{name: "unknown model", wantCode: codes.NotFound, wantMsg: `model "resnet" not found`,
			call: predict(&tfsapis.PredictRequest{ModelSpec: &tfsapis.ModelSpec{Name: "resnet"}, Inputs: in(tensor(framework.DataType_DT_STRING, []int64{1}, four[:1]))})},
		{name: "unknown version", wantCode: codes.NotFound, wantMsg: `version "7"`,
			call: predict(&tfsapis.PredictRequest{ModelSpec: &tfsapis.ModelSpec{Name: "textcls", VersionChoice: &tfsapis.ModelSpec_Version{Version: wrapperspb.Int64(7)}},
				Inputs: in(tensor(framework.DataType_DT_STRING, []int64{1}, four[:1]))})},
		{name: "version label", wantCode: codes.NotFound, wantMsg: `version label "canary"`,
			call: predict(&tfsapis.PredictRequest{ModelSpec: &tfsapis.ModelSpec{Name: "textcls", VersionChoice: &tfsapis.ModelSpec_VersionLabel{VersionLabel: "canary"}},
				Inputs: in(tensor(framework.DataType_DT_STRING, []int64{1}, four[:1]))})},
		{name: "unknown signature", wantCode: codes.InvalidArgument, wantMsg: `signature name "predict_images"`,
			call: predict(&tfsapis.PredictRequest{ModelSpec: &tfsapis.ModelSpec{Name: "textcls", SignatureName: "predict_images"},
				Inputs: in(tensor(framework.DataType_DT_STRING, []int64{1}, four[:1]))})},
		{name: "wrong input name", wantCode: codes.InvalidArgument, wantMsg: `the model has one input, "text"`,
			call: predict(&tfsapis.PredictRequest{ModelSpec: spec, Inputs: map[string]*framework.TensorProto{"inputs": tensor(framework.DataType_DT_STRING, []int64{1}, four[:1])}})},
		{name: "unknown output", wantCode: codes.InvalidArgument, wantMsg: `unknown output "probabilities"`,
			call: predict(&tfsapis.PredictRequest{ModelSpec: spec, Inputs: in(tensor(framework.DataType_DT_STRING, []int64{1}, four[:1])), OutputFilter: []string{"probabilities"}})},
	})
}

func TestVertexGRPC(t *testing.T) {
	t.Parallel()
	ls := startServer(t, testConfig(), nil)
	client := aiplatformpb.NewPredictionServiceClient(ls.conn)
	four := presetTexts
	const endpoint = "projects/p1/locations/europe-west4/endpoints/textcls"
	values := func(texts []string, object bool) []*structpb.Value {
		var out []*structpb.Value
		for _, t := range texts {
			if object {
				out = append(out, structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"text": structpb.NewStringValue(t)}}))
			} else {
				out = append(out, structpb.NewStringValue(t))
			}
		}
		return out
	}
	predict := func(req *aiplatformpb.PredictRequest) func(context.Context) ([]string, []int64, error) {
		return func(ctx context.Context) ([]string, []int64, error) {
			resp, err := client.Predict(ctx, req)
			if err != nil {
				return nil, nil, err
			}
			if resp.GetDeployedModelId() != "textcls" || resp.GetModelVersionId() != "1" {
				t.Errorf("deployed_model_id, model_version_id = %q, %q", resp.GetDeployedModelId(), resp.GetModelVersionId())
			}
			var labels []string
			var cats []int64
			for _, p := range resp.GetPredictions() {
				f := p.GetStructValue().GetFields()
				if len(f) != 2 {
					t.Errorf("prediction %v, want {label, category}", p)
				}
				labels = append(labels, f["label"].GetStringValue())
				cats = append(cats, int64(f["category"].GetNumberValue()))
			}
			return labels, cats, nil
		}
	}
	shape := func(n int, input string) *WireShape {
		return &WireShape{Model: "textcls", Endpoint: endpoint, Input: input, Shape: []int64{int64(n)}, Encoding: "values", Batch: n}
	}
	params := structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"top_k": structpb.NewNumberValue(1)}})
	runGRPCCases(t, ls, VertexGRPC, []grpcCase{
		{name: "strings", texts: four, shape: shape(4, ""),
			call: predict(&aiplatformpb.PredictRequest{Endpoint: endpoint, Instances: values(four, false), Parameters: params})},
		{name: "structs", texts: four[1:], shape: shape(3, "text"),
			call: predict(&aiplatformpb.PredictRequest{Endpoint: endpoint, Instances: values(four[1:], true)})},
		{name: "unknown endpoint", wantCode: codes.NotFound, wantMsg: "endpoints/42 not found",
			call: predict(&aiplatformpb.PredictRequest{Endpoint: "projects/p1/locations/l/endpoints/42", Instances: values(four, false)})},
		{name: "malformed endpoint", wantCode: codes.InvalidArgument, wantMsg: "want projects/{project}/locations/{location}/endpoints/{endpoint}",
			call: predict(&aiplatformpb.PredictRequest{Endpoint: "textcls", Instances: values(four, false)})},
		{name: "no instances", wantCode: codes.InvalidArgument, wantMsg: "at least one instance",
			call: predict(&aiplatformpb.PredictRequest{Endpoint: endpoint})},
		{name: "number instance", wantCode: codes.InvalidArgument, wantMsg: "instance 1 must be a string or a struct",
			call: predict(&aiplatformpb.PredictRequest{Endpoint: endpoint, Instances: []*structpb.Value{structpb.NewStringValue("a"), structpb.NewNumberValue(1)}})},
		{name: "struct with another field", wantCode: codes.InvalidArgument, wantMsg: "instance 0 must be",
			call: predict(&aiplatformpb.PredictRequest{Endpoint: endpoint, Instances: []*structpb.Value{
				structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"content": structpb.NewStringValue("a")}})}})},
	})
	t.Run("only Predict", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.RawPredict(ctx, &aiplatformpb.RawPredictRequest{Endpoint: endpoint})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("RawPredict = %v, want Unimplemented", err)
		}
	})
}

// TestPresetKnobs checks that the knobs reach the serving protocols'
// routes: every valid request is answered with an injected error, in the
// protocol's form, and counted as valid.
func TestPresetKnobs(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ErrorRatio = 1
	ls := startServer(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct{ path, body, wantBody string }{
		{"/v1/models/textcls:predict", `{"instances":["a goal"]}`, `{"error":"injected error`},
		{"/v2/models/textcls/infer", `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a goal"]}]}`, `{"error":"injected error`},
		{"/v1/projects/p/locations/l/endpoints/textcls:predict", `{"instances":["a goal"]}`, `"status":"UNAVAILABLE"`},
	} {
		resp, err := http.Post(ls.url+tt.path, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatalf("POST %s: %v", tt.path, err)
		}
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b.String(), tt.wantBody) {
			t.Errorf("POST %s = %d %s (%v), want 503 containing %s", tt.path, resp.StatusCode, b.String(), err, tt.wantBody)
		}
	}
	_, err := inferencev2.NewGRPCInferenceServiceClient(ls.conn).ModelInfer(ctx, &inferencev2.ModelInferRequest{ModelName: "textcls",
		Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{{Name: "text", Datatype: "BYTES", Shape: []int64{1},
			Contents: &inferencev2.InferTensorContents{BytesContents: [][]byte{[]byte("a goal")}}}}})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("ModelInfer = %v, want Unavailable", err)
	}
	st := ls.Stats()
	if st.ErrorsInjected != 4 || st.Invalid != 0 {
		t.Errorf("Stats() = %+v, want 4 injected errors and no invalid request", st)
	}
	for _, k := range []string{KServeV1REST, OIPv2REST, VertexREST, OIPv2GRPC} {
		if ps := st.Presets[k]; ps.Requests != 1 || ps.Instances != 1 {
			t.Errorf("%s = %+v, want 1 request of 1 instance", k, ps)
		}
	}
}

// TestStatsJSON checks the field names of GET /v1/stats's presets.
func TestStatsJSON(t *testing.T) {
	t.Parallel()
	s := NewServer(testConfig(), zaptest.NewLogger(t))
	for range 2 {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/textcls/infer",
			strings.NewReader(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["a goal","a chip"]}]}`)))
		if rec.Code != 200 {
			t.Fatalf("infer = %d %s", rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/stats", nil))
	want := `"presets":{"oip_v2/rest":{"requests":2,"instances":4,"invalid":0,"batch_sizes":{"2":2},` +
		`"last":{"model":"textcls","input":"text","datatype":"BYTES","shape":[2],"encoding":"data","batch":2}}}`
	if !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/v1/stats = %s, want it to contain %s", rec.Body, want)
	}
	var got Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !reflect.DeepEqual(got, s.Stats()) {
		t.Errorf("/v1/stats decodes to %+v (%v), want %+v", got, err, s.Stats())
	}
}

// TestConfiguredNames checks that the model name, version and input name
// come from Config.
func TestConfiguredNames(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ModelName, cfg.ModelVersion, cfg.InputName = "news", "3", "sentence"
	s := NewServer(cfg, zaptest.NewLogger(t))
	tests := []struct {
		path, body string
		wantStatus int
	}{
		{"/v2/models/news/versions/3/infer", `{"inputs":[{"name":"sentence","datatype":"BYTES","shape":[1],"data":["a goal"]}]}`, 200},
		{"/v2/models/news/infer", `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a goal"]}]}`, 400},
		{"/v2/models/textcls/infer", `{"inputs":[{"name":"sentence","datatype":"BYTES","shape":[1],"data":["a goal"]}]}`, 404},
		{"/v1/models/news/versions/3:predict", `{"instances":[{"sentence":"a goal"}]}`, 200},
		{"/v1/models/news/versions/1:predict", `{"instances":[{"sentence":"a goal"}]}`, 404},
		{"/v1/models/news:predict", `{"instances":[{"text":"a goal"}]}`, 400},
		{"/v1/projects/p/locations/l/endpoints/news:predict", `{"instances":["a goal"]}`, 200},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", tt.path, strings.NewReader(tt.body)))
		if rec.Code != tt.wantStatus {
			t.Errorf("POST %s %s = %d %s, want %d", tt.path, tt.body, rec.Code, rec.Body, tt.wantStatus)
		}
	}
}
