package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"nothing", "dial tcp 127.0.0.1:1: connect: connection refused", "dial tcp 127.0.0.1:1: connect: connection refused"},
		{"empty", "", ""},
		{"net/http error", `Get "https://api.example.com/v1/predict?api_key=s3cr3t&model=a": dial tcp: lookup api.example.com: no such host`,
			`Get "https://api.example.com/v1/predict?api_key=REDACTED&model=REDACTED": dial tcp: lookup api.example.com: no such host`},
		{"bare URL", "calling https://h/p?key=abc#frag now", "calling https://h/p?key=REDACTED#frag now"},
		{"empty value kept", "https://h/p?a=&b=1", "https://h/p?a=&b=REDACTED"},
		{"name without value kept", "https://h/p?flag&b=1", "https://h/p?flag&b=REDACTED"},
		{"value in single quotes", "url 'https://h/p?token=abc'", "url 'https://h/p?token=REDACTED'"},
		{"JSON-escaped quotes", `{"error":"Get \"https://h/p?sig=abc\": EOF"}`, `{"error":"Get \"https://h/p?sig=REDACTED\": EOF"}`},
		{"JSON-escaped ampersand", `"https://h/p?a=1\u0026key=2"`, `"https://h/p?a=REDACTED\u0026key=REDACTED"`},
		{"HTML-escaped ampersand", `https://h/p?a=1&amp;key=2`, `https://h/p?a=REDACTED&amp;key=REDACTED`},
		{"percent-encoded value", "https://h/p?key=a%2Fb%3D", "https://h/p?key=REDACTED"},
		{"question without query", "is it up? yes=maybe", "is it up? yes=maybe"},
		{"double ampersand", "a && b=c", "a && b=c"},
		{"userinfo password", "dial https://bob:hunter2@h.example/x", "dial https://bob:REDACTED@h.example/x"},
		{"userinfo token", "https://ghp_abc@github.com/o/r", "https://REDACTED@github.com/o/r"},
		{"header line", "request had Authorization: Bearer abc.def\nnext line", "request had Authorization: REDACTED\nnext line"},
		{"header case", "AUTHORIZATION=Basic dXNlcjpwYXNz", "AUTHORIZATION=REDACTED"},
		{"header JSON", `{"x-api-key":"k1","Content-Type":"application/json"}`, `{"x-api-key":"REDACTED","Content-Type":"application/json"}`},
		{"header JSON with escapes", `{"cookie":"a=\"b\"; c=d","n":1}`, `{"cookie":"REDACTED","n":1}`},
		{"header JSON in JSON", `{"msg":"sent {\"X-Goog-Api-Key\": \"AIzaXYZ\"}"}`, `{"msg":"sent {\"X-Goog-Api-Key\": \"REDACTED\"}"}`},
		{"http.Header printed", "map[Authorization:[Bearer abc] Content-Type:[text/plain]]", "map[Authorization:[REDACTED] Content-Type:[text/plain]]"},
		{"bare value ends at comma", "Cookie: a=1; b=2, other", "Cookie: REDACTED, other"},
		{"set-cookie is not cookie twice", "Set-Cookie: id=abc", "Set-Cookie: REDACTED"},
		{"name as a word", "authorization failed for cookies", "authorization failed for cookies"},
		{"name inside a longer name", "x-authorization: v", "x-authorization: v"},
		{"object value left to its members", `"authorization":{"a":1}`, `"authorization":{"a":1}`},
		{"bearer alone", "rpc error: code = Unauthenticated desc = bad token Bearer eyJhbGci.x-y_z", "rpc error: code = Unauthenticated desc = bad token Bearer REDACTED"},
		{"bearer as a word", "the bearer of bad news", "the bearer REDACTED bad news"},
		{"already redacted", "https://h/p?key=REDACTED Authorization: REDACTED", "https://h/p?key=REDACTED Authorization: REDACTED"},
		{"overlapping spans", "Authorization: https://h/?k=v", "Authorization: REDACTED"},
		{"unterminated quote", `"Authorization": "abc`, `"Authorization": "REDACTED`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in); got != tt.want {
				t.Errorf("Text(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
			if got := Text(tt.want); got != tt.want {
				t.Errorf("Text is not idempotent: Text(%q) = %q", tt.want, got)
			}
		})
	}
}

// TestTextJSONStaysJSON: a redacted JSON log line is still JSON.
func TestTextJSONStaysJSON(t *testing.T) {
	lines := []map[string]any{
		{"message": "x", "error": `Get "https://h/p?api_key=abc&b=2": EOF`, "n": 1},
		{"authorization": "Bearer abc", "cookie": map[string]any{"a": "b"}, "set-cookie": 3, "x-api-key": []string{"k"}},
		{"url": "https://u:p@h/x?token=t#f"},
	}
	for i, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		r := Text(string(b))
		if !json.Valid([]byte(r)) {
			t.Errorf("line %d: %s redacted to %s, not JSON", i, b, r)
		}
		for _, secret := range []string{"abc", `"t"`, ":p@"} {
			if strings.Contains(r, secret) {
				t.Errorf("line %d: %s still holds %q", i, r, secret)
			}
		}
	}
}

