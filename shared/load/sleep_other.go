//go:build !linux

package load

import "time"

// sleeper falls back to the runtime's timers where timerfd does not exist:
// wake-ups are then up to a millisecond late, and that lateness is measured.
type sleeper struct{}

func newSleeper() (*sleeper, error) { return &sleeper{}, nil }

var monoBase = time.Now()

func (s *sleeper) until(mono int64) { time.Sleep(time.Duration(mono - monoNow())) }

func (s *sleeper) close() {}

func monoNow() int64 { return int64(time.Since(monoBase)) }
