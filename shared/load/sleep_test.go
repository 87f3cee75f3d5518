package load

import (
	"slices"
	"testing"
	"time"
)

// TestSleeperPrecision checks the timer the open model paces with: it must
// wake well under 0.1 ms late, where runtime timers are up to 1 ms late.
func TestSleeperPrecision(t *testing.T) {
	s, err := newSleeper()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var late []time.Duration
	for range 200 {
		at := monoNow() + int64(700*time.Microsecond)
		s.until(at)
		late = append(late, time.Duration(monoNow()-at))
	}
	slices.Sort(late)
	med := late[len(late)/2]
	t.Logf("lateness: min %v median %v p90 %v max %v", late[0], med, late[len(late)*9/10], late[len(late)-1])
	if late[0] < 0 {
		t.Errorf("woke %v early", -late[0])
	}
	if med > 100*time.Microsecond {
		t.Errorf("median lateness %v, want < 100µs", med)
	}
}

func TestSleeperAllocs(t *testing.T) {
	s, err := newSleeper()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	allocs := testing.AllocsPerRun(50, func() { s.until(monoNow() + int64(20*time.Microsecond)) })
	if allocs != 0 {
		t.Errorf("a sleep allocates %.1f times, want 0", allocs)
	}
}
