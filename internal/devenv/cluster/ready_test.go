package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/cicadaload/cicada/internal/devenv/proc"
	"github.com/cicadaload/cicada/shared/bus"
)

// newTestCluster is a Cluster in a fresh directory, with nothing started.
func newTestCluster(t *testing.T, readyTimeout time.Duration) *Cluster {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Cluster{Dir: dir, readyTimeout: readyTimeout, procs: map[string]*proc.Proc{}, specs: map[string]spec{}}
}

// killOnCleanup makes sure the process group of name, as its PID file
// says now, does not outlive the test.
func killOnCleanup(t *testing.T, c *Cluster, name string) {
	t.Helper()
	if pid, err := c.PID(name); err == nil {
		t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	}
}

func shSpec(name, script, line string) spec {
	return spec{name: name, Spec: proc.Spec{Path: "/bin/sh", Args: []string{"-c", script}}, line: line}
}

// TestLogReady: a line counts only when logged after the check was made,
// as a component's log is appended to across starts.
func TestLogReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "worker-1.log")
	if logReady(path, "") != nil {
		t.Errorf("logReady with no line: want nil, no check")
	}
	missing := logReady(path, "worker pulling")
	if err := missing(ctx); err == nil {
		t.Errorf("ready with no log file")
	}
	if err := os.WriteFile(path, []byte("INFO\tworker pulling\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := missing(ctx); err != nil {
		t.Errorf("line logged after a check made before the file existed: %v", err)
	}

	// A new start: the earlier line is not this start's.
	check := logReady(path, "worker pulling")
	if err := check(ctx); err == nil || !strings.Contains(err.Error(), `no "worker pulling"`) {
		t.Errorf("ready on the previous start's line: %v", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("INFO\tworker ready\nINFO\tworker pulling\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := check(ctx); err != nil {
		t.Errorf("not ready after this start's line: %v", err)
	}
}

// TestStageNamesWhatIsNotReady: a stage bounded by its timeout fails
// naming each process that did not get ready, and why.
func TestStageNamesWhatIsNotReady(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 0)
	specs := []spec{
		shSpec("worker-1", "echo worker pulling; exec sleep 60", "worker pulling"),
		shSpec("worker-2", "echo worker ready; exec sleep 60", "worker pulling"),
	}
	err := c.stage(context.Background(), time.Second, nil, specs...)
	for _, s := range specs {
		killOnCleanup(t, c, s.name)
	}
	if err == nil {
		t.Fatal("stage with a process that never logs its line: no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "worker-2") || !strings.Contains(msg, `no "worker pulling" in the log yet`) {
		t.Errorf("error %q: want worker-2 named with the missing line", msg)
	}
	if strings.Contains(msg, "worker-1:") {
		t.Errorf("error %q names worker-1, which was ready", msg)
	}
}

// TestTopologyReady checks the readiness of the Pub/Sub topology against
// pstest: not ready, naming what is missing, until Setup ran.
func TestTopologyReady(t *testing.T) {
	t.Parallel()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := bus.NewPubSub(ctx, bus.LocalProject, bus.EmulatorOptions(srv.Addr)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	check := topologyReady(admin)
	err = check(ctx)
	if err == nil || !strings.Contains(err.Error(), "topic "+bus.ShardsTopic) || !strings.Contains(err.Error(), "subscription "+bus.EventsSub) {
		t.Errorf("before Setup: %v, want an error naming the missing topics and subscriptions", err)
	}
	if err := bus.Setup(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if err := check(ctx); err != nil {
		t.Errorf("after Setup: %v", err)
	}
}

// TestRestart stops a process's group and starts it again: a new PID in
// the PID file, ready by this start's log, the old group gone.
func TestRestart(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 5*time.Second)
	const name = "worker-1"
	if err := c.stage(context.Background(), 5*time.Second, nil, shSpec(name, "sleep 60 & echo worker pulling; wait", "worker pulling")); err != nil {
		t.Fatal(err)
	}
	killOnCleanup(t, c, name)
	before, err := c.PID(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(context.Background(), name); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	killOnCleanup(t, c, name)
	after, err := c.PID(name)
	if err != nil {
		t.Fatal(err)
	}
	if after == before || !c.Alive(name) {
		t.Errorf("PID %d before, %d after (alive %v): want a new live process", before, after, c.Alive(name))
	}
	if proc.GroupAlive(before) {
		t.Errorf("the first start's group %d still alive", before)
	}
	b, err := os.ReadFile(c.LogPath(name))
	if err != nil || strings.Count(string(b), "worker pulling") != 2 {
		t.Errorf("log %q (%v): want both starts' lines", b, err)
	}
	if err := c.Restart(context.Background(), "worker-9"); err == nil {
		t.Errorf("Restart of a process the cluster did not start: no error")
	}
}
