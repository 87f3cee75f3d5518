package trigger

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/plan"
)

func TestAllowList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		protocol string
		target   string // url or address
		allowed  bool
	}{
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.1:8501/x", true},
		{[]string{"127.0.0.1", "localhost"}, "http", "https://LocalHost./x", true},                  // case and trailing dot
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.2/x", false},                   // no ranges
		{[]string{"127.0.0.1", "localhost"}, "http", "http://2130706433/x", false},                  // decimal form is not parsed
		{[]string{"127.0.0.1", "localhost"}, "http", "http://localhost.evil.com/x", false},          // not a suffix match
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.1@evil.com/x", false},          // userinfo is not the host
		{[]string{"127.0.0.1:8501"}, "http", "http://127.0.0.1:8501/x", true},                       // host:port
		{[]string{"127.0.0.1:8501"}, "http", "http://127.0.0.1/x", false},                           // default port 80
		{[]string{"example.com:443"}, "http", "https://example.com/x", true},                        // default port 443
		{[]string{"*.svc.local"}, "http", "http://predict.ns.svc.local/x", true},                    // wildcard
		{[]string{"*.svc.local"}, "http", "http://svc.local/x", false},                              // not the domain itself
		{[]string{"*.svc.local"}, "http", "http://evilsvc.local/x", false},                          // label boundary
		{[]string{"::1"}, "http", "http://[0:0::1]:80/x", true},                                     // canonical IPv6
		{[]string{"[::1]:50051"}, "grpc", "[::1]:50051", true},                                      // bracketed with port
		{[]string{"[::1]:50051"}, "grpc", "[::1]:50052", false},                                     // other port
		{[]string{"localhost"}, "grpc", "LOCALHOST:50051", true},                                    // grpc address
		{[]string{"localhost"}, "grpc", "predict:50051", false},                                     // other host
		{[]string{"*"}, "grpc", "anything.example:1", true},                                         // everything
		{nil, "http", "http://127.0.0.1/x", false},                                                  // empty list allows nothing
		{[]string{" 127.0.0.1 ", ""}, "http", "http://127.0.0.1/x", true},                           // spaces, empty entries
		{[]string{"127.0.0.1"}, "http", "http://[::ffff:127.0.0.1]/x", true},                        // IPv4-mapped
		{[]string{"localhost"}, "http", "http://localhost%2e/x", false},                             // escaped dot stays a different name
		{[]string{"fe80::1"}, "http", "http://[fe80::1%25eth0]/x", false},                           // zones never match
		{[]string{"127.0.0.1"}, "grpc", "127.0.0.1:50051", true},                                    // any port
		{[]string{"LOCALHOST:8080"}, "http", "http://localhost:8080", true},                         // pattern case
		{[]string{"example.com."}, "http", "http://example.com/", true},                             // pattern trailing dot
		{[]string{"*.example.com:8443"}, "http", "https://a.example.com:8443/", true},               // wildcard with port
		{[]string{"*.example.com:8443"}, "http", "https://a.example.com/", false},                   // wildcard, other port
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.1.nip.io/x", false},            // DNS tricks are names
		{[]string{"127.0.0.1", "localhost"}, "http", "http://[::1]/x", false},                       // ::1 not listed
		{[]string{"127.0.0.1", "localhost"}, "grpc", "0.0.0.0:50051", false},                        // unspecified address
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.1:80@169.254.169.254/", false}, // metadata server
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v %s", tt.patterns, tt.target), func(t *testing.T) {
			t.Parallel()
			a, err := newAllowList(tt.patterns)
			if err != nil {
				t.Fatalf("newAllowList(%q): %v", tt.patterns, err)
			}
			tg := plan.Target{Protocol: tt.protocol}
			if tt.protocol == "http" {
				tg.URL = tt.target
			} else {
				tg.Address = tt.target
			}
			_, host, port, err := targetHost(tg)
			if err != nil {
				if tt.allowed {
					t.Fatalf("targetHost: %v", err)
				}
				return // an unparsable target is refused by validation
			}
			if got := a.allows(host, port); got != tt.allowed {
				t.Errorf("allows(%s, %s) = %v, want %v", host, port, got, tt.allowed)
			}
		})
	}
}

func TestBadPatterns(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"host:", "host:0", "host:99999", "a.*.com", "**", "[::1", "h:x", ":80"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			if _, err := newAllowList([]string{p}); err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("newAllowList(%q) = %v, want an error naming it", p, err)
			}
		})
	}
}

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
				want := Config{AllowedTargets: []string{"127.0.0.1", "localhost"}, MaxRate: 10000, MaxUsers: 10000,
					MaxDuration: time.Hour, MaxShards: 100, MaxBody: 1 << 20, LeadTime: 10 * time.Second,
					Access: Access{AllowedHosts: []string{}, Admins: []string{}, MaxActiveRuns: 20, MaxActiveRunsPerCaller: 5}}
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
