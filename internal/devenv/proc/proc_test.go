package proc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// gone reports whether no process has pid any more.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestStopEndsTheWholeGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		script  string
		members int // at least, once started
	}{
		// The leader exits on SIGTERM; its background child must go too.
		{"leader and child", "sleep 60 & sleep 60", 2},
		// The leader ignores SIGTERM: SIGKILL after the grace.
		{"ignores SIGTERM", `trap "" TERM; while :; do sleep 0.05; done`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", tt.script}, Env: []string{"CICADA_TEST=1"},
				LogPath: filepath.Join(t.TempDir(), "sh.log")})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			pid := p.PID()
			t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
			time.Sleep(100 * time.Millisecond) // let the children start
			if m := Members(pid); !GroupAlive(pid) || len(m) < tt.members {
				t.Fatalf("group %d: members %v after start, want at least %d", pid, m, tt.members)
			}
			if !HasEnv(pid, "CICADA_TEST=1") {
				t.Errorf("CICADA_TEST=1 not in the environment of pid %d", pid)
			}
			start := time.Now()
			if err := p.Stop(300 * time.Millisecond); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Stop took %v, want about the grace", took)
			}
			if !gone(pid) || GroupAlive(pid) || Alive(pid) {
				t.Errorf("process group %d left after Stop", pid)
			}
			select {
			case <-p.Exited():
			default:
				t.Error("Exited not closed after Stop")
			}
			if err := p.Stop(300 * time.Millisecond); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}

func TestStartMissingProgram(t *testing.T) {
	t.Parallel()
	if _, err := Start(Spec{Path: filepath.Join(t.TempDir(), "no-such-program")}); err == nil {
		t.Fatal("Start of a missing program: no error")
	}
}

func TestSignal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		script  string
		sig     syscall.Signal
		wantErr bool
	}{
		{"SIGKILL ends the group", "sleep 60 & sleep 60", syscall.SIGKILL, false},
		{"SIGTERM ignored: still running", `trap "" TERM; while :; do sleep 0.05; done`, syscall.SIGTERM, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", tt.script}})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			pid := p.PID()
			t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
			time.Sleep(100 * time.Millisecond) // let the shell set its trap
			err = Signal(pid, tt.sig, 300*time.Millisecond)
			if (err != nil) != tt.wantErr {
				t.Errorf("Signal(%v) = %v, want an error: %v", tt.sig, err, tt.wantErr)
			}
			if GroupAlive(pid) != tt.wantErr {
				t.Errorf("group %d alive after Signal: %v, want %v", pid, GroupAlive(pid), tt.wantErr)
			}
		})
	}
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	closed := "127.0.0.1:" + strconv.Itoa(ports[0]) // nobody listens there
	tests := []struct {
		name   string
		script string
		ready  Check
		want   error // nil: ready
	}{
		{"tcp answers", "sleep 60", TCPReady(srv.Listener.Addr().String()), nil},
		{"http status", "sleep 60", HTTPReady(srv.URL, http.StatusTeapot), nil},
		{"http other status", "sleep 60", HTTPReady(srv.URL, http.StatusOK), context.DeadlineExceeded},
		{"tcp closed", "sleep 60", TCPReady(closed), context.DeadlineExceeded},
		{"process exits", "exit 3", TCPReady(closed), ErrExited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", tt.script}})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			t.Cleanup(func() { _ = p.Stop(0) })
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err = p.WaitReady(ctx, tt.ready)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("WaitReady = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line  string
		state string
		pgrp  int
		ok    bool
	}{
		{"42 (sleep) S 1 42 42 0 -1", "S", 42, true},
		{"43 (a (b) c) Z 42 40 40 0", "Z", 40, true}, // parentheses and spaces in the command
		{"44 (java) R 1", "", 0, false},              // too short
		{"45 sleep S 1 45", "", 0, false},            // no command
		{"46 (x) S 1 notanumber", "", 0, false},
	}
	for _, tt := range tests {
		state, pgrp, ok := parseStat([]byte(tt.line))
		if state != tt.state || pgrp != tt.pgrp || ok != tt.ok {
			t.Errorf("parseStat(%q) = %q, %d, %v; want %q, %d, %v", tt.line, state, pgrp, ok, tt.state, tt.pgrp, tt.ok)
		}
	}
}

func TestFreePortsDistinct(t *testing.T) {
	t.Parallel()
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, port := range ports {
		if port <= 0 || seen[port] {
			t.Errorf("FreePorts = %v: port %d zero or repeated", ports, port)
		}
		seen[port] = true
	}
	if len(ports) != 5 {
		t.Errorf("FreePorts(5) = %v", ports)
	}
}
