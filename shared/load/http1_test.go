package load

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is a TCP server on 127.0.0.1 whose connections each run a
// script, so that a test can answer with exact bytes, misbehave or stall.
type scripted struct {
	addr  string
	conns atomic.Int64 // connections accepted
	reqs  atomic.Int64 // requests read in full
}

// startScripted serves every accepted connection with serve, which gets the
// connection's number (0, 1, …); the connection is closed when serve returns.
func startScripted(t *testing.T, serve func(s *scripted, n int, c net.Conn, br *bufio.Reader)) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &scripted{addr: ln.Addr().String()}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1) - 1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(s, n, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// readRequest reads one whole request as a real server would, so that a
// malformed request from the client breaks the script.
func (s *scripted) readRequest(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return false
	}
	s.reqs.Add(1)
	return true
}

// answering answers every request on a connection with resp, and closes the
// connection after the first answer if closeAfter.
func answering(resp string, closeAfter bool) func(*scripted, int, net.Conn, *bufio.Reader) {
	return func(s *scripted, _ int, c net.Conn, br *bufio.Reader) {
		for s.readRequest(br) {
			if _, err := io.WriteString(c, resp); err != nil || closeAfter {
				return
			}
		}
	}
}

// newTestConn returns an HTTP/1.1 client conn for POST (or method) to addr.
func newTestConn(t *testing.T, addr, method string, expect []int) *http1Conn {
	t.Helper()
	var bodies [][]byte
	if method == "POST" {
		bodies = [][]byte{[]byte(`{"text":"the striker scored"}`)}
	}
	h, err := newHTTP1(&url.URL{Scheme: "http", Host: addr, Path: "/v1/predict"}, method, nil, bodies, expect)
	if err != nil {
		t.Fatalf("newHTTP1: %v", err)
	}
	c := h.newConn().(*http1Conn)
	t.Cleanup(c.closeConn)
	return c
}

func soon() time.Time { return time.Now().Add(5 * time.Second) }

