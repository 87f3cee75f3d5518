package slice

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// record is one call to Record in a table.
type record struct {
	outcome          string
	ok               bool
	latency, service time.Duration
	sent, recv       int64
	lateness         time.Duration
}

func TestRecorderRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		records []record
		intend  int64
		drop    int64
		bound   time.Duration // SetLateBound; zero counts no request late
		want    Result        // histograms checked separately through wantLatUS
		// wantLatUS and wantSvcUS are the clamped microsecond values recorded.
		wantLatUS, wantSvcUS []int64
	}{
		{
			name:   "nothing recorded",
			intend: 3, drop: 3,
			want: Result{Intended: 3, Dropped: 3, Outcomes: map[string]int64{}},
		},
		{
			name: "one success",
			records: []record{
				{"http:200", true, 1500 * time.Microsecond, 1200 * time.Microsecond, 100, 2000, 300 * time.Microsecond},
			},
			intend: 1,
			want: Result{
				Intended: 1, Sent: 1, Completed: 1, BytesSent: 100, BytesReceived: 2000,
				Outcomes: map[string]int64{"http:200": 1}, MaxLatenessUS: 300, SumLatenessUS: 300,
			},
			wantLatUS: []int64{1500}, wantSvcUS: []int64{1200},
		},
		{
			name: "errors count completed requests with ok false",
			records: []record{
				{"http:200", true, time.Millisecond, time.Millisecond, 0, 0, 0},
				{"http:503", false, 2 * time.Millisecond, 2 * time.Millisecond, 0, 0, 0},
				{"error:timeout", false, 5 * time.Second, 5 * time.Second, 0, 0, 0},
				{"http:503", false, 3 * time.Millisecond, 3 * time.Millisecond, 0, 0, 0},
			},
			want: Result{
				Sent: 4, Completed: 4, Errors: 3,
				Outcomes: map[string]int64{"http:200": 1, "http:503": 2, "error:timeout": 1},
			},
			wantLatUS: []int64{1000, 2000, 5_000_000, 3000}, wantSvcUS: []int64{1000, 2000, 5_000_000, 3000},
		},
		{
			name: "out of range values are clamped, never lost",
			records: []record{
				{"grpc:OK", true, 0, -time.Second, 0, 0, 0},
				{"grpc:OK", true, 400 * time.Nanosecond, time.Nanosecond, 0, 0, 0},
				{"grpc:OK", true, 2 * time.Minute, time.Hour, 0, 0, 0},
				{"grpc:OK", true, 60 * time.Second, 60*time.Second + time.Microsecond, 0, 0, 0},
			},
			want: Result{
				Sent: 4, Completed: 4, Outcomes: map[string]int64{"grpc:OK": 4},
			},
			wantLatUS: []int64{1, 1, HighestUS, HighestUS}, wantSvcUS: []int64{1, 1, HighestUS, HighestUS},
		},
		{
			name: "lateness: max and sum in microseconds, negative counts as zero",
			records: []record{
				{"http:200", true, time.Millisecond, time.Millisecond, 0, 0, 2 * time.Millisecond},
				{"http:200", true, time.Millisecond, time.Millisecond, 0, 0, -time.Millisecond},
				{"http:200", true, time.Millisecond, time.Millisecond, 0, 0, 1500 * time.Nanosecond},
			},
			want: Result{
				Sent: 3, Completed: 3, Outcomes: map[string]int64{"http:200": 3},
				MaxLatenessUS: 2000, SumLatenessUS: 2001,
			},
			wantLatUS: []int64{1000, 1000, 1000}, wantSvcUS: []int64{1000, 1000, 1000},
		},
		{
			name: "late: sent more than the bound after the intended time",
			records: []record{
				{"http:200", true, time.Millisecond, time.Millisecond, 0, 0, 50 * time.Millisecond},
				{"http:200", true, time.Millisecond, time.Millisecond, 0, 0, 50*time.Millisecond + time.Microsecond},
				{"http:200", true, time.Millisecond, time.Millisecond, 0, 0, time.Second},
				{"http:200", true, time.Millisecond, time.Millisecond, 0, 0, -time.Second},
			},
			bound: 50 * time.Millisecond,
			want: Result{
				Sent: 4, Completed: 4, Outcomes: map[string]int64{"http:200": 4},
				MaxLatenessUS: 1_000_000, SumLatenessUS: 1_100_001, Late: 2,
			},
			wantLatUS: []int64{1000, 1000, 1000, 1000}, wantSvcUS: []int64{1000, 1000, 1000, 1000},
		},
		{
			name: "empty outcome key is stored as unknown",
			records: []record{
				{"", false, time.Millisecond, time.Millisecond, 0, 0, 0},
			},
			want: Result{
				Sent: 1, Completed: 1, Errors: 1, Outcomes: map[string]int64{"unknown": 1},
			},
			wantLatUS: []int64{1000}, wantSvcUS: []int64{1000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := NewRecorder()
			rec.SetLateBound(tt.bound)
			rec.Intend(tt.intend)
			rec.Drop(tt.drop)
			for _, c := range tt.records {
				rec.Record(c.outcome, c.ok, c.latency, c.service, c.sent, c.recv, c.lateness)
			}
			got := NewResult("run", 0, 0, time.Time{}, time.Time{})
			got.AddRecorder(rec)

			want := tt.want
			want.RunID, want.ShardsReporting = "run", 1
			want.Latency, want.Service = histOf(tt.wantLatUS), histOf(tt.wantSvcUS)
			if !got.Equal(&want) {
				t.Errorf("AddRecorder result = %+v, want %+v", *got, want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if n := got.Latency.TotalCount(); n != got.Completed {
				t.Errorf("latency TotalCount = %d, want completed %d", n, got.Completed)
			}
		})
	}
}

func TestRecorderFailedSend(t *testing.T) {
	t.Parallel()
	rec := NewRecorder()
	rec.Intend(1)
	rec.RecordFailedSend("error:connect", "dial tcp 127.0.0.1:1: connection refused", 250*time.Microsecond)
	got := NewResult("", 0, 0, time.Time{}, time.Time{})
	got.AddRecorder(rec)
	want := NewResult("", 0, 0, time.Time{}, time.Time{})
	want.Intended, want.Sent, want.Completed, want.Errors = 1, 1, 1, 1
	want.Outcomes["error:connect"] = 1
	want.SampleErrors = []string{"dial tcp 127.0.0.1:1: connection refused"}
	_ = want.Latency.RecordValue(250)
	_ = want.Service.RecordValue(250)
	if !got.Equal(want) {
		t.Errorf("RecordFailedSend result = %+v, want %+v", *got, *want)
	}
}

func TestRecorderSampleError(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxSampleErrorLen-1) + "é tail" // é straddles the cut
	tests := []struct {
		name string
		msgs []string
		want []string // sorted, as a Result keeps them
	}{
		{"none", nil, nil},
		{"duplicates kept once", []string{"a", "b", "a", "b"}, []string{"a", "b"}},
		{"first five distinct kept", []string{"f", "e", "d", "c", "b", "a", "g"}, []string{"b", "c", "d", "e", "f"}},
		{"cut on a rune boundary", []string{long}, []string{strings.Repeat("x", MaxSampleErrorLen-1)}},
		{"invalid UTF-8 repaired", []string{"bad \xff byte"}, []string{"bad \uFFFD byte"}},
		{"credentials redacted before the cut", []string{`Get "https://h/p?api_key=` + strings.Repeat("s", 2*MaxSampleErrorLen) + `": EOF`},
			[]string{`Get "https://h/p?api_key=REDACTED": EOF`}},
		{"messages alike once redacted kept once", []string{"denied: Authorization: Bearer a", "denied: Authorization: Bearer b"},
			[]string{"denied: Authorization: REDACTED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := NewRecorder()
			for _, m := range tt.msgs {
				rec.SampleError(m)
			}
			r := NewResult("", 0, 0, time.Time{}, time.Time{})
			r.AddRecorder(rec)
			if !slices.Equal(r.SampleErrors, tt.want) {
				t.Errorf("SampleErrors = %q, want %q", r.SampleErrors, tt.want)
			}
		})
	}
}

