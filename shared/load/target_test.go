package load

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/plan"
)

// TestProtocolEventLoop checks which protocols the event loop can drive:
// plain http:// only, with the requests http1 serialized.
func TestProtocolEventLoop(t *testing.T) {
	t.Parallel()
	dead := strings.TrimSuffix(strings.TrimPrefix(deadURL(t), "http://"), "/")
	tests := []struct {
		name   string
		target plan.Target
		loop   bool
	}{
		{"plain http", plan.Target{Protocol: plan.ProtocolHTTP, URL: "http://" + dead + "/v1/predict", Method: "POST"}, true},
		{"https", plan.Target{Protocol: plan.ProtocolHTTP, URL: "https://" + dead + "/v1/predict", Method: "POST"}, false},
		{"grpc", plan.Target{Protocol: plan.ProtocolGRPC, Address: dead, Method: "/cicada.v1.Predictor/Predict", Request: `{"text": {{json .Text}}}`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pr, _, err := newProtocol(&tt.target, &plan.Corpus{Texts: []string{"a", "b"}}, 1, nil, nil, nil)
			if err != nil {
				t.Fatalf("newProtocol: %v", err)
			}
			defer pr.close()
			w := pr.eventLoop()
			if (w != nil) != tt.loop {
				t.Fatalf("eventLoop() = %v, want non-nil %v", w, tt.loop)
			}
			if w == nil {
				return
			}
			if w.addr != dead || len(w.reqs) != 2 || !strings.HasPrefix(string(w.reqs[0]), "POST /v1/predict HTTP/1.1\r\n") {
				t.Errorf("event loop target: addr %q, %d requests, first %q", w.addr, len(w.reqs), w.reqs[0])
			}
		})
	}
}

// TestHTTP1Warm checks that warming dials ahead and leaves the connection
// as a kept-alive one, and that a failed dial is left to the first request.
func TestHTTP1Warm(t *testing.T) {
	t.Parallel()
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name      string
		dead      bool
		wantOpen  bool // a connection is open after warm
		outcome   string
		wantConns int64
	}{
		{name: "listening target", wantOpen: true, outcome: "http:200", wantConns: 1},
		{name: "nobody listens", dead: true, outcome: outcomeConnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startScripted(t, func(s *scripted, n int, c net.Conn, br *bufio.Reader) { answering(ok, false)(s, n, c, br) })
			addr := srv.addr
			if tt.dead {
				addr = strings.TrimSuffix(strings.TrimPrefix(deadURL(t), "http://"), "/")
			}
			c := newTestConn(t, addr, "POST", nil)
			c.warm(soon())
			if open := c.c != nil; open != tt.wantOpen || c.reused != tt.wantOpen {
				t.Fatalf("after warm: open %v reused %v, want both %v", open, c.reused, tt.wantOpen)
			}
			if r := c.do(0, soon()); r.outcome != tt.outcome {
				t.Fatalf("first request: outcome %q (err %v), want %q", r.outcome, r.err, tt.outcome)
			}
			if got := srv.conns.Load(); got != tt.wantConns {
				t.Errorf("server saw %d connections, want %d", got, tt.wantConns)
			}
		})
	}
}
