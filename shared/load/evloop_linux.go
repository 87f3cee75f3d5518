//go:build linux

package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
)

// The open model over plain HTTP/1.1 runs as one event loop per shard.
//
// Why: a goroutine per request in flight wakes the process twice per
// request, once for its send time and once for its answer. On these
// machines each wake-up costs 25-30 µs of CPU (context switches dominate a
// paced generator: see docs/engine.md), so at 2000 req/s that design cost
// 65 µs per request, twice wrk2. The loop instead wakes on a grid of
// pacingGrid: at each tick it collects every answer that has arrived and
// sends every request due before the next tick. Its sockets are raw,
// non-blocking and unknown to the netpoller, so an arriving answer wakes
// nothing; the kernel stamps each answer's arrival (SO_TIMESTAMPNS), so
// reading it up to a tick later loses no precision. Measured at 2000 req/s:
// 23 µs per request with a 2 ms grid, 35 µs with 1 ms.
//
// What it changes: a request is sent at most one tick early, never late
// because of a timer (only when no connection is free, and that wait is
// latency). Latency is answer arrival minus the earlier of the intended and
// the actual send time, so an early send is measured by its service time and
// a late one from its intended time; both are exact to microseconds.
const pacingGrid = 2 * time.Millisecond

// scarcePoll is how often the loop looks for answers while requests wait
// for a connection: an answer collected a tick late would hold its
// connection idle that long, and cap the throughput of few connections.
const scarcePoll = 100 * time.Microsecond

const eventLoopAvailable = true

// evConn is one raw socket and the request it carries.
type evConn struct {
	fd      int // -1 when closed
	state   evState
	req     evReq
	p       respParser
	reused  bool  // an answer was read on this connection
	dialEnd int64 // connect deadline (mono)
	n       int64 // bytes of the current answer read so far
	wrote   int   // bytes of the current request written so far
}

type evState uint8

const (
	evClosed evState = iota
	evConnecting
	evIdle
	evBusy
)

// evReq is one request of the shard.
type evReq struct {
	g        int64 // global request number, for the text
	k        int   // slice
	intended int64 // mono
	sendAt   int64 // mono, 0 before sending
	retried  bool
	// out is the request's bytes, fixed when it is sent: a new credential
	// swapped in meanwhile must not change a request half written.
	out []byte
	// lag is how late the loop took the request up: the generator's own
	// lateness. A wait for a free connection after that is the target's
	// slowness, counted in latency only.
	lag int64
}

type evLoop struct {
	e       *Engine
	h       *plainHTTP
	sa      unix.Sockaddr
	domain  int
	refused error // the guard refused sa: every dial fails with it
	conns   []*evConn
	reqs    [][]byte // the target's requests, taken up anew at each tick
	pending []evReq  // due, waiting for a free connection (FIFO)
	// inFlight counts requests pending or on a connection, kept as they
	// come and go: scanning the connections per scheduled request would
	// cost O(connections) each.
	inFlight int
	lane     *lane
	sl       *sleeper
	buf      []byte
	oob      []byte
	iov      unix.Iovec
	msg      unix.Msghdr
	// realOff converts a kernel timestamp (CLOCK_REALTIME) to mono.
	realOff int64
}

// resolveTimeout bounds resolving the target's name before a run.
const resolveTimeout = 10 * time.Second

// runEventLoop runs the open model on plain HTTP/1.1 (see pacingGrid).
func (e *Engine) runEventLoop(h *plainHTTP) error {
	// The name is resolved once, for the whole run, and the guard checks
	// the address every connection of the run then dials. A refused
	// address is every request's outcome (error:refused), not a failed
	// run.
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	ta, err := h.guard.Resolve(ctx, "tcp", h.addr)
	cancel()
	var refused error
	if errors.Is(err, policy.ErrRefused) {
		refused, ta = err, netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	} else if err != nil {
		return fmt.Errorf("target address %s: %w", h.addr, err)
	}
	var sa unix.Sockaddr
	domain := unix.AF_INET
	if ip := ta.Addr().Unmap(); ip.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ta.Port()), Addr: ip.As4()}
	} else {
		sa, domain = &unix.SockaddrInet6{Port: int(ta.Port()), Addr: ip.As16()}, unix.AF_INET6
	}
	sl, err := newSleeper()
	if err != nil {
		return fmt.Errorf("timer: %w", err)
	}
	e.setupLanes(1)
	e.sleepMu.Lock()
	e.sleepers = append(e.sleepers, sl)
	e.sleepMu.Unlock()
	l := &evLoop{e: e, h: h, sa: sa, domain: domain, refused: refused, lane: e.lanes[0], sl: sl, buf: make([]byte, 64<<10), oob: make([]byte, 128)}
	l.iov.Base = &l.buf[0]
	l.iov.SetLen(len(l.buf))
	l.msg.Iov = &l.iov
	l.msg.Iovlen = 1
	l.msg.Control = &l.oob[0]
	defer func() {
		e.sleepMu.Lock()
		e.sleepers = nil
		e.sleepMu.Unlock()
		sl.close()
		for _, c := range l.conns {
			c.close()
		}
	}()

	n := max(min(e.p.Target.Connections, max(e.p.Load.MaxInFlight, 1)), 1)
	l.conns = make([]*evConn, n)
	now := monoNow()
	for i := range l.conns {
		l.conns[i] = &evConn{fd: -1}
		// A failure shows on the first request. A connection opened ahead
		// of the start is idle until then, like a kept-alive one, so a
		// close by the server before it answers earns the same one retry.
		if l.dial(l.conns[i], now) == nil {
			l.conns[i].reused = true
		}
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		e.collect(1)
	}()
	l.run()
	e.finish(0)
	<-done
	return nil
}

