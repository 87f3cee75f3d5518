package emulator

import (
	"slices"
	"strings"
	"testing"
)

// TestSpecs: the command lines bind 127.0.0.1 on the port asked, and name
// the address clients are given.
func TestSpecs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     []string
		want    []string // in this order, each one argument
		wantEnv []string
	}{
		{
			name:    "pubsub",
			args:    PubSubSpec("gcloud", "127.0.0.1:8085", "/d", "p").Args,
			env:     PubSubSpec("gcloud", "127.0.0.1:8085", "/d", "p").Env,
			want:    []string{"pubsub", "start", "--host-port=127.0.0.1:8085", "--data-dir=/d", "--project=p"},
			wantEnv: []string{"CLOUDSDK_CORE_DISABLE_PROMPTS=1"}, // no prompt waits for a terminal nobody watches
		},
		{
			name: "fake-gcs-server",
			args: FakeGCSSpec("fake-gcs-server", 4443).Args,
			want: []string{"-host", "127.0.0.1", "-port", "4443", "-backend", "memory", "-external-url", FakeGCSHost(4443), "-public-host", "127.0.0.1:4443"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i := 0
			for _, a := range tt.args {
				if i < len(tt.want) && a == tt.want[i] {
					i++
				}
			}
			if i < len(tt.want) {
				t.Errorf("args %q lack %q (in order)", tt.args, tt.want[i:])
			}
			for _, kv := range tt.wantEnv {
				if !slices.Contains(tt.env, kv) {
					t.Errorf("env %q lacks %s", tt.env, kv)
				}
			}
		})
	}
	if h := FakeGCSHost(4443); !strings.HasPrefix(h, "http://127.0.0.1:") {
		t.Errorf("FakeGCSHost = %q", h)
	}
}
