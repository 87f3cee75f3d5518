package predict

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	"github.com/cicadaload/cicada/proto/tensorflow/core/framework"
	tfsapis "github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
)

// initPresets builds the serving protocols' constant answers.
func (s *Server) initPresets() {
	s.modelVersion, _ = strconv.ParseInt(s.cfg.ModelVersion, 10, 64) // Config.Validate checks it
	for c, l := range s.model.labels {
		s.labelBytes = append(s.labelBytes, []byte(l))
		b, _ := json.Marshal(struct {
			Label    string `json:"label"`
			Category int    `json:"category"`
		}{l, c}) // cannot fail: a string and an integer
		s.predictionJSON = append(s.predictionJSON, b)
		s.vertexPrediction = append(s.vertexPrediction, structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"label":    structpb.NewStringValue(l),
			"category": structpb.NewNumberValue(float64(c)),
		}}))
	}
	meta, _ := json.Marshal(struct {
		Name     string          `json:"name"`
		Versions []string        `json:"versions"`
		Platform string          `json:"platform"`
		Inputs   []oipTensorMeta `json:"inputs"`
		Outputs  []oipTensorMeta `json:"outputs"`
	}{
		Name: s.cfg.ModelName, Versions: []string{s.cfg.ModelVersion}, Platform: modelPlatform,
		Inputs:  []oipTensorMeta{{s.cfg.InputName, "BYTES", []int64{-1}}},
		Outputs: []oipTensorMeta{{outputLabel, "BYTES", []int64{-1}}, {outputCategory, "INT64", []int64{-1}}},
	}) // cannot fail: strings and integers
	s.oipMetadata = append(meta, '\n')
	tail, _ := json.Marshal(struct {
		DeployedModelID string `json:"deployedModelId"`
		ModelVersionID  string `json:"modelVersionId"`
	}{s.cfg.ModelName, s.cfg.ModelVersion}) // cannot fail: strings
	// The object's fields continue the answer's: ,"deployedModelId":...}
	s.vertexTail = append(append([]byte{','}, tail[1:]...), '\n')
}

// modelPlatform is the platform the model's OIP metadata names.
const modelPlatform = "cicada_naive_bayes"

// refuseGRPC counts an invalid call of preset p and returns its status.
func (s *Server) refuseGRPC(p int, code codes.Code, format string, args ...any) error {
	s.invalid.Add(1)
	s.presets[p].invalid.Add(1)
	return status.Errorf(code, format, args...)
}

// checkModelGRPC checks the model and version a call names.
func (s *Server) checkModelGRPC(model, version string) (codes.Code, string) {
	if model == "" {
		return codes.InvalidArgument, "the model name is required"
	}
	if _, msg := s.checkModel(model, version, ""); msg != "" {
		return codes.NotFound, msg
	}
	return codes.OK, ""
}

// ---- Open Inference Protocol: inference.GRPCInferenceService ----

type oipServer struct {
	inferencev2.UnimplementedGRPCInferenceServiceServer
	s *Server
}

// ServerLive implements inferencev2.GRPCInferenceServiceServer.
func (oipServer) ServerLive(context.Context, *inferencev2.ServerLiveRequest) (*inferencev2.ServerLiveResponse, error) {
	return &inferencev2.ServerLiveResponse{Live: true}, nil
}

// ServerReady implements inferencev2.GRPCInferenceServiceServer.
func (oipServer) ServerReady(context.Context, *inferencev2.ServerReadyRequest) (*inferencev2.ServerReadyResponse, error) {
	return &inferencev2.ServerReadyResponse{Ready: true}, nil
}

// ModelReady implements inferencev2.GRPCInferenceServiceServer: ready for
// the configured model and version, not ready for any other.
func (o oipServer) ModelReady(_ context.Context, req *inferencev2.ModelReadyRequest) (*inferencev2.ModelReadyResponse, error) {
	code, _ := o.s.checkModelGRPC(req.GetName(), req.GetVersion())
	return &inferencev2.ModelReadyResponse{Ready: code == codes.OK}, nil
}

