// Package proc starts and stops the processes of the development
// environment (the emulators, the components of a local cluster) as
// process groups, so that whatever a process starts (the Pub/Sub
// emulator's gcloud wrapper starts a Java server) goes with it. Linux only:
// group membership is read from /proc.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec is a process to start.
type Spec struct {
	Path string
	Args []string
	// Env is added to this process's environment; later entries win.
	Env []string
	// Dir is the working directory; "" for this process's.
	Dir string
	// LogPath receives stdout and stderr, appended; "" discards them.
	LogPath string
}

// Proc is a started process, leader of a session and process group of
// its own (its PID is the group's id). A Ctrl-C or a closed terminal of
// the command that started it does not reach it.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string

	done    chan struct{} // closed once the leader has been reaped
	waitErr error         // the leader's exit, valid after done
}

// Start starts s. The process is reaped while this process lives; once
// this one exits, init does.
func Start(s Spec) (*Proc, error) {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if s.LogPath != "" {
		f, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("start %s: open log: %w", s.Path, err)
		}
		// The child has its own copy of the descriptor: ours is closed once
		// it is started, so nothing of this process stays between the
		// child and its log.
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Path, err)
	}
	p := &Proc{Cmd: cmd, LogPath: s.LogPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's id, also its process group's.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Exited is closed once the process (the group's leader) has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// ExitErr is how the process ended; valid once Exited is closed.
func (p *Proc) ExitErr() error { return p.waitErr }

// Stop ends the process's group as StopGroups does, then waits until the
// leader has been reaped. It returns nil once the group is gone, whatever
// the exit status (a signalled process exits non-zero), and may be called
// again.
func (p *Proc) Stop(grace time.Duration) error {
	if err := StopGroups([]int{p.PID()}, grace); err != nil {
		return fmt.Errorf("stop %s: %w", p.Cmd.Path, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("stop %s: pid %d not reaped after SIGKILL", p.Cmd.Path, p.PID())
	}
}

// ErrExited is what WaitReady returns, wrapped, when the process exits
// before it is ready: for a server, often a port taken in between.
var ErrExited = errors.New("exited")

// Check tells whether a started process is ready: nil when it is.
type Check func(ctx context.Context) error

// WaitReady polls ready until it succeeds, the process exits, or ctx
// ends; the error carries ready's last answer.
func (p *Proc) WaitReady(ctx context.Context, ready Check) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		last := ready(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w before it was ready (%v; last check: %v)", ErrExited, p.waitErr, last)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last check: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// TCPReady is ready once addr accepts a TCP connection.
func TCPReady(addr string) Check {
	return func(ctx context.Context) error {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := d.DialContext(dctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// HTTPReady is ready once a GET of url answers status.
func HTTPReady(url string, status int) Check {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			return fmt.Errorf("GET %s: %s, want %d", url, resp.Status, status)
		}
		return nil
	}
}

// killWait bounds the wait for a process group to empty after SIGKILL.
const killWait = 5 * time.Second

// StopGroups ends process groups: SIGTERM to each at once, then SIGKILL to
// those with a live member after grace (0: SIGKILL at once). It returns
// once every group is empty, or an error naming those that are not.
// Zombies do not count: an orphaned child is reaped by PID 1, which in a
// container may never do it.
func StopGroups(pgids []int, grace time.Duration) error {
	var live []int
	for _, g := range pgids {
		if !GroupAlive(g) {
			continue
		}
		sig := syscall.SIGTERM
		if grace == 0 {
			sig = syscall.SIGKILL
		}
		// ESRCH: the whole group is already gone.
		if err := syscall.Kill(-g, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal process group %d: %w", g, err)
		}
		live = append(live, g)
	}
	left := waitGroups(live, grace)
	if len(left) == 0 {
		return nil
	}
	for _, g := range left {
		if err := syscall.Kill(-g, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill process group %d: %w", g, err)
		}
	}
	if left = waitGroups(left, killWait); len(left) > 0 {
		return fmt.Errorf("process groups %v still alive after SIGKILL", left)
	}
	return nil
}

// Signal sends sig to process group pgid and waits, up to within, until
// the group is empty.
func Signal(pgid int, sig syscall.Signal, within time.Duration) error {
	if err := syscall.Kill(-pgid, sig); err != nil {
		return fmt.Errorf("signal process group %d: %w", pgid, err)
	}
	if left := waitGroups([]int{pgid}, within); len(left) > 0 {
		return fmt.Errorf("process group %d still running %v after %v", pgid, sig, within)
	}
	return nil
}

// waitGroups waits up to d until every group of pgids is empty, and
// returns those that are not.
func waitGroups(pgids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		for _, g := range pgids {
			if GroupAlive(g) {
				left = append(left, g)
			}
		}
		if len(left) == 0 || !time.Now().Before(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stat returns the state and process group of pid from /proc/<pid>/stat;
// ok is false when there is no such process.
func stat(pid int) (state string, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	return parseStat(b)
}

// parseStat reads the state and process group of a /proc/<pid>/stat line.
// The command is in parentheses and may hold spaces and parentheses: the
// fields after the last ')' are state ppid pgrp ...
func parseStat(b []byte) (state string, pgrp int, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return "", 0, false
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return "", 0, false
	}
	return f[0], pgrp, true
}

// live reports whether a process state is a running one: neither a
// zombie nor dead.
func live(state string) bool { return state != "Z" && state != "X" }

// Alive reports whether pid is a live process, zombies aside.
func Alive(pid int) bool {
	state, _, ok := stat(pid)
	return ok && live(state)
}

// Members returns the live processes of process group pgid, zombies
// aside.
func Members(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, pgrp, ok := stat(pid); ok && pgrp == pgid && live(state) {
			out = append(out, pid)
		}
	}
	return out
}

// GroupAlive reports whether process group pgid has a live member,
// zombies aside.
func GroupAlive(pgid int) bool {
	// ESRCH: no process at all in the group, not even a zombie. EPERM: one
	// exists that we may not signal.
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return len(Members(pgid)) > 0
}

// HasEnv reports whether the environment pid started with holds kv
// ("KEY=value").
func HasEnv(pid int, kv string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}

// FreePorts returns n distinct TCP ports of 127.0.0.1 that were free a
// moment ago. They are released before anyone binds them, so another
// process may take one in between: a process that then fails to listen
// exits, which WaitReady notices.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	// Held open together, so that the ports are distinct.
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
