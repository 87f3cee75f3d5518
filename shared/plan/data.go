package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// MaxDataFileSize bounds the texts file read by Texts: the whole corpus is
// held in memory by every shard.
const MaxDataFileSize = 64 << 20

// TemplateData is what a body, request or check.equals template sees.
type TemplateData struct {
	Text    string           // the request's first text (its only one without a batch)
	Index   int              // the corpus index of that text
	Texts   []string         // the request's texts, target.batch of them
	Record  map[string]any   // the first text's record (JSONL corpus), else {"text": Text}
	Records []map[string]any // the records of the request's texts
}

// SampleText is the text templates are executed against during validation.
const SampleText = `a "sample" text`

// Corpus is what a shard sends: texts, and the JSONL records they came
// from.
type Corpus struct {
	Texts []string
	// Records are records built in memory: nil, or len(Records) ==
	// len(Texts) and Records[i]["text"] == Texts[i]. Numbers are
	// json.Number, so that a label renders as it was written.
	Records []map[string]any
	// lines are the JSONL lines ReadCorpus read, each decoded into its
	// record only when a request is rendered (Record): a decoded record
	// costs about four times its line, and a shard holds the whole corpus.
	// A text without escapes shares its line's memory.
	lines []string
}

// Len is the number of texts.
func (c *Corpus) Len() int { return len(c.Texts) }

// HasRecords reports whether the texts came with JSONL records.
func (c *Corpus) HasRecords() bool { return c.Records != nil || c.lines != nil }

// Record returns text k's JSONL record, or nil for a corpus of plain
// texts. A record read by ReadCorpus is decoded anew at each call.
func (c *Corpus) Record(k int) map[string]any {
	switch {
	case c.Records != nil:
		return c.Records[k]
	case c.lines != nil:
		rec, err := decodeRecord(c.lines[k])
		if err != nil {
			// ReadCorpus decoded the line once already.
			return map[string]any{"text": c.Texts[k]}
		}
		return rec
	}
	return nil
}

// decodeRecord decodes a JSONL line, its numbers as json.Number.
func decodeRecord(line string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// Texts returns the corpus's texts: the inline texts, or those of the data
// file (see [Plan.Corpus]).
func (p *Plan) Texts() ([]string, error) {
	c, err := p.Corpus()
	if err != nil {
		return nil, err
	}
	return c.Texts, nil
}

// Corpus returns the inline texts (copied), or reads the data file
// (Data.Path, as resolved by LoadFile, else Data.File) with [ReadCorpus]
// within MaxDataFileSize. A corpus at data.uri is read by the worker from
// the bucket, not here.
func (p *Plan) Corpus() (*Corpus, error) {
	if len(p.Data.Texts) > 0 {
		return &Corpus{Texts: append([]string(nil), p.Data.Texts...)}, nil
	}
	path := p.Data.Path
	if path == "" {
		path = p.Data.File
	}
	if path == "" {
		if p.Data.URI != "" {
			return nil, fmt.Errorf("read texts: the corpus is at %s, read by the worker", p.Data.URI)
		}
		return nil, errors.New("read texts: plan has neither data.texts nor data.file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read texts: %w", err)
	}
	defer f.Close()
	c, err := ReadCorpus(f, path, MaxDataFileSize)
	if err != nil {
		return nil, fmt.Errorf("read texts %w", err)
	}
	return c, nil
}

// ErrCorpusTooLarge is a corpus over the size ReadCorpus was given.
var ErrCorpusTooLarge = errors.New("corpus too large")

// ReadCorpus reads a corpus from r, streaming, holding only the texts (and
// the records of a JSONL corpus), never the whole input. name is what
// errors call the input (name:line). The first non-empty line decides the
// format: a line starting with '{' makes the corpus JSONL, one object per
// non-empty line with a non-empty string field "text" and any others;
// otherwise every non-empty line is one text, as written (only a trailing
// CR is dropped). A leading byte order mark is skipped. More than maxBytes
// bytes (when maxBytes > 0) is an error wrapping ErrCorpusTooLarge.
func ReadCorpus(r io.Reader, name string, maxBytes int64) (*Corpus, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		c     Corpus
		read  int64
		no    int
		line  []byte
		jsonl bool
		known bool // whether the format is decided
	)
	for {
		var err error
		line, err = readLine(br, line[:0], &read, maxBytes)
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, ErrCorpusTooLarge) {
				return nil, fmt.Errorf("%s: %w: larger than %s", name, err, sizeString(maxBytes))
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		eof := err != nil
		if len(line) == 0 && eof {
			break
		}
		no++
		if no == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 {
			if !known {
				jsonl, known = trimmed[0] == '{', true
			}
			if !jsonl {
				c.Texts = append(c.Texts, string(line))
			} else if err := c.addRecord(trimmed); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, no, err)
			}
		}
		if eof {
			break
		}
	}
	if len(c.Texts) == 0 {
		return nil, fmt.Errorf("%s: no texts", name)
	}
	return &c, nil
}

