package predict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// isBlank reports whether s holds nothing but white space: a text with no
// word to classify, refused by both protocols.
func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			if c >= utf8.RuneSelf {
				return strings.TrimSpace(s[i:]) == ""
			}
			return false
		}
	}
	return true
}

// parseFast accepts exactly the common request shape, {"text":"..."} with
// optional whitespace, a string without escapes or control characters and
// valid UTF-8, and returns the text. Anything else, valid or not, returns
// false and is left to parseSlow, so both agree on every input.
func parseFast(b []byte) (string, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", false
	}
	i = skipSpace(b, i+1)
	if !bytes.HasPrefix(b[i:], []byte(`"text"`)) {
		return "", false
	}
	i = skipSpace(b, i+len(`"text"`))
	if i >= len(b) || b[i] != ':' {
		return "", false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '"' {
		return "", false
	}
	start := i + 1
	ascii := true
	for i = start; i < len(b) && b[i] != '"'; i++ {
		switch c := b[i]; {
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if i >= len(b) {
		return "", false
	}
	text := b[start:i]
	if !ascii && !utf8.Valid(text) {
		return "", false // encoding/json would replace bad bytes with U+FFFD
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '}' {
		return "", false
	}
	if skipSpace(b, i+1) != len(b) {
		return "", false
	}
	return string(text), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// parseSlow decodes the body with encoding/json and returns the text, or a
// message naming what is wrong with the body.
func parseSlow(b []byte) (text, problem string) {
	var req struct {
		Text *string `json:"text"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return "", `request body is empty, want a JSON object such as {"text": "..."}`
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "", "invalid JSON: unexpected end of input"
		case errors.As(err, &syntax):
			return "", fmt.Sprintf("invalid JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(err.Error(), "json: "))
		case errors.As(err, &typ):
			if typ.Field == "" {
				return "", "request body must be a JSON object, not " + typ.Value
			}
			return "", fmt.Sprintf("field %q must be a string, not %s", typ.Field, typ.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return "", strings.TrimPrefix(err.Error(), "json: ")
		default:
			return "", "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", "unexpected data after the JSON object"
	}
	if req.Text == nil {
		return "", `missing field "text"`
	}
	return *req.Text, ""
}
