package plan

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var presetTexts = []string{"stocks rally", `say "hi" {{x}}`, "naïve 東京"}

// b64 is the standard base64 of s, as protojson writes bytes.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// jsonOf parses s, failing the test on invalid JSON.
func jsonOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %s: %v", s, err)
	}
	return v
}

func quoteAll(texts []string, f func(string) string) string {
	q := make([]string, len(texts))
	for i, s := range texts {
		b, _ := json.Marshal(f(s))
		q[i] = string(b)
	}
	return "[" + strings.Join(q, ",") + "]"
}

func same(s string) string { return s }

// TestPresets: each preset's request, over REST and gRPC, for a batch of 1
// and of 3, is the wire shape of its protocol's published spec.
func TestPresets(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		yaml     string // the target, indented
		url      string // http: the URL after expansion
		method   string
		auth     bool // google_access_token added
		want     func(texts []string) string
		protocol string
	}{
		{
			name: "kserve_v1 rest", protocol: "http",
			yaml: "  protocol: http\n  url: http://127.0.0.1:8080\n  preset: {name: kserve_v1, model: news}\n",
			url:  "http://127.0.0.1:8080/v1/models/news:predict", method: "POST",
			want: func(x []string) string { return `{"instances":` + quoteAll(x, same) + `}` },
		},
		{
			name: "oip_v2 rest", protocol: "http",
			yaml: "  protocol: http\n  url: http://127.0.0.1:8000/\n  preset: {name: oip_v2, model: news}\n",
			url:  "http://127.0.0.1:8000/v2/models/news/infer", method: "POST",
			want: func(x []string) string {
				return `{"inputs":[{"name":"text","shape":[` + itoa(len(x)) + `],"datatype":"BYTES","data":` + quoteAll(x, same) + `}]}`
			},
		},
		{
			name: "oip_v2 rest with version and input", protocol: "http",
			yaml: "  protocol: http\n  url: http://127.0.0.1:8000\n  preset: {name: oip_v2, model: news, version: \"2\", input_name: INPUT0}\n",
			url:  "http://127.0.0.1:8000/v2/models/news/versions/2/infer", method: "POST",
			want: func(x []string) string {
				return `{"inputs":[{"name":"INPUT0","shape":[` + itoa(len(x)) + `],"datatype":"BYTES","data":` + quoteAll(x, same) + `}]}`
			},
		},
		{
			name: "oip_v2 grpc", protocol: "grpc",
			yaml:   "  protocol: grpc\n  address: 127.0.0.1:8001\n  preset: {name: oip_v2, model: news, version: \"3\"}\n",
			method: "/inference.GRPCInferenceService/ModelInfer",
			want: func(x []string) string {
				return `{"model_name":"news","model_version":"3","inputs":[{"name":"text","datatype":"BYTES","shape":["` + itoa(len(x)) +
					`"],"contents":{"bytes_contents":` + quoteAll(x, b64) + `}}]}`
			},
		},
		{
			name: "oip_v2 grpc shorthand", protocol: "grpc",
			yaml:   "  protocol: grpc\n  address: 127.0.0.1:8001\n  preset: oip_v2\n",
			method: "/inference.GRPCInferenceService/ModelInfer",
		},
		{
			name: "tfserving rest", protocol: "http",
			yaml: "  protocol: http\n  url: http://127.0.0.1:8501\n  preset: {name: tfserving, model: news}\n",
			url:  "http://127.0.0.1:8501/v1/models/news:predict", method: "POST",
			want: func(x []string) string {
				return `{"signature_name":"serving_default","instances":` + quoteAll(x, same) + `}`
			},
		},
		{
			name: "tfserving rest with version", protocol: "http",
			yaml: "  protocol: http\n  url: http://127.0.0.1:8501\n  preset: {name: tfserving, model: news, version: \"7\", signature_name: classify}\n",
			url:  "http://127.0.0.1:8501/v1/models/news/versions/7:predict", method: "POST",
			want: func(x []string) string { return `{"signature_name":"classify","instances":` + quoteAll(x, same) + `}` },
		},
		{
			name: "tfserving grpc", protocol: "grpc",
			yaml:   "  protocol: grpc\n  address: 127.0.0.1:8500\n  preset: {name: tfserving, model: news, version: \"7\", input_name: sentences}\n",
			method: "/tensorflow.serving.PredictionService/Predict",
			want: func(x []string) string {
				return `{"model_spec":{"name":"news","signature_name":"serving_default","version":"7"},"inputs":{"sentences":{"dtype":"DT_STRING","tensor_shape":{"dim":[{"size":"` +
					itoa(len(x)) + `"}]},"string_val":` + quoteAll(x, b64) + `}}}`
			},
		},
		{
			name: "tfserving grpc without version", protocol: "grpc",
			yaml:   "  protocol: grpc\n  address: 127.0.0.1:8500\n  preset: {name: tfserving, model: news}\n",
			method: "/tensorflow.serving.PredictionService/Predict",
			want: func(x []string) string {
				return `{"model_spec":{"name":"news","signature_name":"serving_default"},"inputs":{"text":{"dtype":"DT_STRING","tensor_shape":{"dim":[{"size":"` +
					itoa(len(x)) + `"}]},"string_val":` + quoteAll(x, b64) + `}}}`
			},
		},
		{
			name: "vertex rest", protocol: "http", auth: true,
			yaml: "  protocol: http\n  url: https://us-central1-aiplatform.googleapis.com\n  preset: {name: vertex, project: p1, location: us-central1, endpoint: \"123\"}\n",
			url:  "https://us-central1-aiplatform.googleapis.com/v1/projects/p1/locations/us-central1/endpoints/123:predict", method: "POST",
			want: func(x []string) string { return `{"instances":` + quoteAll(x, same) + `}` },
		},
		{
			name: "vertex grpc", protocol: "grpc", auth: true,
			yaml:   "  protocol: grpc\n  address: us-central1-aiplatform.googleapis.com:443\n  preset: {name: vertex, project: p1, location: us-central1, endpoint: \"123\"}\n",
			method: "/google.cloud.aiplatform.v1.PredictionService/Predict",
			want: func(x []string) string {
				return `{"endpoint":"projects/p1/locations/us-central1/endpoints/123","instances":` + quoteAll(x, same) + `}`
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, batch := range []int{1, 3} {
				doc := "name: preset\ntarget:\n" + tt.yaml + "  batch: " + itoa(batch) +
					"\ndata: {texts: [a]}\nload: {model: open, stages: [{duration: 10s, rate: 1}]}\n"
				p, err := Parse([]byte(doc), "yaml")
				if tt.want == nil { // the shorthand names no model
					if err == nil || !strings.Contains(err.Error(), "target.preset.model: required for preset oip_v2") {
						t.Fatalf("Parse = %v, want target.preset.model required", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				tg := &p.Target
				if tt.protocol == ProtocolHTTP && (tg.URL != tt.url || tg.Method != tt.method) {
					t.Errorf("url, method = %s %s, want %s %s", tg.Method, tg.URL, tt.method, tt.url)
				}
				if tt.protocol == ProtocolGRPC && tg.Method != tt.method {
					t.Errorf("method = %s, want %s", tg.Method, tt.method)
				}
				if got := tg.Auth.Kind() == AuthGoogleAccessToken; got != tt.auth {
					t.Errorf("auth = %+v, want google_access_token %v", tg.Auth, tt.auth)
				}
				r, err := tg.RenderRequests(&Corpus{Texts: presetTexts}, RenderLimits{})
				if err != nil {
					t.Fatalf("RenderRequests: %v", err)
				}
				// Every preset renders without text/template's reflection.
				src := tg.Body
				if tg.Protocol == ProtocolGRPC {
					src = tg.Request
				}
				if tmpl, err := parseTemplate(src); err != nil {
					t.Fatal(err)
				} else if _, fast := compileFast(tmpl); !fast {
					t.Errorf("preset body %s is not rendered fast", src)
				}
				if want := (len(presetTexts) + batch - 1) / batch; r.NumRequests() != want || r.Batch != batch {
					t.Fatalf("%d requests of batch %d, want %d of %d", r.NumRequests(), r.Batch, want, batch)
				}
				for i, b := range r.Bodies {
					var texts []string
					for j := range batch {
						texts = append(texts, presetTexts[r.Text(i, j)])
					}
					if got, want := jsonOf(t, string(b)), jsonOf(t, tt.want(texts)); !reflect.DeepEqual(got, want) {
						t.Errorf("batch %d request %d:\n got %s\nwant %s", batch, i, b, tt.want(texts))
					}
				}
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestPresetExplicitFieldsWin: a preset fills only what the plan leaves
// unset.
func TestPresetExplicitFieldsWin(t *testing.T) {
	t.Parallel()
	secret := &Auth{Secret: &SecretAuth{Name: "projects/p/secrets/s/versions/1"}}
	for _, tt := range []struct {
		name   string
		target Target
		check  func(t *testing.T, tg *Target)
	}{
		{"url path", Target{Protocol: "http", URL: "http://h:1/custom/path?x=1", Preset: &Preset{Name: PresetKServeV1, Model: "m"}}, func(t *testing.T, tg *Target) {
			if tg.URL != "http://h:1/custom/path?x=1" {
				t.Errorf("url = %s, want the plan's", tg.URL)
			}
		}},
		{"query kept when the path is filled", Target{Protocol: "http", URL: "http://h:1?x=1", Preset: &Preset{Name: PresetKServeV1, Model: "m/x y"}}, func(t *testing.T, tg *Target) {
			if tg.URL != "http://h:1/v1/models/m%2Fx%20y:predict?x=1" {
				t.Errorf("url = %s, want the preset's path, escaped, with the query", tg.URL)
			}
		}},
		{"method and body", Target{Protocol: "http", URL: "http://h:1", Method: "PUT", Body: `{"x": {{json .Text}}}`, Preset: &Preset{Name: PresetOIPV2, Model: "m"}}, func(t *testing.T, tg *Target) {
			if tg.Method != "PUT" || tg.Body != `{"x": {{json .Text}}}` {
				t.Errorf("method, body = %s %s, want the plan's", tg.Method, tg.Body)
			}
		}},
		{"grpc method and request", Target{Protocol: "grpc", Address: "h:1", Method: "/a.B/C", Request: `{}`, Preset: &Preset{Name: PresetTFServing, Model: "m"}}, func(t *testing.T, tg *Target) {
			if tg.Method != "/a.B/C" || tg.Request != `{}` {
				t.Errorf("method, request = %s %s, want the plan's", tg.Method, tg.Request)
			}
		}},
		{"vertex auth", Target{Protocol: "http", URL: "https://h", Auth: secret, Preset: &Preset{Name: PresetVertex, Project: "p", Location: "l", Endpoint: "e"}}, func(t *testing.T, tg *Target) {
			if tg.Auth != secret {
				t.Errorf("auth = %+v, want the plan's", tg.Auth)
			}
		}},
		{"a model name holding a template action", Target{Protocol: "grpc", Address: "h:1", Preset: &Preset{Name: PresetOIPV2, Model: `{{.Text}}"`}}, func(t *testing.T, tg *Target) {
			r, err := tg.RenderRequests(&Corpus{Texts: []string{"a"}}, RenderLimits{})
			if err != nil {
				t.Fatal(err)
			}
			if m := jsonOf(t, string(r.Bodies[0])).(map[string]any)["model_name"]; m != `{{.Text}}"` {
				t.Errorf("model_name = %v, want the name as written", m)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Plan{Target: tt.target}
			p.ApplyDefaults()
			tt.check(t, &p.Target)
			again := *p
			again.ApplyDefaults()
			if !reflect.DeepEqual(again.Target, p.Target) {
				t.Errorf("ApplyDefaults twice changed the target:\n%+v\n%+v", again.Target, p.Target)
			}
		})
	}
}
