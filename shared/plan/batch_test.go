package plan

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testProtoset is the base64 of a FileDescriptorSet holding
// google/protobuf/timestamp.proto.
func testProtoset(t testing.TB) string {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(timestamppb.File_google_protobuf_timestamp_proto),
	}}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func presetHTTP(pr *Preset) func() *Plan {
	return func() *Plan {
		p := validHTTP()
		p.Target.URL = "http://127.0.0.1:8080"
		p.Target.Body = ""
		p.Target.Preset = pr
		return p
	}
}

func presetGRPC(pr *Preset) func() *Plan {
	return func() *Plan {
		p := validGRPC()
		p.Target.Method, p.Target.Request = "", ""
		p.Target.Preset = pr
		return p
	}
}

func TestValidateAcceptsNewFields(t *testing.T) {
	t.Parallel()
	protoset := testProtoset(t)
	for _, tt := range []struct {
		name string
		p    *Plan
	}{
		{"kserve_v1 batch and check", func() *Plan {
			p := presetHTTP(&Preset{Name: PresetKServeV1, Model: "news"})()
			p.Target.Batch = MaxBatch
			p.Target.Check = &Check{Path: "predictions[*].label", Equals: "{{.Record.label}}", CountAs: CountAsMetric}
			return p
		}()},
		{"oip_v2 grpc", presetGRPC(&Preset{Name: PresetOIPV2, Model: "news", Version: "v1.2"})()},
		{"tfserving grpc", presetGRPC(&Preset{Name: PresetTFServing, Model: "news", Version: "12", InputName: "x", SignatureName: "s"})()},
		{"vertex grpc", presetGRPC(&Preset{Name: PresetVertex, Project: "p", Location: "l", Endpoint: "1"})()},
		{"check with batch 1 and [*]", func() *Plan {
			p := validHTTP()
			p.Target.Check = &Check{Path: "predictions[*].label", Equals: "{{.Record.label}}"}
			return p
		}()},
		{"check without [*] at batch 1", func() *Plan {
			p := validGRPC()
			p.Target.Check = &Check{Path: "$.label", Equals: `{{if eq .Record.lang "en"}}{{.Record.label}}{{end}}`}
			return p
		}()},
		{"batch with a hand-written body", func() *Plan {
			p := validHTTP()
			p.Target.Batch = 4
			p.Target.Body = `{"texts": {{json .Texts}}, "first_label": {{json (index .Records 0).label}}}`
			return p
		}()},
		{"protoset", func() *Plan { p := validGRPC(); p.Target.Protoset = protoset; return p }()},
		{"protoset with line breaks", func() *Plan {
			p := validGRPC()
			p.Target.Protoset = protoset[:10] + "\n  " + protoset[10:]
			return p
		}()},
		{"data uri", func() *Plan {
			p := validHTTP()
			p.Data = Data{URI: "gs://my-bucket.example/corpora/news.jsonl"}
			return p
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.p.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateNewFields(t *testing.T) {
	t.Parallel()
	kserve := &Preset{Name: PresetKServeV1, Model: "news"}
	withCheck := func(base func() *Plan, batch int, k Check) func() *Plan {
		return func() *Plan {
			p := base()
			p.Target.Batch = batch
			p.Target.Check = &k
			return p
		}
	}
	for _, tt := range []struct {
		name   string
		base   func() *Plan
		change func(p *Plan)
		path   string
		reason string
	}{
		{"preset unknown", presetHTTP(&Preset{Name: "triton", Model: "m"}), nil, "target.preset.name", `unknown preset "triton" (want one of kserve_v1, oip_v2, tfserving, vertex)`},
		{"preset name missing", presetHTTP(&Preset{Model: "m"}), nil, "target.preset.name", "required (one of kserve_v1, oip_v2, tfserving, vertex)"},
		{"preset model missing", presetHTTP(&Preset{Name: PresetTFServing}), nil, "target.preset.model", "required for preset tfserving"},
		{"preset model with a slash", presetHTTP(&Preset{Name: PresetOIPV2, Model: "a/b"}), nil, "target.preset.model", "must not contain spaces, control characters or '/'"},
		{"preset vertex project missing", presetHTTP(&Preset{Name: PresetVertex, Location: "l", Endpoint: "e"}), nil, "target.preset.project", "required for preset vertex"},
		{"preset vertex endpoint missing", presetGRPC(&Preset{Name: PresetVertex, Project: "p", Location: "l"}), nil, "target.preset.endpoint", "required for preset vertex"},
		{"preset vertex with a model", presetHTTP(&Preset{Name: PresetVertex, Model: "m", Project: "p", Location: "l", Endpoint: "e"}), nil, "target.preset.model", "not used by preset vertex"},
		{"preset kserve with a version", presetHTTP(&Preset{Name: PresetKServeV1, Model: "m", Version: "1"}), nil, "target.preset.version", "not used by preset kserve_v1 (only oip_v2 and tfserving)"},
		{"preset kserve over grpc", presetGRPC(kserve), nil, "target.preset.name", "kserve_v1 has no gRPC protocol"},
		{"preset tfserving version not a number", presetGRPC(&Preset{Name: PresetTFServing, Model: "m", Version: "v1"}), nil, "target.preset.version", "want a version number"},
		{"preset oip datatype unknown", presetHTTP(&Preset{Name: PresetOIPV2, Model: "m", Datatype: "STRING"}), nil, "target.preset.datatype", `want an Open Inference Protocol datatype`},
		{"preset oip grpc datatype not bytes", presetGRPC(&Preset{Name: PresetOIPV2, Model: "m", Datatype: "FP32"}), nil, "target.preset.datatype", "want BYTES"},
		{"preset signature on oip", presetHTTP(&Preset{Name: PresetOIPV2, Model: "m", SignatureName: "s"}), nil, "target.preset.signature_name", "not used by preset oip_v2 (only tfserving)"},
		{"batch negative", validHTTP, func(p *Plan) { p.Target.Batch = -1 }, "target.batch", "must be 1..1024"},
		{"batch too large", presetHTTP(kserve), func(p *Plan) { p.Target.Batch = 1025 }, "target.batch", "must be 1..1024 (texts per request), got 1025"},
		{"batch with a one-text body", validHTTP, func(p *Plan) { p.Target.Batch = 2 }, "target.body", "use .Texts"},
		{"batch with a one-text request", validGRPC, func(p *Plan) { p.Target.Batch = 2 }, "target.request", "use .Texts"},
		{"batch without a body", validHTTP, func(p *Plan) { p.Target.Body = ""; p.Target.Batch = 3 }, "target.body", "use .Texts"},
		{"check path missing", withCheck(validHTTP, 1, Check{Equals: "x"}), nil, "target.check.path", "required"},
		{"check equals missing", withCheck(validHTTP, 1, Check{Path: "a"}), nil, "target.check.equals", "required"},
		{"check path does not compile", withCheck(validHTTP, 1, Check{Path: "a[", Equals: "x"}), nil, "target.check.path", `check path "a[" at offset 1: unterminated '['`},
		{"check path without [*] with a batch", withCheck(presetHTTP(kserve), 8, Check{Path: "predictions[0].label", Equals: "x"}), nil, "target.check.path", "with target.batch 8 the path must hold exactly one [*] (the instance)"},
		{"check path with two [*] with a batch", withCheck(presetHTTP(kserve), 8, Check{Path: "a[*].b[*]", Equals: "x"}), nil, "target.check.path", "holds 2"},
		{"check path with two [*]", withCheck(validHTTP, 1, Check{Path: "a[*].b[*]", Equals: "x"}), nil, "target.check.path", "at most one [*]"},
		{"check count_as", withCheck(validHTTP, 1, Check{Path: "a", Equals: "x", CountAs: "warning"}), nil, "target.check.count_as", `must be error or metric, got "warning"`},
		{"check equals a program", withCheck(validHTTP, 1, Check{Path: "a", Equals: "{{range .Texts}}{{.}}{{end}}"}), nil, "target.check.equals", "{{range}} on line 1 is not allowed"},
		{"check equals a bad field", withCheck(validHTTP, 1, Check{Path: "a", Equals: "{{.Label}}"}), nil, "target.check.equals", "fails on a sample text"},
		{"protoset on http", validHTTP, func(p *Plan) { p.Target.Protoset = "AAAA" }, "target.protoset", "only for protocol grpc"},
		{"protoset not base64", validGRPC, func(p *Plan) { p.Target.Protoset = "not base64!" }, "target.protoset", "not valid base64"},
		{"protoset not a descriptor set", validGRPC, func(p *Plan) { p.Target.Protoset = base64.StdEncoding.EncodeToString([]byte("\x0a\x05hello")) }, "target.protoset", "not a serialized google.protobuf.FileDescriptorSet"},
		{"protoset empty set", validGRPC, func(p *Plan) { p.Target.Protoset = base64.StdEncoding.EncodeToString([]byte{0x10, 0x01}) }, "target.protoset", "holds no file"},
		{"uri scheme", validHTTP, func(p *Plan) { p.Data = Data{URI: "s3://b/o"} }, "data.uri", `want gs://bucket/object, got "s3://b/o"`},
		{"uri without object", validHTTP, func(p *Plan) { p.Data = Data{URI: "gs://bucket/"} }, "data.uri", "a bucket and an object name"},
		{"uri bad bucket", validHTTP, func(p *Plan) { p.Data = Data{URI: "gs://My_Bucket/o"} }, "data.uri", `invalid bucket name "My_Bucket"`},
		{"uri object control char", validHTTP, func(p *Plan) { p.Data = Data{URI: "gs://bucket/a\nb"} }, "data.uri", "control characters"},
		{"uri with texts", validHTTP, func(p *Plan) { p.Data.URI = "gs://bucket/o" }, "data", "set exactly one of texts, file or uri, not texts and uri"},
		{"uri with file", validHTTP, func(p *Plan) { p.Data = Data{File: "t.txt", URI: "gs://bucket/o"} }, "data", "not file and uri"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.base()
			if tt.change != nil {
				tt.change(p)
			}
			err := p.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want %s: %s", tt.path, tt.reason)
			}
			if probs := problemsOf(t, err); !hasProblem(probs, tt.path, tt.reason) {
				t.Errorf("got %v\nwant %s: ...%s...", err, tt.path, tt.reason)
			}
		})
	}
}

func TestParseNewFields(t *testing.T) {
	t.Parallel()
	const load = `"load":{"model":"open","stages":[{"duration":"10s","rate":1}]}`
	t.Run("json shorthand and object", func(t *testing.T) {
		t.Parallel()
		for _, preset := range []string{`"oip_v2"`, `{"name":"oip_v2"}`} {
			doc := `{"name":"m","data":{"uri":"gs://bkt/o"},` + load + `,"target":{"protocol":"grpc","address":"h:1","preset":` + preset +
				`,"batch":2,"check":{"path":"outputs[0].data[*]","equals":"{{.Record.label}}"}}}`
			_, err := Parse([]byte(doc), "json")
			// Parsed into a preset: the only problem is the model it lacks.
			if probs := problemsOf(t, err); len(probs) != 1 || !hasProblem(probs, "target.preset.model", "required for preset oip_v2") {
				t.Errorf("preset %s: got %v, want only target.preset.model required", preset, err)
			}
		}
	})
	for _, tt := range []struct {
		name, format, doc, path, reason string
	}{
		{"unknown preset field", "yaml", minimalHTTP + "\n  preset: {name: kserve_v1, model: m, modle: x}", "target.preset.modle", "unknown field"},
		{"preset a number", "yaml", minimalHTTP + "\n  preset: 5", "target.preset", "want an object, got 5"},
		{"unknown check field", "json", `{"name":"m","data":{"texts":["a"]},` + load + `,"target":{"protocol":"http","url":"http://h","check":{"path":"a","equals":"b","count":"x"}}}`, "target.check.count", "unknown field"},
		{"batch a string", "yaml", minimalHTTP + "\n  batch: many", "target.batch", `want an integer, got "many"`},
		{"uri a list", "yaml", strings.Replace(minimalHTTP, "data: {texts: [hello]}", "data: {uri: [gs://b/o]}", 1), "data.uri", "want a string, got a list"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.doc), tt.format)
			if err == nil || !hasProblem(problemsOf(t, err), tt.path, tt.reason) {
				t.Errorf("got %v, want %s: %s", err, tt.path, tt.reason)
			}
		})
	}
	t.Run("encoding/json round trip", func(t *testing.T) {
		t.Parallel()
		var tg Target
		if err := json.Unmarshal([]byte(`{"protocol":"http","preset":"kserve_v1"}`), &tg); err != nil || tg.Preset == nil || tg.Preset.Name != PresetKServeV1 {
			t.Fatalf("json.Unmarshal shorthand = %+v, %v", tg.Preset, err)
		}
		tg.Preset.Model = "m"
		b, err := json.Marshal(tg)
		if err != nil {
			t.Fatal(err)
		}
		var back Target
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Preset, tg.Preset) {
			t.Errorf("round trip of %s = %+v, %v; want %+v", b, back.Preset, err, tg.Preset)
		}
	})
}

