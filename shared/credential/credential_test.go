package credential

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/gcemetadata"
	"github.com/cicadaload/cicada/internal/devenv/secretmanager"
	"github.com/cicadaload/cicada/shared/plan"
)

// TestMain keeps the Google libraries away from this machine's own
// credentials and from the real metadata server: the libraries remember
// once per process whether they run on Google Cloud, and with
// GCE_METADATA_HOST set they take it as so without probing the network.
// Each test points the variable at its own stand-in.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "credential-test")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOME", home)
	os.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// seen is what a subscriber saw: each value and when it came.
type seen struct {
	mu     sync.Mutex
	values []string
	at     []time.Time
}

func (s *seen) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
	s.at = append(s.at, time.Now())
}

func (s *seen) snapshot() ([]string, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.values...), append([]time.Time(nil), s.at...)
}

func TestTokensRefreshBeforeExpiry(t *testing.T) {
	for _, tt := range []struct {
		name  string
		auth  plan.Auth
		asked string
	}{
		{"access token", plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}}, plan.DefaultAccessTokenScope},
		{"access token with scopes", plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{Scopes: []string{"openid", "email"}}}, "openid,email"},
		{"id token", plan.Auth{GoogleIDToken: &plan.GoogleIDToken{Audience: "https://svc.a.run.app"}}, "https://svc.a.run.app"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			md := gcemetadata.Start(2 * time.Second)
			defer md.Close()
			t.Setenv("GCE_METADATA_HOST", md.Host)

			h, err := Open(context.Background(), &tt.auth, Options{OnError: func(err error) { t.Errorf("refresh: %v", err) }})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer h.Close()
			if h.Name() != "Authorization" {
				t.Errorf("Name() = %q, want Authorization", h.Name())
			}
			if exp := time.Until(h.Expiry()); exp <= 0 || exp > 2*time.Second {
				t.Errorf("first token expires in %v, want within 2s", exp)
			}
			var s seen
			h.Subscribe(s.add)
			time.Sleep(4500 * time.Millisecond)
			h.Close()

			values, at := s.snapshot()
			if len(values) < 4 {
				t.Fatalf("saw %d values in 4.5s of 2s tokens, want at least 4", len(values))
			}
			for i, v := range values {
				tok, ok := strings.CutPrefix(v, "Bearer ")
				if !ok {
					t.Errorf("value %d does not start with Bearer", i)
					continue
				}
				if known, current := md.Check(tok, at[i]); !known || !current {
					t.Errorf("value %d: issued by the stand-in %v, current when handed over %v", i, known, current)
				}
				// The old value was still good when the new one replaced it.
				if i > 0 {
					old, _ := strings.CutPrefix(values[i-1], "Bearer ")
					if _, current := md.Check(old, at[i]); !current {
						t.Errorf("value %d came after value %d expired", i, i-1)
					}
					if values[i] == values[i-1] {
						t.Errorf("value %d repeats the one before", i)
					}
				}
			}
			for _, a := range md.Asked() {
				if a != tt.asked {
					t.Errorf("asked the metadata server for %q, want %q", a, tt.asked)
				}
			}
			if got := h.Value(); got != values[len(values)-1] {
				t.Errorf("Value() is not the last value handed over")
			}
		})
	}
}

func TestOpenFailsWithTheReason(t *testing.T) {
	md := gcemetadata.Start(time.Hour)
	defer md.Close()
	t.Setenv("GCE_METADATA_HOST", md.Host)
	md.Fail("no service account on this instance")
	for _, tt := range []struct {
		auth plan.Auth
		want string
	}{
		{plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}}, "target.auth.google_access_token: "},
		{plan.Auth{GoogleIDToken: &plan.GoogleIDToken{Audience: "https://svc.a.run.app"}}, "target.auth.google_id_token: "},
	} {
		_, err := Open(context.Background(), &tt.auth, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !strings.Contains(err.Error(), "no service account on this instance") {
			t.Errorf("Open(%s) = %v, want %q... with the metadata server's reason", tt.auth.Kind(), err, tt.want)
		}
	}
}

func TestRefreshFailureKeepsTheValue(t *testing.T) {
	md := gcemetadata.Start(2 * time.Second)
	defer md.Close()
	t.Setenv("GCE_METADATA_HOST", md.Host)
	var (
		mu   sync.Mutex
		errs []error
	)
	h, err := Open(context.Background(), &plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}}, Options{OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	first := h.Value()
	md.Fail("metadata server unwell")
	time.Sleep(1500 * time.Millisecond) // the refresh at 1s fails
	if h.Value() != first {
		t.Errorf("the value changed while refreshes failed")
	}
	mu.Lock()
	n := len(errs)
	if n == 0 || !strings.Contains(errs[0].Error(), "metadata server unwell") {
		t.Errorf("OnError got %v, want the failed refresh", errs)
	}
	mu.Unlock()
	md.Fail("")
	deadline := time.Now().Add(3 * time.Second)
	for h.Value() == first && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if h.Value() == first {
		t.Errorf("no new value within 3s of the metadata server's recovery")
	}
}

