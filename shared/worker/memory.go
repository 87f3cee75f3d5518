package worker

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// A shard's preparation holds its whole corpus and every rendered request
// in memory. One that does not fit must fail with its reason, not get the
// worker OOM-killed: the shard's lease would then lapse, the next worker
// take it and die in turn, and a single plan would take the fleet down.
// So the worker watches its heap while it reads a corpus and renders
// requests, against a budget (Config.MemoryLimit).

// memoryShare is the share of the container's memory limit the heap may
// take: the rest is the runtime's and the kernel's (stacks, GC overhead,
// socket buffers).
const memoryShare = 0.85

// cgroupFiles hold a container's memory limit: cgroup v2, then v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// containerMemory is the container's memory limit in bytes, 0 when there
// is none or it cannot be read.
func containerMemory() uint64 { return memoryLimitIn(cgroupFiles) }

// memoryLimitIn reads a memory limit from the first of files that exists.
func memoryLimitIn(files []string) uint64 {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n >= 1<<60 { // v1 writes a huge number for none
			return 0
		}
		return n
	}
	return 0
}

// memoryBudget is the heap's budget while a shard is prepared: the
// configured limit, else memoryShare of the container's; 0 for none.
func (c Config) memoryBudget() uint64 {
	switch {
	case c.MemoryLimit > 0:
		return uint64(c.MemoryLimit)
	case c.MemoryLimit < 0:
		return 0
	}
	return uint64(memoryShare * float64(containerMemory()))
}

// softLimit tells the Go runtime the container's memory limit, unless
// GOMEMLIMIT or CICADA_WORKER_MEMORY_LIMIT already say something: near
// it the collector works harder rather than let garbage reach the limit
// (Go does not read cgroups itself).
func softLimit(c Config, log *zap.Logger) {
	if c.MemoryLimit != 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if m := containerMemory(); m > 0 {
		debug.SetMemoryLimit(int64(0.9 * float64(m)))
		log.Info("memory limit", zap.Uint64("container_bytes", m), zap.Uint64("shard_budget_bytes", uint64(memoryShare*float64(m))))
	}
}

// memGuard checks the heap against a budget.
type memGuard struct {
	budget uint64
	// heap reads the heap's size; heapObjects unless a test sets it.
	heap func() uint64
}

func (w *Worker) memGuard() memGuard {
	return memGuard{budget: w.cfg.memoryBudget(), heap: heapObjects}
}

// check fails when the heap is over the budget even after a collection;
// what says what was being prepared.
func (g memGuard) check(what string) error {
	if g.budget == 0 {
		return nil
	}
	if g.heap() <= g.budget {
		return nil
	}
	runtime.GC() // what is over may be garbage
	h := g.heap()
	if h <= g.budget {
		return nil
	}
	return &memoryError{fmt.Sprintf("%s: the worker's heap is %d MiB, over its budget of %d MiB (CICADA_WORKER_MEMORY_LIMIT, by default %d %% of the container's memory): this shard does not fit the worker's memory; use a smaller corpus, fewer texts per shard (more shards), or workers with more memory",
		what, h>>20, g.budget>>20, int(100*memoryShare))}
}

// memoryError is a shard over the worker's memory budget.
type memoryError struct{ msg string }

func (e *memoryError) Error() string { return e.msg }

// heapObjects is the memory held by heap objects, live or not yet swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// memCheckEvery is how many bytes of a corpus are read between checks.
const memCheckEvery = 8 << 20

// guardedReader checks the heap every memCheckEvery bytes read.
type guardedReader struct {
	r     io.Reader
	g     memGuard
	name  string
	read  int64
	check int64
}

func (r *guardedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.read += int64(n)
	if r.read >= r.check {
		r.check = r.read + memCheckEvery
		if merr := r.g.check(fmt.Sprintf("reading %s, %d MiB in", r.name, r.read>>20)); merr != nil {
			return n, merr
		}
	}
	return n, err
}