// readLine appends the next line of br to buf, without its newline,
// counting its bytes in read. It returns io.EOF with the last line.
func readLine(br *bufio.Reader, buf []byte, read *int64, maxBytes int64) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		*read += int64(len(chunk))
		if maxBytes > 0 && *read > maxBytes {
			return buf, ErrCorpusTooLarge
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return buf, err
		}
	}
}

// addRecord checks one JSONL line and keeps it, with its text. Only the
// text is decoded now (see Corpus.lines).
func (c *Corpus) addRecord(line []byte) error {
	if line[0] != '{' {
		return fmt.Errorf("invalid JSONL line: not a JSON object (the corpus's first line made it JSONL): %q", truncate(string(line), 40))
	}
	if !json.Valid(line) {
		return recordError(line)
	}
	l := string(line)
	start, end, ok := textMember(l)
	if !ok || end-start < 2 || l[start] != '"' {
		return errNoText
	}
	text := l[start+1 : end-1] // the line's own bytes: one copy held
	if strings.IndexByte(text, '\\') >= 0 || !utf8.ValidString(text) {
		// Escapes, or bytes encoding/json would replace: decode.
		text = ""
		if err := json.Unmarshal([]byte(l[start:end]), &text); err != nil {
			return fmt.Errorf("invalid JSONL line: %w", err)
		}
	}
	if text == "" {
		return errNoText
	}
	c.Texts = append(c.Texts, text)
	c.lines = append(c.lines, l)
	return nil
}

var errNoText = errors.New(`JSONL object needs a non-empty string field "text"`)

// recordError says why line, which json.Valid refused, is no JSONL record.
func recordError(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("invalid JSONL line: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSONL line: more than one JSON value")
	}
	return errors.New("invalid JSONL line")
}

// textMember finds the value of the top-level member "text" of obj, a
// valid JSON object (json.Valid), and returns its bounds; the last one
// wins, as when decoding into a map. A scan of the bytes, no decoding: a
// 256 MiB corpus is read in about a second rather than eight.
func textMember(obj string) (start, end int, found bool) {
	i := skipSpace(obj, 1) // past '{'
	if obj[i] == '}' {
		return 0, 0, false
	}
	for {
		keyEnd := stringEnd(obj, i)
		key := obj[i:keyEnd]
		i = skipSpace(obj, keyEnd) + 1 // past ':'
		i = skipSpace(obj, i)
		valueEnd := valueEnd(obj, i)
		if isKey(key, "text") {
			start, end, found = i, valueEnd, true
		}
		i = skipSpace(obj, valueEnd)
		if obj[i] != ',' {
			return start, end, found // '}'
		}
		i = skipSpace(obj, i+1)
	}
}

// isKey reports whether the JSON string key (quotes included) is name.
func isKey(key, name string) bool {
	if strings.IndexByte(key, '\\') < 0 {
		return len(key) == len(name)+2 && key[1:len(key)-1] == name
	}
	var k string
	return json.Unmarshal([]byte(key), &k) == nil && k == name
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index past the JSON string that starts at s[i].
func stringEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(s)
}

// valueEnd returns the index past the JSON value that starts at s[i].
func valueEnd(s string, i int) int {
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				j = stringEnd(s, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(s)
	}
	j := i // a number, true, false or null
	for j < len(s) && !strings.ContainsRune(",}] \t\n\r", rune(s[j])) {
		j++
	}
	return j
}

func sizeString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// jsonString renders v as JSON without HTML escaping, so that
// {"text": {{json .Text}}} quotes any text safely.
func jsonString(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// renderSample renders a template against SampleText (batch copies of it)
// within the package's bounds, as validation does. A template that looks
// at the records is judged by its parsing only when it fails on the
// sample record, which has only a "text" and the fields the template
// names, all strings: the real corpus judges it before the run. out is nil
// when the template was not executed to the end.
func renderSample(text string, batch int) (out []byte, refs tmplRefs, err error) {
	t, err := parseTemplate(text)
	if err != nil {
		return nil, refs, err
	}
	refs = refsOf(t)
	batch = min(max(batch, 1), MaxBatch)
	texts := make([]string, batch)
	for i := range texts {
		texts[i] = SampleText
	}
	d := TemplateData{Text: SampleText, Texts: texts}
	if refs.records() {
		d.Record = refs.sampleRecord()
		d.Records = make([]map[string]any, batch)
		for i := range d.Records {
			d.Records[i] = d.Record
		}
	}
	w := &boundedWriter{max: MaxRenderedBody}
	if err := t.Execute(w, d); err != nil {
		if refs.records() {
			return nil, refs, nil
		}
		return nil, refs, fmt.Errorf("template fails on a sample text: %w", err)
	}
	return w.buf.Bytes(), refs, nil
}
