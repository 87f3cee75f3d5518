// Package trigger is cicada's trigger as a Cloud Function (functions
// framework, HTTP signature, entry point "Trigger"). init only registers the
// function; the handler is shared/trigger's, built on the first request from
// the environment:
//
//   - trigger.Env: CICADA_TRIGGER_* (CICADA_TRIGGER_BUCKET required),
//     CICADA_LOG_* and CICADA_SETUP (emulators only: set the topology up
//     again when a publish finds it missing);
//   - STORAGE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST to aim at emulators.
//
// Tests and the local composition use trigger.NewHandler directly.
package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"

	"cloud.google.com/go/pubsub/v2"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/trigger"
)

// EntryPoint is the function's name, the --entry-point of its deployment.
const EntryPoint = "Trigger"

func init() {
	functions.HTTP(EntryPoint, Serve)
}

var (
	mu      sync.Mutex
	handler http.Handler
)

// Serve is the function: it builds the handler on the first request and
// keeps it for the instance's life. Building is not done in init because it
// dials Cloud Storage and Pub/Sub; a build that fails answers 500 naming the
// cause and is tried again on the next request, so that a transient failure
// does not poison the instance.
func Serve(w http.ResponseWriter, r *http.Request) {
	h, err := get()
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	h.ServeHTTP(w, r)
}

func get() (http.Handler, error) {
	mu.Lock()
	defer mu.Unlock()
	if handler != nil {
		return handler, nil
	}
	// The clients outlive the request that happens to build them.
	h, err := build(context.Background())
	if err != nil {
		return nil, err
	}
	handler = h
	return h, nil
}

// build reads the configuration and connects the clients. On failure it
// closes what it opened.
func build(ctx context.Context) (http.Handler, error) {
	env, err := trigger.ReadEnv()
	if err != nil {
		return nil, err
	}
	cfg := env.Trigger
	if cfg.Bucket == "" {
		return nil, errors.New("trigger config: CICADA_TRIGGER_BUCKET is required")
	}
	log, err := logging.FromConfig(env.Log)
	if err != nil {
		return nil, fmt.Errorf("logging config: %w", err)
	}
	client, err := store.NewClientFromEnv(ctx)
	if err != nil {
		return nil, err
	}
	project := cfg.Project
	if project == "" {
		project = pubsub.DetectProjectID // from the credentials or the metadata server
	}
	if env.Setup && os.Getenv(bus.EmulatorHostEnv) == "" {
		_ = client.Close()
		return nil, fmt.Errorf("CICADA_SETUP is for emulators: %s is not set", bus.EmulatorHostEnv)
	}
	b, err := bus.NewPubSub(ctx, project)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	if env.Setup {
		b.SetupOnNotFound()
	}
	return trigger.NewHandler(trigger.Deps{
		Store:  store.NewGCS(client, cfg.Bucket),
		Bus:    b,
		Config: cfg,
		Log:    log,
	}), nil
}
