package load

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	tfsapis "github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
)

// protosetOf is the base64 of a FileDescriptorSet holding files (and no
// import they make: see addWellKnown), as target.protoset carries it.
func protosetOf(t testing.TB, files ...protoreflect.FileDescriptor) string {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{}
	for _, f := range files {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// startBareGRPC serves the health service on 127.0.0.1 with no server
// reflection: its types are known only from a protoset.
func startBareGRPC(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func TestLookupMethod(t *testing.T) {
	t.Parallel()
	// No reflection here: only a protoset or a built-in service resolves.
	addr := startBareGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, healthServer{}) })
	health := protosetOf(t, healthpb.File_grpc_health_v1_health_proto)
	oip := inferencev2.File_inference_v2_grpc_predict_v2_proto
	tests := []struct {
		name, protoset, method string
		wantIn, wantOut        string
		wantErr                []string
	}{
		{"protoset", health, "/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse", nil},
		{"protoset without a leading slash", health, "grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse", nil},
		{"protoset: no such method", health, "/grpc.health.v1.Health/Nope", "", "", []string{"target.protoset", "no method Nope"}},
		{"protoset: no such service", health, "/no.Such/Thing", "", "", []string{"target.protoset", "no service no.Such", "grpc.health.v1.Health"}},
		{"protoset: streaming", health, "/grpc.health.v1.Health/Watch", "", "", []string{"streaming"}},
		{"protoset: not base64", "%%%", "/grpc.health.v1.Health/Check", "", "", []string{"target.protoset", "base64"}},
		{"protoset: not a set", base64.StdEncoding.EncodeToString([]byte("\xff\xff")), "/grpc.health.v1.Health/Check", "", "", []string{"target.protoset", "FileDescriptorSet"}},
		{"protoset: a missing import", protosetOf(t, tfsapis.File_tensorflow_serving_apis_prediction_service_proto), "/tensorflow.serving.PredictionService/Predict", "", "", []string{"target.protoset", "tensorflow_serving/apis/predict.proto"}},
		{"protoset of a built-in service", protosetOf(t, oip), "/inference.GRPCInferenceService/ModelInfer", "inference.ModelInferRequest", "inference.ModelInferResponse", nil},
		{"protoset wins over a built-in service", protosetOf(t, healthpb.File_grpc_health_v1_health_proto), "/inference.GRPCInferenceService/ModelInfer", "", "", []string{"target.protoset", "no service inference.GRPCInferenceService"}},
		{"built-in oip_v2", "", "/inference.GRPCInferenceService/ModelInfer", "inference.ModelInferRequest", "inference.ModelInferResponse", nil},
		{"built-in tfserving", "", "/tensorflow.serving.PredictionService/Predict", "tensorflow.serving.PredictRequest", "tensorflow.serving.PredictResponse", nil},
		{"built-in vertex", "", "/google.cloud.aiplatform.v1.PredictionService/Predict", "google.cloud.aiplatform.v1.PredictRequest", "google.cloud.aiplatform.v1.PredictResponse", nil},
		{"built-in cicada", "", "/cicada.v1.Predictor/Predict", "cicada.v1.PredictRequest", "cicada.v1.PredictResponse", nil},
		{"built-in service, unknown method", "", "/inference.GRPCInferenceService/Nope", "", "", []string{"built-in service inference.GRPCInferenceService has no method Nope"}},
		{"reflection fallback on a server without it", "", "/grpc.health.v1.Health/Check", "", "", []string{"server reflection", "target.protoset"}},
		{"malformed", "", "Check", "", "", []string{"want /package.Service/Method"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			md, err := lookupMethod(ctx, tt.protoset, addr, tt.method, grpcCreds(nil), nil)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("lookupMethod(%s) = %s, want an error", tt.method, md.FullName())
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("lookupMethod(%s): %v", tt.method, err)
			}
			if in, out := string(md.Input().FullName()), string(md.Output().FullName()); in != tt.wantIn || out != tt.wantOut {
				t.Errorf("types %s -> %s, want %s -> %s", in, out, tt.wantIn, tt.wantOut)
			}
		})
	}
}

// TestProtosetWellKnownImports: a set written without --include_imports
// still resolves when what it lacks is a well-known type's file.
func TestProtosetWellKnownImports(t *testing.T) {
	t.Parallel()
	file := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("my/model.proto"),
		Package:    proto.String("my"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/struct.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Out"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("predictions"), JsonName: proto.String("predictions"), Number: proto.Int32(1),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum(),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
				TypeName: proto.String(".google.protobuf.Value"),
			}},
		}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:   proto.String("Model"),
			Method: []*descriptorpb.MethodDescriptorProto{{Name: proto.String("Predict"), InputType: proto.String(".google.protobuf.Struct"), OutputType: proto.String(".my.Out")}},
		}},
	}
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{file}})
	if err != nil {
		t.Fatal(err)
	}
	md, err := protosetMethod(base64.StdEncoding.EncodeToString(b), "my.Model", "Predict")
	if err != nil {
		t.Fatalf("protosetMethod: %v", err)
	}
	if got := md.Output().Fields().ByName("predictions").Message().FullName(); got != "google.protobuf.Value" {
		t.Errorf("predictions are %s, want google.protobuf.Value", got)
	}
}

// healthServer answers Check with SERVING.
type healthServer struct {
	healthpb.UnimplementedHealthServer
}

func (healthServer) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}