func (l *evLoop) run() {
	e := l.e
	grid := int64(pacingGrid)
	maxInFlight := max(e.p.Load.MaxInFlight, 1)
	sch, _ := e.view(monoNow())
	next := sch.CountBefore(e.firstOff)
	scheduling := true
	for {
		now := monoNow()
		// Both clocks from one reading: a preemption between two readings
		// would shift every kernel stamp of the tick by its length.
		wall := time.Now()
		l.realOff = wall.UnixNano() - (monoOffset + int64(wall.Sub(monoBase)))
		// A new credential's requests take over between ticks, never
		// within a request.
		l.reqs = l.h.requests()
		l.collect(now)
		l.assign(now)

		stopAt := int(e.stopAt.Load())
		// The slices below frozen have their rates for good (all of them
		// but a search's, see Engine.SetRate). A request at or past
		// frozen waits until that slice is about to start: it falls in
		// it or later, whatever the rates to come.
		sch, frozen := e.view(now)
		held := false
		// Send what is due before the next tick.
		for scheduling {
			off := sch.Arrival(next)
			k := e.nSlices
			if off != plan.Never {
				k = e.sliceOf(off)
			}
			if k >= frozen {
				if frozen >= e.nSlices || frozen >= stopAt {
					scheduling = false
				}
				held = scheduling
				break
			}
			if k >= stopAt {
				scheduling = false
				break
			}
			intended := e.startMono + int64(off)
			if intended >= now+grid {
				break
			}
			r := evReq{g: sch.Global(next), k: k, intended: intended, lag: max(now-intended, 0)}
			next++
			if l.inFlight >= maxInFlight {
				l.lane.drop(k)
				continue
			}
			l.pending = append(l.pending, r)
			l.inFlight++
		}
		// Once for the whole tick: each call looks for a free connection
		// among all of them.
		l.assign(now)

		// Tell the collector which slices can no longer change: those
		// below the next request to schedule and below every request in
		// flight.
		low := int64(stopAt)
		switch {
		case held:
			low = min(low, int64(frozen))
		case scheduling:
			low = min(low, int64(e.sliceOf(sch.Arrival(next))))
		}
		busyLow := l.lowestBusy()
		busy := busyLow != 1<<63-1
		low = min(low, busyLow)
		if p := e.progress[0].Load(); low > p {
			e.progress[0].Store(low)
			select {
			case e.notify <- struct{}{}:
			default:
			}
		}
		if !scheduling && !busy {
			return
		}

		// Sleep until the next tick that has something to do.
		wake := int64(1<<63 - 1)
		switch {
		case held:
			// Not on the grid: rounded down, the tick would come before
			// the slice's rate is fixed, and find nothing to do.
			wake = e.startMono + int64(time.Duration(frozen)*e.sliceDur-freezeAhead)
		case scheduling:
			at := e.startMono + int64(sch.Arrival(next))
			wake = e.startMono + (at-e.startMono)/grid*grid
		}
		if busy {
			wake = min(wake, now+grid)
		}
		if len(l.pending) > 0 {
			wake = min(wake, now+int64(scarcePoll))
		}
		if wake > monoNow() {
			l.sl.arm(wake)
			if int(e.stopAt.Load()) == stopAt { // a stop after arming fires the timer
				l.sl.wait()
			}
		}
	}
}

