package load

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	tf "github.com/cicadaload/cicada/proto/tensorflow/core/framework"
	tfsapis "github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
)

// dig follows keys (strings for objects, ints for arrays) through a tree.
func dig(tree any, keys ...any) (any, error) {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := tree.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%q: not an object but %T", k, tree)
			}
			if tree, ok = m[k]; !ok {
				return nil, fmt.Errorf("%q: no such key", k)
			}
		case int:
			l, ok := tree.([]any)
			if !ok || k >= len(l) {
				return nil, fmt.Errorf("[%d]: not in %T", k, tree)
			}
			tree = l[k]
		}
	}
	return tree, nil
}

// TestProtoTree decodes each preset's response as the engine does (bytes
// through dynamicpb and the response type's descriptor) and finds the
// values a check reads where the contract puts them.
func TestProtoTree(t *testing.T) {
	t.Parallel()
	oip := &inferencev2.ModelInferResponse{
		ModelName: "clf",
		Outputs: []*inferencev2.ModelInferResponse_InferOutputTensor{{
			Name: "label", Datatype: "BYTES", Shape: []int64{2},
			Contents: &inferencev2.InferTensorContents{BytesContents: [][]byte{[]byte("sports"), []byte("business")}},
		}, {
			Name: "score", Datatype: "FP32", Shape: []int64{2},
			Contents: &inferencev2.InferTensorContents{Fp32Contents: []float32{0.1, 0.75}},
		}},
	}
	tfs := &tfsapis.PredictResponse{Outputs: map[string]*tf.TensorProto{
		"label": {Dtype: tf.DataType_DT_STRING, StringVal: [][]byte{[]byte("world")}},
		"class": {Dtype: tf.DataType_DT_INT64, Int64Val: []int64{9007199254740993}},
	}}
	row, err := structpb.NewValue(map[string]any{"label": "tech", "score": 0.5, "ok": true, "none": nil})
	if err != nil {
		t.Fatal(err)
	}
	vertex := &aiplatformpb.PredictResponse{Predictions: []*structpb.Value{row, structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("x")}})}, DeployedModelId: "7"}

	tests := []struct {
		name string
		msg  proto.Message
		keys []any
		want any
	}{
		{"oip bytes are raw text (JSON name)", oip, []any{"outputs", 0, "contents", "bytesContents", 1}, "business"},
		{"oip bytes are raw text (proto name)", oip, []any{"outputs", 0, "contents", "bytes_contents", 0}, "sports"},
		{"oip int64 shape is a number", oip, []any{"outputs", 0, "shape", 0}, json.Number("2")},
		{"oip float32 in its own precision", oip, []any{"outputs", 1, "contents", "fp32_contents", 0}, json.Number("0.1")},
		{"oip unset scalar is its zero value", oip, []any{"id"}, ""},
		{"oip empty repeated is an empty list", oip, []any{"raw_output_contents"}, []any{}},
		{"oip proto name", oip, []any{"model_name"}, "clf"},
		{"oip JSON name", oip, []any{"modelName"}, "clf"},
		{"tfserving map of tensors, string_val", tfs, []any{"outputs", "label", "string_val", 0}, "world"},
		{"tfserving camel case too", tfs, []any{"outputs", "label", "stringVal", 0}, "world"},
		{"tfserving enum by name", tfs, []any{"outputs", "label", "dtype"}, "DT_STRING"},
		{"tfserving int64 exact", tfs, []any{"outputs", "class", "int64_val", 0}, json.Number("9007199254740993")},
		{"vertex Value struct", vertex, []any{"predictions", 0, "label"}, "tech"},
		{"vertex Value number", vertex, []any{"predictions", 0, "score"}, json.Number("0.5")},
		{"vertex Value bool", vertex, []any{"predictions", 0, "ok"}, true},
		{"vertex Value null", vertex, []any{"predictions", 0, "none"}, nil},
		{"vertex Value list", vertex, []any{"predictions", 1, 0}, "x"},
		{"vertex proto name", vertex, []any{"deployed_model_id"}, "7"},
		{"wrapper is its value", wrapperspb.Int64(12), []any{}, json.Number("12")},
		{"duration as protojson renders it", durationpb.New(1500 * time.Millisecond), []any{}, "1.500s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			m := dynamicpb.NewMessage(tt.msg.ProtoReflect().Descriptor())
			if err := proto.Unmarshal(b, m); err != nil {
				t.Fatal(err)
			}
			got, err := dig(protoTree(m), tt.keys...)
			if err != nil {
				t.Fatalf("dig %v: %v", tt.keys, err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
				t.Errorf("%v = %#v, want %#v", tt.keys, got, tt.want)
			}
		})
	}
}

// TestProtoTreeAbsent: an unset message or oneof member is absent (the
// check's path then leads nowhere: check:missing), not an empty object.
func TestProtoTreeAbsent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  protoreflect.ProtoMessage
		key  string
	}{
		{"unset message", &inferencev2.ModelInferResponse_InferOutputTensor{Name: "x"}, "contents"},
		{"unset oneof member", &inferencev2.InferParameter{ParameterChoice: &inferencev2.InferParameter_BoolParam{BoolParam: true}}, "string_param"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := protoTree(tt.msg.ProtoReflect()).(map[string]any)
			if v, ok := tree[tt.key]; ok {
				t.Errorf("%s = %#v, want absent", tt.key, v)
			}
		})
	}
}
