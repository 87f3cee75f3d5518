package load

import (
	"runtime"
	"time"
)

// minCPUSpan is the shortest time a CPU share is measured over: slices
// emitted together (a shard that resumes, the last ones at the end) share
// the share measured before them rather than one over a few microseconds.
const minCPUSpan = 50 * time.Millisecond

// cpuGauge measures the process's CPU use between readings as a share of
// the CPUs it may use (GOMAXPROCS, which follows a container's CPU limit).
// It is the generator's own load: near 1, the process reads the answers
// late, and the latencies it measures include its own queueing. It is read
// at each emitted slice, never per request.
type cpuGauge struct {
	wall time.Time
	cpu  time.Duration
	last float64
	ok   bool // false where the CPU time cannot be read: every share is 0
}

func (g *cpuGauge) start() {
	g.cpu, g.ok = ProcessCPU()
	g.wall = time.Now()
}

// read returns the share of the CPUs the process used since the last
// reading, 0 to 1.
func (g *cpuGauge) read() float64 {
	if !g.ok {
		return 0
	}
	now := time.Now()
	span := now.Sub(g.wall)
	if span < minCPUSpan {
		return g.last
	}
	cpu, ok := ProcessCPU()
	if !ok {
		return g.last
	}
	share := float64(cpu-g.cpu) / float64(span) / float64(max(runtime.GOMAXPROCS(0), 1))
	g.last = min(max(share, 0), 1)
	g.wall, g.cpu = now, cpu
	return g.last
}
