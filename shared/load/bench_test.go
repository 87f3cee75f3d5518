package load

import (
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// benchResponse is what the predict service answers, give or take headers.
const benchResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 34\r\n\r\n{\"category\":1,\"label\":\"business\"}\n"

// startEchoServer answers every reqLen bytes it reads with benchResponse,
// without parsing: a target that costs the benchmark as little as possible
// and allocates nothing, so that allocs/op are the client's.
func startEchoServer(b *testing.B, reqLen int) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, reqLen)
		resp := []byte(benchResponse)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// BenchmarkHTTP1Do measures one request and response on a kept connection,
// with the raw-syscall conn and with ordinary Go I/O.
func BenchmarkHTTP1Do(b *testing.B) {
	for _, raw := range []bool{true, false} {
		b.Run("raw="+strconv.FormatBool(raw), func(b *testing.B) {
			body := []byte(`{"text": "the striker scored a late winner"}`)
			h, err := newHTTP1(&url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/v1/predict"}, "POST", nil, [][]byte{body}, nil)
			if err != nil {
				b.Fatal(err)
			}
			h.addr = startEchoServer(b, len(h.reqs[0]))
			h.raw = raw
			c := h.newConn().(*http1Conn)
			defer c.closeConn()
			deadline := time.Now().Add(time.Hour)
			if r := c.do(0, deadline); !r.ok { // dial outside the loop
				b.Fatalf("warm-up: %s: %v", r.outcome, r.err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if r := c.do(0, deadline); !r.ok {
					b.Fatalf("%s: %v", r.outcome, r.err)
				}
			}
		})
	}
}

var sinkKey string

// BenchmarkStatusTable compares the prebuilt outcome keys with building the
// key per request.
func BenchmarkStatusTable(b *testing.B) {
	codes := []int{200, 201, 404, 503, 302}
	b.Run("table", func(b *testing.B) {
		st := newStatusTable(nil)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c := codes[i%len(codes)]
			if st.ok(c) {
				sinkKey = st.key(c)
			}
			i++
		}
	})
	b.Run("strconv", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c := codes[i%len(codes)]
			if c >= 200 && c < 300 {
				sinkKey = "http:" + strconv.Itoa(c)
			}
			i++
		}
	})
}

// BenchmarkLaneRecord measures recording one request into a lane in steady
// state: the recorder of the slice exists and the outcome key is known.
func BenchmarkLaneRecord(b *testing.B) {
	tests := []struct {
		name    string
		outcome string
		ok      bool
		err     error
	}{
		{"ok", "http:200", true, nil},
		{"error with a message", outcomeConnect, false, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			l := &lane{reqs: &requestSet{n: 1, batch: 1, first: []int{0}, chars: []int32{40}}}
			r := result{outcome: tt.outcome, ok: tt.ok, sent: 120, recv: 90, err: tt.err}
			l.record(0, 0, &r, time.Millisecond, time.Millisecond, 0)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d := time.Duration(100+i%5000) * time.Microsecond
				l.record(0, 0, &r, d, d/2, 3*time.Microsecond)
				i++
			}
		})
	}
	b.Run("drop", func(b *testing.B) {
		l := &lane{}
		l.drop(0)
		b.ReportAllocs()
		for b.Loop() {
			l.drop(0)
		}
	})
}
