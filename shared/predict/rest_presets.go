package predict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The serving protocols' REST routes (docs/predict.md):
//
//	POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict  KServe V1 and TF Serving
//	GET  /v2, /v2/health/live, /v2/health/ready             Open Inference Protocol
//	GET  /v2/models/{m}[/versions/{v}][/ready]
//	POST /v2/models/{m}[/versions/{v}]/infer
//	POST /v1/projects/{p}/locations/{l}/endpoints/{e}:predict  Vertex AI

// servePresetHTTP serves the serving protocols' routes; false means the path
// is none of them.
func (s *Server) servePresetHTTP(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	switch {
	case p == "/v2" || strings.HasPrefix(p, "/v2/"):
		return s.serveOIPHTTP(w, r, p)
	case strings.HasPrefix(p, "/v1/models/"):
		return s.serveV1Models(w, r, p[len("/v1/models/"):])
	case strings.HasPrefix(p, "/v1/projects/"):
		return s.serveVertexHTTP(w, r, p[len("/v1/"):])
	}
	return false
}

// refuse answers an invalid request of preset p with code and msg, and
// counts it.
func (s *Server) refuse(w http.ResponseWriter, p int, werr errorWriter, code int, msg string) {
	s.invalid.Add(1)
	s.presets[p].invalid.Add(1)
	werr(w, code, msg)
}

// postBody checks that r is a POST and reads its body into a buffer of the
// pool, which the caller puts back. A non-empty msg is the reason to refuse
// the request with code.
func (s *Server) postBody(w http.ResponseWriter, r *http.Request, bp *[]byte) (body []byte, code int, msg string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return nil, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed, use POST", r.Method)
	}
	body, err := readBody(w, r, s.cfg.MaxBody, (*bp)[:0])
	*bp = body[:0]
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBody)
		}
		return nil, http.StatusBadRequest, "read request body: " + err.Error()
	}
	return body, 0, ""
}

// decodeStrict decodes body, one JSON object with no unknown field (at any
// level of v's structs) and nothing after it, into v. It returns what is
// wrong with the body, or "".
func decodeStrict(body []byte, v any) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return "request body is empty, want a JSON object"
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "invalid JSON: unexpected end of input"
		case errors.As(err, &syntax):
			return fmt.Sprintf("invalid JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(err.Error(), "json: "))
		case errors.As(err, &typ):
			if typ.Field == "" {
				return "request body must be a JSON object, not " + typ.Value
			}
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		default:
			return strings.TrimPrefix(err.Error(), "json: ")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return "unexpected data after the JSON object"
	}
	return ""
}

// jsonKind names a Go kind as the JSON value it decodes from.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	default:
		return "a number"
	}
}

// instanceText returns the text of one JSON instance: a string, or an
// object whose one field is the input name, holding a string. object says
// which; problem is set for anything else.
func (s *Server) instanceText(i int, raw json.RawMessage) (text string, object bool, problem string) {
	want := fmt.Sprintf(`instance %d must be a string or an object {%q: "..."}`, i, s.cfg.InputName)
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", false, want
		}
	case len(raw) > 0 && raw[0] == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 1 {
			return "", true, want
		}
		v, ok := obj[s.cfg.InputName]
		if !ok || len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &text) != nil {
			return "", true, want
		}
		object = true
	default:
		return "", false, want
	}
	if isBlank(text) {
		return "", object, fmt.Sprintf("instance %d: the text must not be empty", i)
	}
	return text, object, ""
}

// instanceTexts returns the texts of a list of JSON instances and the
// input name when they were objects.
func (s *Server) instanceTexts(instances []json.RawMessage) (texts []string, input, problem string) {
	if len(instances) == 0 {
		return nil, "", `"instances" must hold at least one instance`
	}
	texts = make([]string, len(instances))
	for i, raw := range instances {
		text, object, problem := s.instanceText(i, raw)
		if problem != "" {
			return nil, "", problem
		}
		if object {
			input = s.cfg.InputName
		}
		texts[i] = text
	}
	return texts, input, ""
}

// appendPredictions appends {"predictions":[{"label":...,"category":...},...]
// (without the closing brace) for texts.
func (s *Server) appendPredictions(b []byte, texts []string) []byte {
	b = append(b, `{"predictions":[`...)
	for i, t := range texts {
		if i > 0 {
			b = append(b, ',')
		}
		c, _ := s.model.Predict(t)
		b = append(b, s.predictionJSON[c]...)
	}
	return append(b, ']')
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.Write(b)
}

// ---- KServe V1 and TF Serving ----

