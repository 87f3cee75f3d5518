package slice

import (
	"testing"
	"time"
)

func BenchmarkRecord(b *testing.B) {
	rec := NewRecorder()
	outcomes := []string{"http:200", "http:503", "error:timeout"}
	for _, o := range outcomes {
		rec.Record(o, true, time.Millisecond, time.Millisecond, 0, 0, 0)
	}
	lat := []time.Duration{800 * time.Microsecond, 3 * time.Millisecond, 250 * time.Millisecond, 2 * time.Minute}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rec.Record(outcomes[i%3], i%3 == 0, lat[i&3], lat[i&3]/2, 128, 512, time.Duration(i&63)*time.Microsecond)
	}
}

func BenchmarkMerge(b *testing.B) {
	parts := make([]*Result, 16)
	for i := range parts {
		parts[i] = sampleResult()
	}
	b.Run("16-shards-into-fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var acc Result
			for _, p := range parts {
				acc.Merge(p)
			}
		}
	})
	b.Run("one-into-existing", func(b *testing.B) {
		acc := sampleResult()
		b.ReportAllocs()
		for b.Loop() {
			acc.Merge(parts[0])
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	r := sampleResult()
	enc, err := Marshal(r)
	if err != nil {
		b.Fatalf("Marshal: %v", err)
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(enc)), "bytes")
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Unmarshal(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
