package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cicadaload/cicada/shared/policy"
)

var errEOF = io.EOF

// errProtocol marks a response cicada could not parse.
var errProtocol = errors.New("malformed HTTP response")

// http1 is a lean HTTP/1.1 keep-alive client for http:// targets, and over
// crypto/tls for https:// targets that speak HTTP/1.1 only (see newHTTPS).
// Every request is serialized once, before the run, so sending one is a
// single write of ready bytes: no header building, no allocation and, unlike
// net/http, one TCP segment per request. Each conn is driven by one goroutine
// at a time, so the wait for a free connection is visible to the engine and
// counted as latency rather than hidden inside a client pool.
type http1 struct {
	plainHTTP
	dialer net.Dialer
	raw    bool
	tls    *tls.Config // https: each connection's handshake; nil for http://

	// What serialize needs again for each new credential (auth.go).
	method string
	prefix []byte // request line and headers, up to the body's framing
	bodies [][]byte
}

// plainHTTP is a plain http:// target with its requests serialized ahead:
// what http1's conns and the event loop both send.
type plainHTTP struct {
	addr    string        // host:port
	guard   *policy.Guard // checks every dial; nil checks nothing
	reqs    [][]byte      // one fully serialized request per data text
	head    bool          // HEAD responses carry no body
	outcome *statusTable
	check   *checker // nil: bodies are counted and skipped, never kept
	// authReqs, once a credential is attached, replaces reqs: the same
	// requests carrying its current value, swapped whole for each new one
	// (see requests).
	authReqs atomic.Pointer[[][]byte]
}

