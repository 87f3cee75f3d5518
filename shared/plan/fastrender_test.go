package plan

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestFastTemplate renders each template both ways, fast and through
// text/template, for texts chosen to stress JSON escaping (quotes,
// backslashes, every control character, invalid UTF-8, U+2028/2029, HTML
// characters left alone), and requires the same bytes; templates outside
// the fast shape must not compile fast.
func TestFastTemplate(t *testing.T) {
	t.Parallel()
	texts := []string{
		"plain", "", `say "hi" \ bye`, "tab\there\nnew\rline\b\f", "<html> & 'quote'",
		"\u2028\u2029 separators", "bad \xff utf8 \xc3", "emoji 🚀 ünïcødé", "\x00\x01\x1f\x7f",
	}
	var ctl strings.Builder
	for b := range 0x20 {
		ctl.WriteByte(byte(b))
	}
	texts = append(texts, ctl.String())
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		texts = append(texts, string(b))
	}
	tests := []struct {
		tmpl string
		fast bool
	}{
		{`{"text": {{json .Text}}}`, true},
		{`{"instances": {{json .Texts}}, "first": {{.Index}}}`, true},
		{`{{.Text}}`, true},
		{`{{- json .Text -}} trailing literal `, true},
		{"literal only", true},
		{`{"shape": [{{len .Texts}}], "bytes": {{json (base64 .Texts)}}, "one": {{json (base64 .Text)}}}`, true},
		{`{{len .Text}}`, false},
		{`{{json (base64 .Record.text)}}`, false},
		{`{"text": {{json .Record.text}}}`, false},
		{`{{if .Text}}{{.Text}}{{end}}`, false},
		{`{{json (base64 .Text)}}`, true},
		{`{{.Text | json}}`, false},
		{`{{$x := .Text}}{{$x}}`, false},
	}
	for _, tt := range tests {
		tmpl, err := parseTemplate(tt.tmpl)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.tmpl, err)
		}
		f, ok := compileFast(tmpl)
		if ok != tt.fast {
			t.Errorf("compileFast(%q) = %v, want %v", tt.tmpl, ok, tt.fast)
			continue
		}
		if !ok {
			continue
		}
		for i, s := range texts {
			d := TemplateData{Text: s, Index: i, Texts: []string{s, texts[(i+1)%len(texts)]}}
			var want bytes.Buffer
			if err := tmpl.Execute(&want, d); err != nil {
				t.Fatalf("execute %q: %v", tt.tmpl, err)
			}
			if got := f.render(nil, &d); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("%q with text %q: fast %q, text/template %q", tt.tmpl, s, got, want.Bytes())
			}
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := jsonString(s)
		if err != nil {
			t.Fatal(err)
		}
		got := appendJSONString(nil, s)
		if string(got) != want {
			t.Errorf("appendJSONString(%q) = %s, json %s", s, got, want)
		}
		if !utf8.Valid(got) {
			t.Errorf("appendJSONString(%q) is not UTF-8", s)
		}
	})
}

// BenchmarkRenderBody renders one body of a plain classification request
// both ways: what preparing a shard costs per text.
func BenchmarkRenderBody(b *testing.B) {
	tmpl, err := parseTemplate(`{"instances": [{"text": {{json .Text}}}], "index": {{.Index}}}`)
	if err != nil {
		b.Fatal(err)
	}
	fast, ok := compileFast(tmpl)
	if !ok {
		b.Fatal("not fast")
	}
	d := TemplateData{Text: `the striker scored late, "shares" fell sharply after a new chip launch`, Index: 12345}
	w := &boundedWriter{max: 1 << 20}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := w.renderFast(fast, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("text/template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := w.render(tmpl, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
