// Command aggregator merges slices into live status and final reports and
// republishes shards whose worker vanished (see package aggregate).
// Configuration: aggregate.Env (CICADA_PROJECT, CICADA_BUCKET,
// CICADA_SECRET_HEADERS, CICADA_AGGREGATOR_*, CICADA_LOG_*); the emulators through
// PUBSUB_EMULATOR_HOST and STORAGE_EMULATOR_HOST.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/pipeline"
	"github.com/cicadaload/cicada/shared/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "aggregator:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	env, err := aggregate.ReadEnv()
	if err != nil {
		return err
	}
	env.Config.Apply() // CICADA_SECRET_HEADERS: redacted in everything this process shows and logs
	return pipeline.RunComponent(ctx, "aggregator", env.Log, env.Cloud, func(ctx context.Context, st store.Store, b bus.Bus, log *zap.Logger) error {
		return aggregate.NewService(env.Aggregator, st, b, log, nil).Run(ctx)
	})
}
