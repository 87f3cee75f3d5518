// Package proto_test checks that the wire types cicada carries for the ML
// serving protocols keep the published names and field numbers: a renamed
// package or a renumbered field would still compile and round-trip against
// itself, yet no real server would understand it.
package proto_test

import (
	"testing"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	"github.com/cicadaload/cicada/proto/tensorflow/core/framework"
	"github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
)

func TestMethodPaths(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{inferencev2.GRPCInferenceService_ServerLive_FullMethodName, "/inference.GRPCInferenceService/ServerLive"},
		{inferencev2.GRPCInferenceService_ServerReady_FullMethodName, "/inference.GRPCInferenceService/ServerReady"},
		{inferencev2.GRPCInferenceService_ModelReady_FullMethodName, "/inference.GRPCInferenceService/ModelReady"},
		{inferencev2.GRPCInferenceService_ModelMetadata_FullMethodName, "/inference.GRPCInferenceService/ModelMetadata"},
		{inferencev2.GRPCInferenceService_ModelInfer_FullMethodName, "/inference.GRPCInferenceService/ModelInfer"},
		{apis.PredictionService_Predict_FullMethodName, "/tensorflow.serving.PredictionService/Predict"},
		{aiplatformpb.PredictionService_Predict_FullMethodName, "/google.cloud.aiplatform.v1.PredictionService/Predict"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("method path %q, want %q", tt.got, tt.want)
		}
	}
}

// TestFileNames checks that the descriptors carry the original files' paths,
// which a protoset built from them (or a server's reflection) names.
func TestFileNames(t *testing.T) {
	tests := []struct {
		msg  protoreflect.ProtoMessage
		file string
	}{
		{&inferencev2.ModelInferRequest{}, "inference/v2/grpc_predict_v2.proto"},
		{&framework.TensorProto{}, "tensorflow/core/framework/tensor.proto"},
		{&framework.TensorShapeProto{}, "tensorflow/core/framework/tensor_shape.proto"},
		{&apis.ModelSpec{}, "tensorflow_serving/apis/model.proto"},
		{&apis.PredictRequest{}, "tensorflow_serving/apis/predict.proto"},
	}
	for _, tt := range tests {
		d := tt.msg.ProtoReflect().Descriptor()
		if got := d.ParentFile().Path(); got != tt.file {
			t.Errorf("%s is in %q, want %q", d.FullName(), got, tt.file)
		}
		if _, err := protoregistry.GlobalFiles.FindFileByPath(tt.file); err != nil {
			t.Errorf("file %s not registered: %v", tt.file, err)
		}
	}
}

