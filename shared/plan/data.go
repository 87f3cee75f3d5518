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
)

// MaxDataFileSize bounds the texts file read by Texts: the whole corpus is
// held in memory by every shard.
const MaxDataFileSize = 64 << 20

// TemplateData is what a body or request template sees: {{.Text}} is the
// text and {{.Index}} its position in the corpus.
type TemplateData struct {
	Text  string
	Index int
}

// SampleText is the text templates are executed against during validation.
const SampleText = `a "sample" text`

// Texts returns the corpus: the inline texts, or the lines of the data file
// (Data.Path, as resolved by LoadFile, else Data.File). A file whose every
// non-empty line starts with '{' is read as JSONL, taking each object's
// "text" field; otherwise each non-empty line is one text.
func (p *Plan) Texts() ([]string, error) {
	if len(p.Data.Texts) > 0 {
		return append([]string(nil), p.Data.Texts...), nil
	}
	path := p.Data.Path
	if path == "" {
		path = p.Data.File
	}
	if path == "" {
		return nil, errors.New("read texts: plan has neither data.texts nor data.file")
	}
	return readTexts(path)
}

func readTexts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read texts: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDataFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read texts %s: %w", path, err)
	}
	if len(data) > MaxDataFileSize {
		return nil, fmt.Errorf("read texts %s: file larger than %d MiB", path, MaxDataFileSize>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	type line struct {
		no   int
		text string
	}
	var lines []line
	jsonl := true
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, MaxDataFileSize+1)
	for no := 1; sc.Scan(); no++ {
		s := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(s) == "" {
			continue
		}
		jsonl = jsonl && strings.HasPrefix(strings.TrimSpace(s), "{")
		lines = append(lines, line{no, s})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read texts %s: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("read texts %s: no texts", path)
	}
	texts := make([]string, len(lines))
	for i, l := range lines {
		if !jsonl {
			texts[i] = l.text
			continue
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal([]byte(l.text), &rec); err != nil {
			return nil, fmt.Errorf("read texts %s:%d: invalid JSONL line: %w", path, l.no, err)
		}
		if rec.Text == nil || *rec.Text == "" {
			return nil, fmt.Errorf(`read texts %s:%d: JSONL object needs a non-empty string field "text"`, path, l.no)
		}
		texts[i] = *rec.Text
	}
	return texts, nil
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

// renderSample renders a template against SampleText within the package's
// bounds, as validation does.
func renderSample(text string) ([]byte, error) {
	t, err := parseTemplate(text)
	if err != nil {
		return nil, err
	}
	w := &boundedWriter{max: MaxRenderedBody}
	if err := t.Execute(w, TemplateData{Text: SampleText}); err != nil {
		return nil, fmt.Errorf("template fails on a sample text: %w", err)
	}
	return w.buf.Bytes(), nil
}
