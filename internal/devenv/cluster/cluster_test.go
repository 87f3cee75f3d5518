package cluster

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/proc"
)

// startMarked starts sh -c script as a process of the cluster in dir,
// with its PID file and log there.
func startMarked(t *testing.T, dir, name, script string) int {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := start(dir, name, proc.Spec{Path: "/bin/sh", Args: []string{"-c", script}, Dir: dir, LogPath: filepath.Join(dir, "logs", name+".log")})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	pid := p.PID()
	// Whatever happens to the test, nothing outlives it.
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	waitFor(t, func() bool { return proc.HasEnv(pid, MarkerEnv+"="+dir) }, "marker in the environment of pid "+strconv.Itoa(pid))
	return pid
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDownStopsGroupsAndRemovesPIDFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name   string
		script string
	}{
		// The leader exits on SIGTERM; its background child must go too,
		// as the emulator's Java process with its gcloud wrapper.
		{"worker-1", "sleep 60 & sleep 60"},
		{NamePubSub, "sleep 60 & wait"},
		{NameGCS, "exec sleep 60"},
	}
	var pids []int
	for _, tt := range tests {
		pids = append(pids, startMarked(t, dir, tt.name, tt.script))
	}
	time.Sleep(100 * time.Millisecond) // let the children start
	for i, pid := range pids {
		if !proc.GroupAlive(pid) {
			t.Fatalf("%s: group %d not alive after start", tests[i].name, pid)
		}
	}
	st, err := Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(tests) {
		t.Fatalf("Status lists %d processes, want %d: %+v", len(st), len(tests), st)
	}
	for _, p := range st {
		if !p.Alive {
			t.Errorf("Status: %s (pid %d) not alive", p.Name, p.PID)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte("export X=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := Down(dir); err != nil {
		t.Fatalf("Down: %v", err)
	}
	for i, pid := range pids {
		if proc.GroupAlive(pid) {
			t.Errorf("%s: process group %d alive after Down", tests[i].name, pid)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	if _, err := os.Stat(filepath.Join(dir, "env")); err == nil {
		left = append(left, "env")
	}
	if len(left) != 0 {
		t.Errorf("files left after Down: %v", left)
	}
	// A second Down, and a Down of a directory that never was, do nothing.
	if err := Down(dir); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if err := Down(filepath.Join(dir, "nothing-here")); err != nil {
		t.Errorf("Down of a missing directory: %v", err)
	}
}

// TestDownLeavesOthersAlone: a PID file whose process does not carry the
// cluster's marker (a PID reused after a reboot) is removed, and the
// process is left alone.
func TestDownLeavesOthersAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	pid := other.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = other.Wait()
	})
	if err := os.WriteFile(filepath.Join(dir, "worker-1.pid"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Alive {
		t.Errorf("Status = %+v, want worker-1 not alive (not ours)", st)
	}
	if err := Down(dir); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if !proc.Alive(pid) {
		t.Errorf("Down killed pid %d, which the cluster did not start", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "worker-1.pid")); err == nil {
		t.Error("stale PID file left after Down")
	}
}

func TestDownBadPIDFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
	}{
		{"not a number", "abc"},
		{"init", "1"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "trigger.pid"), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := Down(dir); err == nil || !strings.Contains(err.Error(), "trigger.pid") {
				t.Errorf("Down with pid file %q: %v, want an error naming the file", tt.content, err)
			}
		})
	}
}

// TestStopGroupsKillsAfterGrace: a group that ignores SIGTERM gets
// SIGKILL once the grace is over.
func TestStopGroupsKillsAfterGrace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pid := startMarked(t, dir, "stubborn", `trap "" TERM; while :; do sleep 0.05; done`)
	start := time.Now()
	if err := stopGroups(dir, []int{pid}, 300*time.Millisecond); err != nil {
		t.Fatalf("stopGroups: %v", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("stopGroups took %v, want about the 300ms grace", took)
	}
	if proc.GroupAlive(pid) {
		t.Errorf("group %d alive after stopGroups", pid)
	}
}

func TestKill9AndTerminate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop func(c *Cluster, name string) error
	}{
		{"kill -9", func(c *Cluster, name string) error { return c.Kill9(name) }},
		{"SIGTERM", func(c *Cluster, name string) error { return c.Terminate(name, 5*time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pid := startMarked(t, dir, "worker-2", "sleep 60 & sleep 60")
			c := &Cluster{Dir: dir}
			if got, err := c.PID("worker-2"); err != nil || got != pid {
				t.Fatalf("PID = %d, %v; want %d", got, err, pid)
			}
			if !c.Alive("worker-2") {
				t.Fatal("not alive after start")
			}
			if err := tt.stop(c, "worker-2"); err != nil {
				t.Fatal(err)
			}
			if c.Alive("worker-2") || proc.GroupAlive(pid) {
				t.Errorf("worker-2 (group %d) alive after %s", pid, tt.name)
			}
			if err := tt.stop(c, "worker-2"); err == nil {
				t.Errorf("a second %s of a dead process: no error", tt.name)
			}
			if err := tt.stop(c, "worker-9"); err == nil {
				t.Errorf("%s of an unknown process: no error", tt.name)
			}
		})
	}
}

// TestUpRefuses: Up stops before starting anything when a port is taken or
// a cluster already runs in its directory.
func TestUpRefuses(t *testing.T) {
	t.Parallel()
	ports, err := FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPorts := ports
	busyPorts.Trigger = busy.Addr().(*net.TCPAddr).Port

	running := t.TempDir()
	startMarked(t, running, NameAggregator, "sleep 60")

	tests := []struct {
		name  string
		dir   string
		ports Ports
		want  string
	}{
		{"port taken", t.TempDir(), busyPorts, "not free"},
		{"cluster running", running, ports, "still running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Up(context.Background(), Options{Dir: tt.dir, Ports: tt.ports})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Up: %v, want an error with %q", err, tt.want)
			}
			if names, _ := pidFiles(tt.dir); tt.name == "port taken" && len(names) != 0 {
				t.Errorf("Up refused but left PID files %v", names)
			}
		})
	}
}

func TestFreePortsDistinct(t *testing.T) {
	t.Parallel()
	p, err := FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, port := range p.list() {
		if port <= 0 || seen[port] {
			t.Errorf("FreePorts = %+v: port %d zero or repeated", p, port)
		}
		seen[port] = true
	}
}

func TestWriteEnv(t *testing.T) {
	t.Parallel()
	c := &Cluster{Dir: t.TempDir(), Project: "p", Bucket: "b", PubSubHost: "127.0.0.1:1", StorageHost: "http://127.0.0.1:2",
		TriggerURL: "http://127.0.0.1:3", PredictURL: "http://127.0.0.1:4", PredictGRPC: "127.0.0.1:5"}
	if err := c.writeEnv(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(c.EnvPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"export PUBSUB_EMULATOR_HOST=127.0.0.1:1\n",
		"export STORAGE_EMULATOR_HOST=http://127.0.0.1:2\n",
		"export CICADA_PROJECT=p\n",
		"export CICADA_BUCKET=b\n",
		"export CICADA_TRIGGER_URL=http://127.0.0.1:3\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("env file lacks %q:\n%s", want, b)
		}
	}
}
