package worker

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/cicadaload/cicada/shared/load"
)

// cpuWindow is how far back the CPU use is measured: long enough to smooth
// a slice boundary's burst of writes, short enough to see a shard just
// taken.
const cpuWindow = 5 * time.Second

// cpuMeter measures the process's recent CPU use as a fraction of the CPUs
// it may use (GOMAXPROCS, which follows a container's CPU limit).
type cpuMeter struct {
	read  func() (time.Duration, bool) // the process's CPU time so far
	now   func() time.Time
	procs func() int

	mu      sync.Mutex
	samples []cpuSample // oldest first, one a second, within cpuWindow
}

type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

func newCPUMeter() *cpuMeter {
	m := &cpuMeter{read: load.ProcessCPU, now: time.Now, procs: func() int { return runtime.GOMAXPROCS(0) }}
	m.sample()
	return m
}

// sample records the CPU time now, forgetting samples beyond the window.
func (m *cpuMeter) sample() {
	cpu, ok := m.read()
	if !ok {
		return
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, cpuSample{now, cpu})
	// Keep one sample at least cpuWindow old, so that use spans the window.
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) >= cpuWindow {
		m.samples = m.samples[1:]
	}
}

// run samples every second until ctx ends or the returned stop is called.
func (m *cpuMeter) run(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
	return func() { cancel(); <-done }
}

// use returns the CPU use from the oldest sample to now; false when it
// cannot be measured here.
func (m *cpuMeter) use() (float64, bool) {
	cpu, ok := m.read()
	if !ok {
		return 0, false
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.samples) == 0 {
		return 0, false
	}
	old := m.samples[0]
	span := now.Sub(old.at)
	if span <= 0 {
		return 0, true
	}
	return float64(cpu-old.cpu) / float64(span) / float64(max(m.procs(), 1)), true
}
