package slice

import (
	"math/rand/v2"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestDecodeBucketsMatchesLibrary: the sparse decoder gives the same
// histogram as hdrhistogram.Decode for every shape of data.
func TestDecodeBucketsMatchesLibrary(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 9))
	tests := []struct {
		name   string
		values []int64
	}{
		{"one value", []int64{1234}},
		{"lowest and highest", []int64{LowestUS, HighestUS, HighestUS}},
		{"first buckets", seq(1, 4096)},
		{"spread", func() []int64 {
			var v []int64
			for range 20000 {
				v = append(v, 1+int64(rng.ExpFloat64()*50_000))
			}
			return v
		}()},
		{"clamped outliers", []int64{1, 59_999_999, 60_000_000, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := histOf(tt.values)
			enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				t.Fatal(err)
			}
			bs, total, err := decodeBuckets(enc, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := NewHistogram()
			addBuckets(got, bs)
			if !got.Equals(h) || total != h.TotalCount() {
				t.Errorf("decoded %d values (total %d), want %d; equal %v", got.TotalCount(), total, h.TotalCount(), got.Equals(h))
			}
			if got.Max() != h.Max() || got.Min() != h.Min() {
				t.Errorf("min/max %d/%d, want %d/%d", got.Min(), got.Max(), h.Min(), h.Max())
			}
		})
	}
}

func TestDecodeBucketsRefuses(t *testing.T) {
	t.Parallel()
	other := hdrhistogram.New(1, 1000, 2)
	_ = other.RecordValue(5)
	wrong, err := other.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	good, err := histOf([]int64{1, 2, 3}).Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		enc  []byte
	}{
		{"other geometry", wrong},
		{"not base64", []byte("!!!")},
		{"truncated", good[:len(good)-8]},
		{"empty frame", []byte("AAAAAA==")},
	}
	for _, tt := range tests {
		if _, _, err := decodeBuckets(tt.enc, nil); err == nil {
			t.Errorf("%s: decoded without error", tt.name)
		}
	}
}

func FuzzDecodeBuckets(f *testing.F) {
	good, err := histOf([]int64{1, 2, 3, 5000, 70000}).Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("HISTFAAAACR42pNpmSzMwMDAyAABzFCaEUoz2X+AsQBQPgV1"))
	f.Fuzz(func(t *testing.T, enc []byte) {
		bs, total, err := decodeBuckets(enc, nil)
		if err != nil {
			return
		}
		var sum int64
		for _, b := range bs {
			if b.index < 0 || b.index >= countsLen || b.count <= 0 {
				t.Fatalf("bucket %+v out of range", b)
			}
			sum += b.count
		}
		if sum != total {
			t.Fatalf("buckets sum to %d, total %d", sum, total)
		}
	})
}

// TestIndexOf: indexOf inverts valueAt over every counts index, and agrees
// with hdrhistogram on values inside buckets.
func TestIndexOf(t *testing.T) {
	t.Parallel()
	for i := range countsLen {
		if got := indexOf(valueAt(i)); got != i {
			t.Fatalf("indexOf(valueAt(%d) = %d) = %d", i, valueAt(i), got)
		}
	}
	for _, v := range []int64{1, 2, 2047, 2048, 2049, 4097, 123_456, 59_999_999, HighestUS} {
		h := NewHistogram()
		_ = h.RecordValue(v)
		got := NewHistogram()
		_ = got.RecordValues(valueAt(indexOf(v)), 1)
		if !got.Equals(h) {
			t.Errorf("value %d: index %d is not hdrhistogram's bucket", v, indexOf(v))
		}
	}
}
