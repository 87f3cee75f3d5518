// Command aggregator merges slices into live status and final reports and
// republishes shards whose worker vanished (see package aggregate).
// Configuration: CICADA_PROJECT, CICADA_BUCKET, CICADA_AGGREGATOR_*,
// CICADA_LOG_*; the emulators through PUBSUB_EMULATOR_HOST and
// STORAGE_EMULATOR_HOST.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/pipeline"
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
	var (
		lc    logging.Config
		cloud pipeline.Cloud
		cfg   aggregate.Config
	)
	if err := envconfig.Process("CICADA", &lc); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := envconfig.Process("CICADA", &cloud); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := envconfig.Process("CICADA_AGGREGATOR", &cfg); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	log, err := logging.FromConfig(lc)
	if err != nil {
		return err
	}
	defer log.Sync() // nowhere to report a failed flush

	st, b, closeAll, err := pipeline.Connect(ctx, cloud)
	if err != nil {
		return err
	}
	defer closeAll()
	log.Info("aggregator ready", zap.String("project", cloud.Project), zap.String("bucket", cloud.Bucket))
	return aggregate.NewService(cfg, st, b, log, nil).Run(ctx)
}
