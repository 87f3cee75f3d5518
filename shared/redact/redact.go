// Package redact keeps credentials out of everything cicada serves, shows,
// prints or logs. The values of credential headers (Authorization, Cookie,
// API-key headers and the names an operator adds) and of every URL query
// parameter are replaced by Mark; the names stay, so that a reader still
// sees which header or parameter was sent.
//
// It works on header maps (HeaderMap, HTTPHeader), URLs (URL), a plan's JSON
// (PlanJSON) and free text that may carry a URL or a header, such as an
// error message (Text, Err, Writer).
//
// The credential header names are a process-wide set: the defaults
// (DefaultHeaders) plus those added by AddHeaders, which each component
// calls with its operator's list when it starts. A name once added stays,
// so that a process running several components redacts the union.
package redact

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mark replaces every redacted value.
const Mark = "REDACTED"

// defaultHeaders are redacted in every process.
var defaultHeaders = [...]string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "X-Goog-Api-Key"}

// DefaultHeaders returns the header names redacted in every process.
func DefaultHeaders() []string { return slices.Clone(defaultHeaders[:]) }

var (
	addMu sync.Mutex
	// names are the credential header names in lower case, defaults
	// first. Readers load the slice without a lock; AddHeaders replaces it.
	names atomic.Pointer[[]string]
)

func init() {
	l := make([]string, len(defaultHeaders))
	for i, n := range defaultHeaders {
		l[i] = strings.ToLower(n)
	}
	names.Store(&l)
}

// AddHeaders makes every name (case-insensitive; blanks ignored) a
// credential header of this process from now on.
func AddHeaders(extra ...string) {
	addMu.Lock()
	defer addMu.Unlock()
	cur := *names.Load()
	next := slices.Clone(cur)
	for _, n := range extra {
		n = strings.ToLower(strings.TrimSpace(n))
		if n != "" && !slices.Contains(next, n) {
			next = append(next, n)
		}
	}
	if len(next) != len(cur) {
		names.Store(&next)
	}
}

// HeaderNames returns the credential header names of this process, in
// lower case, the defaults first.
func HeaderNames() []string { return slices.Clone(*names.Load()) }

// IsHeader reports whether name is a credential header, ignoring case.
func IsHeader(name string) bool {
	name = strings.TrimSpace(name)
	for _, n := range *names.Load() {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// HeaderMap returns h with the value of every credential header replaced
// by Mark: h itself when it has none, else a copy.
func HeaderMap(h map[string]string) map[string]string {
	var out map[string]string
	for k, v := range h {
		if v == "" || v == Mark || !IsHeader(k) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(h))
			for k2, v2 := range h {
				out[k2] = v2
			}
		}
		out[k] = Mark
	}
	if out == nil {
		return h
	}
	return out
}

// HTTPHeader returns h with the values of every credential header replaced
// by Mark: h itself when it has none, else a copy.
func HTTPHeader(h http.Header) http.Header {
	var out http.Header
	for k, vs := range h {
		if !IsHeader(k) {
			continue
		}
		if out == nil {
			out = h.Clone()
		}
		red := make([]string, len(vs))
		for i := range red {
			red[i] = Mark
		}
		out[k] = red
	}
	if out == nil {
		return h
	}
	return out
}

// secretParams are the query parameter names (normalized: lower case, '-'
// as '_', without an x_amz_ or x_goog_ prefix) whose value is taken for a
// credential: API keys, tokens, signatures of signed URLs, passwords.
var secretParams = []string{
	"key", "api_key", "apikey", "auth", "jwt",
	"token", "access_token", "id_token", "auth_token", "refresh_token", "session_token", "security_token",
	"sig", "signature", "credential",
	"password", "passwd", "pwd", "secret", "client_secret",
}

// SecretParams returns the query parameter names whose value is taken for
// a credential, compared after lower-casing, reading '-' as '_' and
// dropping an x_amz_ or x_goog_ prefix (so X-Goog-Signature is signature).
func SecretParams() []string { return slices.Clone(secretParams) }

// IsSecretParam reports whether a URL query parameter of this name carries
// a credential (see SecretParams).
func IsSecretParam(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
	for _, p := range []string{"x_amz_", "x_goog_"} {
		n = strings.TrimPrefix(n, p)
	}
	return slices.Contains(secretParams, n)
}

// URL returns the URL s with every query value, and the password of its
// userinfo (the user when there is no password, since it may be a token),
// replaced by Mark. Everything else stays as written: the parameter names,
// their order and escaping, the fragment. An empty value stays empty.
func URL(s string) string {
	var sp []span
	sp = userinfo(s, sp)
	q := strings.IndexByte(s, '?')
	if q >= 0 {
		end := len(s)
		if h := strings.IndexByte(s[q:], '#'); h >= 0 {
			end = q + h
		}
		for from := q + 1; from < end; {
			to := strings.IndexByte(s[from:end], '&')
			if to < 0 {
				to = end
			} else {
				to += from
			}
			if eq := strings.IndexByte(s[from:to], '='); eq >= 0 {
				sp = addSpan(s, sp, from+eq+1, to)
			}
			from = to + 1
		}
	}
	return apply(s, sp)
}

// SecretParamsOf returns the names of the query parameters of the URL s
// that carry a non-empty value and look like credentials (IsSecretParam),
// in order.
func SecretParamsOf(s string) []string {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return nil
	}
	query := s[q+1:]
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query = query[:h]
	}
	var out []string
	for _, kv := range strings.Split(query, "&") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		if name, err := url.QueryUnescape(k); err == nil && IsSecretParam(name) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// HasUserinfoSecret reports whether the URL s carries a password, or a user
// that may be a token, in its authority.
func HasUserinfoSecret(s string) bool { return len(userinfo(s, nil)) > 0 }

// span is a byte range of a text to be replaced by Mark.
type span struct{ from, to int }

// addSpan adds s[from:to] unless it is empty or already the Mark.
func addSpan(s string, sp []span, from, to int) []span {
	if to <= from || s[from:to] == Mark {
		return sp
	}
	return append(sp, span{from, to})
}

// apply replaces every span of s (merged where they overlap) by Mark.
func apply(s string, sp []span) string {
	if len(sp) == 0 {
		return s
	}
	slices.SortFunc(sp, func(a, b span) int { return a.from - b.from })
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for i := 0; i < len(sp); {
		from, to := sp[i].from, sp[i].to
		for i++; i < len(sp) && sp[i].from < to; i++ {
			to = max(to, sp[i].to)
		}
		if from < at {
			from = at // cannot happen once merged; kept for safety
		}
		b.WriteString(s[at:from])
		b.WriteString(Mark)
		at = to
	}
	b.WriteString(s[at:])
	return b.String()
}

// userinfo adds the span of the password (or the lone user) of every URL
// authority in s: "scheme://user:password@host".
func userinfo(s string, sp []span) []span {
	for off := 0; ; {
		i := strings.Index(s[off:], "://")
		if i < 0 {
			return sp
		}
		from := off + i + 3
		to := from
		for to < len(s) && !isAuthorityStop(s[to]) {
			to++
		}
		off = to
		at := strings.LastIndexByte(s[from:to], '@')
		if at < 0 {
			continue
		}
		at += from
		if c := strings.IndexByte(s[from:at], ':'); c >= 0 {
			sp = addSpan(s, sp, from+c+1, at)
		} else {
			sp = addSpan(s, sp, from, at)
		}
	}
}

func isAuthorityStop(c byte) bool {
	switch c {
	case '/', '?', '#', '"', '\'', '\\', '<', '>', '`', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}