// lowestBusy is the lowest slice with a request in flight or pending.
func (l *evLoop) lowestBusy() int64 {
	low := int64(1<<63 - 1)
	for _, c := range l.conns {
		if c.state == evBusy || (c.state == evConnecting && c.req.intended != 0) {
			low = min(low, int64(c.req.k))
		}
	}
	// pending is in schedule order: its first request has its lowest slice.
	if len(l.pending) > 0 {
		low = min(low, int64(l.pending[0].k))
	}
	return low
}

// assign gives pending requests to free connections, opening closed ones,
// and fails those that waited past their timeout.
func (l *evLoop) assign(now int64) {
	timeout := int64(l.e.timeout)
	for len(l.pending) > 0 {
		r := l.pending[0]
		if now-r.intended > timeout {
			l.pending = l.pending[1:]
			l.fail(r, outcomeTimeout, errNoFreeConn, 0)
			continue
		}
		c := l.free()
		if c == nil {
			return
		}
		l.pending = l.pending[1:]
		if c.state == evClosed {
			if err := l.dial(c, now); err != nil {
				l.fail(r, classifyDial(err), err, 0)
				continue
			}
			if c.state == evConnecting {
				c.req = r // sent once connected
				continue
			}
		}
		l.send(c, r)
	}
	if cap(l.pending) > 1024 && len(l.pending) == 0 {
		l.pending = nil // let a long queue's array go
	}
}

// free returns an idle connection, else a closed one, else nil.
func (l *evLoop) free() *evConn {
	var closed *evConn
	for _, c := range l.conns {
		switch c.state {
		case evIdle:
			return c
		case evClosed:
			if closed == nil {
				closed = c
			}
		}
	}
	return closed
}

func (c *evConn) close() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	c.state = evClosed
}

// dial starts a non-blocking connect; c ends connecting, idle, or closed
// with the error.
func (l *evLoop) dial(c *evConn, now int64) error {
	c.close()
	c.req, c.reused = evReq{}, false
	if l.refused != nil {
		return l.refused
	}
	fd, err := unix.Socket(l.domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	// The kernel stamps each answer's arrival: see pacingGrid.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	c.fd = fd
	switch err := unix.Connect(fd, l.sa); {
	case err == nil:
		c.state = evIdle
	case errors.Is(err, unix.EINPROGRESS):
		c.state, c.dialEnd = evConnecting, now+int64(l.e.timeout)
	default:
		c.close()
		return &net.OpError{Op: "dial", Net: "tcp", Addr: nil, Err: err}
	}
	return nil
}

// finishConnect checks a connect in progress and sends its request once
// connected.
func (l *evLoop) finishConnect(c *evConn, now int64) {
	pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
	n, _ := unix.Poll(pfd, 0)
	r := c.req
	if n == 0 {
		if now > c.dialEnd {
			c.close()
			if r.intended != 0 {
				l.fail(r, outcomeTimeout, errConnectTimeout, 0)
			}
		}
		return
	}
	errno, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		err = syscall.Errno(errno)
	}
	if err != nil {
		c.close()
		if r.intended != 0 {
			l.fail(r, outcomeConnect, &net.OpError{Op: "dial", Net: "tcp", Err: err}, 0)
		}
		return
	}
	c.state, c.req = evIdle, evReq{}
	if r.intended != 0 {
		l.send(c, r)
	}
}

// reqBytes returns the serialized request of global request g as of this
// tick.
func (l *evLoop) reqBytes(g int64) []byte {
	return l.reqs[l.e.reqIndex(g)%len(l.reqs)]
}

// send writes request r on the idle connection c.
func (l *evLoop) send(c *evConn, r evReq) {
	r.sendAt = monoNow()
	r.out = l.reqBytes(r.g)
	c.req, c.n = r, 0
	c.p.reset(l.h.head, l.h.check != nil)
	c.wrote = 0
	c.state = evBusy
	l.write(c)
}

// write sends what is left of c's request. A body larger than the socket's
// send buffer goes out over several ticks.
func (l *evLoop) write(c *evConn) {
	r := c.req
	req := r.out
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(&req[c.wrote])), uintptr(len(req)-c.wrote))
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return // the send buffer is full: more at the next tick
	}
	if e == 0 {
		c.wrote += int(n)
		return
	}
	// Anything else means the connection is gone: a kept-alive one the
	// server closed gets the request once more on a new connection.
	c.close()
	if c.reused && !r.retried && c.wrote == 0 {
		l.retry(c, r)
		return
	}
	l.fail(r, classifyIO(e), e, 0)
}

