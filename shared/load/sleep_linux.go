//go:build linux

package load

import (
	"os"
	"syscall"
	"time"

	"unsafe"

	"golang.org/x/sys/unix"
)

// sleeper waits until a point on the monotonic clock with microsecond
// precision. The runtime's timers sleep in whole milliseconds, and that
// lateness would be charged to the target as latency (wrk2 shows a 0.7 ms
// floor for the same reason). A non-blocking timerfd polled by the netpoller
// wakes within microseconds (median send lateness 0.035 ms: see
// docs/engine.md).
// One sleeper belongs to one goroutine.
type sleeper struct {
	f      *os.File
	rc     syscall.RawConn
	fd     int
	buf    [8]byte
	readFn func(fd uintptr) bool
}

func newSleeper() (*sleeper, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &sleeper{f: f, rc: rc, fd: fd}
	s.readFn = s.readOnce
	return s, nil
}

// until blocks until the monotonic clock reads at least mono (nanoseconds of
// CLOCK_MONOTONIC, see monoNow), or until fire is called.
func (s *sleeper) until(mono int64) {
	if !s.arm(mono) {
		time.Sleep(time.Duration(mono - monoNow()))
		return
	}
	s.wait()
}

// arm sets the timer to expire at mono. A raw syscall: it never blocks, and
// the ordinary wrapper would tell the scheduler it might (see rawConn).
func (s *sleeper) arm(mono int64) bool {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(mono)}
	_, _, e := syscall.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(s.fd), unix.TFD_TIMER_ABSTIME,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	return e == 0
}

// wait blocks until the armed timer expires.
func (s *sleeper) wait() {
	// A raw read: os.File's Read would enter syscall state and wake the
	// runtime's monitor thread on every sleep (see docs/engine.md). The first
	// read must be tried even though it will mostly say EAGAIN: RawRead
	// clears the poller's readiness before calling back, so an expiry the
	// poller saw in between would otherwise be lost.
	_ = s.rc.Read(s.readFn)
}

// fire makes the timer expire now, waking a wait in progress. Safe to call
// from another goroutine.
func (s *sleeper) fire() { s.arm(1) }

// readOnce is the RawConn read callback, bound once in newSleeper so that a
// sleep allocates nothing.
func (s *sleeper) readOnce(fd uintptr) bool {
	_, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.buf[0])), 8)
	return e != syscall.EAGAIN
}

func (s *sleeper) close() { s.f.Close() }

// Go's monotonic clock is CLOCK_MONOTONIC read through the vDSO, but time
// only exposes differences. monoOffset anchors those differences to the
// absolute CLOCK_MONOTONIC value that timerfd wants; unix.ClockGettime is a
// real syscall, too dear for the hot path.
var monoBase, monoOffset = anchorMono()

func anchorMono() (time.Time, int64) {
	base := time.Now()
	var best int64 = -1
	var off int64
	for range 5 { // keep the tightest bracket
		a := time.Since(base)
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		b := time.Since(base)
		if w := int64(b - a); best < 0 || w < best {
			best, off = w, ts.Nano()-int64(a+(b-a)/2)
		}
	}
	return base, off
}

// monoNow returns CLOCK_MONOTONIC in nanoseconds.
func monoNow() int64 { return monoOffset + int64(time.Since(monoBase)) }
