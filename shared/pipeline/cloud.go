package pipeline

import (
	"context"
	"fmt"
	"os"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/store"
)

// Cloud names where a deployment's state lives (prefix CICADA).
type Cloud struct {
	Project string `envconfig:"PROJECT" default:"cicada-local" desc:"Google Cloud project of the Pub/Sub topics"`
	Bucket  string `envconfig:"BUCKET" default:"cicada-runs" desc:"Cloud Storage bucket of the runs"`
	// Setup creates the bucket, topics and subscriptions when missing: for
	// the emulators; on Google Cloud, Terraform owns them.
	Setup bool `envconfig:"SETUP" default:"false" desc:"create the bucket, topics and subscriptions if missing (emulators only; Terraform owns them on Google Cloud)"`
}

// Connect opens the bucket and the bus of c, through PUBSUB_EMULATOR_HOST
// and STORAGE_EMULATOR_HOST when they are set, else Google Cloud with
// Application Default Credentials. closeAll releases both.
func Connect(ctx context.Context, c Cloud) (st store.Store, b *bus.PubSub, closeAll func(), err error) {
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
	}
	return store.NewGCS(client, c.Bucket), b, func() { b.Close(); client.Close() }, nil
}
