package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long Stop lets a process group shut down after SIGTERM
// before it sends SIGKILL.
const stopGrace = 10 * time.Second

// Proc is an emulator running as a process of its own, leader of its own
// process group, so that Stop also ends its children (the Pub/Sub
// emulator's gcloud wrapper starts a Java process that outlives it).
type Proc struct {
	// Cmd is the started command; Cmd.Process.Pid is the process group id.
	Cmd *exec.Cmd
	// Addr is "127.0.0.1:port", where the emulator listens.
	Addr string
	// Host is the value for the emulator's *_EMULATOR_HOST variable.
	Host string
	// LogPath is the file that receives the process's stdout and stderr
	// ("" when discarded).
	LogPath string

	grace    time.Duration // SIGTERM to SIGKILL; stopGrace when 0
	done     chan struct{} // closed once the leader has been reaped
	waitErr  error         // the leader's exit, valid after done
	stopOnce sync.Once
	stopErr  error
}

// startProc starts name with args in a new process group, the current
// environment plus env ("KEY=value"), and stdout and stderr appended to
// logPath (discarded when logPath is ""). The caller sets Addr and Host and
// must call Stop.
func startProc(name string, args []string, env []string, logPath string) (*Proc, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	// Own process group: Stop signals the whole group, and a Ctrl-C in the
	// terminal of `make cluster-up` does not reach the emulators.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logFile *os.File
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open log of %s: %w", name, err)
		}
		logFile = f
		cmd.Stdout = f
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// Exited is closed once the process (the group's leader) has exited, so that
// a caller waiting for readiness can give up early.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Stop ends the process group: SIGTERM, then SIGKILL to whatever is left
// after a bound, and waits for the leader. It returns nil when the group
// is gone, whatever the exit status (a signalled emulator exits non-zero).
// Stop is idempotent and safe for concurrent use.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Proc) stop() error {
	pgid := p.Cmd.Process.Pid
	// ESRCH: the whole group is already gone.
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: sigterm group %d: %w", p.Cmd.Path, pgid, err)
	}
	grace := p.grace
	if grace == 0 {
		grace = stopGrace
	}
	deadline := time.Now().Add(grace)
	// The leader may exit while children it started (Java) live on in the
	// group: wait until the group is empty, not only the leader.
	for groupAlive(pgid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if groupAlive(pgid) {
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s: sigkill group %d: %w", p.Cmd.Path, pgid, err)
		}
	}
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		return fmt.Errorf("stop %s: pid %d still running after SIGKILL", p.Cmd.Path, pgid)
	}
	// Children of the group are not ours to reap; give init a moment to.
	for i := 0; i < 100 && groupAlive(pgid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if groupAlive(pgid) {
		return fmt.Errorf("stop %s: process group %d still alive after SIGKILL", p.Cmd.Path, pgid)
	}
	return nil
}

// groupAlive reports whether a live process is left in process group
// pgid. Zombies do not count: an orphaned child is reaped by PID 1, which in
// a container may never do it.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	// EPERM means a process exists that we may not signal: still alive.
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	entries, rerr := os.ReadDir("/proc")
	if rerr != nil {
		return true // no /proc: trust kill(2)
	}
	for _, e := range entries {
		if _, perr := strconv.Atoi(e.Name()); perr != nil {
			continue
		}
		b, rerr := os.ReadFile("/proc/" + e.Name() + "/stat")
		if rerr != nil {
			continue // exited meanwhile
		}
		// Fields after the command, which is in parentheses and may hold
		// spaces: state ppid pgrp ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		if f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// is released before the emulator binds it, so another process may take it
// in between: the emulator then exits, which callers notice through Exited.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until addr accepts a TCP connection, or ctx ends.
func waitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", addr, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Require is how tests treat an emulator that could not be started: the
// test is skipped, except in CI (CI=true) where it fails, so that CI cannot
// pass by skipping the emulator path.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("emulator required in CI: %v", err)
		return
	}
	t.Skipf("emulator not available: %v", err)
}
