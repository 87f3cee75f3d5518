package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/runs"
)

func TestMemoryLimitIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string // "" writes no file
		want    uint64
	}{
		{"cgroup v2 limit", "536870912\n", 512 << 20},
		{"cgroup v2 without limit", "max\n", 0},
		{"cgroup v1 without limit", "9223372036854771712\n", 0},
		{"unreadable", "lots", 0},
		{"no file", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "memory.max")
			if tt.content != "" {
				if err := os.WriteFile(f, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := memoryLimitIn([]string{f}); got != tt.want {
				t.Errorf("memoryLimitIn(%q) = %d, want %d", tt.content, got, tt.want)
			}
		})
	}
}

func TestMemGuard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		budget  uint64
		heap    uint64
		wantErr bool
	}{
		{"no budget", 0, 1 << 40, false},
		{"under", 100 << 20, 99 << 20, false},
		{"over, even after a collection", 100 << 20, 300 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := memGuard{budget: tt.budget, heap: func() uint64 { return tt.heap }}
			err := g.check("reading gs://b/o, 64 MiB in")
			var me *memoryError
			if got := errors.As(err, &me); got != tt.wantErr {
				t.Fatalf("check = %v, want a memory error: %v", err, tt.wantErr)
			}
			if tt.wantErr && (!strings.Contains(err.Error(), "reading gs://b/o, 64 MiB in: the worker's heap is 300 MiB, over its budget of 100 MiB") ||
				!strings.Contains(err.Error(), "CICADA_WORKER_MEMORY_LIMIT")) {
				t.Errorf("check = %v, want what, heap, budget and the variable named", err)
			}
		})
	}
	if c := (Config{MemoryLimit: -1}); c.memoryBudget() != 0 {
		t.Errorf("MemoryLimit -1: budget %d, want none", c.memoryBudget())
	}
	if c := (Config{MemoryLimit: 5 << 20}); c.memoryBudget() != 5<<20 {
		t.Errorf("MemoryLimit 5 MiB: budget %d", c.memoryBudget())
	}
}

// TestPrepareOverMemory drives a shard of inline texts on a worker whose
// memory budget its engine exceeds: the shard fails with the reason
// before its first request, as one whose corpus does not fit (see
// TestShardCorpus), instead of the worker being OOM-killed.
func TestPrepareOverMemory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := testConfig()
	cfg.MemoryLimit = 1
	e.w = New(cfg, e.st, e.b, testLog(t), nil)
	const id = "run-memory"
	e.writeRun(t, id, time.Now().Add(500*time.Millisecond), time.Second)
	e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: runs.ReasonStart}))
	e.handle(t, context.Background(), e.pullWork(t), 10*time.Second)

	if n := e.hits.Load(); n != 0 {
		t.Errorf("target got %d requests, want none", n)
	}
	obj, err := e.st.Get(context.Background(), runs.FailedPath(id, 0))
	if err != nil {
		t.Fatalf("failed marker: %v", err)
	}
	if !strings.Contains(string(obj.Data), "preparing the engine: the worker's heap is") ||
		!strings.Contains(string(obj.Data), "does not fit the worker's memory") {
		t.Errorf("failed marker %s, want the memory budget's reason", obj.Data)
	}
}