func TestHTTP1Responses(t *testing.T) {
	t.Parallel()
	bigHeader := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 17<<10) + "\r\nContent-Length: 0\r\n\r\n"
	tests := []struct {
		name       string
		method     string // default POST
		expect     []int
		resp       string
		closeAfter bool // the server closes after its answer
		outcome    string
		ok         bool
		keep       bool  // the connection stays open for the next request
		recv       int64 // bytes received; 0 means len(resp)
	}{
		{name: "content-length body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			outcome: "http:200", ok: true, keep: true},
		{name: "chunked body with extensions and trailers",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6 ; name=\"v\"\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n",
			outcome: "http:200", ok: true, keep: true},
		{name: "chunked wins over content-length",
			resp:    "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			outcome: "http:200", ok: true, keep: true},
		{name: "header names are case-insensitive", resp: "HTTP/1.1 200 OK\r\ncontent-LENGTH:   2  \r\n\r\nok",
			outcome: "http:200", ok: true, keep: true},
		{name: "connection close", resp: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			closeAfter: true, outcome: "http:200", ok: true, keep: false},
		{name: "HTTP/1.0 without length reads to EOF", resp: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body runs until the connection closes",
			closeAfter: true, outcome: "http:200", ok: true, keep: false},
		{name: "HTTP/1.0 keep-alive with length", resp: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
			outcome: "http:200", ok: true, keep: true},
		{name: "100 continue then 200", resp: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			outcome: "http:200", ok: true, keep: true},
		{name: "204 has no body whatever its headers say", resp: "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
			outcome: "http:204", ok: true, keep: true},
		{name: "304 has no body", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
			outcome: "http:304", ok: false, keep: true},
		{name: "HEAD has no body", method: "HEAD", resp: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
			outcome: "http:200", ok: true, keep: true},
		{name: "GET", method: "GET", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			outcome: "http:200", ok: true, keep: true},
		{name: "503 is an error by default", resp: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
			outcome: "http:503", ok: false, keep: true},
		{name: "expect 404 makes 404 ok", expect: []int{404}, resp: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
			outcome: "http:404", ok: true, keep: true},
		{name: "expect 404 makes 200 an error", expect: []int{404}, resp: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			outcome: "http:200", ok: false, keep: true},
		{name: "malformed status code", resp: "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
			outcome: outcomeProtocol, recv: int64(len("HTTP/1.1 2x0 OK\r\n"))},
		{name: "not HTTP at all", resp: "SSH-2.0-OpenSSH_9.6\r\n",
			outcome: outcomeProtocol},
		{name: "HTTP/2 status line", resp: "HTTP/2 200\r\n\r\n",
			outcome: outcomeProtocol, recv: int64(len("HTTP/2 200\r\n"))},
		{name: "status 600", resp: "HTTP/1.1 600 Odd\r\n\r\n",
			outcome: outcomeProtocol, recv: int64(len("HTTP/1.1 600 Odd\r\n"))},
		{name: "header without colon", resp: "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
			outcome: outcomeProtocol, recv: int64(len("HTTP/1.1 200 OK\r\nno colon here\r\n"))},
		{name: "negative content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
			outcome: outcomeProtocol, recv: int64(len("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n"))},
		{name: "bad chunk size", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
			outcome: outcomeProtocol},
		{name: "chunk size that overflows", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n",
			outcome: outcomeProtocol},
		{name: "header line longer than the buffer", resp: bigHeader,
			outcome: outcomeProtocol, recv: int64(len("HTTP/1.1 200 OK\r\n") + 16<<10)},
		{name: "truncated body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
			closeAfter: true, outcome: outcomeReset},
		{name: "truncated headers", resp: "HTTP/1.1 200 OK\r\nContent-Len",
			closeAfter: true, outcome: outcomeReset},
		{name: "truncated chunked body", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
			closeAfter: true, outcome: outcomeReset},
		{name: "chunked body without its last chunk", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
			closeAfter: true, outcome: outcomeReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startScripted(t, answering(tt.resp, tt.closeAfter))
			method := tt.method
			if method == "" {
				method = "POST"
			}
			c := newTestConn(t, srv.addr, method, tt.expect)
			wantRecv := tt.recv
			if wantRecv == 0 {
				wantRecv = int64(len(tt.resp))
			}
			// A kept connection must be framed right: the second request
			// on it gets the same answer, and no new connection is opened.
			rounds := 1
			if tt.keep {
				rounds = 2
			}
			for round := range rounds {
				r := c.do(0, soon())
				if r.outcome != tt.outcome || r.ok != tt.ok {
					t.Fatalf("round %d: outcome %q ok %v (err %v), want %q ok %v", round, r.outcome, r.ok, r.err, tt.outcome, tt.ok)
				}
				if want := int64(len(c.h.reqs[0])); r.sent != want {
					t.Errorf("round %d: sent %d bytes, want %d", round, r.sent, want)
				}
				if r.recv != wantRecv {
					t.Errorf("round %d: received %d bytes, want %d", round, r.recv, wantRecv)
				}
				if isErr := strings.HasPrefix(tt.outcome, "error:"); isErr != (r.err != nil) {
					t.Errorf("round %d: err = %v for outcome %q", round, r.err, r.outcome)
				}
				if open := c.c != nil; open != tt.keep {
					t.Errorf("round %d: connection open %v, want %v", round, open, tt.keep)
				}
			}
			if got := srv.conns.Load(); got != 1 {
				t.Errorf("server saw %d connections, want 1", got)
			}
		})
	}
}

