package report

import (
	"bytes"
	"fmt"
)

// Names of a run's report files, the same in runs/<id>/, out/<id>/ and the
// directory of `cicada run --out`.
const (
	FileJSON      = "report.json"
	FileSummary   = "summary.txt"
	FileHTML      = "report.html"
	FileCSV       = "report.csv"
	FileJUnit     = "junit.xml"
	FileHistogram = "histogram.hdr"
)

// FileNames lists every file Files returns, in a fixed order.
var FileNames = []string{FileJSON, FileSummary, FileHTML, FileCSV, FileJUnit, FileHistogram}

// Files renders every report file of rep, keyed by file name (FileNames).
// planJSON is the run's plan as JSON, which the HTML report shows; success
// is that plan's rule (plan.Target.Success), which tells the outcomes that
// are a success from the error classes. The same input gives byte-identical
// files.
func Files(rep *Report, planJSON []byte, success func(outcome string) bool) (map[string][]byte, error) {
	if rep == nil {
		return nil, fmt.Errorf("report files: no report")
	}
	writers := []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{FileJSON, func(b *bytes.Buffer) error { return rep.WriteJSON(b) }},
		{FileSummary, func(b *bytes.Buffer) error { _, err := b.WriteString(FormatSummary(rep)); return err }},
		{FileHTML, func(b *bytes.Buffer) error { return WriteHTML(b, rep, planJSON, success, HTMLOptions{}) }},
		{FileCSV, func(b *bytes.Buffer) error { return WriteCSV(b, rep, success) }},
		{FileJUnit, func(b *bytes.Buffer) error { return WriteJUnit(b, rep) }},
		{FileHistogram, func(b *bytes.Buffer) error { return WriteHDR(b, rep) }},
	}
	out := make(map[string][]byte, len(writers))
	for _, w := range writers {
		var buf bytes.Buffer
		if err := w.write(&buf); err != nil {
			return nil, fmt.Errorf("report file %s: %w", w.name, err)
		}
		out[w.name] = buf.Bytes()
	}
	return out, nil
}
