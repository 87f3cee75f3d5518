package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cicadaload/cicada/shared/policy"
)

// httpStd drives https:// targets with net/http, which negotiates HTTP/2
// by ALPN where the target speaks it. It costs more CPU per request than
// http1 (see docs/engine.md), which is why plain http:// does not use it.
type httpStd struct {
	guard   *policy.Guard // checks every dial; nil checks nothing
	client  *http.Client
	url     string
	method  string
	headers http.Header
	bodies  [][]byte
	outcome *statusTable
	check   *checker // nil: bodies are counted and skipped, never kept
	// authHeaders, once a credential is attached, replaces headers (see
	// header).
	authHeaders atomic.Pointer[http.Header]
}

// newHTTPStd prepares the client; tlsConf is the plan's target.tls (see
// clientTLS), nil for the system's roots and the URL's host.
func newHTTPStd(url, method string, headers map[string]string, bodies [][]byte, expect []int, conns int, tlsConf *tls.Config) *httpStd {
	h := &httpStd{} // its guard is set before the first dial
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := h.guard.Dial(ctx, &d, network, addr)
			if err != nil {
				return nil, err
			}
			return wrapRaw(c), nil
		},
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		ForceAttemptHTTP2:   true,
		TLSClientConfig:     tlsConf,
	}
	// Redirects are answers, not instructions: following one could aim the
	// load at a host the operator never allowed.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	*h = httpStd{client: &http.Client{Transport: tr, CheckRedirect: noRedirect}, url: url, method: method, headers: http.Header{}, bodies: bodies, outcome: newStatusTable(expect)}
	for k, v := range headers {
		h.headers.Set(k, v)
	}
	if h.headers.Get("User-Agent") == "" {
		h.headers.Set("User-Agent", "cicada")
	}
	if len(bodies) > 0 && len(bodies[0]) > 0 && h.headers.Get("Content-Type") == "" {
		h.headers.Set("Content-Type", "application/json")
	}
	if len(h.bodies) == 0 {
		h.bodies = [][]byte{nil}
	}
	return h
}

func (h *httpStd) shared() bool { return true } // the Transport pools and multiplexes
func (h *httpStd) close() error {
	h.client.CloseIdleConnections()
	return nil
}
func (h *httpStd) newConn() conn { return stdConn{h} }

// warm opens nothing ahead: the Transport dials on the first requests.
func (h *httpStd) warm(time.Time) {}

func (h *httpStd) eventLoop() *plainHTTP { return nil }

// stdConn adapts the shared client to one goroutine's conn.
type stdConn struct{ h *httpStd }

func (c stdConn) closeConn() {}

func (c stdConn) warm(time.Time) {}

func (c stdConn) do(i int, deadline time.Time) result { return c.h.do(i, deadline) }

func (h *httpStd) do(i int, deadline time.Time) result {
	body := h.bodies[i%len(h.bodies)]
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// A *bytes.Reader lets net/http send headers and body in one write.
	req, err := http.NewRequestWithContext(ctx, h.method, h.url, bytes.NewReader(body))
	if err != nil {
		return result{outcome: outcomeIO, err: err}
	}
	req.Header = h.header()
	resp, err := h.client.Do(req)
	if err != nil {
		return result{outcome: classifyIO(err), err: err, sent: int64(len(body))}
	}
	ok := h.outcome.ok(resp.StatusCode)
	var kept []byte
	var n int64
	if h.check != nil && ok {
		kept, err = io.ReadAll(io.LimitReader(resp.Body, maxCheckBody+1))
		n = int64(len(kept))
	}
	if err == nil {
		var m int64
		m, err = io.Copy(io.Discard, resp.Body)
		n += m
	}
	resp.Body.Close()
	if err != nil {
		return result{outcome: classifyIO(err), err: err, sent: int64(len(body)), recv: n}
	}
	r := result{outcome: h.outcome.key(resp.StatusCode), ok: ok, sent: int64(len(body)), recv: n}
	if h.check != nil && ok {
		h.check.apply(&r, h.check.checkJSON(i%len(h.bodies), kept, len(kept) > maxCheckBody))
	}
	return r
}
