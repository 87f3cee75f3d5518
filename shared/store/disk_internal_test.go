package store

import (
	"strings"
	"testing"
)

func TestEscapeRoundTrip(t *testing.T) {
	tests := []struct {
		seg, path string
	}{
		{"plan.json", "plan.json"},
		{"20261127-040512-3f9a1c", "20261127-040512-3f9a1c"},
		{"17.pb", "17.pb"},
		{".hidden", "%2Ehidden"},
		{"a.b.", "a.b."},
		{"...", "%2E.."},
		{"x#", "x%23"},
		{"100%", "100%25"},
		{"a b", "a%20b"},
		{"ü", "%C3%BC"},
		{"\x00\xff", "%00%FF"},
	}
	for _, tt := range tests {
		t.Run(tt.seg, func(t *testing.T) {
			if got := string(appendEscaped(nil, tt.seg)); got != tt.path {
				t.Errorf("appendEscaped(%q) = %q, want %q", tt.seg, got, tt.path)
			}
			if got, ok := unescape(tt.path); !ok || got != tt.seg {
				t.Errorf("unescape(%q) = %q, %v; want %q, true", tt.path, got, ok, tt.seg)
			}
		})
	}
}

// TestUnescapeRefuses: a path segment appendEscaped cannot give is not an
// object's, so that every object has exactly one path.
func TestUnescapeRefuses(t *testing.T) {
	for _, s := range []string{"", ".git", "%41", "%2e", "%2", "%zz", "a%", "x#", "a b", "ü", "%2F%"} {
		if got, ok := unescape(s); ok {
			t.Errorf("unescape(%q) = %q, true; want false", s, got)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"plan.json", ".x", "%41", "a b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seg string) {
		if seg == "" {
			return
		}
		p := string(appendEscaped(nil, seg))
		if got, ok := unescape(p); !ok || got != seg {
			t.Errorf("unescape(appendEscaped(%q) = %q) = %q, %v", seg, p, got, ok)
		}
		if strings.ContainsAny(p, "/#") || p[0] == '.' {
			t.Errorf("appendEscaped(%q) = %q: has / or #, or starts with .", seg, p)
		}
		if got, ok := unescape(seg); ok && string(appendEscaped(nil, got)) != seg {
			t.Errorf("unescape(%q) = %q, which escapes to another path", seg, got)
		}
	})
}

func TestHeader(t *testing.T) {
	h := header{gen: 1765432101234567, updated: 1765432101234567891, size: 3, contentType: "text/plain; charset=utf-8\n\x01"}
	b := appendHeader(nil, h)
	want := "cicada-object 1 1765432101234567 1765432101234567891 3 text/plain; charset=utf-8\n"
	if string(b) != want {
		t.Errorf("appendHeader = %q, want %q", b, want)
	}
	got, n, err := parseHeader(append(b, "abc"...))
	if err != nil || n != len(want) || got.gen != h.gen || got.updated != h.updated || got.size != h.size {
		t.Errorf("parseHeader = %+v, %d, %v; want %+v, %d", got, n, err, h, len(want))
	}
	bad := []string{
		"",
		"cicada-object 1 1 2 3",      // no newline
		"cicada-object 2 1 2 3 x\n",  // another version
		"cicada-object 1 0 2 3 x\n",  // generation 0
		"cicada-object 1 1 2\n",      // a field missing
		"cicada-object 1 -1 2 3 x\n", // sign
		"cicada-object 1 99999999999999999999 2 3 x\n", // too long
		"cicada-object 1 9999999999999999999 2 3 x\n",  // overflows
		"cicada-object 1 1 2 3 " + strings.Repeat("x", maxHeader) + "\n",
	}
	for _, s := range bad {
		if h, _, err := parseHeader([]byte(s)); err == nil {
			t.Errorf("parseHeader(%q) = %+v, want an error", s, h)
		}
	}
}
