package slice

import (
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// histOf returns a slice-geometry histogram of the given microsecond values.
func histOf(us []int64) *hdrhistogram.Histogram {
	h := NewHistogram()
	for _, v := range us {
		if err := h.RecordValue(v); err != nil {
			panic(err)
		}
	}
	return h
}

// roundTrip marshals and unmarshals r, failing the test on error.
func roundTrip(t testing.TB, r *Result) *Result {
	t.Helper()
	b, err := Marshal(r)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	return got
}
