package slice

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	a := NewResult("run", 0, 3, t0.Add(30*time.Second), t0.Add(40*time.Second))
	a.Intended, a.Sent, a.Completed, a.Dropped, a.Errors = 10, 9, 9, 1, 2
	a.Outcomes = map[string]int64{"http:200": 7, "http:503": 2}
	a.SampleErrors = []string{"e1", "e3", "e5", "e7", "e9"}
	a.Latency, a.Service = histOf(seqN(9, 1000)), histOf(seqN(9, 900))
	a.MaxLatenessUS, a.SumLatenessUS, a.Late = 50, 100, 3
	a.GeneratorCPU = 0.25
	a.BytesSent, a.BytesReceived = 1, 2

	b := NewResult("run", 1, 3, t0.Add(29*time.Second), t0.Add(41*time.Second))
	b.Intended, b.Sent, b.Completed = 5, 5, 5
	b.Outcomes = map[string]int64{"http:200": 5}
	b.SampleErrors = []string{"e0", "e2", "e9"}
	b.Latency, b.Service = histOf(seqN(5, 2000)), histOf(seqN(5, 1900))
	b.MaxLatenessUS, b.SumLatenessUS, b.Late = 80, 90, 4
	b.GeneratorCPU = 0.75
	b.BytesSent, b.BytesReceived = 10, 20
	bBefore := b.Clone()

	got := a.Clone()
	got.Merge(b)

	want := &Result{
		RunID: "run", Shard: 0, Index: 3, Start: t0.Add(29 * time.Second), End: t0.Add(41 * time.Second),
		Intended: 15, Sent: 14, Completed: 14, Dropped: 1, Errors: 2, BytesSent: 11, BytesReceived: 22,
		Outcomes:        map[string]int64{"http:200": 12, "http:503": 2},
		SampleErrors:    []string{"e0", "e1", "e2", "e3", "e5"},
		Latency:         histOf(append(seqN(9, 1000), seqN(5, 2000)...)),
		Service:         histOf(append(seqN(9, 900), seqN(5, 1900)...)),
		ShardsReporting: 2, MaxLatenessUS: 80, SumLatenessUS: 190, Late: 7, GeneratorCPU: 0.75,
	}
	if !got.Equal(want) {
		t.Errorf("Merge = %+v, want %+v", *got, *want)
	}
	if !b.Equal(bBefore) {
		t.Errorf("Merge modified its argument: %+v, was %+v", *b, *bBefore)
	}

	// The other order gives the same data except the receiver's identity.
	other := b.Clone()
	other.Merge(a)
	other.Shard = 0
	if !other.Equal(want) {
		t.Errorf("Merge in the other order = %+v, want %+v", *other, *want)
	}
}

func TestMergeIntoZeroResult(t *testing.T) {
	t.Parallel()
	var acc Result
	in := sampleResult()
	acc.Merge(in)
	acc.Merge(nil)
	if acc.RunID != in.RunID || acc.Completed != in.Completed || !maps.Equal(acc.Outcomes, in.Outcomes) ||
		!acc.Latency.Equals(in.Latency) || acc.ShardsReporting != 1 || !acc.Start.Equal(in.Start) {
		t.Errorf("zero Result merged with one result = %+v, want its data", acc)
	}
	if acc.Latency == in.Latency {
		t.Errorf("Merge shares the argument's histogram; want a copy")
	}
}

func TestClone(t *testing.T) {
	t.Parallel()
	r := sampleResult()
	c := r.Clone()
	if !c.Equal(r) {
		t.Fatalf("Clone = %+v, want %+v", *c, *r)
	}
	c.Outcomes["http:200"]++
	c.SampleErrors[0] = "changed"
	_ = c.Latency.RecordValue(1)
	if r.Outcomes["http:200"] == c.Outcomes["http:200"] || slices.Contains(r.SampleErrors, "changed") ||
		r.Latency.TotalCount() == c.Latency.TotalCount() {
		t.Errorf("changing a clone changed the original")
	}
}

// seqN returns n values starting at from, step 1.
func seqN(n int, from int64) []int64 { return seq(from, from+int64(n)-1) }

func TestMergeInstancesAndChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                      string
		a, b                      Result
		instances, checked, right int64
		chars                     map[int64]int64
	}{
		{"both empty", Result{}, Result{}, 0, 0, 0, nil},
		{"sums", Result{Instances: 8, Checked: 8, Correct: 7, TextChars: map[int64]int64{10: 2}},
			Result{Instances: 4, Checked: 2, Correct: 2, TextChars: map[int64]int64{10: 1, 30: 1}},
			12, 10, 9, map[int64]int64{10: 3, 30: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := tt.a.Clone()
			a.Merge(&tt.b)
			if a.Instances != tt.instances || a.Checked != tt.checked || a.Correct != tt.right {
				t.Errorf("merge = %d instances, %d checked, %d correct; want %d, %d, %d", a.Instances, a.Checked, a.Correct, tt.instances, tt.checked, tt.right)
			}
			if len(a.TextChars) != len(tt.chars) {
				t.Fatalf("text_chars = %v, want %v", a.TextChars, tt.chars)
			}
			for n, c := range tt.chars {
				if a.TextChars[n] != c {
					t.Errorf("text_chars[%d] = %d, want %d", n, a.TextChars[n], c)
				}
			}
			if tt.b.Correct > tt.b.Checked {
				return
			}
			bad := a.Clone()
			bad.Correct = bad.Checked + 1
			if err := bad.validateCounters(); err == nil {
				t.Error("validateCounters accepted correct > checked")
			}
		})
	}
}
