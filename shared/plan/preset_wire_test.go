package plan

import (
	"reflect"
	"testing"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	"github.com/cicadaload/cicada/proto/tensorflow/core/framework"
	tfapis "github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
)

// TestPresetRequestsDecode: each gRPC preset's request, batch 3, decodes
// strictly (no unknown field) into its service's generated request type
// with the texts where the spec puts them.
func TestPresetRequestsDecode(t *testing.T) {
	t.Parallel()
	texts := presetTexts
	raw := make([][]byte, len(texts))
	for i, s := range texts {
		raw[i] = []byte(s)
	}
	for _, tt := range []struct {
		preset Preset
		msg    proto.Message
		check  func(t *testing.T, m proto.Message)
	}{
		{Preset{Name: PresetOIPV2, Model: "news", Version: "2"}, &inferencev2.ModelInferRequest{}, func(t *testing.T, m proto.Message) {
			r := m.(*inferencev2.ModelInferRequest)
			in := r.GetInputs()
			if r.GetModelName() != "news" || r.GetModelVersion() != "2" || len(in) != 1 || in[0].GetName() != "text" || in[0].GetDatatype() != "BYTES" ||
				!reflect.DeepEqual(in[0].GetShape(), []int64{3}) || !reflect.DeepEqual(in[0].GetContents().GetBytesContents(), raw) {
				t.Errorf("ModelInferRequest = %v", r)
			}
		}},
		{Preset{Name: PresetTFServing, Model: "news", Version: "7", InputName: "sentences"}, &tfapis.PredictRequest{}, func(t *testing.T, m proto.Message) {
			r := m.(*tfapis.PredictRequest)
			in := r.GetInputs()["sentences"]
			if r.GetModelSpec().GetName() != "news" || r.GetModelSpec().GetVersion().GetValue() != 7 || r.GetModelSpec().GetSignatureName() != "serving_default" ||
				in.GetDtype() != framework.DataType_DT_STRING || len(in.GetTensorShape().GetDim()) != 1 || in.GetTensorShape().GetDim()[0].GetSize() != 3 ||
				!reflect.DeepEqual(in.GetStringVal(), raw) {
				t.Errorf("PredictRequest = %v", r)
			}
		}},
		{Preset{Name: PresetVertex, Project: "p", Location: "l", Endpoint: "42"}, &aiplatformpb.PredictRequest{}, func(t *testing.T, m proto.Message) {
			r := m.(*aiplatformpb.PredictRequest)
			var got []string
			for _, v := range r.GetInstances() {
				got = append(got, v.GetStringValue())
			}
			if r.GetEndpoint() != "projects/p/locations/l/endpoints/42" || !reflect.DeepEqual(got, texts) {
				t.Errorf("PredictRequest = %v", r)
			}
		}},
	} {
		t.Run(tt.preset.Name, func(t *testing.T) {
			t.Parallel()
			p := &Plan{Target: Target{Protocol: ProtocolGRPC, Address: "h:1", Batch: 3, Preset: &tt.preset}}
			p.ApplyDefaults()
			r, err := p.Target.RenderRequests(&Corpus{Texts: texts}, RenderLimits{})
			if err != nil {
				t.Fatal(err)
			}
			if err := protojson.Unmarshal(r.Bodies[0], tt.msg); err != nil {
				t.Fatalf("protojson.Unmarshal(%s): %v", r.Bodies[0], err)
			}
			tt.check(t, tt.msg)
		})
	}
}
