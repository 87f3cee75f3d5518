//go:build !unix

package load

import "time"

// ProcessCPU cannot measure the CPU here: a slice then reports no
// generator CPU, and a worker takes no shard beyond its capacity.
func ProcessCPU() (time.Duration, bool) { return 0, false }
