package trigger

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/policy"
)

// TestReadEnv sets environment variables, so it runs alone.
func TestReadEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(Config) error
		wantErr string
	}{
		{
			name: "defaults",
			check: func(c Config) error {
				want := Config{Rules: policy.DefaultRules(), MaxShards: 100, MaxBody: 1 << 20, LeadTime: 10 * time.Second,
					Access: Access{AllowedHosts: []string{}, Admins: []string{}, MaxActiveRuns: 20, MaxActiveRunsPerCaller: 5}}
				want.Rules.MaxShards = 0 // read as Config.MaxShards
				if fmt.Sprint(c) != fmt.Sprint(want) {
					return fmt.Errorf("got %+v, want %+v", c, want)
				}
				return nil
			},
		},
		{
			name: "prefixed variables",
			env: map[string]string{"CICADA_TRIGGER_ALLOWED_TARGETS": "predict.internal:8501,*.svc", "CICADA_TRIGGER_MAX_RATE": "50",
				"CICADA_TRIGGER_LEAD_TIME": "3s", "CICADA_TRIGGER_BUCKET": "b", "CICADA_TRIGGER_PUBLIC_URL": "https://t.example",
				"CICADA_ALLOWED_TARGETS": "ignored"},
			check: func(c Config) error {
				if fmt.Sprint(c.AllowedTargets) != "[predict.internal:8501 *.svc]" || c.MaxRate != 50 || c.LeadTime != 3*time.Second ||
					c.Bucket != "b" || c.PublicURL != "https://t.example" {
					return fmt.Errorf("got %+v", c)
				}
				return nil
			},
		},
		{
			name: "CICADA_ALLOWED_TARGETS when the prefixed name is unset",
			env:  map[string]string{"CICADA_ALLOWED_TARGETS": "127.0.0.1, predict"},
			check: func(c Config) error {
				if fmt.Sprint(c.AllowedTargets) != "[127.0.0.1 predict]" {
					return fmt.Errorf("allowed %q", c.AllowedTargets)
				}
				return nil
			},
		},
		{
			name: "secret headers and literal secrets",
			env:  map[string]string{"CICADA_TRIGGER_SECRET_HEADERS": "X-Tenant-Token,X-Other", "CICADA_TRIGGER_LITERAL_SECRETS": "true"},
			check: func(c Config) error {
				if fmt.Sprint(c.SecretHeaders) != "[X-Tenant-Token X-Other]" || !c.LiteralSecrets {
					return fmt.Errorf("got %+v", c)
				}
				return nil
			},
		},
		{name: "bad pattern", env: map[string]string{"CICADA_TRIGGER_ALLOWED_TARGETS": "a.*.b"}, wantErr: "a.*.b"},
		{name: "bad secret header", env: map[string]string{"CICADA_TRIGGER_SECRET_HEADERS": "X-A,X:B"}, wantErr: `SECRET_HEADERS: "X:B"`},
		{name: "bad body limit", env: map[string]string{"CICADA_TRIGGER_MAX_BODY": "0"}, wantErr: "MAX_BODY"},
		{name: "bad duration", env: map[string]string{"CICADA_TRIGGER_MAX_DURATION": "soon"}, wantErr: "MAX_DURATION"},
		{name: "bad log flag", env: map[string]string{"CICADA_LOG_CONSOLE": "maybe"}, wantErr: "CICADA_LOG_CONSOLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			e, err := ReadEnv()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ReadEnv() error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadEnv(): %v", err)
			}
			if err := tt.check(e.Trigger); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestAllowedTargetsNames: the names ReadEnv looks up by hand are the
// variable Env reads, and one it does not.
func TestAllowedTargetsNames(t *testing.T) {
	t.Parallel()
	names, err := config.Names(&Env{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		read bool
	}{
		{allowedTargetsVar, true},
		{allowedTargetsAlias, false},
	}
	for _, tt := range tests {
		if got := slices.Contains(names, tt.name); got != tt.read {
			t.Errorf("Env reads %s: %v, want %v (Env reads %v)", tt.name, got, tt.read, names)
		}
	}
}