// TestFieldNumbers pins the fields cicada reads or writes to the published
// numbers and types.
func TestFieldNumbers(t *testing.T) {
	tests := []struct {
		msg    protoreflect.ProtoMessage
		field  protoreflect.Name
		number protoreflect.FieldNumber
		kind   protoreflect.Kind
	}{
		{&inferencev2.ModelInferRequest{}, "model_name", 1, protoreflect.StringKind},
		{&inferencev2.ModelInferRequest{}, "model_version", 2, protoreflect.StringKind},
		{&inferencev2.ModelInferRequest{}, "id", 3, protoreflect.StringKind},
		{&inferencev2.ModelInferRequest{}, "parameters", 4, protoreflect.MessageKind},
		{&inferencev2.ModelInferRequest{}, "inputs", 5, protoreflect.MessageKind},
		{&inferencev2.ModelInferRequest{}, "outputs", 6, protoreflect.MessageKind},
		{&inferencev2.ModelInferRequest{}, "raw_input_contents", 7, protoreflect.BytesKind},
		{&inferencev2.ModelInferRequest_InferInputTensor{}, "name", 1, protoreflect.StringKind},
		{&inferencev2.ModelInferRequest_InferInputTensor{}, "datatype", 2, protoreflect.StringKind},
		{&inferencev2.ModelInferRequest_InferInputTensor{}, "shape", 3, protoreflect.Int64Kind},
		{&inferencev2.ModelInferRequest_InferInputTensor{}, "contents", 5, protoreflect.MessageKind},
		{&inferencev2.ModelInferResponse{}, "outputs", 5, protoreflect.MessageKind},
		{&inferencev2.ModelInferResponse{}, "raw_output_contents", 6, protoreflect.BytesKind},
		{&inferencev2.ModelInferResponse_InferOutputTensor{}, "contents", 5, protoreflect.MessageKind},
		{&inferencev2.InferTensorContents{}, "int64_contents", 3, protoreflect.Int64Kind},
		{&inferencev2.InferTensorContents{}, "fp32_contents", 6, protoreflect.FloatKind},
		{&inferencev2.InferTensorContents{}, "bytes_contents", 8, protoreflect.BytesKind},
		{&inferencev2.InferParameter{}, "string_param", 3, protoreflect.StringKind},
		{&framework.TensorProto{}, "dtype", 1, protoreflect.EnumKind},
		{&framework.TensorProto{}, "tensor_shape", 2, protoreflect.MessageKind},
		{&framework.TensorProto{}, "tensor_content", 4, protoreflect.BytesKind},
		{&framework.TensorProto{}, "float_val", 5, protoreflect.FloatKind},
		{&framework.TensorProto{}, "int_val", 7, protoreflect.Int32Kind},
		{&framework.TensorProto{}, "string_val", 8, protoreflect.BytesKind},
		{&framework.TensorProto{}, "int64_val", 10, protoreflect.Int64Kind},
		{&framework.TensorProto{}, "bool_val", 11, protoreflect.BoolKind},
		{&framework.TensorShapeProto{}, "dim", 2, protoreflect.MessageKind},
		{&framework.TensorShapeProto_Dim{}, "size", 1, protoreflect.Int64Kind},
		{&apis.ModelSpec{}, "name", 1, protoreflect.StringKind},
		{&apis.ModelSpec{}, "version", 2, protoreflect.MessageKind},
		{&apis.ModelSpec{}, "signature_name", 3, protoreflect.StringKind},
		{&apis.ModelSpec{}, "version_label", 4, protoreflect.StringKind},
		{&apis.PredictRequest{}, "model_spec", 1, protoreflect.MessageKind},
		{&apis.PredictRequest{}, "inputs", 2, protoreflect.MessageKind},
		{&apis.PredictRequest{}, "output_filter", 3, protoreflect.StringKind},
		{&apis.PredictResponse{}, "outputs", 1, protoreflect.MessageKind},
		{&apis.PredictResponse{}, "model_spec", 2, protoreflect.MessageKind},
	}
	for _, tt := range tests {
		d := tt.msg.ProtoReflect().Descriptor()
		f := d.Fields().ByName(tt.field)
		if f == nil {
			t.Errorf("%s has no field %s", d.FullName(), tt.field)
			continue
		}
		if f.Number() != tt.number || f.Kind() != tt.kind {
			t.Errorf("%s.%s is %d %v, want %d %v", d.FullName(), tt.field, f.Number(), f.Kind(), tt.number, tt.kind)
		}
	}
}

func TestDataTypeValues(t *testing.T) {
	tests := []struct {
		got  framework.DataType
		want int32
	}{
		{framework.DataType_DT_INVALID, 0},
		{framework.DataType_DT_FLOAT, 1},
		{framework.DataType_DT_INT32, 3},
		{framework.DataType_DT_STRING, 7},
		{framework.DataType_DT_INT64, 9},
		{framework.DataType_DT_BOOL, 10},
		{framework.DataType_DT_HALF, 19},
		{framework.DataType_DT_UINT64, 23},
	}
	for _, tt := range tests {
		if int32(tt.got) != tt.want {
			t.Errorf("%v = %d, want %d", tt.got, int32(tt.got), tt.want)
		}
	}
}