// TestHTTP1Reconnect covers the connection's life: a stale keep-alive
// connection is retried once, anything else is not.
func TestHTTP1Reconnect(t *testing.T) {
	t.Parallel()
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name string
		// serve scripts connection n; closed signals that the first
		// connection is gone, so the client sends on a dead one.
		serve     func(s *scripted, n int, c net.Conn, br *bufio.Reader, closed chan<- struct{})
		deadline  time.Duration
		wantFirst string
		wantNext  string
		wantConns int64
		wantReqs  int64
	}{
		{
			name: "idle keep-alive connection closed by the server is retried",
			serve: func(s *scripted, n int, c net.Conn, br *bufio.Reader, closed chan<- struct{}) {
				if n == 0 {
					if s.readRequest(br) {
						_, _ = io.WriteString(c, ok)
					}
					c.Close()
					close(closed)
					return
				}
				answering(ok, false)(s, n, c, br)
			},
			deadline: 5 * time.Second, wantFirst: "http:200", wantNext: "http:200", wantConns: 2, wantReqs: 2,
		},
		{
			name: "timeout on a reused connection is not retried",
			serve: func(s *scripted, n int, c net.Conn, br *bufio.Reader, closed chan<- struct{}) {
				if s.readRequest(br) {
					_, _ = io.WriteString(c, ok)
				}
				close(closed)
				_, _ = io.Copy(io.Discard, br) // never answer again
			},
			deadline: 200 * time.Millisecond, wantFirst: "http:200", wantNext: outcomeTimeout, wantConns: 1, wantReqs: 1,
		},
		{
			name: "a reused connection that answers half a response is not retried",
			serve: func(s *scripted, n int, c net.Conn, br *bufio.Reader, closed chan<- struct{}) {
				if s.readRequest(br) {
					_, _ = io.WriteString(c, ok)
				}
				close(closed)
				if s.readRequest(br) {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
				}
			},
			deadline: 5 * time.Second, wantFirst: "http:200", wantNext: outcomeReset, wantConns: 1, wantReqs: 2,
		},
		{
			name: "a fresh connection closed before the answer is not retried",
			serve: func(s *scripted, n int, c net.Conn, br *bufio.Reader, closed chan<- struct{}) {
				s.readRequest(br)
				if n == 0 {
					close(closed)
				}
			},
			deadline: 5 * time.Second, wantFirst: outcomeReset, wantNext: outcomeReset, wantConns: 2, wantReqs: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			closed := make(chan struct{})
			srv := startScripted(t, func(s *scripted, n int, c net.Conn, br *bufio.Reader) { tt.serve(s, n, c, br, closed) })
			c := newTestConn(t, srv.addr, "POST", nil)
			if r := c.do(0, soon()); r.outcome != tt.wantFirst {
				t.Fatalf("first request: outcome %q (err %v), want %q", r.outcome, r.err, tt.wantFirst)
			}
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the server script did not get to its point")
			}
			time.Sleep(20 * time.Millisecond) // let the FIN reach the client
			begin := time.Now()
			r := c.do(0, time.Now().Add(tt.deadline))
			if r.outcome != tt.wantNext {
				t.Fatalf("second request: outcome %q (err %v), want %q", r.outcome, r.err, tt.wantNext)
			}
			if took := time.Since(begin); took > tt.deadline+time.Second {
				t.Errorf("second request took %v with a deadline of %v", took, tt.deadline)
			}
			if r.outcome == "http:200" && (r.recv != int64(len(ok)) || r.sent != int64(len(c.h.reqs[0]))) {
				t.Errorf("retried request: sent %d received %d, want %d and %d", r.sent, r.recv, len(c.h.reqs[0]), len(ok))
			}
			if got := srv.conns.Load(); got != tt.wantConns {
				t.Errorf("server saw %d connections, want %d", got, tt.wantConns)
			}
			if got := srv.reqs.Load(); got != tt.wantReqs {
				t.Errorf("server read %d requests, want %d", got, tt.wantReqs)
			}
		})
	}
}

func TestHTTP1Failures(t *testing.T) {
	t.Parallel()
	deadAddr := func(t *testing.T) string { // a port nobody listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	silentAddr := func(t *testing.T) string { // reads the request, never answers
		return startScripted(t, func(s *scripted, _ int, _ net.Conn, br *bufio.Reader) {
			s.readRequest(br)
			_, _ = io.Copy(io.Discard, br)
		}).addr
	}
	tests := []struct {
		name     string
		addr     func(t *testing.T) string
		deadline time.Duration
		outcome  string
		sent     bool // the request was written
	}{
		{"connect refused", deadAddr, time.Second, outcomeConnect, false},
		{"no answer before the deadline", silentAddr, 150 * time.Millisecond, outcomeTimeout, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestConn(t, tt.addr(t), "POST", nil)
			begin := time.Now()
			r := c.do(0, time.Now().Add(tt.deadline))
			took := time.Since(begin)
			if r.outcome != tt.outcome || r.ok || r.err == nil {
				t.Fatalf("outcome %q ok %v err %v, want %q, not ok, an error", r.outcome, r.ok, r.err, tt.outcome)
			}
			if sent := r.sent > 0; sent != tt.sent || r.recv != 0 {
				t.Errorf("sent %d received %d bytes, want sent %v and nothing received", r.sent, r.recv, tt.sent)
			}
			if took > tt.deadline+time.Second {
				t.Errorf("took %v with a deadline of %v", took, tt.deadline)
			}
			if c.c != nil {
				t.Error("the failed connection was kept")
			}
		})
	}
}