// newHTTP1 serializes one request per body.
func newHTTP1(u *url.URL, method string, headers map[string]string, bodies [][]byte, expect []int) (*http1, error) {
	host := u.Host
	addr := host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.RequestURI()
	var hdr bytes.Buffer
	fmt.Fprintf(&hdr, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	has := func(name string) bool {
		for k := range headers {
			if strings.EqualFold(k, name) {
				return true
			}
		}
		return false
	}
	if !has("User-Agent") {
		hdr.WriteString("User-Agent: cicada\r\n")
	}
	if !has("Content-Type") && len(bodies) > 0 && len(bodies[0]) > 0 {
		hdr.WriteString("Content-Type: application/json\r\n")
	}
	for _, k := range sortedKeys(headers) {
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Host") || strings.EqualFold(k, "Connection") ||
			strings.EqualFold(k, "Transfer-Encoding") { // cicada frames the body with Content-Length
			return nil, fmt.Errorf("header %q is set by cicada", k)
		}
		if strings.ContainsAny(k+headers[k], "\r\n") {
			return nil, fmt.Errorf("header %q: contains a line break", k)
		}
		if !validHeaderName(k) {
			return nil, fmt.Errorf("header %q: invalid header name", k)
		}
		if strings.ContainsFunc(headers[k], func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return nil, fmt.Errorf("header %q: value contains a control character", k)
		}
		fmt.Fprintf(&hdr, "%s: %s\r\n", k, headers[k])
	}
	h := &http1{plainHTTP: plainHTTP{addr: addr, head: method == "HEAD", outcome: newStatusTable(expect)}, raw: true, method: method, prefix: hdr.Bytes(), bodies: bodies}
	h.dialer.KeepAlive = 30 * time.Second
	if len(h.bodies) == 0 {
		h.bodies = [][]byte{nil}
	}
	h.reqs = h.serialize("")
	return h, nil
}

// serialize returns one request per body: the prefix, then extra (whole
// header lines), then the body's framing and the body.
func (h *http1) serialize(extra string) [][]byte {
	reqs := make([][]byte, 0, len(h.bodies))
	for _, b := range h.bodies {
		req := make([]byte, 0, len(h.prefix)+len(extra)+len(b)+32)
		req = append(req, h.prefix...)
		req = append(req, extra...)
		if len(b) > 0 || h.method == "POST" || h.method == "PUT" || h.method == "PATCH" {
			req = append(req, "Content-Length: "...)
			req = strconv.AppendInt(req, int64(len(b)), 10)
			req = append(req, "\r\n"...)
		}
		req = append(req, "\r\n"...)
		req = append(req, b...)
		reqs = append(reqs, req)
	}
	return reqs
}

func (h *http1) shared() bool { return false }
func (h *http1) close() error { return nil }

// warm has nothing shared to wait for: each conn dials its own.
func (h *http1) warm(time.Time) {}

// eventLoop offers plain http:// to the event loop, whose raw sockets do
// not speak TLS.
func (h *http1) eventLoop() *plainHTTP {
	if h.tls != nil {
		return nil
	}
	return &h.plainHTTP
}

func (h *http1) newConn() conn {
	return &http1Conn{h: h}
}

type http1Conn struct {
	h      *http1
	c      net.Conn
	br     *bufio.Reader
	reused bool // at least one response was read on c
	// With a check, the body of the last response, up to maxCheckBody;
	// over says it was larger (and not kept).
	body []byte
	over bool
}

func (c *http1Conn) closeConn() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// warm dials ahead of the start. The connection then sits idle until its
// first request, like a kept-alive one, so a close by the server before it
// answers earns the same one retry.
func (c *http1Conn) warm(deadline time.Time) {
	if c.dial(deadline) == nil {
		c.reused = true
	}
}

func (c *http1Conn) dial(deadline time.Time) error {
	d := c.h.dialer
	d.Deadline = deadline
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	nc, err := c.h.guard.Dial(ctx, &d, "tcp", c.h.addr)
	cancel()
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if c.h.raw {
		nc = wrapRaw(nc)
	}
	if c.h.tls != nil {
		tc := tls.Client(nc, c.h.tls)
		if err := tc.SetDeadline(deadline); err != nil {
			nc.Close()
			return err
		}
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	c.c = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	c.reused = false
	return nil
}

// do sends request i and reads its response, reconnecting when needed.
func (c *http1Conn) do(i int, deadline time.Time) result {
	reqs := c.h.requests()
	req := reqs[i%len(reqs)]
	for attempt := 0; ; attempt++ {
		if c.c == nil {
			if err := c.dial(deadline); err != nil {
				return result{outcome: classifyDial(err), err: err}
			}
		}
		if err := c.c.SetDeadline(deadline); err != nil {
			c.closeConn()
			return result{outcome: outcomeIO, err: err}
		}
		reused := c.reused
		if _, err := c.c.Write(req); err != nil {
			c.closeConn()
			if reused && attempt == 0 {
				continue // the server closed the idle connection: retry once on a new one
			}
			return result{outcome: classifyIO(err), err: err, sent: int64(len(req))}
		}
		code, n, keep, err := c.readResponse()
		if err != nil {
			c.closeConn()
			if reused && attempt == 0 && n == 0 && !isTimeout(err) {
				continue // stale keep-alive connection, nothing answered: retry once
			}
			return result{outcome: classifyIO(err), err: err, sent: int64(len(req)), recv: n}
		}
		c.reused = true
		if !keep {
			c.closeConn()
		}
		r := result{outcome: c.h.outcome.key(code), ok: c.h.outcome.ok(code), sent: int64(len(req)), recv: n}
		if ch := c.h.check; ch != nil && r.ok {
			ch.apply(&r, ch.checkJSON(i, c.body, c.over))
			if cap(c.body) > retainCheckBody {
				c.body = nil
			}
		}
		return r
	}
}

// readResponse reads one response and discards its body, or with a check
// keeps it in c.body. It returns the status, the bytes read, and whether
// the connection can be reused.
func (c *http1Conn) readResponse() (code int, n int64, keep bool, err error) {
	br := c.br
	keepBody := c.h.check != nil
	c.body, c.over = c.body[:0], false
	for {
		line, err := br.ReadSlice('\n')
		n += int64(len(line))
		if err != nil {
			return 0, n, false, noEOF(err, n)
		}
		var f framing
		if code, f.keep, err = parseStatusLine(line); err != nil {
			return 0, n, false, err
		}
		f.clen = -1
		for {
			h, err := br.ReadSlice('\n')
			n += int64(len(h))
			if err != nil {
				return 0, n, false, noEOF(err, n)
			}
			if len(h) <= 2 {
				break // blank line ends the headers
			}
			if err := f.field(h); err != nil {
				return 0, n, false, err
			}
		}
		clen, chunked := f.clen, f.chunked
		keep = f.keep
		if code >= 100 && code < 200 {
			continue // interim response (100 Continue): the real one follows
		}
		switch {
		case c.h.head || code == 204 || code == 304:
		case chunked:
			var sink *http1Conn
			if keepBody {
				sink = c
			}
			m, err := readChunked(br, sink)
			n += m
			if err != nil {
				return 0, n, false, err
			}
		case clen >= 0:
			m, err := c.readBody(br, clen, keepBody)
			n += m
			if err != nil {
				return 0, n, false, noEOF(err, n)
			}
		default: // body runs to the end of the connection
			var w io.Writer = io.Discard
			if keepBody {
				w = (*bodyWriter)(c)
			}
			m, err := io.Copy(w, br)
			n += m
			if err != nil {
				return 0, n, false, err
			}
			keep = false
		}
		return code, n, keep, nil
	}
}

// readBody reads a body of clen bytes, keeping it in c.body when keep is
// set and it fits maxCheckBody.
func (c *http1Conn) readBody(br *bufio.Reader, clen int64, keep bool) (int64, error) {
	if !keep || c.over || clen > maxCheckBody-int64(len(c.body)) {
		c.over = keep
		m, err := br.Discard(int(clen))
		return int64(m), err
	}
	start := len(c.body)
	c.body = slices.Grow(c.body, int(clen))[:start+int(clen)]
	m, err := io.ReadFull(br, c.body[start:])
	c.body = c.body[:start+m]
	return int64(m), err
}

// bodyWriter keeps what is written in its conn's body, up to maxCheckBody.
type bodyWriter http1Conn

func (w *bodyWriter) Write(p []byte) (int, error) {
	if len(w.body)+len(p) > maxCheckBody {
		w.over = true
	} else if !w.over {
		w.body = append(w.body, p...)
	}
	return len(p), nil
}

// readChunked reads a chunked body, keeping it in c.body when c is not
// nil, discarding it otherwise.
func readChunked(br *bufio.Reader, c *http1Conn) (int64, error) {
	var n int64
	for {
		line, err := br.ReadSlice('\n')
		n += int64(len(line))
		if err != nil {
			return n, noEOF(err, n)
		}
		// Cut the extension before trimming: "5 ;ext" is allowed (BWS).
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimSpace(line)
		size, err := strconv.ParseInt(string(line), 16, 64)
		if err != nil || size < 0 || size > math.MaxInt-2 { // size+2 must not overflow
			return n, errProtocol
		}
		if size == 0 { // trailers until a blank line
			for {
				t, err := br.ReadSlice('\n')
				n += int64(len(t))
				if err != nil {
					return n, noEOF(err, n)
				}
				if len(t) <= 2 {
					return n, nil
				}
			}
		}
		var m int
		if c != nil {
			var k int64
			k, err = c.readBody(br, size, true)
			m = int(k)
			if err == nil {
				var d int
				d, err = br.Discard(2) // its CRLF
				m += d
			}
		} else {
			m, err = br.Discard(int(size) + 2) // chunk and its CRLF
		}
		n += int64(m)
		if err != nil {
			return n, noEOF(err, n)
		}
	}
}

// noEOF turns an EOF in the middle of a response into ErrUnexpectedEOF.
func noEOF(err error, n int64) error {
	if err == io.EOF && n > 0 {
		return io.ErrUnexpectedEOF
	}
	if err == bufio.ErrBufferFull {
		return errProtocol // a header line longer than the buffer
	}
	return err
}

// validHeaderName reports whether k is an RFC 9110 token, so that a name
// such as "X-A: b" cannot smuggle text into the request.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func asciiContainsFold(b []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}
