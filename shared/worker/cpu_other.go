//go:build !unix

package worker

import "time"

// processCPU cannot measure the CPU here: a worker then takes no shard
// beyond its capacity.
func processCPU() (time.Duration, bool) { return 0, false }