// v1PredictBody is the body of POST /v1/models/{m}:predict in both
// protocols: KServe V1 sends instances; TF Serving sends instances (row
// format) or inputs (columnar format) and may name a signature.
type v1PredictBody struct {
	SignatureName *string           `json:"signature_name"`
	Instances     []json.RawMessage `json:"instances"`
	Inputs        json.RawMessage   `json:"inputs"`
}

// serveV1Models serves /v1/models/{rest}. The two protocols share the route;
// a request is counted as TF Serving's when its path names a version or a
// label or its body has signature_name or inputs, else as KServe V1's.
func (s *Server) serveV1Models(w http.ResponseWriter, r *http.Request, rest string) bool {
	path, ok := strings.CutSuffix(rest, ":predict")
	if !ok {
		return false
	}
	var model, version, label string
	switch seg := strings.Split(path, "/"); {
	case len(seg) == 1:
		model = seg[0]
	case len(seg) == 3 && seg[1] == "versions":
		model, version = seg[0], seg[2]
	case len(seg) == 3 && seg[1] == "labels":
		model, label = seg[0], seg[2]
	default:
		return false
	}
	s.httpRequests.Add(1)
	arrival := s.arrival()
	p := pKServeV1REST
	if version != "" || label != "" {
		p = pTFServingREST
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	body, code, msg := s.postBody(w, r, bp)
	var req v1PredictBody
	if msg == "" {
		if msg = decodeStrict(body, &req); msg != "" {
			code = http.StatusBadRequest
		} else if req.SignatureName != nil || req.Inputs != nil {
			p = pTFServingREST
		}
	}
	s.presets[p].requests.Add(1)
	if msg != "" {
		s.refuse(w, p, writeError, code, msg)
		return true
	}
	if code, msg := s.checkModel(model, version, label); msg != "" {
		s.refuse(w, p, writeError, code, msg)
		return true
	}
	sig := ""
	if req.SignatureName != nil {
		sig = *req.SignatureName
		if sig != "" && sig != defaultSignature {
			s.refuse(w, p, writeError, http.StatusBadRequest, fmt.Sprintf("serving signature name %q not found in the model's signatures (%q)", sig, defaultSignature))
			return true
		}
	}
	shape := &WireShape{Model: model, Version: version, Signature: sig, Encoding: "instances"}
	var texts []string
	switch {
	case req.Instances != nil && req.Inputs != nil:
		msg = `the body must have "instances" or "inputs", not both`
	case req.Instances != nil:
		texts, shape.Input, msg = s.instanceTexts(req.Instances)
	case req.Inputs != nil:
		shape.Encoding = "inputs"
		texts, shape.Input, msg = s.columnarTexts(req.Inputs)
	default:
		msg = `missing field "instances"`
	}
	if msg != "" {
		s.refuse(w, p, writeError, http.StatusBadRequest, msg)
		return true
	}
	if label != "" {
		shape.Version = "label:" + label
	}
	shape.Shape, shape.Batch = shape1(len(texts)), len(texts)
	s.presets[p].accept(shape)
	if !s.restKnobs(w, r, arrival, writeError) {
		return true
	}
	if shape.Encoding == "inputs" {
		writeJSON(w, s.columnarOutputs(texts))
		return true
	}
	writeJSON(w, append(s.appendPredictions((*bp)[:0], texts), "}\n"...))
	return true
}

// defaultSignature is TF Serving's default signature name.
const defaultSignature = "serving_default"

// checkModel checks the model, version and label a request names against
// the configured ones: 404 for another.
func (s *Server) checkModel(model, version, label string) (int, string) {
	switch {
	case model != s.cfg.ModelName:
		return http.StatusNotFound, fmt.Sprintf("model %q not found (this server has %q)", model, s.cfg.ModelName)
	case version != "" && version != s.cfg.ModelVersion:
		return http.StatusNotFound, fmt.Sprintf("version %q of model %q not found (this server has version %s)", version, model, s.cfg.ModelVersion)
	case label != "":
		return http.StatusNotFound, fmt.Sprintf("version label %q of model %q not found (this server has no labels)", label, model)
	}
	return 0, ""
}

// columnarTexts returns the texts of TF Serving's columnar "inputs": a list
// of strings (the one input), or an object whose one field is the input
// name, holding a list of strings.
func (s *Server) columnarTexts(raw json.RawMessage) (texts []string, input, problem string) {
	want := fmt.Sprintf(`"inputs" must be a list of strings or {%q: [strings]}`, s.cfg.InputName)
	switch raw[0] {
	case '[':
		if json.Unmarshal(raw, &texts) != nil {
			return nil, "", want
		}
	case '{':
		var obj map[string][]string
		if json.Unmarshal(raw, &obj) != nil || len(obj) != 1 {
			return nil, "", want
		}
		var ok bool
		if texts, ok = obj[s.cfg.InputName]; !ok {
			return nil, "", want
		}
		input = s.cfg.InputName
	default:
		return nil, "", want
	}
	if len(texts) == 0 {
		return nil, "", `"inputs" must hold at least one text`
	}
	for i, t := range texts {
		if isBlank(t) {
			return nil, "", fmt.Sprintf("input %d: the text must not be empty", i)
		}
	}
	return texts, input, ""
}

// columnarOutputs answers a columnar request: {"outputs": {"label": [...],
// "category": [...]}}.
func (s *Server) columnarOutputs(texts []string) []byte {
	var out struct {
		Outputs struct {
			Label    []string `json:"label"`
			Category []int    `json:"category"`
		} `json:"outputs"`
	}
	out.Outputs.Label = make([]string, len(texts))
	out.Outputs.Category = make([]int, len(texts))
	for i, t := range texts {
		out.Outputs.Category[i], out.Outputs.Label[i] = s.model.Predict(t)
	}
	b, _ := json.Marshal(out) // cannot fail: strings and integers
	return append(b, '\n')
}

// ---- Open Inference Protocol (KServe V2) ----

// oipRequest is the body of POST /v2/models/{m}/infer.
type oipRequest struct {
	ID         *string            `json:"id"`
	Parameters json.RawMessage    `json:"parameters"`
	Inputs     []oipInput         `json:"inputs"`
	Outputs    []oipRequestOutput `json:"outputs"`
}

type oipInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters json.RawMessage `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

type oipRequestOutput struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
}

type oipResponse struct {
	ModelName    string      `json:"model_name"`
	ModelVersion string      `json:"model_version,omitempty"`
	ID           string      `json:"id,omitempty"`
	Outputs      []oipOutput `json:"outputs"`
}

type oipOutput struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
	Data     any     `json:"data"`
}

// The model's output tensors, in the order they are answered.
const (
	outputLabel    = "label"
	outputCategory = "category"
)

// oipTensorMeta is the tensor metadata of GET /v2/models/{m}.
type oipTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// serveOIPHTTP serves the Open Inference Protocol's REST routes under /v2.
func (s *Server) serveOIPHTTP(w http.ResponseWriter, r *http.Request, p string) bool {
	switch p {
	case "/v2":
		return s.getJSON(w, r, map[string]any{"name": "cicada-predict", "version": s.cfg.ModelVersion, "extensions": []string{}})
	case "/v2/health/live":
		return s.getJSON(w, r, map[string]bool{"live": true})
	case "/v2/health/ready":
		return s.getJSON(w, r, map[string]bool{"ready": true})
	}
	rest, ok := strings.CutPrefix(p, "/v2/models/")
	if !ok {
		return false
	}
	seg := strings.Split(rest, "/")
	var model, version, call string
	switch {
	case len(seg) == 1:
		model = seg[0]
	case len(seg) == 2:
		model, call = seg[0], seg[1]
	case len(seg) == 3 && seg[1] == "versions":
		model, version = seg[0], seg[2]
	case len(seg) == 4 && seg[1] == "versions":
		model, version, call = seg[0], seg[2], seg[3]
	default:
		return false
	}
	switch call {
	case "":
		if code, msg := s.checkModel(model, version, ""); msg != "" {
			writeError(w, code, msg)
			return true
		}
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, "GET")
			return true
		}
		writeJSON(w, s.oipMetadata)
	case "ready":
		if code, msg := s.checkModel(model, version, ""); msg != "" {
			writeError(w, code, msg)
			return true
		}
		return s.getJSON(w, r, map[string]any{"name": model, "ready": true})
	case "infer":
		s.serveOIPInfer(w, r, model, version)
	default:
		return false
	}
	return true
}

// getJSON answers a GET with v as JSON (405 for another method).
func (s *Server) getJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return true
	}
	b, _ := json.Marshal(v) // cannot fail: the callers' maps hold strings and booleans
	writeJSON(w, append(b, '\n'))
	return true
}

func (s *Server) serveOIPInfer(w http.ResponseWriter, r *http.Request, model, version string) {
	s.httpRequests.Add(1)
	s.presets[pOIPv2REST].requests.Add(1)
	arrival := s.arrival()
	refuse := func(code int, msg string) { s.refuse(w, pOIPv2REST, writeError, code, msg) }
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	body, code, msg := s.postBody(w, r, bp)
	if msg != "" {
		refuse(code, msg)
		return
	}
	if r.Header.Get("Inference-Header-Content-Length") != "" {
		refuse(http.StatusBadRequest, "the binary tensor data extension is not supported: send the tensors as JSON")
		return
	}
	if code, msg := s.checkModel(model, version, ""); msg != "" {
		refuse(code, msg)
		return
	}
	var req oipRequest
	if msg := decodeStrict(body, &req); msg != "" {
		refuse(http.StatusBadRequest, msg)
		return
	}
	texts, shape, msg := s.oipInputs(&req)
	if msg != "" {
		refuse(http.StatusBadRequest, msg)
		return
	}
	outputs, msg := requestedOutputs(req.Outputs, func(o oipRequestOutput) (string, bool) {
		return o.Name, !binaryData(o.Parameters)
	})
	if msg == "" && binaryData(req.Parameters) {
		msg = "the binary tensor data extension is not supported: binary_data_output must be false"
	}
	if msg != "" {
		refuse(http.StatusBadRequest, msg)
		return
	}
	shape.Model, shape.Version = model, version
	s.presets[pOIPv2REST].accept(shape)
	if !s.restKnobs(w, r, arrival, writeError) {
		return
	}
	resp := oipResponse{ModelName: s.cfg.ModelName, ModelVersion: s.cfg.ModelVersion}
	if req.ID != nil {
		resp.ID = *req.ID
	}
	labels := make([]string, len(texts))
	cats := make([]int64, len(texts))
	for i, t := range texts {
		c, l := s.model.Predict(t)
		labels[i], cats[i] = l, int64(c)
	}
	if outputs&wantLabel != 0 {
		resp.Outputs = append(resp.Outputs, oipOutput{Name: outputLabel, Datatype: "BYTES", Shape: shape.Shape, Data: labels})
	}
	if outputs&wantCategory != 0 {
		resp.Outputs = append(resp.Outputs, oipOutput{Name: outputCategory, Datatype: "INT64", Shape: shape.Shape, Data: cats})
	}
	b, _ := json.Marshal(resp) // cannot fail: strings and integers
	writeJSON(w, append(b, '\n'))
}

// oipInputs checks the one BYTES input tensor of a JSON infer request and
// returns its texts: shape [N] or [N,1], data N strings, flat or nested by
// the shape.
func (s *Server) oipInputs(req *oipRequest) (texts []string, shape *WireShape, problem string) {
	if len(req.Inputs) != 1 {
		return nil, nil, fmt.Sprintf("the model has one input, %q; the request has %d", s.cfg.InputName, len(req.Inputs))
	}
	in := &req.Inputs[0]
	switch {
	case in.Name != s.cfg.InputName:
		return nil, nil, fmt.Sprintf("unexpected input %q: the model's input is %q", in.Name, s.cfg.InputName)
	case in.Datatype != "BYTES":
		return nil, nil, fmt.Sprintf("input %q: datatype %q, want BYTES", in.Name, in.Datatype)
	case in.Shape == nil:
		return nil, nil, fmt.Sprintf("input %q: missing field \"shape\"", in.Name)
	case in.Data == nil:
		return nil, nil, fmt.Sprintf("input %q: missing field \"data\"", in.Name)
	}
	n, ok := batchOf(in.Shape)
	if !ok {
		return nil, nil, fmt.Sprintf("input %q: shape %s, want [N] or [N,1] with N >= 1", in.Name, shapeString(in.Shape))
	}
	if json.Unmarshal(in.Data, &texts) != nil {
		// Nested by the shape: [N,1] as N lists of one string.
		var rows [][]string
		if len(in.Shape) != 2 || json.Unmarshal(in.Data, &rows) != nil {
			return nil, nil, fmt.Sprintf("input %q: data must be a list of strings (BYTES), flat or nested by the shape", in.Name)
		}
		texts = make([]string, 0, len(rows))
		for _, row := range rows {
			if len(row) != 1 {
				return nil, nil, fmt.Sprintf("input %q: data does not match shape %s", in.Name, shapeString(in.Shape))
			}
			texts = append(texts, row[0])
		}
	}
	if len(texts) != n {
		return nil, nil, fmt.Sprintf("input %q: shape %s holds %d elements, data has %d", in.Name, shapeString(in.Shape), n, len(texts))
	}
	for i, t := range texts {
		if isBlank(t) {
			return nil, nil, fmt.Sprintf("input %q: element %d: the text must not be empty", in.Name, i)
		}
	}
	return texts, &WireShape{Input: in.Name, Datatype: in.Datatype, Shape: in.Shape, Encoding: "data", Batch: n}, ""
}

// binaryData reports whether JSON parameters ask for the binary tensor
// data extension (binary_data or binary_data_output true).
func binaryData(params json.RawMessage) bool {
	if len(params) == 0 {
		return false
	}
	var p struct {
		BinaryData       bool `json:"binary_data"`
		BinaryDataOutput bool `json:"binary_data_output"`
	}
	_ = json.Unmarshal(params, &p) // a value of another type is not a request for binary data
	return p.BinaryData || p.BinaryDataOutput
}

// Bits of the outputs a request asks for.
const (
	wantLabel = 1 << iota
	wantCategory
)

// requestedOutputs returns the outputs a request asks for (both when it
// names none), or what is wrong: an unknown or repeated name, or an output
// refused by ok.
func requestedOutputs[T any](outs []T, name func(T) (string, bool)) (int, string) {
	if len(outs) == 0 {
		return wantLabel | wantCategory, ""
	}
	want := 0
	for _, o := range outs {
		n, ok := name(o)
		if !ok {
			return 0, fmt.Sprintf("output %q: the binary tensor data extension is not supported", n)
		}
		var bit int
		switch n {
		case outputLabel:
			bit = wantLabel
		case outputCategory:
			bit = wantCategory
		default:
			return 0, fmt.Sprintf("unknown output %q: the model's outputs are %q and %q", n, outputLabel, outputCategory)
		}
		if want&bit != 0 {
			return 0, fmt.Sprintf("output %q requested twice", n)
		}
		want |= bit
	}
	return want, ""
}

// ---- Vertex AI ----

// vertexBody is the body of POST .../endpoints/{e}:predict.
type vertexBody struct {
	Instances  []json.RawMessage `json:"instances"`
	Parameters json.RawMessage   `json:"parameters"`
}

// vertexError writes Google's API error form, {"error": {"code",
// "message", "status"}}.
func vertexError(w http.ResponseWriter, code int, msg string) {
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	e.Error.Code, e.Error.Message, e.Error.Status = code, msg, googleStatus(code)
	b, _ := json.Marshal(e) // cannot fail: strings and an integer
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// googleStatus is the canonical status name Google APIs pair with an HTTP
// status.
func googleStatus(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		return "UNIMPLEMENTED"
	case http.StatusRequestEntityTooLarge:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	return "UNKNOWN"
}

// parseEndpoint splits projects/{p}/locations/{l}/endpoints/{e} and returns
// the endpoint ID; ok is false for another form.
func parseEndpoint(name string) (id string, ok bool) {
	seg := strings.Split(name, "/")
	if len(seg) != 6 || seg[0] != "projects" || seg[2] != "locations" || seg[4] != "endpoints" ||
		seg[1] == "" || seg[3] == "" || seg[5] == "" {
		return "", false
	}
	return seg[5], true
}

func (s *Server) serveVertexHTTP(w http.ResponseWriter, r *http.Request, rest string) bool {
	endpoint, ok := strings.CutSuffix(rest, ":predict")
	if !ok {
		return false
	}
	id, ok := parseEndpoint(endpoint)
	if !ok {
		return false
	}
	s.httpRequests.Add(1)
	s.presets[pVertexREST].requests.Add(1)
	arrival := s.arrival()
	refuse := func(code int, msg string) { s.refuse(w, pVertexREST, vertexError, code, msg) }
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	body, code, msg := s.postBody(w, r, bp)
	if msg != "" {
		refuse(code, msg)
		return true
	}
	if id != s.cfg.ModelName {
		refuse(http.StatusNotFound, fmt.Sprintf("endpoint %s not found (this server's endpoint ID is %q)", endpoint, s.cfg.ModelName))
		return true
	}
	var req vertexBody
	if msg := decodeStrict(body, &req); msg != "" {
		refuse(http.StatusBadRequest, msg)
		return true
	}
	texts, input, msg := s.instanceTexts(req.Instances)
	if msg != "" {
		refuse(http.StatusBadRequest, msg)
		return true
	}
	s.presets[pVertexREST].accept(&WireShape{Model: id, Endpoint: endpoint, Input: input,
		Shape: shape1(len(texts)), Encoding: "instances", Batch: len(texts)})
	if !s.restKnobs(w, r, arrival, vertexError) {
		return true
	}
	writeJSON(w, append(s.appendPredictions((*bp)[:0], texts), s.vertexTail...))
	return true
}
