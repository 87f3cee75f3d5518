//go:build unix

package store_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/store"
)

// benchShards is how many shards the filled bucket's run has: n objects
// are benchShards shards of n/benchShards slices, like a run's slice
// objects (72,000 = 200 shards x 360 slices).
const benchShards = 200

// benchObject is the size of one filled object, about a small slice object.
const benchObject = 2 << 10

// benchFillLimit is how long filling a bucket may take before the size is
// skipped.
const benchFillLimit = time.Minute

const benchRun = "20260101-000000-abcdef"

func benchName(shard, k int) string {
	return fmt.Sprintf("runs/%s/slices/%d/%d.pb", benchRun, shard, k)
}

// benchDir is the directory BenchmarkDiskScale's buckets are made in:
// $CICADA_BENCH_DIR (a tmpfs, say, to leave the disk's own noise out), or
// the test's temporary directory.
func benchDir(b *testing.B) string {
	if dir := os.Getenv("CICADA_BENCH_DIR"); dir != "" {
		dir, err := os.MkdirTemp(dir, "disk-bench-")
		if err != nil {
			b.Fatalf("CICADA_BENCH_DIR: %v", err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// fillBucket writes n objects into s, untimed, and returns their names.
// It skips b if that takes longer than benchFillLimit.
func fillBucket(b *testing.B, s store.Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	data := make([]byte, benchObject)
	names := make([]string, 0, n)
	start := time.Now()
	for i := range n {
		name := benchName(i%benchShards, i/benchShards)
		if _, err := s.Create(ctx, name, data, "application/octet-stream"); err != nil {
			b.Fatalf("fill: Create(%s): %v", name, err)
		}
		names = append(names, name)
		if i%1000 == 999 && time.Since(start) > benchFillLimit {
			b.Skipf("filling %d objects: %d written in %v, over the %v limit", n, i+1, time.Since(start).Round(time.Second), benchFillLimit)
		}
	}
	// Flush the fill's dirty pages now, so that their writeback does not
	// land in the timed part.
	syscall.Sync()
	b.Logf("filled %d objects in %v", n, time.Since(start).Round(time.Millisecond))
	return names
}

// benchOps measures Get, List of one shard and Create on s, which holds
// names. Create runs last, so that the other two see exactly len(names)
// objects; it adds slices to existing shards, as a running run does.
func benchOps(b *testing.B, s store.Store, names []string, list bool) {
	ctx := context.Background()
	n := len(names)
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			// A stride prime to n visits the whole bucket in no order.
			name := names[(i*7919)%n]
			if _, err := s.Get(ctx, name); err != nil {
				b.Fatalf("Get(%s): %v", name, err)
			}
			i++
		}
	})
	if list {
		b.Run("ListShard", func(b *testing.B) {
			b.ReportAllocs()
			prefix := fmt.Sprintf("runs/%s/slices/%d/", benchRun, 17)
			want := n / benchShards
			for b.Loop() {
				got, err := s.List(ctx, prefix)
				if err != nil || len(got) != want {
					b.Fatalf("List(%s) = %d names, %v; want %d", prefix, len(got), err, want)
				}
			}
		})
	}
	data := make([]byte, benchObject)
	b.Run("Create", func(b *testing.B) {
		b.ReportAllocs()
		var created []string
		for b.Loop() {
			k := n + len(created)
			name := benchName(k%benchShards, k/benchShards)
			if _, err := s.Create(ctx, name, data, "application/octet-stream"); err != nil {
				b.Fatalf("Create(%s): %v", name, err)
			}
			created = append(created, name)
		}
		// Untimed (b.Loop stopped the timer): the next run, or -count,
		// finds the bucket at n objects again.
		for _, name := range created {
			if err := s.Delete(ctx, name, 0); err != nil {
				b.Fatalf("Delete(%s): %v", name, err)
			}
		}
		syscall.Sync()
	})
}

// BenchmarkDiskScale shows that Disk's Get and Create cost the same in a
// bucket of 1,000, 20,000 and 72,000 objects, and what listing one shard's
// slices costs among them. Set CICADA_BENCH_DIR to run it on another
// filesystem than the temporary directory's.
func BenchmarkDiskScale(b *testing.B) {
	for _, n := range []int{1_000, 20_000, 72_000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			d, err := store.NewDisk(benchDir(b))
			if err != nil {
				b.Fatalf("NewDisk: %v", err)
			}
			benchOps(b, d, fillBucket(b, d, n), true)
		})
	}
}

// BenchmarkInProcessScale is BenchmarkDiskScale's Get and Create on the
// in-process fakestorage, for comparison: its memory backend finds an
// object by a scan of the bucket. A size whose filling takes over
// benchFillLimit is skipped.
func BenchmarkInProcessScale(b *testing.B) {
	for _, n := range []int{1_000, 3_000, 10_000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			s, _, cleanup, err := store.NewInProcess("cicada-bench")
			if err != nil {
				b.Fatalf("NewInProcess: %v", err)
			}
			b.Cleanup(cleanup)
			benchOps(b, s, fillBucket(b, s, n), false)
		})
	}
}
