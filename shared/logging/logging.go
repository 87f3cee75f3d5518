// Package logging builds the zap loggers of cicada's binaries: JSON that
// Cloud Logging understands (severity, message, time) in the cloud, a
// human-readable console encoder for local runs.
package logging

import (
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger writing to stderr at level ("debug", "info", "warn"
// or "warning", "error"; empty means info). With console false it writes one
// JSON object per line with the keys Cloud Logging reads: "severity"
// (DEBUG, INFO, WARNING, ERROR, CRITICAL), "message" and "time" (RFC 3339
// with nanoseconds); with console true, colourless human-readable lines.
// Either way no line holds the value of a credential header or of a URL
// query parameter (package redact).
func New(console bool, level string) (*zap.Logger, error) {
	return newLogger(console, level, zapcore.Lock(os.Stderr))
}

func newLogger(console bool, level string, out zapcore.WriteSyncer) (*zap.Logger, error) {
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	var enc zapcore.Encoder
	if console {
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		enc = zapcore.NewConsoleEncoder(cfg)
	} else {
		enc = zapcore.NewJSONEncoder(cloudEncoderConfig())
	}
	core := zapcore.NewCore(redactEncoder{enc}, out, lvl)
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel)), nil
}

func cloudEncoderConfig() zapcore.EncoderConfig {
	return zapcore.EncoderConfig{
		TimeKey:        "time",
		LevelKey:       "severity",
		NameKey:        "logger",
		CallerKey:      "caller",
		MessageKey:     "message",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    encodeSeverity,
		EncodeTime:     zapcore.TimeEncoderOfLayout(time.RFC3339Nano),
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeCaller:   zapcore.ShortCallerEncoder,
	}
}

// encodeSeverity maps zap levels to Cloud Logging's LogSeverity names; the
// levels that end or crash the program all become CRITICAL.
func encodeSeverity(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
	switch l {
	case zapcore.DebugLevel:
		enc.AppendString("DEBUG")
	case zapcore.InfoLevel:
		enc.AppendString("INFO")
	case zapcore.WarnLevel:
		enc.AppendString("WARNING")
	case zapcore.ErrorLevel:
		enc.AppendString("ERROR")
	default:
		enc.AppendString("CRITICAL")
	}
}

func parseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("logging: unknown level %q (want debug, info, warn or error)", s)
}

// Config is the logging configuration every binary reads, the field Log
// (envconfig:"LOG") of its Env: CICADA_LOG_CONSOLE and CICADA_LOG_LEVEL.
type Config struct {
	Console bool   `envconfig:"CONSOLE" default:"false" desc:"human-readable console logs instead of Cloud Logging JSON"`
	Level   string `envconfig:"LEVEL" default:"info" desc:"debug, info, warn or error"`
}

// FromConfig builds the logger c describes.
func FromConfig(c Config) (*zap.Logger, error) { return New(c.Console, c.Level) }
