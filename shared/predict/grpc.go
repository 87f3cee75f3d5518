package predict

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	tfsapis "github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
)

// RegisterGRPC registers on gs cicada.v1.Predictor, the serving protocols'
// services (inference.GRPCInferenceService, tensorflow.serving.PredictionService
// and google.cloud.aiplatform.v1.PredictionService, Predict only; grpc_presets.go),
// the standard health service (SERVING for "" and each of those services
// until shutdown) and, unless Config.DisableReflection, server reflection.
func (s *Server) RegisterGRPC(gs *grpc.Server) {
	cicadav1.RegisterPredictorServer(gs, grpcPredictor{s: s})
	inferencev2.RegisterGRPCInferenceServiceServer(gs, oipServer{s: s})
	tfsapis.RegisterPredictionServiceServer(gs, tfServingServer{s: s})
	aiplatformpb.RegisterPredictionServiceServer(gs, vertexServer{s: s})
	healthpb.RegisterHealthServer(gs, s.health)
	if !s.cfg.DisableReflection {
		reflection.Register(gs)
	}
}

type grpcPredictor struct {
	cicadav1.UnimplementedPredictorServer
	s *Server
}

// Predict implements cicadav1.PredictorServer.
func (g grpcPredictor) Predict(ctx context.Context, req *cicadav1.PredictRequest) (*cicadav1.PredictResponse, error) {
	s := g.s
	s.grpcRequests.Add(1)
	arrival := s.arrival()
	text := req.GetText()
	if isBlank(text) {
		s.invalid.Add(1)
		return nil, status.Error(codes.InvalidArgument, `field "text" must not be empty`)
	}
	if err := s.grpcKnobs(ctx, arrival); err != nil {
		return nil, err
	}
	c, l := s.model.Predict(text)
	return &cicadav1.PredictResponse{Category: int32(c), Label: l}, nil
}
