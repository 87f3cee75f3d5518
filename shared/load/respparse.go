package load

import (
	"bytes"
	"math"
	"strconv"
)

// maxHead bounds a response's status line and headers.
const maxHead = 16 << 10

// respParser reads one HTTP/1.1 response incrementally from whatever bytes
// have arrived, keeping only the headers: the body is counted and skipped,
// or kept up to maxCheckBody when the target has a check (keepBody).
// The event loop uses it because it never blocks waiting for the rest of a
// response.
type respParser struct {
	head     bool // the request was HEAD: no body follows
	keepBody bool
	body     []byte // with keepBody, the body so far
	over     bool   // with keepBody, the body is over maxCheckBody: not kept
	state    parseState
	hdr      []byte // status line and headers so far
	line     []byte // a chunk-size or trailer line so far
	rest     int64  // body or chunk bytes still to skip
	code     int
	keep     bool
}

type parseState uint8

const (
	stHead parseState = iota
	stBody
	stChunkSize
	stChunkData
	stChunkEnd
	stTrailer
	stUntilEOF
	stDone
)

func (p *respParser) reset(head, keepBody bool) {
	body := p.body[:0]
	if cap(body) > retainCheckBody {
		body = nil
	}
	*p = respParser{head: head, keepBody: keepBody, hdr: p.hdr[:0], line: p.line[:0], body: body}
}

// keepBytes adds b to the body when the target has a check.
func (p *respParser) keepBytes(b []byte) {
	switch {
	case !p.keepBody || p.over:
	case len(p.body)+len(b) > maxCheckBody:
		p.over, p.body = true, p.body[:0]
	default:
		p.body = append(p.body, b...)
	}
}

// feed consumes the start of b. It returns how many bytes belong to this
// response and whether the response is complete; bytes after a complete
// response are left unconsumed.
func (p *respParser) feed(b []byte) (used int, done bool, err error) {
	for used < len(b) && p.state != stDone {
		rest := b[used:]
		switch p.state {
		case stHead:
			// Append up to the end of the headers, looking across the
			// boundary of the previous read.
			from := max(len(p.hdr)-3, 0)
			p.hdr = append(p.hdr, rest...)
			end := bytes.Index(p.hdr[from:], []byte("\r\n\r\n"))
			if end < 0 {
				if len(p.hdr) > maxHead {
					return used, false, errProtocol
				}
				used += len(rest)
				continue
			}
			end += from + 4
			if end > maxHead { // the same verdict however the head was split
				return used, false, errProtocol
			}
			took := end - (len(p.hdr) - len(rest))
			p.hdr = p.hdr[:end]
			used += took
			if err := p.parseHead(); err != nil {
				return used, false, err
			}
		case stBody, stChunkData:
			k := min(int64(len(rest)), p.rest)
			p.keepBytes(rest[:k])
			p.rest -= k
			used += int(k)
			if p.rest == 0 {
				if p.state == stBody {
					p.state = stDone
				} else {
					p.state = stChunkEnd
				}
			}
		case stChunkEnd, stChunkSize, stTrailer:
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				p.line = append(p.line, rest...)
				used += len(rest)
				if len(p.line) > 4096 {
					return used, false, errProtocol
				}
				continue
			}
			p.line = append(p.line, rest[:i+1]...)
			used += i + 1
			if len(p.line) > 4096 { // as above, for a line read whole
				return used, false, errProtocol
			}
			if err := p.endLine(); err != nil {
				return used, false, err
			}
			p.line = p.line[:0]
		case stUntilEOF:
			p.keepBytes(rest)
			used += len(rest)
		}
	}
	return used, p.state == stDone, nil
}

// eof is called when the connection closes: it completes a response whose
// body runs to the end of the connection, and fails any other.
func (p *respParser) eof() (bool, error) {
	if p.state == stUntilEOF {
		p.state, p.keep = stDone, false
		return true, nil
	}
	return false, errEOF
}

// parseHead parses the status line and headers in p.hdr.
func (p *respParser) parseHead() error {
	h := p.hdr
	i := bytes.IndexByte(h, '\n')
	line := h[:i+1]
	code, keep, err := parseStatusLine(line)
	if err != nil {
		return err
	}
	f := framing{clen: -1, keep: keep}
	for h = h[i+1:]; len(h) > 2; {
		j := bytes.IndexByte(h, '\n')
		if err := f.field(h[:j+1]); err != nil {
			return err
		}
		h = h[j+1:]
	}
	clen, chunked, keep := f.clen, f.chunked, f.keep
	if code < 200 { // interim response: the real one follows
		p.hdr = p.hdr[:0]
		return nil
	}
	p.code, p.keep = code, keep
	switch {
	case p.head || code == 204 || code == 304:
		p.state = stDone
	case chunked:
		p.state = stChunkSize
	case clen == 0:
		p.state = stDone
	case clen > 0:
		p.state, p.rest = stBody, clen
	default:
		p.state, p.keep = stUntilEOF, false
	}
	return nil
}

// endLine handles a complete chunk-size, chunk-end or trailer line.
func (p *respParser) endLine() error {
	line := bytes.TrimSpace(p.line)
	switch p.state {
	case stChunkEnd:
		if len(line) != 0 {
			return errProtocol
		}
		p.state = stChunkSize
	case stChunkSize:
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = bytes.TrimSpace(line[:i])
		}
		size, err := strconv.ParseInt(string(line), 16, 64)
		if err != nil || size < 0 || size > math.MaxInt64-2 { // as readChunked
			return errProtocol
		}
		if size == 0 {
			p.state = stTrailer
		} else {
			p.state, p.rest = stChunkData, size
		}
	case stTrailer:
		if len(line) == 0 {
			p.state = stDone
		}
	}
	return nil
}

// parseStatusLine parses "HTTP/1.1 200 OK\r\n": the status, and whether
// the version keeps the connection alive by default (1.1 does, 1.0 not).
func parseStatusLine(line []byte) (code int, keep bool, err error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, errProtocol
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false, errProtocol
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return 0, false, errProtocol
	}
	return code, line[7] == '1', nil
}

// framing is what a response's headers say about its body and connection.
type framing struct {
	clen    int64 // -1 when absent
	chunked bool
	keep    bool
}

// field applies one header line to f.
func (f *framing) field(h []byte) error {
	colon := bytes.IndexByte(h, ':')
	if colon <= 0 {
		return errProtocol
	}
	name, val := h[:colon], bytes.TrimSpace(h[colon+1:])
	switch {
	case asciiEqualFold(name, "content-length"):
		v, err := strconv.ParseInt(string(val), 10, 64) // no allocation: the compiler elides it
		if err != nil || v < 0 {
			return errProtocol
		}
		f.clen = v
	case asciiEqualFold(name, "transfer-encoding"):
		f.chunked = asciiContainsFold(val, "chunked")
	case asciiEqualFold(name, "connection"):
		if asciiContainsFold(val, "close") {
			f.keep = false
		} else if asciiContainsFold(val, "keep-alive") {
			f.keep = true
		}
	}
	return nil
}
