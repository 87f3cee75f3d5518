package pipeline

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/store"
)

// Connect opens the bucket and the bus of c, through PUBSUB_EMULATOR_HOST
// and STORAGE_EMULATOR_HOST when they are set, else Google Cloud with
// Application Default Credentials. With c.Setup it creates the bucket,
// topics and subscriptions, and the bus sets the topology up again
// whenever it finds it missing (bus.PubSub.SetupOnNotFound). closeAll
// releases both.
func Connect(ctx context.Context, c config.Cloud) (st store.Store, b *bus.PubSub, closeAll func(), err error) {
	client, err := store.NewClientFromEnv(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if c.Setup {
		if os.Getenv(store.EmulatorHostEnv) == "" {
			client.Close()
			return nil, nil, nil, fmt.Errorf("CICADA_SETUP is for emulators: %s is not set", store.EmulatorHostEnv)
		}
		if err := store.EnsureBucket(ctx, client, c.Project, c.Bucket); err != nil {
			client.Close()
			return nil, nil, nil, err
		}
	}
	b, err = bus.NewPubSub(ctx, c.Project)
	if err != nil {
		client.Close()
		return nil, nil, nil, fmt.Errorf("pubsub in project %s: %w", c.Project, err)
	}
	if c.Setup {
		if err := bus.Setup(ctx, b); err != nil {
			b.Close()
			client.Close()
			return nil, nil, nil, err
		}
		// An emulator restart loses the topology: set it up again when
		// found missing.
		b.SetupOnNotFound()
	}
	return store.NewGCS(client, c.Bucket), b, func() { b.Close(); client.Close() }, nil
}

// Component is the body of a deployed binary's main: given the bucket, the
// bus and a logger, serve until ctx ends.
type Component func(ctx context.Context, st store.Store, b bus.Bus, log *zap.Logger) error

// RunComponent is what the worker and aggregator mains share, given the
// binary's configuration: build the logger, connect, log that name is
// ready, and run. Once the bus first answered one of its Pulls, it logs
// PullingMessage(name): the component is taking work (`make cluster-up`
// waits for that line).
func RunComponent(ctx context.Context, name string, lc logging.Config, cloud config.Cloud, run Component) error {
	log, err := logging.FromConfig(lc)
	if err != nil {
		return err
	}
	defer log.Sync() // nowhere to report a failed flush

	st, b, closeAll, err := Connect(ctx, cloud)
	if err != nil {
		return err
	}
	defer closeAll()
	log.Info(name+" ready", zap.String("project", cloud.Project), zap.String("bucket", cloud.Bucket))
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.Pulling():
			log.Info(PullingMessage(name))
		case <-rctx.Done():
		}
	}()
	return run(ctx, st, b, log)
}

// PullingMessage is the line a component run by RunComponent logs once
// it has reached its subscription.
func PullingMessage(name string) string { return name + " pulling" }
