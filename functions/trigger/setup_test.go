package trigger

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/cicadaload/cicada/shared/bus"
)

// TestBuildSetup checks CICADA_SETUP on the function: refused without an
// emulator; with one, a POST after the shards topic was deleted (an
// emulator restart) sets the topology up again and is accepted, where
// without it the run is withdrawn with 503. It sets environment
// variables, so it runs alone.
func TestBuildSetup(t *testing.T) {
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Host: "127.0.0.1", Scheme: "http", Writer: io.Discard})
	if err != nil {
		t.Fatalf("fake-gcs-server: %v", err)
	}
	t.Cleanup(gcs.Stop)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "runs-bucket"})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcs.URL(), "http://"))
	t.Setenv("CICADA_TRIGGER_PROJECT", "fn-test")
	t.Setenv("CICADA_TRIGGER_BUCKET", "runs-bucket")
	// httptest's requests come to example.com, with no listener.
	t.Setenv("CICADA_TRIGGER_ALLOWED_HOSTS", "example.com")

	tests := []struct {
		name     string
		setup    string
		emulator bool
		code     int    // of the POST, when built
		buildErr string // when the build fails
	}{
		{"setup without an emulator", "true", false, 0, "CICADA_SETUP is for emulators"},
		{"setup on the emulator: set up again", "true", true, http.StatusAccepted, ""},
		{"no setup: withdrawn", "false", true, http.StatusServiceUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ps := pstest.NewServerWithAddress("127.0.0.1:0")
			t.Cleanup(func() { _ = ps.Close() })
			admin, err := bus.NewPubSub(ctx, "fn-test", bus.EmulatorOptions(ps.Addr)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = admin.Close() })
			if err := bus.Setup(ctx, admin); err != nil {
				t.Fatal(err)
			}
			topic := "projects/fn-test/topics/" + bus.ShardsTopic
			if err := admin.Client().TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: topic}); err != nil {
				t.Fatal(err)
			}
			t.Setenv("CICADA_SETUP", tt.setup)
			host := ""
			if tt.emulator {
				host = ps.Addr
			}
			t.Setenv(bus.EmulatorHostEnv, host)

			h, err := build(ctx)
			if tt.buildErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.buildErr) {
					t.Fatalf("build = %v, want an error with %q", err, tt.buildErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			req := httptest.NewRequest(http.MethodPost, "/runs", strings.NewReader(testPlan))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.code {
				t.Errorf("POST = %d %s, want %d", w.Code, w.Body, tt.code)
			}
			missing, err := bus.Missing(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			if back := len(missing) == 0; back != (tt.setup == "true") {
				t.Errorf("after the POST the topology lacks %v; want it back only with CICADA_SETUP", missing)
			}
		})
	}
}
