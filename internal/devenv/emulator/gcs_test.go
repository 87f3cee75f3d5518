package emulator

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/proc"
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
	pid := p.PID()
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
	if proc.GroupAlive(pid) {
		t.Errorf("process group %d still alive after Stop", pid)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fake-gcs-server.log")); err != nil {
		t.Errorf("log file: %v", err)
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
