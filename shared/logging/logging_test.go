package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestJSONSeverity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		log  func(l *zap.Logger)
		want string
	}{
		{"debug", func(l *zap.Logger) { l.Debug("m") }, "DEBUG"},
		{"info", func(l *zap.Logger) { l.Info("m") }, "INFO"},
		{"warn", func(l *zap.Logger) { l.Warn("m") }, "WARNING"},
		{"error", func(l *zap.Logger) { l.Error("m") }, "ERROR"},
		{"dpanic", func(l *zap.Logger) { l.DPanic("m") }, "CRITICAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l, err := newLogger(false, "debug", zapcore.AddSync(&buf))
			if err != nil {
				t.Fatalf("newLogger: %v", err)
			}
			before := time.Now()
			tt.log(l.With(zap.String("k", "v")))
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("output %q is not one JSON object: %v", buf.String(), err)
			}
			if got["severity"] != tt.want {
				t.Errorf("severity = %v, want %s", got["severity"], tt.want)
			}
			if got["message"] != "m" {
				t.Errorf("message = %v, want m", got["message"])
			}
			if got["k"] != "v" {
				t.Errorf("k = %v, want v", got["k"])
			}
			ts, ok := got["time"].(string)
			if !ok {
				t.Fatalf("time = %v, want an RFC 3339 string", got["time"])
			}
			parsed, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				t.Fatalf("time %q: %v", ts, err)
			}
			if parsed.Before(before.Add(-time.Second)) || parsed.After(time.Now().Add(time.Second)) {
				t.Errorf("time %v is not about now", parsed)
			}
			for _, k := range []string{"level", "msg", "ts"} {
				if _, ok := got[k]; ok {
					t.Errorf("zap's default key %q present; Cloud Logging would not read it", k)
				}
			}
		})
	}
}

func TestLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level     string
		wantDebug bool
		wantInfo  bool
		wantErr   bool
	}{
		{level: "", wantInfo: true},
		{level: "info", wantInfo: true},
		{level: "DEBUG", wantDebug: true, wantInfo: true},
		{level: "warning"},
		{level: "error"},
		{level: "loud", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l, err := newLogger(false, tt.level, zapcore.AddSync(&buf))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("newLogger(%q) succeeded, want an error", tt.level)
				}
				return
			}
			if err != nil {
				t.Fatalf("newLogger(%q): %v", tt.level, err)
			}
			l.Debug("d")
			l.Info("i")
			out := buf.String()
			if got := strings.Contains(out, `"message":"d"`); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v", got, tt.wantDebug)
			}
			if got := strings.Contains(out, `"message":"i"`); got != tt.wantInfo {
				t.Errorf("info logged = %v, want %v", got, tt.wantInfo)
			}
		})
	}
}

func TestConsole(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := newLogger(true, "info", zapcore.AddSync(&buf))
	if err != nil {
		t.Fatalf("newLogger: %v", err)
	}
	l.Warn("disk almost full", zap.Int("pct", 93))
	out := buf.String()
	for _, want := range []string{"WARN", "disk almost full", `"pct": 93`} {
		if !strings.Contains(out, want) {
			t.Errorf("console output %q lacks %q", out, want)
		}
	}
	if strings.HasPrefix(out, "{") {
		t.Errorf("console output %q is JSON, want human-readable", out)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, console := range []bool{false, true} {
		l, err := New(console, "info")
		if err != nil || l == nil {
			t.Fatalf("New(%v, info) = %v, %v; want a logger", console, l, err)
		}
	}
	if _, err := New(false, "nope"); err == nil {
		t.Error("New with a bad level succeeded, want an error")
	}
}
