// Command worker is the worker pod: it pulls shard work from Pub/Sub and
// drives shards into the bucket (see package worker). Configuration:
// worker.Env (CICADA_PROJECT, CICADA_BUCKET, CICADA_SECRET_HEADERS,
// CICADA_WORKER_*, CICADA_LOG_*); the emulators through PUBSUB_EMULATOR_HOST and
// STORAGE_EMULATOR_HOST.
// SIGTERM stops it gracefully: each shard is handed over at a slice
// boundary a little ahead, driven and written until then, and another
// worker sends from that boundary on.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/pipeline"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	env, err := worker.ReadEnv()
	if err != nil {
		return err
	}
	env.Config.Apply() // CICADA_SECRET_HEADERS: redacted in everything this process shows and logs
	return pipeline.RunComponent(ctx, "worker", env.Log, env.Cloud, func(ctx context.Context, st store.Store, b bus.Bus, log *zap.Logger) error {
		return worker.New(env.Worker, st, b, log, nil).Run(ctx)
	})
}
