package load

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// verdict is what respParser made of a whole answer.
type verdict struct {
	code int
	keep bool
	done bool
	used int   // bytes consumed by the answer; not compared after a feed error
	err  error // from feed, or from eof when the connection closed
}

func (v verdict) String() string {
	return fmt.Sprintf("{code %d keep %v done %v used %d err %v}", v.code, v.keep, v.done, v.used, v.err)
}

// same reports whether two verdicts agree. After a feed error, how much was
// consumed depends on where the bytes were split, and nothing else counts.
func (v verdict) same(o verdict) bool {
	if v.err != nil || o.err != nil {
		return errors.Is(v.err, o.err) && errors.Is(o.err, v.err) && v.done == o.done
	}
	return v == o
}

// parseChunks drives p over chunks as the event loop does: every chunk is
// fed until the answer is done or fails, and eof is called at the end when
// the connection closed. It reports a broken feed contract through t.
func parseChunks(t testing.TB, p *respParser, head, closed bool, chunks ...[]byte) verdict {
	t.Helper()
	p.reset(head, false)
	var v verdict
	for _, c := range chunks {
		used, done, err := p.feed(c)
		if used < 0 || used > len(c) {
			t.Fatalf("feed(%d bytes) used %d", len(c), used)
		}
		v.used += used
		if err != nil {
			return verdict{err: err}
		}
		if done {
			v.done = true
			break
		}
		if used != len(c) {
			t.Fatalf("feed(%q) used %d of %d bytes without finishing the answer", c, used, len(c))
		}
	}
	if !v.done && closed {
		done, err := p.eof()
		if err != nil {
			return verdict{used: v.used, err: err}
		}
		v.done = done
	}
	if v.done {
		v.code, v.keep = p.code, p.keep
	}
	return v
}

// respCase is a canned answer and what the parser must make of it.
type respCase struct {
	name   string
	head   bool // the request was HEAD
	resp   string
	closed bool // the server closes the connection after resp
	want   verdict
}

