//go:build linux

package load

import (
	"net"
	"syscall"
	"unsafe"
)

// rawConn does each read and write with syscall.RawSyscall on the
// non-blocking socket, inside the netpoller's RawConn callbacks. Ordinary Go
// I/O marks every read and write as a possibly blocking syscall; on a
// generator pinned to one core that hands the P to the monitor thread and
// costs about 0.6 context switches per request (PERF-NOTES.md). The netpoller
// still parks the goroutine until the socket is ready, and deadlines still
// work, because RawConn.Read/Write honour them.
type rawConn struct {
	net.Conn
	rc syscall.RawConn
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
	return &rawConn{Conn: c, rc: rc}
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // not ready: park on the netpoller
			}
			n, errno = int(r), e
			return true
		}
	})
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

func (c *rawConn) Write(p []byte) (int, error) {
	written := 0
	var errno syscall.Errno
	for written < len(p) && errno == 0 {
		err := c.rc.Write(func(fd uintptr) bool {
			for {
				rest := p[written:]
				r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
				switch e {
				case syscall.EINTR:
					continue
				case syscall.EAGAIN:
					return false
				case 0:
					written += int(r)
					return written == len(p) // partial write: wait for room
				}
				errno = e
				return true
			}
		})
		if err != nil {
			return written, err
		}
	}
	if errno != 0 {
		return written, &net.OpError{Op: "write", Net: "tcp", Err: errno}
	}
	return written, nil
}
