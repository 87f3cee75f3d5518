// Command worker is the worker pod: it pulls shard work from Pub/Sub and
// drives shards into the bucket (see package worker). Configuration:
// CICADA_PROJECT, CICADA_BUCKET, CICADA_WORKER_*, CICADA_LOG_*; the
// emulators through PUBSUB_EMULATOR_HOST and STORAGE_EMULATOR_HOST.
// SIGTERM stops it gracefully: the current slice is written, the lease
// released, and the shard handed to another worker.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/pipeline"
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
	var (
		lc    logging.Config
		cloud pipeline.Cloud
		cfg   worker.Config
	)
	if err := envconfig.Process("CICADA", &lc); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := envconfig.Process("CICADA", &cloud); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := envconfig.Process("CICADA_WORKER", &cfg); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	log, err := logging.FromConfig(lc)
	if err != nil {
		return err
	}
	defer log.Sync() // nowhere to report a failed flush
	log = log.With(zap.String("worker", cfg.ID))

	st, b, closeAll, err := pipeline.Connect(ctx, cloud)
	if err != nil {
		return err
	}
	defer closeAll()
	log.Info("worker ready", zap.String("project", cloud.Project), zap.String("bucket", cloud.Bucket), zap.Int("capacity", cfg.Capacity))
	return worker.New(cfg, st, b, log, nil).Run(ctx)
}