func TestNewHTTP1Serialization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		url      string
		method   string
		headers  map[string]string
		bodies   []string
		wantAddr string
		want     []string // one serialized request per body
	}{
		{
			name:   "POST with headers",
			url:    "http://127.0.0.1:8501/v1/predict?v=2",
			method: "POST",
			headers: map[string]string{
				"X-Api-Key": "k1",
				"Accept":    "application/json",
			},
			bodies:   []string{`{"text":"a"}`, `{"text":"bb"}`},
			wantAddr: "127.0.0.1:8501",
			want: []string{
				"POST /v1/predict?v=2 HTTP/1.1\r\nHost: 127.0.0.1:8501\r\nUser-Agent: cicada\r\nContent-Type: application/json\r\n" +
					"Accept: application/json\r\nX-Api-Key: k1\r\nContent-Length: 12\r\n\r\n{\"text\":\"a\"}",
				"POST /v1/predict?v=2 HTTP/1.1\r\nHost: 127.0.0.1:8501\r\nUser-Agent: cicada\r\nContent-Type: application/json\r\n" +
					"Accept: application/json\r\nX-Api-Key: k1\r\nContent-Length: 13\r\n\r\n{\"text\":\"bb\"}",
			},
		},
		{
			name:     "GET without body, default port and path",
			url:      "http://example.test",
			method:   "GET",
			wantAddr: "example.test:80",
			want:     []string{"GET / HTTP/1.1\r\nHost: example.test\r\nUser-Agent: cicada\r\n\r\n"},
		},
		{
			name:     "own User-Agent and Content-Type replace the defaults",
			url:      "http://[::1]:9/p",
			method:   "PUT",
			headers:  map[string]string{"user-agent": "mine", "Content-Type": "text/plain"},
			bodies:   []string{"hi"},
			wantAddr: "[::1]:9",
			want:     []string{"PUT /p HTTP/1.1\r\nHost: [::1]:9\r\nContent-Type: text/plain\r\nuser-agent: mine\r\nContent-Length: 2\r\n\r\nhi"},
		},
		{
			name:     "empty POST body still has a length",
			url:      "http://h:1/",
			method:   "POST",
			bodies:   []string{""},
			wantAddr: "h:1",
			want:     []string{"POST / HTTP/1.1\r\nHost: h:1\r\nUser-Agent: cicada\r\nContent-Length: 0\r\n\r\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			var bodies [][]byte
			for _, b := range tt.bodies {
				bodies = append(bodies, []byte(b))
			}
			h, err := newHTTP1(u, tt.method, tt.headers, bodies, nil)
			if err != nil {
				t.Fatalf("newHTTP1: %v", err)
			}
			if h.addr != tt.wantAddr {
				t.Errorf("addr %q, want %q", h.addr, tt.wantAddr)
			}
			if len(h.reqs) != len(tt.want) {
				t.Fatalf("%d requests, want %d", len(h.reqs), len(tt.want))
			}
			for i, want := range tt.want {
				if got := string(h.reqs[i]); got != want {
					t.Errorf("request %d:\n got %q\nwant %q", i, got, want)
				}
				// What cicada sends must be what a real server reads.
				req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(h.reqs[i])))
				if err != nil {
					t.Errorf("request %d does not parse: %v", i, err)
					continue
				}
				body, _ := io.ReadAll(req.Body)
				if req.Method != tt.method || (len(tt.bodies) > i && string(body) != tt.bodies[i]) {
					t.Errorf("request %d parses as %s with body %q", i, req.Method, body)
				}
			}
		})
	}
}

