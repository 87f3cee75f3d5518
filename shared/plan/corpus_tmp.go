package plan

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Corpus is a TEMPORARY stand-in until the plan part lands.
type Corpus struct {
	Texts   []string
	Records []map[string]any
}

// ReadCorpus is a TEMPORARY stand-in until the plan part lands.
func ReadCorpus(r io.Reader, name string, maxBytes int64) (*Corpus, error) {
	lr := &io.LimitedReader{R: r, N: maxBytes + 1}
	if maxBytes <= 0 {
		lr.N = 1 << 62
	}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	c := &Corpus{}
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			c.Texts = append(c.Texts, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if maxBytes > 0 && lr.N <= 0 {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, maxBytes)
	}
	if len(c.Texts) == 0 {
		return nil, fmt.Errorf("read %s: no texts", name)
	}
	return c, nil
}