func TestTextDoesNotAllocateWithoutCredentials(t *testing.T) {
	msg := `Post "http://127.0.0.1:8501/v1/predict": dial tcp 127.0.0.1:8501: connect: connection refused`
	allocs := testing.AllocsPerRun(100, func() {
		if Text(msg) != msg {
			t.Fatal("changed")
		}
	})
	if allocs != 0 {
		t.Errorf("Text of a message without credentials: %v allocations, want 0", allocs)
	}
}

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://h/p", "https://h/p"},
		{"https://h/p?api_key=abc", "https://h/p?api_key=REDACTED"},
		{"https://h/p?a=1&b=&c&d=x%20y#frag?z=1", "https://h/p?a=REDACTED&b=&c&d=REDACTED#frag?z=1"},
		{"https://h/p?q=it's \"quoted\"", "https://h/p?q=REDACTED"},
		{"https://user:pw@h:8443/p?k=v", "https://user:REDACTED@h:8443/p?k=REDACTED"},
		{"https://h/p?k=REDACTED", "https://h/p?k=REDACTED"},
		{"not a url at all", "not a url at all"},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretParams(t *testing.T) {
	tests := []struct {
		url  string
		want []string
	}{
		{"https://h/p", nil},
		{"https://h/p?model=a&page_token=", nil},
		{"https://h/p?key=abc&model=a", []string{"key"}},
		{"https://h/p?API_KEY=abc&Access-Token=t&pageToken=n", []string{"API_KEY", "Access-Token"}},
		{"https://b.s3.amazonaws.com/o?X-Amz-Signature=ab&X-Amz-Credential=c&X-Amz-Date=d", []string{"X-Amz-Signature", "X-Amz-Credential"}},
		{"https://storage.googleapis.com/b/o?X-Goog-Signature=ab", []string{"X-Goog-Signature"}},
		{"https://h/p?sig=a&sig=b#key=c", []string{"sig"}},
		{"https://h/p?pass%77ord=x", []string{"password"}},
	}
	for _, tt := range tests {
		if got := SecretParamsOf(tt.url); !slices.Equal(got, tt.want) {
			t.Errorf("SecretParamsOf(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
	for _, p := range SecretParams() {
		if !IsSecretParam(p) || !IsSecretParam(strings.ToUpper(p)) {
			t.Errorf("IsSecretParam(%q) = false for a listed name", p)
		}
	}
	for _, p := range []string{"model", "page_token", "keys", "monkey"} {
		if IsSecretParam(p) {
			t.Errorf("IsSecretParam(%q) = true", p)
		}
	}
}

func TestHasUserinfoSecret(t *testing.T) {
	for in, want := range map[string]bool{
		"https://h/p":           false,
		"https://h/p?x=a@b":     false,
		"https://u:p@h/p":       true,
		"https://tok@h/p":       true,
		"https://u:REDACTED@h/": false,
	} {
		if got := HasUserinfoSecret(in); got != want {
			t.Errorf("HasUserinfoSecret(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestHeaderMap(t *testing.T) {
	tests := []struct {
		name     string
		in, want map[string]string
	}{
		{"nil", nil, nil},
		{"none", map[string]string{"Content-Type": "a"}, map[string]string{"Content-Type": "a"}},
		{"every default", map[string]string{
			"Authorization": "Bearer x", "proxy-authorization": "Basic y", "COOKIE": "a=b", "Set-Cookie": "c=d",
			"x-api-key": "k", "X-Goog-Api-Key": "g", "Accept": "text/plain", "X-Empty-Api-Key": "",
		}, map[string]string{
			"Authorization": Mark, "proxy-authorization": Mark, "COOKIE": Mark, "Set-Cookie": Mark,
			"x-api-key": Mark, "X-Goog-Api-Key": Mark, "Accept": "text/plain", "X-Empty-Api-Key": "",
		}},
		{"empty value kept", map[string]string{"Authorization": ""}, map[string]string{"Authorization": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := mapsClone(tt.in)
			if got := HeaderMap(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("HeaderMap = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.in, orig) {
				t.Errorf("HeaderMap changed its argument: %v", tt.in)
			}
		})
	}
}

func mapsClone(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestHTTPHeader(t *testing.T) {
	h := http.Header{"Authorization": {"Bearer a", "Bearer b"}, "Accept": {"*/*"}}
	got := HTTPHeader(h)
	want := http.Header{"Authorization": {Mark, Mark}, "Accept": {"*/*"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HTTPHeader = %v, want %v", got, want)
	}
	if h.Get("Authorization") != "Bearer a" {
		t.Errorf("HTTPHeader changed its argument: %v", h)
	}
	plain := http.Header{"Accept": {"*/*"}}
	if got := HTTPHeader(plain); !reflect.DeepEqual(got, plain) {
		t.Errorf("HTTPHeader of plain headers = %v", got)
	}
}

// TestAddHeaders adds a name to the process-wide set: it must then be
// redacted everywhere, whatever its case.
func TestAddHeaders(t *testing.T) {
	const name = "X-Test-Only-Token"
	if IsHeader(name) {
		t.Fatalf("%s is a credential header before it is added", name)
	}
	AddHeaders(" x-test-only-token ", "", name)
	if !IsHeader(strings.ToUpper(name)) {
		t.Errorf("IsHeader(%s) = false after AddHeaders", name)
	}
	if n := HeaderNames(); !slices.Contains(n, "x-test-only-token") || slices.Index(n, "x-test-only-token") != len(n)-1 ||
		len(n) != len(DefaultHeaders())+countAdded(n) {
		t.Errorf("HeaderNames = %v", n)
	}
	if got := Text("X-Test-Only-Token: abc"); got != "X-Test-Only-Token: REDACTED" {
		t.Errorf("Text after AddHeaders = %q", got)
	}
	if got := HeaderMap(map[string]string{"x-test-only-token": "v"}); got["x-test-only-token"] != Mark {
		t.Errorf("HeaderMap after AddHeaders = %v", got)
	}
}

// countAdded counts the names that are not defaults.
func countAdded(names []string) int {
	n := 0
	for _, name := range names {
		if !slices.ContainsFunc(DefaultHeaders(), func(d string) bool { return strings.EqualFold(d, name) }) {
			n++
		}
	}
	return n
}

func TestPlanJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"nothing to redact",
			`{"name":"p","target":{"protocol":"http","url":"http://h/p","headers":{"Content-Type":"application/json"}}}`,
			`{"name":"p","target":{"protocol":"http","url":"http://h/p","headers":{"Content-Type":"application/json"}}}`},
		{"header and query, order kept",
			`{"name":"p","target":{"protocol":"http","url":"https://h/p?key=abc\u0026model=m","headers":{"Authorization":"Bearer x","Content-Type":"a/b"},"body":"Authorization: kept"},"shards":2}`,
			`{"name":"p","target":{"protocol":"http","url":"https://h/p?key=REDACTED\u0026model=REDACTED","headers":{"Authorization":"REDACTED","Content-Type":"a/b"},"body":"Authorization: kept"},"shards":2}`},
		{"grpc metadata",
			`{"target":{"protocol":"grpc","address":"h:443","headers":{"x-goog-api-key":"AIza"}}}`,
			`{"target":{"protocol":"grpc","address":"h:443","headers":{"x-goog-api-key":"REDACTED"}}}`},
		{"indented input",
			"{\n  \"target\": {\n    \"headers\": {\"Cookie\": \"a=b\"}\n  }\n}",
			`{"target":{"headers":{"Cookie":"REDACTED"}}}`},
		{"no target", `{"name":"p"}`, `{"name":"p"}`},
		{"not JSON", `Authorization: abc`, `Authorization: REDACTED`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlanJSON([]byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("PlanJSON\n = %s\nwant %s", got, tt.want)
			}
			if tt.in == tt.want && &got[0] != &[]byte(tt.in)[0] && !bytes.Equal(got, []byte(tt.in)) {
				t.Errorf("PlanJSON changed a plan with nothing to redact")
			}
		})
	}
}

func TestErr(t *testing.T) {
	if Err(nil) != nil {
		t.Error("Err(nil) != nil")
	}
	inner := fmt.Errorf("get https://h/p?key=abc: %w", fs.ErrNotExist)
	err := Err(inner)
	if got := err.Error(); got != "get https://h/p?key=REDACTED: file does not exist" {
		t.Errorf("Err(...).Error() = %q", got)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is does not see through Err")
	}
	var ue *url.Error
	wrapped := Err(&url.Error{Op: "Get", URL: "https://h/?token=t", Err: errors.New("EOF")})
	if !errors.As(wrapped, &ue) || strings.Contains(wrapped.Error(), "token=t") {
		t.Errorf("Err of a *url.Error: %v (As %v)", wrapped, errors.As(wrapped, &ue))
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := &Writer{W: &b}
	for _, s := range []string{"plain line\n", "Cookie: a=b\n", "see https://h/?k=v\n"} {
		n, err := fmt.Fprint(w, s)
		if err != nil || n != len(s) {
			t.Errorf("Fprint(%q) = %d, %v; want %d, nil", s, n, err, len(s))
		}
	}
	want := "plain line\nCookie: REDACTED\nsee https://h/?k=REDACTED\n"
	if b.String() != want {
		t.Errorf("written %q, want %q", b.String(), want)
	}
}

// FuzzText: Text never panics, is idempotent, keeps text without a
// credential as is, and a redacted JSON document stays JSON.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		"", "?", "&", "?a=", `\u0026`, "Authorization", "Authorization:", `"Authorization":[`, `"cookie":["a","b`,
		`\"Cookie\":[\"a\",\"b\"]`, "bearer ", "https://u:p@h/?k=v", `{"x-api-key":"k","n":[1,"a"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := Text(s)
		if Text(r) != r {
			t.Errorf("Text(%q) = %q, Text of that = %q", s, r, Text(r))
		}
		if json.Valid([]byte(s)) && !json.Valid([]byte(r)) {
			t.Errorf("Text(%q) = %q is not JSON", s, r)
		}
	})
}
