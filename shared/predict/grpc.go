package predict

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

// RegisterGRPC registers cicada.v1.Predictor, the standard health service
// (SERVING for "" and "cicada.v1.Predictor" until shutdown) and server
// reflection on gs.
func (s *Server) RegisterGRPC(gs *grpc.Server) {
	cicadav1.RegisterPredictorServer(gs, grpcPredictor{s: s})
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
}

type grpcPredictor struct {
	cicadav1.UnimplementedPredictorServer
	s *Server
}

// Predict implements cicadav1.PredictorServer.
func (g grpcPredictor) Predict(ctx context.Context, req *cicadav1.PredictRequest) (*cicadav1.PredictResponse, error) {
	s := g.s
	s.grpcRequests.Add(1)
	var arrival time.Time
	if s.knobs {
		arrival = s.now()
	}
	text := req.GetText()
	if isBlank(text) {
		s.invalid.Add(1)
		return nil, status.Error(codes.InvalidArgument, `field "text" must not be empty`)
	}
	if s.knobs {
		fail, err := s.applyKnobs(ctx, arrival)
		if err != nil {
			return nil, status.FromContextError(err).Err()
		}
		if fail {
			return nil, status.Error(codes.Unavailable, "injected error (CICADA_PREDICT_ERROR_RATIO)")
		}
	}
	c, l := s.model.Predict(text)
	return &cicadav1.PredictResponse{Category: int32(c), Label: l}, nil
}