// ModelMetadata implements inferencev2.GRPCInferenceServiceServer.
func (o oipServer) ModelMetadata(_ context.Context, req *inferencev2.ModelMetadataRequest) (*inferencev2.ModelMetadataResponse, error) {
	s := o.s
	if code, msg := s.checkModelGRPC(req.GetName(), req.GetVersion()); code != codes.OK {
		return nil, status.Error(code, msg)
	}
	tensor := func(name, datatype string) *inferencev2.ModelMetadataResponse_TensorMetadata {
		return &inferencev2.ModelMetadataResponse_TensorMetadata{Name: name, Datatype: datatype, Shape: []int64{-1}}
	}
	return &inferencev2.ModelMetadataResponse{
		Name: s.cfg.ModelName, Versions: []string{s.cfg.ModelVersion}, Platform: modelPlatform,
		Inputs:  []*inferencev2.ModelMetadataResponse_TensorMetadata{tensor(s.cfg.InputName, "BYTES")},
		Outputs: []*inferencev2.ModelMetadataResponse_TensorMetadata{tensor(outputLabel, "BYTES"), tensor(outputCategory, "INT64")},
	}, nil
}

// ModelInfer implements inferencev2.GRPCInferenceServiceServer: one BYTES
// input of shape [N] or [N,1], its N texts in contents.bytes_contents or in
// raw_input_contents; the answer has the outputs "label" (BYTES) and
// "category" (INT64) of the same shape, in contents.
func (o oipServer) ModelInfer(ctx context.Context, req *inferencev2.ModelInferRequest) (*inferencev2.ModelInferResponse, error) {
	s := o.s
	s.grpcRequests.Add(1)
	s.presets[pOIPv2GRPC].requests.Add(1)
	arrival := s.arrival()
	if code, msg := s.checkModelGRPC(req.GetModelName(), req.GetModelVersion()); code != codes.OK {
		return nil, s.refuseGRPC(pOIPv2GRPC, code, "%s", msg)
	}
	texts, shape, msg := s.oipTensor(req)
	if msg != "" {
		return nil, s.refuseGRPC(pOIPv2GRPC, codes.InvalidArgument, "%s", msg)
	}
	outputs, msg := requestedOutputs(req.GetOutputs(), func(o *inferencev2.ModelInferRequest_InferRequestedOutputTensor) (string, bool) {
		return o.GetName(), true
	})
	if msg != "" {
		return nil, s.refuseGRPC(pOIPv2GRPC, codes.InvalidArgument, "%s", msg)
	}
	shape.Model, shape.Version = req.GetModelName(), req.GetModelVersion()
	s.presets[pOIPv2GRPC].accept(shape)
	if err := s.grpcKnobs(ctx, arrival); err != nil {
		return nil, err
	}
	labels := make([][]byte, len(texts))
	cats := make([]int64, len(texts))
	for i, t := range texts {
		c, _ := s.model.Predict(t)
		labels[i], cats[i] = s.labelBytes[c], int64(c)
	}
	resp := &inferencev2.ModelInferResponse{ModelName: s.cfg.ModelName, ModelVersion: s.cfg.ModelVersion, Id: req.GetId()}
	if outputs&wantLabel != 0 {
		resp.Outputs = append(resp.Outputs, &inferencev2.ModelInferResponse_InferOutputTensor{
			Name: outputLabel, Datatype: "BYTES", Shape: shape.Shape,
			Contents: &inferencev2.InferTensorContents{BytesContents: labels},
		})
	}
	if outputs&wantCategory != 0 {
		resp.Outputs = append(resp.Outputs, &inferencev2.ModelInferResponse_InferOutputTensor{
			Name: outputCategory, Datatype: "INT64", Shape: shape.Shape,
			Contents: &inferencev2.InferTensorContents{Int64Contents: cats},
		})
	}
	return resp, nil
}