// retry sends r once more on a new connection in c's place, as
// http1Conn.do does. Not through pending: that would take any idle
// connection, and one the server closed at the same time as c is as stale.
func (l *evLoop) retry(c *evConn, r evReq) {
	r.retried = true
	if err := l.dial(c, monoNow()); err != nil {
		l.fail(r, classifyDial(err), err, 0)
		return
	}
	if c.state == evConnecting {
		c.req = r // sent once connected
		return
	}
	l.send(c, r)
}

// fail records request r as failed with outcome.
func (l *evLoop) fail(r evReq, outcome string, err error, recv int64) {
	now := monoNow()
	from := r.intended
	if r.sendAt != 0 {
		from = min(from, r.sendAt)
	}
	sent := int64(len(r.out)) // 0 when not sent
	lateness := time.Duration(r.lag)
	service := time.Duration(0)
	if r.sendAt != 0 {
		service = time.Duration(now - r.sendAt)
	}
	l.lane.record(r.k, l.e.reqIndex(r.g), &result{outcome: outcome, sent: sent, recv: recv, err: err}, time.Duration(now-from), service, lateness)
	l.inFlight--
}

// collect reads every answer that has arrived, finishes connects, and
// times out what waited too long.
func (l *evLoop) collect(now int64) {
	timeout := int64(l.e.timeout)
	for _, c := range l.conns {
		switch c.state {
		case evConnecting:
			l.finishConnect(c, now)
		case evBusy:
			if c.wrote < len(c.req.out) {
				l.write(c)
			}
			if c.state != evBusy {
				continue
			}
			l.read(c, now)
			if c.state == evBusy && now-c.req.sendAt > timeout {
				r := c.req
				c.close()
				l.fail(r, outcomeTimeout, nil, c.n)
			}
		}
	}
}

// read reads what has arrived on a busy connection and completes its
// request when the whole answer is in.
func (l *evLoop) read(c *evConn, now int64) {
	for {
		l.msg.SetControllen(len(l.oob))
		n, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&l.msg)), 0)
		switch e {
		case 0:
		case syscall.EAGAIN:
			return
		case syscall.EINTR:
			continue
		default:
			l.broken(c, e)
			return
		}
		if n == 0 {
			if done, err := c.p.eof(); !done {
				l.broken(c, err)
				return
			}
			l.complete(c, now)
			return
		}
		c.n += int64(n)
		end := l.arrival(now)
		used, done, err := c.p.feed(l.buf[:n])
		if err != nil {
			r := c.req
			c.close()
			l.fail(r, outcomeProtocol, err, c.n)
			return
		}
		if done {
			if used < int(n) {
				c.p.keep = false // bytes beyond the answer: do not trust the connection
			}
			l.complete(c, end)
			return
		}
	}
}

// arrival returns the kernel's arrival stamp of the bytes just read, as
// mono, or now when there is none.
func (l *evLoop) arrival(now int64) int64 {
	oob := l.oob[:l.msg.Controllen]
	for len(oob) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < uint64(unix.CmsgLen(0)) || int(h.Len) > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && int(h.Len) >= unix.CmsgLen(16) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return min(ts.Nano()-l.realOff, now)
		}
		oob = oob[unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)):]
	}
	return now
}

// broken handles a connection that failed while carrying a request: a
// kept-alive connection the server closed before answering gets the
// request once more on a new one.
func (l *evLoop) broken(c *evConn, err error) {
	r := c.req
	reused, n := c.reused, c.n
	c.close()
	if reused && n == 0 && !r.retried {
		l.retry(c, r)
		return
	}
	l.fail(r, classifyIO(err), err, n)
}

// complete records c's answer that arrived at end.
func (l *evLoop) complete(c *evConn, end int64) {
	r := c.req
	end = max(end, r.sendAt)
	lateness := time.Duration(r.lag)
	sent := int64(len(r.out))
	code := c.p.code
	i := l.e.reqIndex(r.g)
	res := result{outcome: l.h.outcome.key(code), ok: l.h.outcome.ok(code), sent: sent, recv: c.n}
	if ch := l.h.check; ch != nil && res.ok {
		// On the loop's goroutine: a check's decoding is the price of
		// checking, paid between ticks like reading the answer.
		ch.apply(&res, ch.checkJSON(i, c.p.body, c.p.over))
	}
	l.lane.record(r.k, i, &res, time.Duration(end-min(r.intended, r.sendAt)), time.Duration(end-r.sendAt), lateness)
	l.inFlight--
	c.req, c.n, c.reused = evReq{}, 0, true
	if c.p.keep {
		c.state = evIdle
	} else {
		c.close()
	}
}

var errConnectTimeout = errors.New("connect timed out")
