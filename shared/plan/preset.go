package plan

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// MaxBatch bounds target.batch, the texts one request carries.
const MaxBatch = 1024

// Preset names: the model serving protocols cicada speaks without a
// hand-written body or request (see the plan reference in README.md).
const (
	PresetKServeV1  = "kserve_v1" // KServe V1 REST
	PresetOIPV2     = "oip_v2"    // Open Inference Protocol (KServe V2, Triton), REST and gRPC
	PresetTFServing = "tfserving" // TensorFlow Serving, REST and gRPC
	PresetVertex    = "vertex"    // Vertex AI online prediction, REST and gRPC
)

// PresetNames lists the presets in the order error messages name them.
var PresetNames = []string{PresetKServeV1, PresetOIPV2, PresetTFServing, PresetVertex}

// Defaults of a preset's options, applied when its request is built.
const (
	DefaultInputName     = "text"
	DefaultDatatype      = "BYTES"
	DefaultSignatureName = "serving_default"
)

// gRPC methods the presets call.
const (
	MethodOIPModelInfer    = "/inference.GRPCInferenceService/ModelInfer"
	MethodTFServingPredict = "/tensorflow.serving.PredictionService/Predict"
	MethodVertexPredict    = "/google.cloud.aiplatform.v1.PredictionService/Predict"
)

const (
	oipDatatypeBytes = "BYTES"
	maxPresetField   = 256 // bytes of a model name, version, project...
)