// oipTensor checks the one input tensor of a ModelInfer request and
// returns its texts.
func (s *Server) oipTensor(req *inferencev2.ModelInferRequest) (texts []string, shape *WireShape, problem string) {
	if len(req.GetInputs()) != 1 {
		return nil, nil, fmt.Sprintf("the model has one input, %q; the request has %d", s.cfg.InputName, len(req.GetInputs()))
	}
	in := req.GetInputs()[0]
	switch {
	case in.GetName() != s.cfg.InputName:
		return nil, nil, fmt.Sprintf("unexpected input %q: the model's input is %q", in.GetName(), s.cfg.InputName)
	case in.GetDatatype() != "BYTES":
		return nil, nil, fmt.Sprintf("input %q: datatype %q, want BYTES", in.GetName(), in.GetDatatype())
	}
	n, ok := batchOf(in.GetShape())
	if !ok {
		return nil, nil, fmt.Sprintf("input %q: shape %s, want [N] or [N,1] with N >= 1", in.GetName(), shapeString(in.GetShape()))
	}
	shape = &WireShape{Input: in.GetName(), Datatype: "BYTES", Shape: in.GetShape(), Batch: n}
	raw := req.GetRawInputContents()
	switch {
	case len(raw) > 0 && in.GetContents() != nil:
		return nil, nil, fmt.Sprintf("input %q: contents and raw_input_contents are both set", in.GetName())
	case len(raw) > 0:
		if len(raw) != 1 {
			return nil, nil, fmt.Sprintf("raw_input_contents has %d entries for 1 input", len(raw))
		}
		shape.Encoding = "raw_input_contents"
		if texts, problem = splitRawBytes(raw[0], n); problem != "" {
			return nil, nil, fmt.Sprintf("input %q: raw_input_contents: %s", in.GetName(), problem)
		}
	default:
		c := in.GetContents()
		if c == nil {
			return nil, nil, fmt.Sprintf("input %q: no contents and no raw_input_contents", in.GetName())
		}
		if len(c.GetBoolContents())+len(c.GetIntContents())+len(c.GetInt64Contents())+len(c.GetUintContents())+
			len(c.GetUint64Contents())+len(c.GetFp32Contents())+len(c.GetFp64Contents()) > 0 {
			return nil, nil, fmt.Sprintf("input %q: BYTES elements go in contents.bytes_contents only", in.GetName())
		}
		if len(c.GetBytesContents()) != n {
			return nil, nil, fmt.Sprintf("input %q: shape %s holds %d elements, bytes_contents has %d", in.GetName(), shapeString(in.GetShape()), n, len(c.GetBytesContents()))
		}
		shape.Encoding = "bytes_contents"
		texts = make([]string, n)
		for i, b := range c.GetBytesContents() {
			texts[i] = string(b)
		}
	}
	for i, t := range texts {
		if isBlank(t) {
			return nil, nil, fmt.Sprintf("input %q: element %d: the text must not be empty", in.GetName(), i)
		}
	}
	return texts, shape, ""
}

// splitRawBytes splits the raw form of a BYTES tensor, each element a
// 4-byte little-endian length followed by its bytes, into exactly n texts.
func splitRawBytes(raw []byte, n int) ([]string, string) {
	texts := make([]string, 0, n)
	for len(raw) > 0 {
		if len(raw) < 4 {
			return nil, fmt.Sprintf("element %d: %d bytes left, too few for its 4-byte length", len(texts), len(raw))
		}
		l := binary.LittleEndian.Uint32(raw)
		raw = raw[4:]
		if uint64(l) > uint64(len(raw)) {
			return nil, fmt.Sprintf("element %d: length %d, but %d bytes left", len(texts), l, len(raw))
		}
		if len(texts) == n {
			return nil, fmt.Sprintf("more than the %d elements of the shape", n)
		}
		texts = append(texts, string(raw[:l]))
		raw = raw[l:]
	}
	if len(texts) != n {
		return nil, fmt.Sprintf("%d elements, the shape holds %d", len(texts), n)
	}
	return texts, ""
}

// ---- TF Serving: tensorflow.serving.PredictionService ----

type tfServingServer struct {
	tfsapis.UnimplementedPredictionServiceServer
	s *Server
}

