package redact

import (
	"io"
	"strings"
)

// Text returns s with every credential it can recognize replaced by Mark:
//
//   - the value of every URL query parameter: "?api_key=abc&x=1" becomes
//     "?api_key=REDACTED&x=REDACTED" (a value ends at '&', '#', a quote, a
//     backslash, white space or '<', '>', so a URL quoted in an error
//     message or a JSON string is cut where it ends);
//   - the password of a URL's userinfo ("https://u:REDACTED@host");
//   - the value after a credential header name and ':' or '=', in the
//     forms "Authorization: Bearer x", `"authorization":"x"`,
//     `\"Cookie\": \"x\"` (JSON inside JSON) and "Cookie:[x]" (a Go
//     http.Header printed); a quoted or bracketed value ends where it
//     closes, a bare one at the end of the line, a quote, ',', '}' or ']';
//   - the token after "Bearer ".
//
// It is meant for error messages and log lines, which may quote a URL or a
// header; it returns s itself, without allocating, when there is nothing
// to redact.
func Text(s string) string {
	var buf [8]span
	sp := buf[:0]
	sp = queryValues(s, sp)
	sp = userinfo(s, sp)
	for _, n := range *names.Load() {
		sp = headerValues(s, n, sp)
	}
	sp = bearerTokens(s, sp)
	return apply(s, sp)
}

// queryValues adds the value of every name=value that follows '?' or '&'
// (also written "&amp;" or "\u0026", as HTML and JSON escape it).
func queryValues(s string, sp []span) []span {
	for i := 0; i < len(s); i++ {
		var j int
		switch c := s[i]; {
		case c == '?':
			j = i + 1
		case c == '&':
			j = i + 1
			if strings.HasPrefix(s[i:], "&amp;") {
				j = i + len("&amp;")
			}
		case c == '\\' && strings.HasPrefix(s[i:], `\u0026`):
			j = i + len(`\u0026`)
		default:
			continue
		}
		k := j
		for k < len(s) && isParamNameByte(s[k]) {
			k++
		}
		if k == j || k >= len(s) || s[k] != '=' {
			continue
		}
		from := k + 1
		to := from
		for to < len(s) && !isValueStop(s[to]) {
			to++
		}
		i = to - 1
		// Punctuation that ends a sentence or a clause ("GET URL: err")
		// is taken for the text's, not the value's.
		for to > from && strings.IndexByte(":.,;)", s[to-1]) >= 0 {
			to--
		}
		sp = addSpan(s, sp, from, to)
	}
	return sp
}

func isParamNameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '_', '.', '-', '~', '%', '+', '[', ']':
		return true
	}
	return false
}

// isValueStop ends a query value found in free text.
func isValueStop(c byte) bool {
	switch c {
	case '&', '#', '"', '\'', '\\', '<', '>', '`', '{', '}', '|', '^', ' ', '\t', '\r', '\n', '\v', '\f', 0:
		return true
	}
	return false
}

// isWordByte continues a header name: a match of "cookie" inside
// "set-cookie" or "cookies" is not the name.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// headerValues adds the value that follows every occurrence of the header
// name (lower case) and a ':' or '='.
func headerValues(s, name string, sp []span) []span {
	for off := 0; off < len(s); {
		i := indexFold(s[off:], name)
		if i < 0 {
			break
		}
		i += off
		j := i + len(name)
		off = j
		if i > 0 && isWordByte(s[i-1]) || j < len(s) && isWordByte(s[j]) {
			continue
		}
		// The closing quote of a key, then the separator.
		jsonKey := false
		switch {
		case strings.HasPrefix(s[j:], `\"`):
			j += 2
			jsonKey = true
		case j < len(s) && s[j] == '"':
			j++
			jsonKey = true
		case j < len(s) && s[j] == '\'':
			j++
		}
		j = skipSpaces(s, j)
		if j >= len(s) || s[j] != ':' && s[j] != '=' {
			continue
		}
		j = skipSpaces(s, j+1)
		if jsonKey {
			// A JSON member: only its strings are values, so that what is
			// redacted stays JSON.
			var to int
			sp, to = jsonStrings(s, j, sp)
			off = max(off, to)
			continue
		}
		from, to := valueAt(s, j)
		sp = addSpan(s, sp, from, to)
		off = max(off, to)
	}
	return sp
}

func skipSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// jsonStrings adds the contents of the JSON string at s[i], or of every
// string of the array at s[i], written plainly or escaped inside another
// JSON string (\"...\"), and returns where the value ends. Any other value
// (a number, an object) is left alone.
func jsonStrings(s string, i int, sp []span) ([]span, int) {
	if i >= len(s) || s[i] != '[' {
		from, to := valueAt(s, i)
		if from == i { // not a string
			return sp, i
		}
		return addSpan(s, sp, from, to), to
	}
	end := strings.IndexByte(s[i:], ']')
	if end < 0 {
		end = len(s)
	} else {
		end += i
	}
	for j := i + 1; j < end; {
		if s[j] != '"' && !strings.HasPrefix(s[j:], `\"`) {
			j++
			continue
		}
		from, to := valueAt(s, j)
		to = min(to, end)
		sp = addSpan(s, sp, from, to)
		j = to + 1
		if to < len(s) && s[to] == '\\' {
			j++ // past \" closing an escaped string
		}
	}
	return sp, end
}

// valueAt is the extent of the header value starting at s[i]: inside its
// quotes or brackets when it has them, else up to the end of the line, a
// quote, a backslash, ',', '}', ']' or '&', trailing blanks left out. A
// value that opens an object is not one: its members are looked at on
// their own.
func valueAt(s string, i int) (from, to int) {
	if i >= len(s) {
		return i, i
	}
	switch s[i] {
	case '{':
		return i, i
	case '\\':
		if !strings.HasPrefix(s[i:], `\"`) {
			return i, i
		}
		from = i + 2
		to = strings.IndexByte(s[from:], '\\')
	case '"':
		from = i + 1
		to = from
		for to < len(s) && s[to] != '"' {
			if s[to] == '\\' {
				to++
			}
			to++
		}
		return from, min(to, len(s))
	case '\'':
		from = i + 1
		to = strings.IndexByte(s[from:], '\'')
	case '[':
		from = i + 1
		to = strings.IndexByte(s[from:], ']')
	default:
		from, to = i, i
		for to < len(s) && !isBareValueStop(s[to]) {
			to++
		}
		for to > from && (s[to-1] == ' ' || s[to-1] == '\t') {
			to--
		}
		return from, to
	}
	if to < 0 {
		return from, len(s)
	}
	return from, from + to
}

func isBareValueStop(c byte) bool {
	switch c {
	case '\r', '\n', '"', '\'', '\\', ',', '}', ']', '&':
		return true
	}
	return false
}

// bearerTokens adds the token after every "Bearer " (RFC 6750's b64token).
func bearerTokens(s string, sp []span) []span {
	const word = "bearer"
	for off := 0; off < len(s); {
		i := indexFold(s[off:], word)
		if i < 0 {
			break
		}
		i += off
		off = i + len(word)
		if i > 0 && isWordByte(s[i-1]) {
			continue
		}
		from := skipSpaces(s, off)
		if from == off {
			continue
		}
		to := from
		for to < len(s) && isTokenByte(s[to]) {
			to++
		}
		sp = addSpan(s, sp, from, to)
		off = max(off, to)
	}
	return sp
}

func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '+', '/', '=':
		return true
	}
	return false
}

// indexFold is the index of the first occurrence of lower (in lower case)
// in s, ASCII letters compared without case; -1 if none.
func indexFold(s, lower string) int {
	n := len(lower)
	if n == 0 {
		return 0
	}
	first := lower[0]
	upper := first
	if 'a' <= first && first <= 'z' {
		upper -= 'a' - 'A'
	}
	for i := 0; i+n <= len(s); i++ {
		if c := s[i]; c != first && c != upper {
			continue
		}
		match := true
		for k := 1; k < n; k++ {
			c := s[i+k]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[k] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// Err returns err with its message redacted by Text; errors.Is and
// errors.As still see err and what it wraps. Err(nil) is nil.
func Err(err error) error {
	if err == nil {
		return nil
	}
	return redactedError{err}
}

type redactedError struct{ err error }

func (e redactedError) Error() string { return Text(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

// Writer writes to W what is written to it, redacted by Text write by
// write: a credential split across two writes is not recognized, which
// fmt's printing functions, writing once per call, never do.
type Writer struct {
	W io.Writer
}

// Write writes p, redacted, to w.W and reports p written whole when the
// redacted text was.
func (w *Writer) Write(p []byte) (int, error) {
	s := string(p)
	r := Text(s)
	if r == s {
		return w.W.Write(p)
	}
	if _, err := io.WriteString(w.W, r); err != nil {
		return 0, err
	}
	return len(p), nil
}