func TestRecorderReset(t *testing.T) {
	t.Parallel()
	rec := NewRecorder()
	rec.Intend(5)
	rec.Drop(1)
	rec.Record("http:200", true, time.Millisecond, time.Millisecond, 1, 1, time.Millisecond)
	rec.SampleError("boom")
	rec.Reset()

	got := NewResult("", 0, 0, time.Time{}, time.Time{})
	got.AddRecorder(rec)
	want := NewResult("", 0, 0, time.Time{}, time.Time{})
	if !got.Equal(want) {
		t.Errorf("after Reset, AddRecorder result = %+v, want empty", *got)
	}
	if _, ok := rec.outcomes["http:200"]; !ok {
		t.Errorf("Reset dropped outcome key %q; it must keep keys so Record does not allocate", "http:200")
	}

	rec.Record("http:200", true, time.Millisecond, time.Millisecond, 0, 0, 0)
	got = NewResult("", 0, 0, time.Time{}, time.Time{})
	got.AddRecorder(rec)
	if want := map[string]int64{"http:200": 1}; !maps.Equal(got.Outcomes, want) {
		t.Errorf("after Reset and one Record, Outcomes = %v, want %v", got.Outcomes, want)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	rec := NewRecorder()
	rec.Record("http:200", true, time.Millisecond, time.Millisecond, 1, 1, 0)
	rec.SampleError("boom")
	allocs := testing.AllocsPerRun(1000, func() {
		rec.Record("http:200", true, 3*time.Millisecond, 2*time.Millisecond, 100, 200, time.Microsecond)
		rec.Record("http:200", false, time.Hour, 0, 100, 200, 0)
		rec.SampleError("boom")
		rec.Intend(1)
		rec.Drop(1)
	})
	if allocs != 0 {
		t.Errorf("Record allocates %.1f times per run, want 0", allocs)
	}
}

func TestPercentilesOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []int64
		want   Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one value", []int64{1234}, Percentiles{Min: 1.234, Mean: 1.234, P50: 1.234, P90: 1.234, P95: 1.234, P99: 1.234, P999: 1.234, Max: 1.234}},
		{
			// 1..1000 µs: every value is exact below 2048 µs at 3 digits.
			"one to a thousand", seq(1, 1000),
			Percentiles{Min: 0.001, Mean: 0.5005, P50: 0.5, P90: 0.9, P95: 0.95, P99: 0.99, P999: 0.999, Max: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := PercentilesOf(histOf(tt.values))
			if got != tt.want {
				t.Errorf("PercentilesOf = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := PercentilesOf(nil); got != (Percentiles{}) {
		t.Errorf("PercentilesOf(nil) = %+v, want zero", got)
	}
}

func seq(from, to int64) []int64 {
	var s []int64
	for v := from; v <= to; v++ {
		s = append(s, v)
	}
	return s
}
