package plan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTexts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		content string
		want    []string
		wantErr string
	}{
		{"lines", "stocks rally\n\nteam wins final\r\n  \nnew chip\n", []string{"stocks rally", "team wins final", "new chip"}, ""},
		{"lines without final newline", "a\nb", []string{"a", "b"}, ""},
		{"a later line with a brace is a text", "plain\n{not json\n", []string{"plain", "{not json"}, ""},
		{"a first line with a brace makes JSONL", "{not json\nplain\n", nil, "t.txt:1: invalid JSONL line"},
		{"jsonl then a plain line", "{\"text\":\"a\"}\n\nplain\n", nil, "t.txt:3: invalid JSONL line: not a JSON object"},
		{"jsonl", "{\"text\": \"a \\\"q\\\"\", \"label\": 1}\n\n{\"text\":\"b\"}\n", []string{`a "q"`, "b"}, ""},
		{"byte order mark", "\xef\xbb\xbf{\"text\":\"a\"}\n", []string{"a"}, ""},
		{"bad jsonl line", "{\"text\":\"a\"}\n{\"text\": }\n", nil, "t.txt:2: invalid JSONL line"},
		{"jsonl without text", "{\"text\":\"a\"}\n\n{\"txt\":\"b\"}\n", nil, `t.txt:3: JSONL object needs a non-empty string field "text"`},
		{"jsonl text not a string", "{\"text\":5}\n", nil, `t.txt:1: JSONL object needs a non-empty string field "text"`},
		{"empty file", "\n\n", nil, "no texts"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"), "t.txt")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			p := &Plan{Data: Data{File: "ignored.txt", Path: path}}
			got, err := p.Texts()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	t.Run("inline texts are copied", func(t *testing.T) {
		t.Parallel()
		p := &Plan{Data: Data{Texts: []string{"a", "b"}}}
		got, err := p.Texts()
		if err != nil || !reflect.DeepEqual(got, []string{"a", "b"}) {
			t.Fatalf("got %q, %v", got, err)
		}
		got[0] = "changed"
		if p.Data.Texts[0] != "a" {
			t.Errorf("Texts() shares its slice with the plan")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		p := &Plan{Data: Data{File: filepath.Join(dir, "nope.txt")}}
		_, err := p.Texts()
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.txt") {
			t.Errorf("got %v, want a not-exist error naming the file", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(dir, "big.txt")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		// A sparse file: the size check must stop reading, not the disk.
		if err := f.Truncate(MaxDataFileSize + 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
		_, err = (&Plan{Data: Data{Path: path}}).Texts()
		if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
			t.Errorf("got %v, want size error", err)
		}
	})
	t.Run("no data", func(t *testing.T) {
		t.Parallel()
		if _, err := (&Plan{}).Texts(); err == nil {
			t.Errorf("got nil error for a plan without data")
		}
	})
}

func TestRenderBodies(t *testing.T) {
	t.Parallel()
	texts := []string{`say "hi"`, "two\nlines\ttab", "naïve 東京 🚀", `<b>&</b>`, `back\slash`}
	for _, tt := range []struct {
		name   string
		target Target
		want   []string
	}{
		{"http json quoting", Target{Protocol: "http", Body: `{"text": {{json .Text}}}`}, []string{
			`{"text": "say \"hi\""}`,
			`{"text": "two\nlines\ttab"}`,
			`{"text": "naïve 東京 🚀"}`,
			`{"text": "<b>&</b>"}`, // no HTML escaping: the target gets the text as written
			`{"text": "back\\slash"}`,
		}},
		{"index", Target{Protocol: "http", Body: `{{.Index}}`}, []string{"0", "1", "2", "3", "4"}},
		{"grpc request", Target{Protocol: "grpc", Body: "ignored", Request: `{"text":{{json .Text}},"n":{{.Index}}}`}, []string{
			`{"text":"say \"hi\"","n":0}`,
			`{"text":"two\nlines\ttab","n":1}`,
			`{"text":"naïve 東京 🚀","n":2}`,
			`{"text":"<b>&</b>","n":3}`,
			`{"text":"back\\slash","n":4}`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.target.RenderBodies(texts)
			if err != nil {
				t.Fatalf("RenderBodies: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d bodies, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("body %d = %s, want %s", i, got[i], tt.want[i])
				}
				if strings.HasPrefix(tt.want[i], "{") {
					var v struct{ Text string }
					if err := json.Unmarshal(got[i], &v); err != nil || v.Text != texts[i] {
						t.Errorf("body %d decodes to %q, %v; want %q", i, v.Text, err, texts[i])
					}
				}
			}
		})
	}

	t.Run("no template gives nil bodies", func(t *testing.T) {
		t.Parallel()
		got, err := (&Target{Protocol: "http"}).RenderBodies(texts)
		if err != nil || len(got) != len(texts) || got[0] != nil {
			t.Errorf("got %q, %v; want %d nil bodies", got, err, len(texts))
		}
	})
	for _, tt := range []struct {
		name    string
		target  Target
		wantErr string
	}{
		{"syntax", Target{Protocol: "http", Body: "{{.Text"}, "render target.body: invalid template"},
		{"grpc invalid JSON", Target{Protocol: "grpc", Request: `{"text": "{{.Text}}"}`}, "render target.request for text 0: not valid JSON"},
		{"missing field", Target{Protocol: "http", Body: "{{.Nope}}"}, "render target.body for text 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.target.RenderBodies(texts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
