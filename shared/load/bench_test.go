package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/slice"
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

// BenchmarkHTTP1DoCheck is BenchmarkHTTP1Do with a check of the answer's
// label: what keeping the body, decoding it and comparing one instance
// costs per request (the raw conn; compare with BenchmarkHTTP1Do/raw=true).
func BenchmarkHTTP1DoCheck(b *testing.B) {
	tests := []struct {
		name, path, want string
		outcome          string
	}{
		{"right", "label", "business", "http:200"},
		{"wrong", "label", "sports", outcomeCheckMismatch},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			body := []byte(`{"text": "the striker scored a late winner"}`)
			h, err := newHTTP1(&url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/v1/predict"}, "POST", nil, [][]byte{body}, nil)
			if err != nil {
				b.Fatal(err)
			}
			path, err := plan.CompileCheckPath(tt.path)
			if err != nil {
				b.Fatal(err)
			}
			h.check = &checker{path: path, expect: [][]string{{tt.want}}}
			h.addr = startEchoServer(b, len(h.reqs[0]))
			c := h.newConn().(*http1Conn)
			defer c.closeConn()
			deadline := time.Now().Add(time.Hour)
			if r := c.do(0, deadline); r.outcome != tt.outcome {
				b.Fatalf("warm-up: %s, want %s: %v", r.outcome, tt.outcome, r.err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if r := c.do(0, deadline); r.outcome != tt.outcome {
					b.Fatalf("%s, want %s: %v", r.outcome, tt.outcome, r.err)
				}
			}
		})
	}
}

var sinkTree any

// BenchmarkCheckJSON is the CPU a check adds to a request whose answer is
// in: decoding the body, following the path for each instance, comparing.
func BenchmarkCheckJSON(b *testing.B) {
	batch8 := `{"predictions":[` + strings.Repeat(`{"category":1,"label":"business","score":0.93},`, 7) + `{"category":1,"label":"business","score":0.71}]}`
	tests := []struct {
		name, path, body string
		batch            int
	}{
		{"one prediction", "label", `{"category":1,"label":"business"}`, 1},
		{"batch of 8", "predictions[*].label", batch8, 8},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			path, err := plan.CompileCheckPath(tt.path)
			if err != nil {
				b.Fatal(err)
			}
			want := make([]string, tt.batch)
			for j := range want {
				want[j] = "business"
			}
			c := &checker{path: path, expect: [][]string{want}}
			body := []byte(tt.body)
			b.ReportAllocs()
			for b.Loop() {
				if v := c.checkJSON(0, body, false); v.correct != int32(tt.batch) {
					b.Fatalf("%d correct of %d: %v", v.correct, tt.batch, v.err)
				}
			}
		})
	}
}

// BenchmarkDecodeJSON compares the decodings a check could use on a
// typical answer: encoding/json into any with numbers as float64 (what
// decodeJSON does) or, through a json.Decoder, as json.Number (exact for
// integers beyond 2^53, at about twice the cost).
func BenchmarkDecodeJSON(b *testing.B) {
	bodies := []struct{ name, body string }{
		{"one prediction", `{"category":1,"label":"business"}`},
		{"batch of 8", `{"predictions":[` + strings.Repeat(`{"category":1,"label":"business","score":0.93},`, 7) + `{"category":2,"label":"sports","score":0.71}]}`},
	}
	for _, bb := range bodies {
		body := []byte(bb.body)
		b.Run(bb.name+"/decodeJSON", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := decodeJSON(body)
				if err != nil {
					b.Fatal(err)
				}
				sinkTree = v
			}
		})
		b.Run(bb.name+"/Decoder UseNumber", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.UseNumber()
				var v any
				if err := dec.Decode(&v); err != nil {
					b.Fatal(err)
				}
				sinkTree = v
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
	// Batches: a request carries batch texts of varied lengths; a slice
	// closes (and is folded into a result) every perSlice requests, so
	// the cost of the length counts is measured wherever it is paid.
	for _, batch := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("batch %d", batch), func(b *testing.B) {
			const texts, perSlice = 100_000, 5_000
			set := &requestSet{n: texts / batch, batch: batch, chars: make([]int32, texts)}
			rng := rand.New(rand.NewPCG(1, 2))
			for j := range set.chars {
				set.chars[j] = int32(10 + rng.IntN(2000))
			}
			for i := range set.n {
				set.first = append(set.first, i*batch)
			}
			l := &lane{reqs: set}
			r := result{outcome: "http:200", ok: true, sent: 120, recv: 90}
			b.ReportAllocs()
			i, k := 0, 0
			for b.Loop() {
				l.record(k, i%set.n, &r, time.Millisecond, time.Millisecond, 0)
				i++
				if i%perSlice == 0 {
					l.take(k, slice.NewResult("bench", 0, k, time.Time{}, time.Time{}))
					k++
				}
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
