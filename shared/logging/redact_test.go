package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestLinesAreRedacted: whichever way a credential reaches a log line (the
// message, a string, an error, a Stringer, a reflected value, a logger's
// context), the line holds no value of it, stays JSON, and keeps the rest.
func TestLinesAreRedacted(t *testing.T) {
	t.Parallel()
	const secret = "PLANTEDSECRET"
	target := "https://api.example.com/v1/predict?api_key=" + secret + "&model=m"
	tests := []struct {
		name string
		log  func(l *zap.Logger)
	}{
		{"message", func(l *zap.Logger) { l.Info("calling " + target) }},
		{"string field", func(l *zap.Logger) { l.Info("m", zap.String("url", target)) }},
		{"error field", func(l *zap.Logger) {
			l.Warn("m", zap.Error(&url.Error{Op: "Post", URL: target, Err: errors.New("EOF")}))
		}},
		{"wrapped error", func(l *zap.Logger) {
			l.Error("m", zap.Error(fmt.Errorf("shard 0: %w", fmt.Errorf("dial %s: refused", target))))
		}},
		{"stringer", func(l *zap.Logger) { l.Info("m", zap.Stringer("u", mustURL(t, target))) }},
		{"header map", func(l *zap.Logger) {
			l.Info("m", zap.Any("headers", map[string]string{"Authorization": "Bearer " + secret, "Accept": "x"}))
		}},
		{"http.Header", func(l *zap.Logger) {
			l.Info("m", zap.Any("headers", http.Header{"X-Goog-Api-Key": {secret}}))
		}},
		{"printed header", func(l *zap.Logger) {
			l.Info(fmt.Sprintf("sent %v", http.Header{"Cookie": {"session=" + secret}}))
		}},
		{"context field", func(l *zap.Logger) { l.With(zap.String("target", target)).Named("w").Info("m") }},
	}
	for _, console := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s console=%v", tt.name, console), func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				l, err := newLogger(console, "debug", zapcore.AddSync(&buf))
				if err != nil {
					t.Fatal(err)
				}
				tt.log(l)
				out := buf.String()
				if out == "" {
					t.Fatal("nothing logged")
				}
				if strings.Contains(out, secret) {
					t.Errorf("log line holds the secret: %s", out)
				}
				if !strings.Contains(out, "REDACTED") {
					t.Errorf("log line has no REDACTED mark: %s", out)
				}
				if !console {
					first, _, _ := strings.Cut(out, "\n")
					if !json.Valid([]byte(first)) {
						t.Errorf("redacted line is not JSON: %s", first)
					}
				}
			})
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestNewWriterRedacts: the logger tests read is the binaries' logger.
func TestNewWriterRedacts(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := NewWriter(&buf, false, "info")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("m", zap.String("cookie", "a=b"), zap.String("plain", "kept"))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%s: %v", buf.String(), err)
	}
	if got["cookie"] != "REDACTED" || got["plain"] != "kept" {
		t.Errorf("logged %v, want cookie REDACTED and plain kept", got)
	}
	if _, err := NewWriter(&buf, false, "loud"); err == nil {
		t.Error("NewWriter with an unknown level: no error")
	}
}
