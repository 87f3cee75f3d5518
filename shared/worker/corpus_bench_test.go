package worker

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// BenchmarkCorpusHeap256MiB measures what one shard holds in memory for a
// corpus of 256 MiB (the default CICADA_WORKER_MAX_CORPUS_BYTES): the
// corpus is written to a Disk bucket, then read by readCorpus as a shard
// does, at its pinned generation, and the heap is measured after a GC with
// the corpus held (held-MiB) and at its highest while reading (peak-MiB),
// above what was in use before. Texts are 40 to 160 characters, as short
// classification inputs are; the JSONL records carry a label too.
//
//	go test -run '^$' -bench CorpusHeap -benchtime 1x ./shared/worker/
func BenchmarkCorpusHeap256MiB(b *testing.B) {
	const size = 256 << 20
	for _, format := range []string{"lines", "jsonl"} {
		b.Run(format, func(b *testing.B) {
			d, err := store.NewDisk(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			data := syntheticCorpus(format, size)
			gen, err := d.Put(ctx, "corpora/eval", data, "text/plain")
			if err != nil {
				b.Fatal(err)
			}
			n := int64(len(data))
			data = nil
			r := policy.DefaultRules()
			w := New(Config{ID: "bench", Rules: &r, Corpora: store.OneBucket{Name: "bench-corpora", Versions: d}}, d, nil, zap.NewNop(), nil)
			p := &plan.Plan{Data: plan.Data{URI: "gs://bench-corpora/corpora/eval"}}
			run := runs.Run{Corpus: &runs.Corpus{URI: p.Data.URI, Generation: gen, Bytes: n}}
			for b.Loop() {
				var c *plan.Corpus
				base := heapInUse()
				peak := peakHeap(func() {
					if c, err = w.readCorpus(ctx, p, run); err != nil {
						b.Fatal(err)
					}
				})
				held := heapInUse()
				b.ReportMetric(float64(held-base)/(1<<20), "held-MiB")
				b.ReportMetric(float64(peak-base)/(1<<20), "peak-MiB")
				b.ReportMetric(float64(len(c.Texts)), "texts")
				runtime.KeepAlive(c)
			}
		})
	}
}

// syntheticCorpus is at most size bytes (within 256 of it) of texts of 40 to 160 characters,
// one per line, or one JSONL record each.
func syntheticCorpus(format string, size int) []byte {
	var sb strings.Builder
	sb.Grow(size + 256)
	words := []string{"the", "striker", "scored", "late", "shares", "fell", "sharply", "after", "a", "new", "chip", "launch", "in", "market"}
	for i := 0; sb.Len() < size-256; i++ { // the longest line is under 256 bytes
		var t strings.Builder
		for n := 40 + (i*37)%121; t.Len() < n; {
			t.WriteString(words[(i+t.Len())%len(words)])
			t.WriteByte(' ')
		}
		text := strings.TrimSpace(t.String())
		if format == "jsonl" {
			fmt.Fprintf(&sb, `{"text": %q, "label": "class-%d"}`+"\n", text, i%4)
		} else {
			sb.WriteString(text)
			sb.WriteByte('\n')
		}
	}
	return []byte(sb.String())
}

// heapInUse is the heap in use after a GC.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// peakHeap runs fn and returns the highest heap in use seen while it ran,
// sampled every 10 ms.
func peakHeap(fn func()) uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak.Store(max(peak.Load(), ms.HeapInuse))
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak.Load()
}