func TestRenderRequestsBatches(t *testing.T) {
	t.Parallel()
	jsonl := &Corpus{
		Texts: []string{"t0", "t1", "t2", "t3", "t4"},
		Records: []map[string]any{
			{"text": "t0", "label": "a"}, {"text": "t1", "label": "b"}, {"text": "t2", "label": json.Number("3")},
			{"text": "t3", "label": "d"}, {"text": "t4", "label": "e"},
		},
	}
	tg := Target{
		Protocol: ProtocolHTTP, Batch: 2,
		Body:  `{"texts": {{json .Texts}}, "first": {{.Index}}, "labels": [{{json (index .Records 0).label}}, {{json (index .Records 1).label}}], "label": {{json .Record.label}}}`,
		Check: &Check{Path: "p[*]", Equals: "{{.Record.label}}-{{.Index}}"},
	}
	r, err := tg.RenderRequests(jsonl, RenderLimits{})
	if err != nil {
		t.Fatal(err)
	}
	wantBodies := []string{
		`{"texts": ["t0","t1"], "first": 0, "labels": ["a", "b"], "label": "a"}`,
		`{"texts": ["t2","t3"], "first": 2, "labels": [3, "d"], "label": 3}`,
		`{"texts": ["t4","t0"], "first": 4, "labels": ["e", "a"], "label": "e"}`, // wraps around
	}
	for i, b := range r.Bodies {
		if i >= len(wantBodies) || string(b) != wantBodies[i] {
			t.Errorf("body %d = %s, want %s", i, b, wantBodies[min(i, len(wantBodies)-1)])
		}
	}
	if want := [][]string{{"a-0", "b-1"}, {"3-2", "d-3"}, {"e-4", "a-0"}}; !reflect.DeepEqual(r.Expect, want) {
		t.Errorf("Expect = %q, want %q", r.Expect, want)
	}
	if want := []int{0, 2, 4}; !reflect.DeepEqual(r.First, want) || r.Batch != 2 || r.NumRequests() != 3 || r.Text(2, 1) != 0 {
		t.Errorf("First = %v, Batch %d, %d requests, Text(2,1) = %d; want %v, 2, 3, 0", r.First, r.Batch, r.NumRequests(), r.Text(2, 1), want)
	}

	t.Run("batch larger than the corpus", func(t *testing.T) {
		t.Parallel()
		tg := Target{Protocol: ProtocolGRPC, Batch: 5, Request: `{"t": {{json .Texts}}}`, Check: &Check{Path: "x[*]", Equals: "{{.Text}}"}}
		r, err := tg.RenderRequests(&Corpus{Texts: []string{"x", "y"}}, RenderLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Bodies) != 1 || string(r.Bodies[0]) != `{"t": ["x","y","x","y","x"]}` || !reflect.DeepEqual(r.Expect, [][]string{{"x", "y", "x", "y", "x"}}) {
			t.Errorf("bodies %q, expect %q", r.Bodies, r.Expect)
		}
	})
	t.Run("plain corpus records and chars", func(t *testing.T) {
		t.Parallel()
		tg := Target{Protocol: ProtocolHTTP, Body: `{{.Record.text}}`, Check: &Check{Path: "x", Equals: `{{index .Records 0 | len}}`}}
		r, err := tg.RenderRequests(&Corpus{Texts: []string{"naïve", "東京🚀"}}, RenderLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Bodies[1]) != "東京🚀" || !reflect.DeepEqual(r.Expect, [][]string{{"1"}, {"1"}}) || !reflect.DeepEqual(r.CorpusChars, []int32{5, 3}) {
			t.Errorf("bodies %q, expect %q, chars %v", r.Bodies, r.Expect, r.CorpusChars)
		}
	})
	t.Run("no template and no check", func(t *testing.T) {
		t.Parallel()
		r, err := (&Target{Protocol: ProtocolHTTP, Batch: 2}).RenderRequests(&Corpus{Texts: []string{"a", "b", "c"}}, RenderLimits{})
		if err != nil || len(r.Bodies) != 2 || r.Bodies[0] != nil || r.Expect != nil {
			t.Errorf("got %+v, %v; want 2 nil bodies and no Expect", r, err)
		}
	})
	for _, tt := range []struct {
		name    string
		target  Target
		corpus  *Corpus
		lim     RenderLimits
		field   string
		index   int
		message string
		is      error
	}{
		{"check over a record without the field", Target{Protocol: ProtocolHTTP, Check: &Check{Path: "x", Equals: "{{.Record.label}}"}},
			&Corpus{Texts: []string{"a", "b"}, Records: []map[string]any{{"text": "a", "label": "x"}, {"text": "b"}}},
			RenderLimits{}, "target.check.equals", 1, `render target.check.equals for text 1: `, nil},
		{"check over a plain corpus", Target{Protocol: ProtocolHTTP, Check: &Check{Path: "x", Equals: "{{.Record.label}}"}},
			&Corpus{Texts: []string{"a"}}, RenderLimits{}, "target.check.equals", 0, `map has no entry for key "label"`, nil},
		{"batch body names the request", Target{Protocol: ProtocolGRPC, Batch: 2, Request: `{{if eq .Index 2}}not json{{else}}{}{{end}}`},
			&Corpus{Texts: []string{"a", "b", "c"}}, RenderLimits{}, "target.request", 2, "render target.request for request 1 (from text 2): not valid JSON", nil},
		{"expected values count in the total", Target{Protocol: ProtocolHTTP, Body: "{{.Text}}", Check: &Check{Path: "x", Equals: "{{.Text}}{{.Text}}"}},
			&Corpus{Texts: []string{"aaaa", "bbbb"}}, RenderLimits{MaxTotal: 20}, "target.check.equals", 1, "add up to more than 20 bytes", ErrBodiesTooLarge},
		{"one body too large", Target{Protocol: ProtocolHTTP, Batch: 2, Body: "{{json .Texts}}"},
			&Corpus{Texts: []string{"aaaa", "bbbb"}}, RenderLimits{MaxBody: 10}, "target.body", 0, "more than 10 bytes", ErrBodyTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.target.RenderRequests(tt.corpus, tt.lim)
			var re *RenderError
			if !errors.As(err, &re) || re.Field != tt.field || re.Index != tt.index || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("RenderRequests = %v, want a *RenderError at %s, text %d, containing %q", err, tt.field, tt.index, tt.message)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if cerr := tt.target.CheckRequests(tt.corpus, tt.lim); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("CheckRequests = %v, want the same error as RenderRequests", cerr)
			}
		})
	}
}

func TestBase64Func(t *testing.T) {
	t.Parallel()
	tg := Target{Protocol: ProtocolGRPC, Batch: 2, Request: `{"one": "{{base64 .Text}}", "all": {{json (base64 .Texts)}}}`}
	r, err := tg.RenderRequests(&Corpus{Texts: []string{"hé", "x"}}, RenderLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"one": "aMOp", "all": ["aMOp","eA=="]}`; string(r.Bodies[0]) != want {
		t.Errorf("body = %s, want %s", r.Bodies[0], want)
	}
	bad := Target{Protocol: ProtocolHTTP, Body: `{{base64 .Index}}`}
	if _, err := bad.RenderRequests(&Corpus{Texts: []string{"a"}}, RenderLimits{}); err == nil || !strings.Contains(err.Error(), "base64 takes a string or a list of strings, got int") {
		t.Errorf("base64 of an int = %v, want an error", err)
	}
}
