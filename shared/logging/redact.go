package logging

import (
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"

	"github.com/cicadaload/cicada/shared/redact"
)

// redactEncoder redacts every encoded line (redact.Text): the values of
// credential headers and of URL query parameters, wherever a message, an
// error or any other field carries them. Redacting the finished line,
// rather than each field, leaves no field type out.
type redactEncoder struct {
	zapcore.Encoder
}

func (e redactEncoder) Clone() zapcore.Encoder { return redactEncoder{e.Encoder.Clone()} }

func (e redactEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	buf, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return buf, err
	}
	line := buf.String()
	if r := redact.Text(line); r != line {
		buf.Reset()
		buf.AppendString(r)
	}
	return buf, nil
}

// NewWriter is New writing to w instead of stderr, redacting alike, one
// line at a time: for a command's own stderr, or a test that reads what a
// component logs.
func NewWriter(w io.Writer, console bool, level string) (*zap.Logger, error) {
	return newLogger(console, level, zapcore.Lock(zapcore.AddSync(w)))
}
