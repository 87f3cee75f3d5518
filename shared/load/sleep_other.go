//go:build !linux

package load

import "time"

// sleeper falls back to the runtime's timers where timerfd does not exist:
// wake-ups are then up to a millisecond late, and that lateness is measured.
// fire cannot interrupt a sleep, so wait sleeps in short chunks.
type sleeper struct{ at int64 }

func newSleeper() (*sleeper, error) { return &sleeper{}, nil }

var monoBase = time.Now()

func (s *sleeper) until(mono int64) { time.Sleep(time.Duration(mono - monoNow())) }

func (s *sleeper) arm(mono int64) bool { s.at = mono; return true }

func (s *sleeper) wait() { time.Sleep(min(time.Duration(s.at-monoNow()), 50*time.Millisecond)) }

func (s *sleeper) fire() {}

func (s *sleeper) close() {}

func monoNow() int64 { return int64(time.Since(monoBase)) }