func TestNewHTTP1RejectsHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"Content-Length", map[string]string{"content-length": "5"}, "set by cicada"},
		{"Host", map[string]string{"Host": "evil.test"}, "set by cicada"},
		{"Connection", map[string]string{"Connection": "close"}, "set by cicada"},
		{"Transfer-Encoding", map[string]string{"Transfer-Encoding": "chunked"}, "set by cicada"},
		{"CRLF in a value", map[string]string{"X-A": "v\r\nX-Injected: 1"}, "line break"},
		{"LF in a value", map[string]string{"X-A": "v\nX-Injected: 1"}, "line break"},
		{"CR in a name", map[string]string{"X-A\rX-B": "v"}, "line break"},
		{"colon in a name", map[string]string{"X-A: b": "v"}, "invalid header name"},
		{"empty name", map[string]string{"": "v"}, "invalid header name"},
		{"NUL in a value", map[string]string{"X-A": "v\x00"}, "control character"},
	}
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newHTTP1(u, "POST", tt.headers, [][]byte{[]byte("{}")}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newHTTP1(%q) error = %v, want one containing %q", tt.headers, err, tt.want)
			}
		})
	}
	// A tab is whitespace, allowed inside a value.
	if _, err := newHTTP1(u, "POST", map[string]string{"X-A": "a\tb"}, nil, nil); err != nil {
		t.Errorf("a tab in a value: %v", err)
	}
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expect  []int
		code    int
		wantKey string
		wantOK  bool
	}{
		{"200 by default", nil, 200, "http:200", true},
		{"299 by default", nil, 299, "http:299", true},
		{"199 by default", nil, 199, "http:199", false},
		{"301 by default", nil, 301, "http:301", false},
		{"503 by default", nil, 503, "http:503", false},
		{"expected 404", []int{404, 503}, 404, "http:404", true},
		{"expected 503", []int{404, 503}, 503, "http:503", true},
		{"200 not expected", []int{404, 503}, 200, "http:200", false},
		{"out-of-range expectation ignored", []int{99, 600, 700}, 200, "http:200", false},
		{"code below 100", nil, 99, outcomeProtocol, false},
		{"code 600", nil, 600, outcomeProtocol, false},
		{"negative code", nil, -1, outcomeProtocol, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStatusTable(tt.expect)
			if got := st.key(tt.code); got != tt.wantKey {
				t.Errorf("key(%d) = %q, want %q", tt.code, got, tt.wantKey)
			}
			if got := st.ok(tt.code); got != tt.wantOK {
				t.Errorf("ok(%d) = %v, want %v", tt.code, got, tt.wantOK)
			}
		})
	}
}

// FuzzReadResponse feeds arbitrary bytes to the response parser: it must
// return, never panic, count exactly the bytes it consumed, and classify
// every failure as a protocol error or a cut-off answer.
func FuzzReadResponse(f *testing.F) {
	seeds := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nto the end",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7ffffffffffffffe\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n",
		"HTTP/1.1 2x0\r\n\r\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		src := bytes.NewReader(data)
		c := &http1Conn{h: &http1{plainHTTP: plainHTTP{head: head, outcome: newStatusTable(nil)}}, br: bufio.NewReaderSize(src, 16<<10)}
		type out struct {
			code int
			n    int64
			keep bool
			err  error
		}
		done := make(chan out, 1)
		go func() {
			var o out
			o.code, o.n, o.keep, o.err = c.readResponse()
			done <- o
		}()
		var o out
		select {
		case o = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("readResponse did not return on %q", data)
		}
		if consumed := int64(len(data) - src.Len() - c.br.Buffered()); o.n != consumed {
			t.Errorf("counted %d bytes, consumed %d", o.n, consumed)
		}
		if o.err == nil {
			if o.code < 200 || o.code > 599 {
				t.Errorf("final status %d outside 200..599", o.code)
			}
			return
		}
		if o.code != 0 || o.keep {
			t.Errorf("failure %v with code %d keep %v", o.err, o.code, o.keep)
		}
		switch k := classifyIO(o.err); k {
		case outcomeProtocol, outcomeReset:
		default:
			t.Errorf("error %v is %s, want %s or %s", o.err, k, outcomeProtocol, outcomeReset)
		}
	})
}