func TestSecret(t *testing.T) {
	sm, err := secretmanager.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	t.Setenv(EmulatorHostEnv, sm.Addr)
	const (
		key    = "projects/p/secrets/api-key/versions/1"
		denied = "projects/p/secrets/api-key/versions/2"
		empty  = "projects/p/secrets/empty/versions/1"
		broken = "projects/p/secrets/broken/versions/1"
		value  = "AIza-s3cr3t"
	)
	sm.Set(key, []byte(value+"\n"))
	sm.Deny(denied)
	sm.Set(empty, []byte("\n"))
	sm.Set(broken, []byte(value+"\r\nX-Evil: 1"))

	for _, tt := range []struct {
		name         string
		secret       plan.SecretAuth
		header, want string // want "" for an error containing err
		err          string
	}{
		{"default header and format", plan.SecretAuth{Name: key}, "Authorization", "Bearer " + value, ""},
		{"api key header", plan.SecretAuth{Name: key, Header: "X-Goog-Api-Key", Format: "{{.}}"}, "X-Goog-Api-Key", value, ""},
		{"denied", plan.SecretAuth{Name: denied}, "", "", "target.auth.secret: read secret " + denied + ": PermissionDenied: Permission 'secretmanager.versions.access' denied"},
		{"missing", plan.SecretAuth{Name: "projects/p/secrets/nope/versions/1"}, "", "", "NotFound"},
		{"empty", plan.SecretAuth{Name: empty}, "", "", "secret " + empty + " is empty"},
		{"line break", plan.SecretAuth{Name: broken}, "", "", "a header cannot carry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.secret
			h, err := Open(context.Background(), &plan.Auth{Secret: &s}, Options{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Open = %v, want an error containing %q", err, tt.err)
				}
				if strings.Contains(err.Error(), value) {
					t.Errorf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer h.Close()
			if h.Name() != tt.header || h.Value() != tt.want || !h.Expiry().IsZero() {
				t.Errorf("header %q = %q expiring %v, want %q = %q, no expiry", h.Name(), h.Value(), h.Expiry(), tt.header, tt.want)
			}
		})
	}
	if n := sm.Accesses(key); n != 2 {
		t.Errorf("secret read %d times, want once per Open (2)", n)
	}
}

func TestReadSecretWithAnotherReader(t *testing.T) {
	// What a caller passes as Options.ReadSecret is what is used.
	read := func(_ context.Context, name string) ([]byte, error) {
		if name == "projects/p/secrets/s/versions/1" {
			return []byte("v"), nil
		}
		return nil, errors.New("no such secret")
	}
	h, err := Open(context.Background(), &plan.Auth{Secret: &plan.SecretAuth{Name: "projects/p/secrets/s/versions/1", Format: "Key {{.}}"}}, Options{ReadSecret: read})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if h.Value() != "Key v" {
		t.Errorf("Value() = %q, want %q", h.Value(), "Key v")
	}
}

func TestNoAuth(t *testing.T) {
	h, err := Open(context.Background(), nil, Options{})
	if h != nil || err != nil {
		t.Errorf("Open(nil) = %v, %v; want nil, nil", h, err)
	}
}

func TestRefreshAt(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		life, want time.Duration
	}{
		{time.Hour, 48 * time.Minute},              // 80% comes before a minute before
		{3 * time.Minute, 2 * time.Minute},         // a minute before comes before 80%
		{90 * time.Second, 45 * time.Second},       // not before half the lifetime
		{5 * time.Second, 2500 * time.Millisecond}, // a short-lived token: half
		{0, minRefresh},                            // expired on arrival: not a busy loop
		{-time.Minute, minRefresh},                 // the same
		{10 * time.Minute, 8 * time.Minute},        // 80% and a minute before... 80% first
		{4 * time.Minute, 3 * time.Minute},         // a minute before (3m) comes before 80% (3m12s)
		{12 * time.Second, 6 * time.Second},        // half
		{125 * time.Second, 65 * time.Second},      // a minute before, above half
		{2 * time.Minute, time.Minute},             // a minute before equals half
		{time.Hour + time.Second, 48*time.Minute + 800*time.Millisecond},
	} {
		if got := refreshAt(t0, t0.Add(tt.life)).Sub(t0); got != tt.want {
			t.Errorf("lifetime %v: refresh after %v, want %v", tt.life, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		prev, life, want time.Duration
	}{
		{0, time.Hour, time.Second},
		{0, 5 * time.Second, 500 * time.Millisecond},
		{0, 0, minRefresh},
		{time.Second, time.Hour, 2 * time.Second},
		{20 * time.Second, time.Hour, 30 * time.Second},
	} {
		if got := retryAfter(tt.prev, tt.life); got != tt.want {
			t.Errorf("retryAfter(%v, %v) = %v, want %v", tt.prev, tt.life, got, tt.want)
		}
	}
}