// Preset names a model serving protocol and the model to call. ApplyDefaults
// expands it into the target's ordinary fields (URL path or gRPC method,
// body or request), leaving every field the plan sets alone. A plan may
// write `preset: oip_v2` as shorthand for `preset: {name: oip_v2}`.
type Preset struct {
	Name          string `json:"name" yaml:"name"`                                         // one of PresetNames
	Model         string `json:"model,omitempty" yaml:"model,omitempty"`                   // kserve_v1, oip_v2, tfserving: required
	Version       string `json:"version,omitempty" yaml:"version,omitempty"`               // oip_v2 (any), tfserving (a number): optional
	InputName     string `json:"input_name,omitempty" yaml:"input_name,omitempty"`         // oip_v2, tfserving gRPC: input tensor, default "text"
	Datatype      string `json:"datatype,omitempty" yaml:"datatype,omitempty"`             // oip_v2: tensor datatype, default "BYTES"
	SignatureName string `json:"signature_name,omitempty" yaml:"signature_name,omitempty"` // tfserving, default "serving_default"
	Project       string `json:"project,omitempty" yaml:"project,omitempty"`               // vertex: required
	Location      string `json:"location,omitempty" yaml:"location,omitempty"`             // vertex: required
	Endpoint      string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`             // vertex: required (the endpoint id)
}

// UnmarshalJSON reads a preset object, or a string naming the preset.
func (p *Preset) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*p = Preset{Name: name}
		return nil
	}
	type plain Preset // without this method, so that it does not recurse
	var q plain
	if err := json.Unmarshal(b, &q); err != nil {
		return err
	}
	*p = Preset(q)
	return nil
}

// UnmarshalYAML reads a preset mapping, or a string naming the preset.
func (p *Preset) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*p = Preset{Name: n.Value}
		return nil
	}
	type plain Preset
	var q plain
	if err := n.Decode(&q); err != nil {
		return err
	}
	*p = Preset(q)
	return nil
}

func (p *Preset) inputName() string { return cmpOr(p.InputName, DefaultInputName) }

func (p *Preset) datatype() string { return cmpOr(p.Datatype, DefaultDatatype) }

func (p *Preset) signatureName() string { return cmpOr(p.SignatureName, DefaultSignatureName) }

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// VertexEndpoint is the endpoint's resource name,
// projects/P/locations/L/endpoints/E.
func (p *Preset) VertexEndpoint() string {
	return "projects/" + p.Project + "/locations/" + p.Location + "/endpoints/" + p.Endpoint
}

// Path is the REST path the preset posts to, escaped ("" for an unknown
// preset).
func (p *Preset) Path() string {
	m, v := url.PathEscape(p.Model), url.PathEscape(p.Version)
	switch p.Name {
	case PresetKServeV1:
		return "/v1/models/" + m + ":predict"
	case PresetOIPV2:
		if p.Version != "" {
			return "/v2/models/" + m + "/versions/" + v + "/infer"
		}
		return "/v2/models/" + m + "/infer"
	case PresetTFServing:
		if p.Version != "" {
			return "/v1/models/" + m + "/versions/" + v + ":predict"
		}
		return "/v1/models/" + m + ":predict"
	case PresetVertex:
		return "/v1/projects/" + url.PathEscape(p.Project) + "/locations/" + url.PathEscape(p.Location) +
			"/endpoints/" + url.PathEscape(p.Endpoint) + ":predict"
	}
	return ""
}

// GRPCMethod is the full gRPC method the preset calls ("" for kserve_v1,
// which has no gRPC protocol, and for an unknown preset).
func (p *Preset) GRPCMethod() string {
	switch p.Name {
	case PresetOIPV2:
		return MethodOIPModelInfer
	case PresetTFServing:
		return MethodTFServingPredict
	case PresetVertex:
		return MethodVertexPredict
	}
	return ""
}

// Body is the preset's REST body template: every text of the request is
// one instance (.Texts), so that target.batch texts travel in one request.
func (p *Preset) Body() string {
	switch p.Name {
	case PresetKServeV1, PresetVertex:
		return `{"instances": {{json .Texts}}}`
	case PresetOIPV2:
		return `{"inputs": [{"name": ` + lit(p.inputName()) + `, "shape": [{{len .Texts}}], "datatype": ` + lit(p.datatype()) +
			`, "data": {{json .Texts}}}]}`
	case PresetTFServing:
		return `{"signature_name": ` + lit(p.signatureName()) + `, "instances": {{json .Texts}}}`
	}
	return ""
}

// Request is the preset's gRPC request template, in protojson: int64
// fields (shapes, sizes, versions) are strings and bytes fields base64.
func (p *Preset) Request() string {
	switch p.Name {
	case PresetOIPV2:
		version := ""
		if p.Version != "" {
			version = `, "model_version": ` + lit(p.Version)
		}
		return `{"model_name": ` + lit(p.Model) + version + `, "inputs": [{"name": ` + lit(p.inputName()) +
			`, "datatype": ` + lit(p.datatype()) + `, "shape": ["{{len .Texts}}"], "contents": {"bytes_contents": {{json (base64 .Texts)}}}}]}`
	case PresetTFServing:
		version := ""
		if p.Version != "" {
			version = `, "version": ` + lit(p.Version)
		}
		return `{"model_spec": {"name": ` + lit(p.Model) + `, "signature_name": ` + lit(p.signatureName()) + version +
			`}, "inputs": {` + lit(p.inputName()) + `: {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "{{len .Texts}}"}]}, "string_val": {{json (base64 .Texts)}}}}}`
	case PresetVertex:
		return `{"endpoint": ` + lit(p.VertexEndpoint()) + `, "instances": {{json .Texts}}}`
	}
	return ""
}

// lit writes s as a JSON string literal inside a template; a literal that
// would open an action ("{{") is written as an action printing it instead.
func lit(s string) string {
	j, err := jsonString(s)
	if err != nil || strings.Contains(j, "{{") {
		return "{{json " + strconv.Quote(s) + "}}"
	}
	return j
}

// applyPreset fills the target's fields from its preset, leaving alone
// every field the plan set.
func (t *Target) applyPreset() {
	p := t.Preset
	if p == nil {
		return
	}
	switch t.Protocol {
	case ProtocolHTTP:
		if u, err := url.Parse(t.URL); err == nil && u.Host != "" && (u.Path == "" || u.Path == "/") && u.RawPath == "" {
			if path := p.Path(); path != "" {
				u.RawPath = path
				u.Path, _ = url.PathUnescape(path)
				t.URL = u.String()
			}
		}
		if t.Method == "" {
			t.Method = "POST"
		}
		if t.Body == "" {
			t.Body = p.Body()
		}
	case ProtocolGRPC:
		if t.Method == "" {
			t.Method = p.GRPCMethod()
		}
		if t.Request == "" {
			t.Request = p.Request()
		}
	}
	if p.Name == PresetVertex && t.Auth == nil {
		t.Auth = &Auth{GoogleAccessToken: &GoogleAccessToken{}}
	}
}

// oipDatatypes are the Open Inference Protocol's tensor datatypes.
var oipDatatypes = []string{"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16"}

// preset checks target.preset: a known name, the fields its protocol
// needs, and none it does not use.
func (c *checker) preset(t *Target) {
	p := t.Preset
	if p == nil {
		return
	}
	const at = "target.preset"
	switch p.Name {
	case PresetKServeV1, PresetOIPV2, PresetTFServing, PresetVertex:
	case "":
		c.add(at+".name", "required (one of %s)", strings.Join(PresetNames, ", "))
		return
	default:
		c.add(at+".name", "unknown preset %q (want one of %s)", p.Name, strings.Join(PresetNames, ", "))
		return
	}
	notFor := func(field, value, usedBy string) {
		if value != "" {
			c.add(at+"."+field, "not used by preset %s (only %s)", p.Name, usedBy)
		}
	}
	if p.Name == PresetVertex {
		notFor("model", p.Model, "kserve_v1, oip_v2 and tfserving; vertex names project, location and endpoint")
		for _, f := range []struct{ name, value string }{{"project", p.Project}, {"location", p.Location}, {"endpoint", p.Endpoint}} {
			c.presetField(at+"."+f.name, f.value, "required for preset vertex")
		}
	} else {
		c.presetField(at+".model", p.Model, "required for preset "+p.Name)
		notFor("project", p.Project, "vertex")
		notFor("location", p.Location, "vertex")
		notFor("endpoint", p.Endpoint, "vertex")
	}
	switch p.Name {
	case PresetOIPV2:
		if p.Version != "" {
			c.presetField(at+".version", p.Version, "")
		}
	case PresetTFServing:
		if p.Version != "" {
			if n, err := strconv.ParseInt(p.Version, 10, 64); err != nil || n < 0 {
				c.add(at+".version", "want a version number (TF Serving versions are integers), got %q", p.Version)
			}
		}
	default:
		notFor("version", p.Version, "oip_v2 and tfserving")
	}
	if p.Name == PresetOIPV2 || p.Name == PresetTFServing {
		if p.InputName != "" {
			c.presetField(at+".input_name", p.InputName, "")
		}
	} else {
		notFor("input_name", p.InputName, "oip_v2 and tfserving")
	}
	if p.Name == PresetOIPV2 {
		switch dt := p.datatype(); {
		case !slices.Contains(oipDatatypes, dt):
			c.add(at+".datatype", "want an Open Inference Protocol datatype (%s), got %q", strings.Join(oipDatatypes, ", "), dt)
		case t.Protocol == ProtocolGRPC && dt != oipDatatypeBytes:
			c.add(at+".datatype", "over gRPC the texts travel as bytes_contents: want BYTES, got %q (write target.request for another tensor)", dt)
		}
	} else {
		notFor("datatype", p.Datatype, "oip_v2")
	}
	if p.Name == PresetTFServing {
		if p.SignatureName != "" {
			c.presetField(at+".signature_name", p.SignatureName, "")
		}
	} else {
		notFor("signature_name", p.SignatureName, "tfserving")
	}
	if p.Name == PresetKServeV1 && t.Protocol == ProtocolGRPC {
		c.add(at+".name", "kserve_v1 has no gRPC protocol (use oip_v2 for gRPC, or protocol http)")
	}
}

// presetField checks a name that goes into a URL path or a resource name.
func (c *checker) presetField(path, v, required string) {
	switch {
	case v == "":
		c.add(path, "%s", required)
	case len(v) > maxPresetField:
		c.add(path, "at most %d bytes, got %d", maxPresetField, len(v))
	case strings.ContainsFunc(v, unicode.IsSpace) || strings.ContainsFunc(v, unicode.IsControl) || strings.Contains(v, "/"):
		c.add(path, "must not contain spaces, control characters or '/', got %q", v)
	}
}

// BatchSize is the number of texts one request carries: target.batch, 1
// when unset.
func (t *Target) BatchSize() int {
	if t.Batch <= 0 {
		return 1
	}
	return t.Batch
}
