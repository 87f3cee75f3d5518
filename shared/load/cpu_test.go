package load

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGeneratorCPU: each slice carries the process's CPU share while it
// was taken; a process whose every CPU is kept busy shows it. Not
// parallel: its busy loops would slow the timing tests beside it.
func TestGeneratorCPU(t *testing.T) {
	if _, ok := ProcessCPU(); !ok {
		t.Skip("the CPU time cannot be read on this system")
	}
	tg := startTarget(t, okHandler)
	tests := []struct {
		name    string
		burners int // goroutines spinning beside the engine
		low     float64
		high    float64 // the busiest slice's share lies in [low, high]
	}{
		{"idle generator", 0, 0, 0.2},
		// Spinning on every CPU the process may use: at least a third even
		// when the machine is shared with other processes.
		{"every CPU busy", runtime.GOMAXPROCS(0), 0.33, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range tt.burners {
				wg.Go(func() {
					for n := 0; !stop.Load(); n++ {
						_ = n * n
					}
				})
			}
			p := testPlan(tg.url, 20, 1500*time.Millisecond, 500*time.Millisecond, 1, 0)
			rs := run(t, p, time.Now().Add(100*time.Millisecond))
			stop.Store(true)
			wg.Wait()
			var busiest float64
			for _, r := range rs {
				if r.GeneratorCPU < 0 || r.GeneratorCPU > 1 {
					t.Errorf("slice %d: generator CPU %v is not a share", r.Index, r.GeneratorCPU)
				}
				busiest = max(busiest, r.GeneratorCPU)
			}
			t.Logf("%d slices, busiest generator CPU %.3f", len(rs), busiest)
			if len(rs) != 3 || busiest < tt.low || busiest > tt.high {
				t.Errorf("%d slices, busiest generator CPU %.3f; want 3 slices and a share in [%v, %v]", len(rs), busiest, tt.low, tt.high)
			}
			if m := merged(rs); m.GeneratorCPU != busiest {
				t.Errorf("merged generator CPU %v, want the busiest slice's %v", m.GeneratorCPU, busiest)
			}
		})
	}
}
