package config_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/logging"
)

// env is shaped like a binary's Env.
type env struct {
	Log logging.Config `envconfig:"LOG"`
	config.Cloud
	Own struct {
		Count int `envconfig:"COUNT" default:"3"`
	} `envconfig:"OWN"`
}

func TestNames(t *testing.T) {
	t.Parallel()
	got, err := config.Names(&env{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CICADA_LOG_CONSOLE", "CICADA_LOG_LEVEL", "CICADA_PROJECT", "CICADA_BUCKET", "CICADA_SETUP", "CICADA_OWN_COUNT"}
	if !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}

// TestRead sets environment variables, so it runs alone.
func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    env
		wantErr string
	}{
		{
			name: "defaults",
			want: func() env {
				var e env
				e.Log.Level, e.Project, e.Bucket, e.Own.Count = "info", "cicada-local", "cicada-runs", 3
				return e
			}(),
		},
		{
			name: "every part",
			vars: map[string]string{"CICADA_LOG_CONSOLE": "true", "CICADA_LOG_LEVEL": "debug", "CICADA_BUCKET": "b", "CICADA_SETUP": "true", "CICADA_OWN_COUNT": "7"},
			want: func() env {
				var e env
				e.Log.Console, e.Log.Level, e.Project, e.Bucket, e.Setup, e.Own.Count = true, "debug", "cicada-local", "b", true, 7
				return e
			}(),
		},
		{name: "bad value names its variable", vars: map[string]string{"CICADA_OWN_COUNT": "many"}, wantErr: "CICADA_OWN_COUNT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"CICADA_LOG_CONSOLE", "CICADA_LOG_LEVEL", "CICADA_PROJECT", "CICADA_BUCKET", "CICADA_SETUP", "CICADA_OWN_COUNT"} {
				t.Setenv(k, "") // restored when the test ends
				os.Unsetenv(k)
			}
			for k, v := range tt.vars {
				t.Setenv(k, v)
			}
			var got env
			err := config.Read(&got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Read: %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got != tt.want {
				t.Errorf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}