// respCases are the answers the bufio parser's tests use (TestHTTP1Responses),
// and a few that only an incremental parser can get wrong.
func respCases() []respCase {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6 ; name=\"v\"\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
	bigLine := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 17<<10) + "\r\nContent-Length: 0\r\n\r\n"
	var many strings.Builder // many short lines, 16 KiB + 1 of head in all
	many.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")
	for many.Len() < maxHead-100 {
		many.WriteString("X-Pad: " + strings.Repeat("p", 80) + "\r\n")
	}
	fits := many.String() + "X-Last: " + strings.Repeat("q", maxHead-many.Len()-12) + "\r\n\r\n" // exactly maxHead
	tooBig := many.String() + "X-Last: " + strings.Repeat("q", maxHead-many.Len()-11) + "\r\n\r\n"
	longTrailer := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + strings.Repeat("t", 5000) + "\r\n\r\n"
	return []respCase{
		{name: "content-length body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			want: verdict{code: 200, keep: true, done: true, used: 43}},
		{name: "content-length 0", resp: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			want: verdict{code: 201, keep: true, done: true, used: 43}},
		{name: "chunked body with extensions and trailers", resp: chunked,
			want: verdict{code: 200, keep: true, done: true, used: len(chunked)}},
		{name: "chunk size with space before its extension", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6 ;ext\r\nhello!\r\n0\r\n\r\n",
			want: verdict{code: 200, keep: true, done: true, used: 68}},
		{name: "chunked wins over content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			want: verdict{code: 200, keep: true, done: true, used: 79}},
		{name: "header names are case-insensitive", resp: "HTTP/1.1 200 OK\r\ncontent-LENGTH:   2  \r\n\r\nok",
			want: verdict{code: 200, keep: true, done: true, used: 44}},
		{name: "connection close", resp: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", closed: true,
			want: verdict{code: 200, done: true, used: 59}},
		{name: "HTTP/1.0 without length reads to EOF", resp: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body runs until the connection closes", closed: true,
			want: verdict{code: 200, done: true, used: 86}},
		{name: "HTTP/1.1 without length is not done before EOF", resp: "HTTP/1.1 200 OK\r\n\r\nmore may come",
			want: verdict{used: 32}},
		{name: "HTTP/1.0 keep-alive with length", resp: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
			want: verdict{code: 200, keep: true, done: true, used: 64}},
		{name: "100 continue then 200", resp: "HTTP/1.1 100 Continue\r\n\r\n" + ok,
			want: verdict{code: 200, keep: true, done: true, used: 25 + len(ok)}},
		{name: "100 continue alone is not the answer", resp: "HTTP/1.1 100 Continue\r\n\r\n",
			want: verdict{used: 25}},
		{name: "204 has no body whatever its headers say", resp: "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
			want: verdict{code: 204, keep: true, done: true, used: 47}},
		{name: "304 has no body", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
			want: verdict{code: 304, keep: true, done: true, used: 49}},
		{name: "HEAD has no body", head: true, resp: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
			want: verdict{code: 200, keep: true, done: true, used: 41}},
		{name: "HEAD of a chunked resource has no body", head: true, resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			want: verdict{code: 200, keep: true, done: true, used: 47}},
		{name: "503", resp: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
			want: verdict{code: 503, keep: true, done: true, used: 59}},
		{name: "the next answer's bytes are not consumed", resp: ok + ok,
			want: verdict{code: 200, keep: true, done: true, used: len(ok)}},
		{name: "a chunked answer stops before the next one", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + ok,
			want: verdict{code: 200, keep: true, done: true, used: 52}},
		{name: "head of exactly the limit", resp: fits,
			want: verdict{code: 200, keep: true, done: true, used: maxHead}},

		{name: "malformed status code", resp: "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "not HTTP at all", resp: "SSH-2.0-OpenSSH_9.6\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "HTTP/2 status line", resp: "HTTP/2 200\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "status 600", resp: "HTTP/1.1 600 Odd\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "status 099", resp: "HTTP/1.1 099 Odd\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "short status line", resp: "HTTP/1.1 20\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "header without colon", resp: "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "header with empty name", resp: "HTTP/1.1 200 OK\r\n: v\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "negative content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "content-length not a number", resp: "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "bad chunk size", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", want: verdict{err: errProtocol}},
		{name: "negative chunk size", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "chunk size that overflows", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", want: verdict{err: errProtocol}},
		{name: "chunk size too large to skip", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n", want: verdict{err: errProtocol}},
		{name: "chunk data longer than its size", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY\r\n0\r\n\r\n", want: verdict{err: errProtocol}},
		{name: "header line longer than 16 KiB", resp: bigLine, want: verdict{err: errProtocol}},
		{name: "head one byte over 16 KiB", resp: tooBig, want: verdict{err: errProtocol}},
		{name: "head without end beyond 16 KiB", resp: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("x", maxHead), want: verdict{err: errProtocol}},
		{name: "trailer line longer than 4 KiB", resp: longTrailer, want: verdict{err: errProtocol}},

		{name: "nothing before EOF", resp: "", closed: true, want: verdict{err: errEOF}},
		{name: "truncated body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", closed: true, want: verdict{used: 45, err: errEOF}},
		{name: "truncated headers", resp: "HTTP/1.1 200 OK\r\nContent-Len", closed: true, want: verdict{used: 28, err: errEOF}},
		{name: "truncated chunked body", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", closed: true, want: verdict{used: 53, err: errEOF}},
		{name: "chunked body without its last chunk", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", closed: true, want: verdict{used: 57, err: errEOF}},
		{name: "chunked body without its blank last line", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n", closed: true, want: verdict{used: 58, err: errEOF}},
		{name: "100 continue then EOF", resp: "HTTP/1.1 100 Continue\r\n\r\n", closed: true, want: verdict{used: 25, err: errEOF}},
	}
}

// splits returns the points to split b at: every one for a short answer;
// for a long one, a stride plus every point near its ends and near the
// 16 KiB limit, so that the test stays fast under -race.
func splits(n int) []int {
	if n <= 2048 {
		out := make([]int, n+1)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := 0; i <= n; i++ {
		if i < 64 || n-i < 64 || i%61 == 0 || (i > maxHead-64 && i < maxHead+64) {
			out = append(out, i)
		}
	}
	return out
}

func TestRespParser(t *testing.T) {
	t.Parallel()
	for _, tt := range respCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := []byte(tt.resp)
			var p respParser
			got := parseChunks(t, &p, tt.head, tt.closed, b)
			if !got.same(tt.want) {
				t.Fatalf("whole: got %v, want %v", got, tt.want)
			}
			if tt.want.err != nil && !errors.Is(tt.want.err, errProtocol) && got.used != tt.want.used {
				t.Errorf("whole: used %d before EOF, want %d", got.used, tt.want.used)
			}
			// One parser for every split: reset must forget everything.
			for _, i := range splits(len(b)) {
				if v := parseChunks(t, &p, tt.head, tt.closed, b[:i], b[i:]); !v.same(got) {
					t.Fatalf("split at %d: got %v, want %v as whole", i, v, got)
				}
			}
			bytewise := make([][]byte, len(b))
			for i := range b {
				bytewise[i] = b[i : i+1]
			}
			if v := parseChunks(t, &p, tt.head, tt.closed, bytewise...); !v.same(got) {
				t.Errorf("byte by byte: got %v, want %v as whole", v, got)
			}
		})
	}
}

// TestRespParserFeedAfterDone checks that a finished answer takes no more
// bytes and that eof after a complete framed answer is no second answer.
func TestRespParserFeedAfterDone(t *testing.T) {
	t.Parallel()
	var p respParser
	p.reset(false, false)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	if used, done, err := p.feed(resp); used != len(resp) || !done || err != nil {
		t.Fatalf("feed = %d, %v, %v, want %d, true, nil", used, done, err, len(resp))
	}
	if used, done, err := p.feed([]byte("HTTP/1.1 200 OK\r\n")); used != 0 || !done || err != nil {
		t.Errorf("feed after done = %d, %v, %v, want 0, true, nil", used, done, err)
	}
	if done, err := p.eof(); done || err == nil {
		t.Errorf("eof after a framed answer = %v, %v, want false and an error", done, err)
	}
}

// genResponse builds a random valid answer and reports whether its body
// runs until the connection closes.
func genResponse(r *rand.Rand, head bool) (resp string, untilEOF bool) {
	var b strings.Builder
	if r.IntN(4) == 0 {
		b.WriteString("HTTP/1.1 100 Continue\r\n")
		if r.IntN(2) == 0 {
			b.WriteString("X-Interim: 1\r\n")
		}
		b.WriteString("\r\n")
	}
	codes := []int{200, 201, 202, 204, 206, 301, 304, 400, 404, 500, 503}
	code := codes[r.IntN(len(codes))]
	minor := "1"
	if r.IntN(4) == 0 {
		minor = "0"
	}
	fmt.Fprintf(&b, "HTTP/1.%s %d Reason %d\r\n", minor, code, r.IntN(100))
	caseOf := func(s string) string { // random letter case
		out := []byte(s)
		for i := range out {
			if r.IntN(2) == 0 {
				out[i] = strings.ToUpper(string(out[i]))[0]
			}
		}
		return string(out)
	}
	spaces := func() string { return strings.Repeat(" ", r.IntN(3)) }
	var headers []string
	for range r.IntN(5) {
		headers = append(headers, fmt.Sprintf("X-Extra-%d:%s%s%s\r\n", r.IntN(1000), spaces(), strings.Repeat("v", r.IntN(200)), spaces()))
	}
	switch r.IntN(4) {
	case 0:
		headers = append(headers, caseOf("connection")+": "+caseOf("close")+"\r\n")
	case 1:
		headers = append(headers, caseOf("connection")+": "+caseOf("keep-alive")+"\r\n")
	}
	body := strings.Repeat("b", r.IntN(3000))
	framing := r.IntN(3) // 0 content-length, 1 chunked, 2 none
	switch framing {
	case 0:
		headers = append(headers, caseOf("content-length")+":"+spaces()+strconv.Itoa(len(body))+spaces()+"\r\n")
	case 1:
		headers = append(headers, caseOf("transfer-encoding")+": "+caseOf("chunked")+"\r\n")
	}
	r.Shuffle(len(headers), func(i, j int) { headers[i], headers[j] = headers[j], headers[i] })
	for _, h := range headers {
		b.WriteString(h)
	}
	b.WriteString("\r\n")
	if head || code == 204 || code == 304 {
		return b.String(), false
	}
	switch framing {
	case 0:
		b.WriteString(body)
	case 1:
		for rest := body; ; {
			k := min(len(rest), r.IntN(700))
			if len(rest) > 0 && k == 0 {
				k = 1
			}
			ext := ""
			if r.IntN(3) == 0 {
				ext = spaces() + ";name=" + strconv.Itoa(r.IntN(9))
			}
			size := strconv.FormatInt(int64(k), 16)
			if r.IntN(2) == 0 {
				size = strings.ToUpper(size)
			}
			fmt.Fprintf(&b, "%s%s\r\n", size, ext)
			if k == 0 {
				break
			}
			b.WriteString(rest[:k] + "\r\n")
			rest = rest[k:]
		}
		for range r.IntN(3) {
			fmt.Fprintf(&b, "X-Trailer-%d: t\r\n", r.IntN(9))
		}
		b.WriteString("\r\n")
	case 2:
		b.WriteString(body)
		return b.String(), true
	}
	return b.String(), false
}

// TestRespParserMatchesBufio checks that the event loop's parser and the
// goroutine engine's bufio parser agree on every generated valid answer:
// same status, same keep-alive decision, same bytes consumed, also when the
// next answer follows at once.
func TestRespParserMatchesBufio(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var p respParser
	const next = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	for i := range 3000 {
		head := r.IntN(8) == 0
		resp, untilEOF := genResponse(r, head)
		stream := resp
		if !untilEOF {
			stream += next // a pipelined answer must not be eaten
		}
		c := &http1Conn{h: &http1{plainHTTP: plainHTTP{head: head}}, br: bufio.NewReaderSize(strings.NewReader(stream), 16<<10)}
		code, n, keep, err := c.readResponse()
		if err != nil {
			t.Fatalf("case %d: bufio parser failed on a valid answer: %v\n%q", i, err, resp)
		}
		if n != int64(len(resp)) {
			t.Fatalf("case %d: bufio parser consumed %d bytes, want %d\n%q", i, n, len(resp), resp)
		}
		// Split the stream at random points, as reads would.
		b := []byte(stream)
		var chunks [][]byte
		for len(b) > 0 {
			k := min(len(b), 1+r.IntN(1500))
			chunks = append(chunks, b[:k])
			b = b[k:]
		}
		got := parseChunks(t, &p, head, untilEOF, chunks...)
		want := verdict{code: code, keep: keep, done: true, used: int(n)}
		if !got.same(want) {
			t.Fatalf("case %d: respParser %v, bufio parser %v\n%q", i, got, want, resp)
		}
	}
}

// FuzzRespParser feeds arbitrary bytes split at an arbitrary point: the
// parser must never panic, never consume more than it was given, and reach
// the same verdict whole, split and byte by byte.
func FuzzRespParser(f *testing.F) {
	for _, tt := range respCases() {
		if len(tt.resp) < 4096 {
			f.Add([]byte(tt.resp), uint16(len(tt.resp)/2), tt.head, tt.closed)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16, head, closed bool) {
		var p respParser
		whole := parseChunks(t, &p, head, closed, data)
		i := int(split) % (len(data) + 1)
		if v := parseChunks(t, &p, head, closed, data[:i], data[i:]); !v.same(whole) {
			t.Fatalf("split at %d: %v, whole: %v", i, v, whole)
		}
		bytewise := make([][]byte, len(data))
		for i := range data {
			bytewise[i] = data[i : i+1]
		}
		if v := parseChunks(t, &p, head, closed, bytewise...); !v.same(whole) {
			t.Fatalf("byte by byte: %v, whole: %v", v, whole)
		}
		if whole.done && whole.err == nil && (whole.code < 200 || whole.code > 599) {
			t.Errorf("final status %d outside 200..599", whole.code)
		}
		if whole.err == nil && whole.used > len(data) {
			t.Errorf("used %d of %d bytes", whole.used, len(data))
		}
	})
}
