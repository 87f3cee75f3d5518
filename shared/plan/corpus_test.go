package plan

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadCorpus(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200<<10) // longer than the reader's buffer
	for _, tt := range []struct {
		name     string
		in       string
		max      int64
		texts    []string
		records  []map[string]any
		wantErr  string
		tooLarge bool
	}{
		{name: "lines", in: "a b\n\n  \nc\r\nd", texts: []string{"a b", "c", "d"}},
		{name: "lines keep spaces", in: " a \n", texts: []string{" a "}},
		{name: "byte order mark", in: "\xef\xbb\xbfa\nb\n", texts: []string{"a", "b"}},
		{name: "byte order mark then jsonl", in: "\xef\xbb\xbf{\"text\":\"a\"}\n", texts: []string{"a"},
			records: []map[string]any{{"text": "a"}}},
		{name: "a line longer than the buffer", in: "a\n" + long + "\nb", texts: []string{"a", long, "b"}},
		{name: "jsonl keeps every field", in: "\n{\"text\": \"a\", \"label\": \"sports\", \"n\": 2}\n{\"text\":\"b\",\"label\":\"tech\",\"meta\":{\"k\":[1,true]}}\n",
			texts: []string{"a", "b"},
			records: []map[string]any{
				{"text": "a", "label": "sports", "n": json.Number("2")},
				{"text": "b", "label": "tech", "meta": map[string]any{"k": []any{json.Number("1"), true}}},
			}},
		{name: "plain then a brace line", in: "a\n{b}\n", texts: []string{"a", "{b}"}},
		{name: "jsonl then a plain line", in: "{\"text\":\"a\"}\n\nplain\n", wantErr: "c.jsonl:3: invalid JSONL line: not a JSON object"},
		{name: "jsonl bad json", in: "{\"text\":\"a\"}\n{\"text\": }\n", wantErr: "c.jsonl:2: invalid JSONL line"},
		{name: "jsonl two values", in: "{\"text\":\"a\"} {}\n", wantErr: "c.jsonl:1: invalid JSONL line: more than one JSON value"},
		{name: "jsonl no text", in: "{\"label\":\"a\"}\n", wantErr: `c.jsonl:1: JSONL object needs a non-empty string field "text"`},
		{name: "jsonl empty text", in: "{\"text\":\"\"}\n", wantErr: `c.jsonl:1: JSONL object needs a non-empty string field "text"`},
		{name: "jsonl text a number", in: "{\"text\":5}\n", wantErr: `c.jsonl:1: JSONL object needs a non-empty string field "text"`},
		{name: "empty", in: "\n \n", wantErr: "c.jsonl: no texts"},
		{name: "at the limit", in: "abc\n", max: 4, texts: []string{"abc"}},
		{name: "over the limit", in: "abc\nd", max: 4, wantErr: "c.jsonl: corpus too large: larger than 4 bytes", tooLarge: true},
		{name: "over the limit in a long line", in: long, max: 1 << 10, wantErr: "larger than 1024 bytes", tooLarge: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One byte at a time: the reader must not rely on big reads.
			c, err := ReadCorpus(iotest.OneByteReader(strings.NewReader(tt.in)), "c.jsonl", tt.max)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadCorpus error = %v, want one containing %q", err, tt.wantErr)
				}
				if errors.Is(err, ErrCorpusTooLarge) != tt.tooLarge {
					t.Errorf("errors.Is(%v, ErrCorpusTooLarge) = %v, want %v", err, !tt.tooLarge, tt.tooLarge)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadCorpus: %v", err)
			}
			if !reflect.DeepEqual(c.Texts, tt.texts) {
				t.Errorf("texts = %q, want %q", c.Texts, tt.texts)
			}
			var records []map[string]any
			if c.HasRecords() {
				for k := range c.Len() {
					records = append(records, c.Record(k))
				}
			}
			if !reflect.DeepEqual(records, tt.records) {
				t.Errorf("records = %v, want %v", records, tt.records)
			}
		})
	}
}

func TestReadCorpusReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	_, err := ReadCorpus(io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(boom)), "gs://b/o", 0)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "gs://b/o") {
		t.Errorf("ReadCorpus = %v, want the read error, naming the input", err)
	}
}

func TestPlanCorpus(t *testing.T) {
	t.Parallel()
	p := &Plan{Data: Data{Texts: []string{"a", "b"}}}
	c, err := p.Corpus()
	if err != nil || !reflect.DeepEqual(c.Texts, []string{"a", "b"}) || c.HasRecords() {
		t.Fatalf("Corpus() = %+v, %v; want the inline texts without records", c, err)
	}
	c.Texts[0] = "changed"
	if p.Data.Texts[0] != "a" {
		t.Errorf("Corpus() shares its slice with the plan")
	}
	_, err = (&Plan{Data: Data{URI: "gs://b/o.txt"}}).Corpus()
	if err == nil || !strings.Contains(err.Error(), "gs://b/o.txt") {
		t.Errorf("Corpus() of a data.uri plan = %v, want an error naming the uri", err)
	}
}
