// Command predict is the sample system under test: a text classifier served
// over REST and gRPC (see package predict). Configuration: predict.Env,
// the CICADA_PREDICT_* variables; CICADA_LOG_CONSOLE=true gives
// human-readable logs, CICADA_LOG_LEVEL sets the level.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/predict"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "predict:", err)
		os.Exit(1)
	}
}

// onReady, when set by a test, receives the bound addresses ("" for a
// disabled protocol) once both listeners are open.
var onReady func(httpAddr, grpcAddr string)

func realMain(ctx context.Context) error {
	env, err := predict.ReadEnv()
	if err != nil {
		return err
	}
	cfg := env.Predict
	log, err := logging.FromConfig(env.Log)
	if err != nil {
		return err
	}
	defer log.Sync() // a failed flush of stderr has nowhere to be reported

	httpLn, grpcLn, err := predict.Listen(ctx, cfg)
	if err != nil {
		return err
	}
	httpAddr, grpcAddr := predict.Addr(httpLn), predict.Addr(grpcLn)

	srv := predict.NewServer(cfg, log)
	log.Info("predict service ready",
		zap.String("http_addr", httpAddr), zap.String("grpc_addr", grpcAddr), zap.Bool("tls", cfg.TLSCert != ""),
		zap.Duration("latency", cfg.Latency), zap.Duration("jitter", cfg.Jitter),
		zap.Float64("error_ratio", cfg.ErrorRatio),
		zap.Duration("stall_every", cfg.StallEvery), zap.Duration("stall_for", cfg.StallFor))
	if onReady != nil {
		onReady(httpAddr, grpcAddr)
	}
	if err := srv.Serve(ctx, httpLn, grpcLn); err != nil {
		return err
	}
	log.Info("predict service stopped", zap.Int64("requests", srv.Requests()))
	return nil
}