// Predict implements tfsapis.PredictionServiceServer: model_spec names the
// model (a version and the signature "serving_default" optional), inputs
// has one DT_STRING tensor under the input name, of shape [N] or [N,1],
// its N texts in string_val; the answer's outputs are "label" (DT_STRING)
// and "category" (DT_INT64) of the same shape.
func (t tfServingServer) Predict(ctx context.Context, req *tfsapis.PredictRequest) (*tfsapis.PredictResponse, error) {
	s := t.s
	const p = pTFServingGRPC
	s.grpcRequests.Add(1)
	s.presets[p].requests.Add(1)
	arrival := s.arrival()
	spec := req.GetModelSpec()
	if spec == nil {
		return nil, s.refuseGRPC(p, codes.InvalidArgument, "missing model_spec")
	}
	version := ""
	if v := spec.GetVersion(); v != nil {
		version = strconv.FormatInt(v.GetValue(), 10)
	}
	if code, msg := s.checkModelGRPC(spec.GetName(), version); code != codes.OK {
		return nil, s.refuseGRPC(p, code, "%s", msg)
	}
	if l := spec.GetVersionLabel(); l != "" {
		return nil, s.refuseGRPC(p, codes.NotFound, "version label %q of model %q not found (this server has no labels)", l, spec.GetName())
	}
	if sig := spec.GetSignatureName(); sig != "" && sig != defaultSignature {
		return nil, s.refuseGRPC(p, codes.InvalidArgument, "serving signature name %q not found in the model's signatures (%q)", sig, defaultSignature)
	}
	in, ok := req.GetInputs()[s.cfg.InputName]
	if !ok || len(req.GetInputs()) != 1 {
		names := make([]string, 0, len(req.GetInputs()))
		for k := range req.GetInputs() {
			names = append(names, k)
		}
		return nil, s.refuseGRPC(p, codes.InvalidArgument, "inputs %q: the model has one input, %q", names, s.cfg.InputName)
	}
	texts, shape, msg := tfStringTensor(in)
	if msg != "" {
		return nil, s.refuseGRPC(p, codes.InvalidArgument, "input %q: %s", s.cfg.InputName, msg)
	}
	outputs, msg := requestedOutputs(req.GetOutputFilter(), func(o string) (string, bool) { return o, true })
	if msg != "" {
		return nil, s.refuseGRPC(p, codes.InvalidArgument, "output_filter: %s", msg)
	}
	shape.Model, shape.Version, shape.Signature, shape.Input = spec.GetName(), version, spec.GetSignatureName(), s.cfg.InputName
	s.presets[p].accept(shape)
	if err := s.grpcKnobs(ctx, arrival); err != nil {
		return nil, err
	}
	labels := make([][]byte, len(texts))
	cats := make([]int64, len(texts))
	for i, t := range texts {
		c, _ := s.model.Predict(t)
		labels[i], cats[i] = s.labelBytes[c], int64(c)
	}
	tshape := in.GetTensorShape()
	resp := &tfsapis.PredictResponse{
		ModelSpec: &tfsapis.ModelSpec{Name: s.cfg.ModelName, VersionChoice: &tfsapis.ModelSpec_Version{Version: wrapperspb.Int64(s.modelVersion)}, SignatureName: defaultSignature},
		Outputs:   make(map[string]*framework.TensorProto, 2),
	}
	if outputs&wantLabel != 0 {
		resp.Outputs[outputLabel] = &framework.TensorProto{Dtype: framework.DataType_DT_STRING, TensorShape: tshape, StringVal: labels}
	}
	if outputs&wantCategory != 0 {
		resp.Outputs[outputCategory] = &framework.TensorProto{Dtype: framework.DataType_DT_INT64, TensorShape: tshape, Int64Val: cats}
	}
	return resp, nil
}

