//go:build linux

package load

import (
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// rawConn does each read and write with syscall.RawSyscall on the
// non-blocking socket, inside the netpoller's RawConn callbacks. Ordinary Go
// I/O marks every read and write as a possibly blocking syscall; on a
// generator pinned to one core that hands the P to the monitor thread and
// costs about 0.6 context switches per request (see docs/engine.md). The
// netpoller still parks the goroutine until the socket is ready, and
// deadlines still work, because RawConn.Read/Write honour them.
type rawConn struct {
	net.Conn
	rc syscall.RawConn

	// Each direction keeps its call's state here and hands RawConn a
	// method value bound once in wrapRaw: a closure per call would cost
	// two allocations per read and per write. A net.Conn may be read (or
	// written) by several goroutines at once, so each direction's state
	// has its own mutex; RawConn serializes each direction anyway.
	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool

	wmu     sync.Mutex
	wbuf    []byte
	written int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
}

func wrapRaw(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawConn{Conn: c, rc: rc}
	r.readFn, r.writeFn = r.readOnce, r.writeOnce
	return r
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	err := c.rc.Read(c.readFn)
	n, errno := c.rn, c.rerrno
	c.rbuf = nil
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: errno}
	}
	if n == 0 {
		return 0, errEOF
	}
	return n, nil
}

// readOnce is the RawConn read callback; the caller holds c.rmu.
func (c *rawConn) readOnce(fd uintptr) bool {
	p := c.rbuf
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // not ready: park on the netpoller
		}
		c.rn, c.rerrno = int(r), e
		return true
	}
}

func (c *rawConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf, c.written, c.werrno = p, 0, 0
	defer func() { c.wbuf = nil }()
	for c.written < len(p) && c.werrno == 0 {
		if err := c.rc.Write(c.writeFn); err != nil {
			return c.written, err
		}
	}
	if c.werrno != 0 {
		return c.written, &net.OpError{Op: "write", Net: "tcp", Err: c.werrno}
	}
	return c.written, nil
}

// writeOnce is the RawConn write callback; the caller holds c.wmu.
func (c *rawConn) writeOnce(fd uintptr) bool {
	for {
		rest := c.wbuf[c.written:]
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			c.written += int(r)
			return c.written == len(c.wbuf) // partial write: wait for room
		}
		c.werrno = e
		return true
	}
}
