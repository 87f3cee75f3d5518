package emulator

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gone reports whether no process has pid any more.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestStartFakeGCSStopLeavesNoProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	p, err := StartFakeGCS(ctx, dir)
	Require(t, err)
	pid := p.Cmd.Process.Pid
	t.Cleanup(func() { _ = p.Stop() })

	if !strings.HasPrefix(p.Addr, "127.0.0.1:") {
		t.Errorf("Addr = %q, want 127.0.0.1:port", p.Addr)
	}
	if p.Host != "http://"+p.Addr {
		t.Errorf("Host = %q, want http://%s", p.Host, p.Addr)
	}
	// It serves the JSON API.
	resp, err := http.Get(p.Host + "/storage/v1/b")
	if err != nil {
		t.Fatalf("list buckets: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("list buckets: %s, want 200", resp.Status)
	}

	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !gone(pid) {
		t.Errorf("pid %d still exists after Stop", pid)
	}
	if groupAlive(pid) {
		t.Errorf("process group %d still alive after Stop", pid)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fake-gcs-server.log")); err != nil {
		t.Errorf("log file: %v", err)
	}
}

func TestStopEndsTheWholeGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
	}{
		// The leader exits on SIGTERM; its background child must go too.
		{"leader and child", "sleep 60 & sleep 60"},
		// The leader ignores SIGTERM: SIGKILL after the grace.
		{"ignores SIGTERM", `trap "" TERM; while :; do sleep 0.05; done`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logPath := filepath.Join(t.TempDir(), "sh.log")
			p, err := startProc("/bin/sh", []string{"-c", tt.script}, []string{"CICADA_TEST=1"}, logPath)
			if err != nil {
				t.Fatalf("startProc: %v", err)
			}
			p.grace = 300 * time.Millisecond
			pid := p.Cmd.Process.Pid
			time.Sleep(100 * time.Millisecond) // let the children start
			if !groupAlive(pid) {
				t.Fatalf("group %d not alive after start", pid)
			}
			start := time.Now()
			if err := p.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Stop took %v, want about the grace", took)
			}
			if !gone(pid) || groupAlive(pid) {
				t.Errorf("process group %d left after Stop", pid)
			}
			select {
			case <-p.Exited():
			default:
				t.Error("Exited not closed after Stop")
			}
		})
	}
}

func TestStartProcMissingProgram(t *testing.T) {
	t.Parallel()
	_, err := startProc(filepath.Join(t.TempDir(), "no-such-program"), nil, nil, "")
	if err == nil {
		t.Fatal("startProc of a missing program: no error")
	}
}

func TestWaitTCP(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	if err != nil {
		t.Fatalf("freePort: %v", err)
	}
	if port <= 0 {
		t.Fatalf("freePort = %d", port)
	}
	// Nobody listens there: waitTCP gives up with the context.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := waitTCP(ctx, "127.0.0.1:"+strconv.Itoa(port)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waitTCP on a closed port: %v, want DeadlineExceeded", err)
	}
}

// fakeTB records how Require ended a test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestRequire(t *testing.T) {
	tests := []struct {
		name        string
		ci          string
		err         error
		skip, fatal bool
	}{
		{"started", "true", nil, false, false},
		{"missing locally", "", errors.New("not found"), true, false},
		{"missing in CI", "true", errors.New("not found"), false, true},
		{"CI=false is local", "false", errors.New("not found"), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			f := &fakeTB{}
			Require(f, tt.err)
			if f.skipped != tt.skip || f.failed != tt.fatal {
				t.Errorf("Require(CI=%q, %v): skipped=%v failed=%v, want %v %v", tt.ci, tt.err, f.skipped, f.failed, tt.skip, tt.fatal)
			}
		})
	}
}