// tfStringTensor checks a DT_STRING tensor of shape [N] or [N,1] with its
// N elements in string_val, and returns them.
func tfStringTensor(in *framework.TensorProto) (texts []string, shape *WireShape, problem string) {
	if in.GetDtype() != framework.DataType_DT_STRING {
		return nil, nil, fmt.Sprintf("dtype %v, want DT_STRING", in.GetDtype())
	}
	ts := in.GetTensorShape()
	if ts == nil || ts.GetUnknownRank() {
		return nil, nil, "missing tensor_shape"
	}
	dims := make([]int64, len(ts.GetDim()))
	for i, d := range ts.GetDim() {
		dims[i] = d.GetSize()
	}
	n, ok := batchOf(dims)
	if !ok {
		return nil, nil, fmt.Sprintf("shape %s, want [N] or [N,1] with N >= 1", shapeString(dims))
	}
	if len(in.GetTensorContent()) > 0 || len(in.GetHalfVal())+len(in.GetFloatVal())+len(in.GetDoubleVal())+len(in.GetIntVal())+
		len(in.GetScomplexVal())+len(in.GetInt64Val())+len(in.GetBoolVal())+len(in.GetDcomplexVal())+len(in.GetUint32Val())+len(in.GetUint64Val()) > 0 {
		return nil, nil, "DT_STRING elements go in string_val only"
	}
	if len(in.GetStringVal()) != n {
		return nil, nil, fmt.Sprintf("shape %s holds %d elements, string_val has %d", shapeString(dims), n, len(in.GetStringVal()))
	}
	texts = make([]string, n)
	for i, b := range in.GetStringVal() {
		if texts[i] = string(b); isBlank(texts[i]) {
			return nil, nil, fmt.Sprintf("element %d: the text must not be empty", i)
		}
	}
	return texts, &WireShape{Datatype: "DT_STRING", Shape: dims, Encoding: "string_val", Batch: n}, ""
}

// ---- Vertex AI: google.cloud.aiplatform.v1.PredictionService ----

type vertexServer struct {
	aiplatformpb.UnimplementedPredictionServiceServer
	s *Server
}

// Predict implements aiplatformpb.PredictionServiceServer: endpoint is
// projects/{p}/locations/{l}/endpoints/{e} with e the model name; each
// instance is a string or a struct whose one field, the input name, is a
// string; each prediction is a struct {label, category}.
func (v vertexServer) Predict(ctx context.Context, req *aiplatformpb.PredictRequest) (*aiplatformpb.PredictResponse, error) {
	s := v.s
	const p = pVertexGRPC
	s.grpcRequests.Add(1)
	s.presets[p].requests.Add(1)
	arrival := s.arrival()
	id, ok := parseEndpoint(req.GetEndpoint())
	if !ok {
		return nil, s.refuseGRPC(p, codes.InvalidArgument, "endpoint %q: want projects/{project}/locations/{location}/endpoints/{endpoint}", req.GetEndpoint())
	}
	if id != s.cfg.ModelName {
		return nil, s.refuseGRPC(p, codes.NotFound, "endpoint %s not found (this server's endpoint ID is %q)", req.GetEndpoint(), s.cfg.ModelName)
	}
	if len(req.GetInstances()) == 0 {
		return nil, s.refuseGRPC(p, codes.InvalidArgument, "instances must hold at least one instance")
	}
	texts := make([]string, len(req.GetInstances()))
	input := ""
	for i, inst := range req.GetInstances() {
		text, object, ok := s.vertexInstance(inst)
		if !ok {
			return nil, s.refuseGRPC(p, codes.InvalidArgument, `instance %d must be a string or a struct {%q: "..."} with a non-empty text`, i, s.cfg.InputName)
		}
		if object {
			input = s.cfg.InputName
		}
		texts[i] = text
	}
	s.presets[p].accept(&WireShape{Model: id, Endpoint: req.GetEndpoint(), Input: input,
		Shape: shape1(len(texts)), Encoding: "values", Batch: len(texts)})
	if err := s.grpcKnobs(ctx, arrival); err != nil {
		return nil, err
	}
	preds := make([]*structpb.Value, len(texts))
	for i, t := range texts {
		c, _ := s.model.Predict(t)
		preds[i] = s.vertexPrediction[c] // shared: responses are only read
	}
	return &aiplatformpb.PredictResponse{Predictions: preds, DeployedModelId: s.cfg.ModelName, ModelVersionId: s.cfg.ModelVersion}, nil
}

// vertexInstance returns the text of one instance.
func (s *Server) vertexInstance(v *structpb.Value) (text string, object, ok bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		text = k.StringValue
	case *structpb.Value_StructValue:
		f := k.StructValue.GetFields()
		sv, isString := f[s.cfg.InputName].GetKind().(*structpb.Value_StringValue)
		if len(f) != 1 || !isString {
			return "", true, false
		}
		text, object = sv.StringValue, true
	default:
		return "", false, false
	}
	return text, object, !isBlank(text)
}
