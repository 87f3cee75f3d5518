package worker

import (
	"math"
	"testing"
	"time"
)

// TestCPUMeter feeds the meter a fake clock and CPU time: its use is the
// CPU time over the window, per CPU, and it forgets samples beyond it.
func TestCPUMeter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		procs int
		// cpuPerSec is the CPU time used in each second, one entry a second.
		cpuPerSec []time.Duration
		want      float64
	}{
		{"idle", 2, []time.Duration{0, 0, 0}, 0},
		{"one CPU busy of two", 2, []time.Duration{time.Second, time.Second, time.Second}, 0.5},
		{"a quarter of one CPU", 1, []time.Duration{250 * time.Millisecond, 250 * time.Millisecond}, 0.25},
		// 8 s of history: only the last cpuWindow (5 s) counts, busy after
		// an idle start.
		{"busy lately, idle before the window", 1, []time.Duration{0, 0, 0, time.Second, time.Second, time.Second, time.Second, time.Second}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now, cpu := t0, time.Duration(0)
			m := &cpuMeter{
				read:  func() (time.Duration, bool) { return cpu, true },
				now:   func() time.Time { return now },
				procs: func() int { return tt.procs },
			}
			m.sample()
			for _, c := range tt.cpuPerSec {
				now, cpu = now.Add(time.Second), cpu+c
				m.sample()
			}
			got, ok := m.use()
			if !ok || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("use = %v %v, want %v", got, ok, tt.want)
			}
			if span := now.Sub(m.samples[0].at); span > cpuWindow+time.Second {
				t.Errorf("oldest sample %v old, want within the window (%v) and a second", span, cpuWindow)
			}
		})
	}
}

func TestCPUMeterUnknown(t *testing.T) {
	t.Parallel()
	m := &cpuMeter{read: func() (time.Duration, bool) { return 0, false }, now: time.Now, procs: func() int { return 1 }}
	m.sample()
	if _, ok := m.use(); ok {
		t.Error("use is known where the CPU time is not")
	}
	w := Config{Capacity: 1, MaxShards: 4, CPUBound: 0.6}
	if take, _ := w.takes(ReasonResume, 1, 0, false); take {
		t.Error("a worker at capacity takes a resume without knowing its CPU use")
	}
}
