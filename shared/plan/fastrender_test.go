package plan

import (
	"bytes"
	"encoding/json"
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

// referenceText is what decoding a JSONL line into a map gives as its
// text, the rule addRecord's scan must match.
func referenceText(line string) (string, bool) {
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		return "", false
	}
	s, ok := rec["text"].(string)
	return s, ok && s != ""
}

// TestJSONLText checks the text addRecord takes from a line, scanned
// without decoding, against decoding the line into a map: members before
// and after, nested "text" members, escaped keys and values, duplicates
// (the last wins), whitespace, non-string and empty texts, invalid UTF-8.
func TestJSONLText(t *testing.T) {
	t.Parallel()
	lines := []string{
		`{"text": "plain"}`,
		`{"label": "x", "text": "after", "n": 1}`,
		`{"meta": {"text": "nested"}, "text": "top"}`,
		`{"meta": {"text": "only nested"}}`,
		`{"list": [{"text": "in a list"}, "]}"], "text": "top"}`,
		`{"\u0074ext": "escaped key"}`,
		`{"text": "esc \"quoted\" \\ \n \u00e9 \ud83d\ude80"}`,
		`{"text": "first", "text": "second"}`,
		"{ \"text\" :\t\"spaced\" , \"z\" : null }",
		`{"text": 42}`,
		`{"text": ""}`,
		`{"text": null}`,
		`{"Text": "wrong case"}`,
		`{}`,
		"{\"text\": \"bad \xff utf8\"}",
		`{"a": true, "b": false, "c": -1.5e3, "text": "after literals"}`,
	}
	for _, line := range lines {
		want, ok := referenceText(line)
		var c Corpus
		err := c.addRecord([]byte(line))
		switch {
		case ok && err != nil:
			t.Errorf("%s: %v, want text %q", line, err, want)
		case !ok && err == nil:
			t.Errorf("%s: text %q, want an error", line, c.Texts[0])
		case ok && c.Texts[0] != want:
			t.Errorf("%s: text %q, want %q", line, c.Texts[0], want)
		}
	}
}

func FuzzJSONLText(f *testing.F) {
	for _, s := range []string{`{"text": "a"}`, `{"x": {"text": "b"}, "text": "c\n"}`, `{"text": 1}`, `{"\u0074ext": "d"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if line == "" || line[0] != '{' {
			return
		}
		want, ok := referenceText(line)
		var c Corpus
		err := c.addRecord([]byte(line))
		if ok != (err == nil) || (ok && c.Texts[0] != want) {
			t.Errorf("%q: texts %q, error %v; want %q (ok %v)", line, c.Texts, err, want, ok)
		}
	})
}
