package slice

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/protobuf/proto"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// sampleResult is a realistic single-shard slice.
func sampleResult() *Result {
	rec := NewRecorder()
	rec.Intend(1003)
	rec.Drop(2)
	for i := range 1000 {
		ok, outcome := true, "http:200"
		if i%100 == 0 {
			ok, outcome = false, "http:503"
		}
		rec.Record(outcome, ok, time.Duration(500+i*37)*time.Microsecond, time.Duration(400+i*30)*time.Microsecond, 120, 64, time.Duration(i)*time.Microsecond)
		rec.Instances(4)
		rec.Checked(4, int64(3+i%2))
		rec.TextChars(20 + i%7)
	}
	rec.RecordFailedSend("error:connect", "dial tcp 127.0.0.1:9: connect: connection refused", 3*time.Millisecond)
	r := NewResult("run-1", 2, 7, t0.Add(70*time.Second), t0.Add(80*time.Second))
	r.Writer = "worker-a"
	r.GeneratorCPU = 0.375
	r.AddRecorder(rec)
	return r
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	empty := NewResult("run-1", 0, 0, time.Time{}, time.Time{})
	merged := sampleResult()
	merged.Merge(sampleResult())
	tests := []struct {
		name string
		in   *Result
	}{
		{"sample slice", sampleResult()},
		{"empty slice without times", empty},
		{"merged slice", merged},
		{"nil histograms", &Result{RunID: "x", Intended: 4, Dropped: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := roundTrip(t, tt.in)
			if !got.Equal(tt.in) {
				t.Errorf("round trip = %+v, want %+v", *got, *tt.in)
			}
			b1, _ := Marshal(tt.in)
			b2, _ := Marshal(got)
			if !bytes.Equal(b1, b2) {
				t.Errorf("Marshal is not deterministic across a round trip: %d vs %d bytes", len(b1), len(b2))
			}
		})
	}
}

func TestMarshalRejectsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(r *Result)
		wantErr string
	}{
		{"negative counter", func(r *Result) { r.Dropped = -1 }, "dropped is negative"},
		{"errors over completed", func(r *Result) { r.Errors = r.Completed + 1 }, "exceed completed"},
		{"completed over sent", func(r *Result) { r.Sent-- }, "exceeds sent"},
		{"outcomes do not sum", func(r *Result) { r.Outcomes["http:200"]-- }, "outcome counts sum"},
		{"histogram total", func(r *Result) { _ = r.Latency.RecordValue(5) }, "latency histogram: total count"},
		{"generator CPU over 1", func(r *Result) { r.GeneratorCPU = 1.5 }, "generator_cpu 1.5 is not a share"},
		{"generator CPU negative", func(r *Result) { r.GeneratorCPU = -0.1 }, "generator_cpu -0.1 is not a share"},
		{"generator CPU NaN", func(r *Result) { r.GeneratorCPU = math.NaN() }, "generator_cpu NaN is not a share"},
		{"other geometry", func(r *Result) { r.Service = hdrhistogram.New(1, 1000, 2) }, "service histogram: histogram geometry"},
		{"invalid UTF-8 outcome", func(r *Result) {
			r.Outcomes["\xff"] = r.Outcomes["http:200"]
			delete(r.Outcomes, "http:200")
		}, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := sampleResult()
			tt.mutate(r)
			_, err := Marshal(r)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Marshal error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := Marshal(nil); err == nil {
		t.Errorf("Marshal(nil) error = nil, want an error")
	}
}

// rawMarshal encodes m without any validation, to build corrupt slices.
func rawMarshal(t *testing.T, m *cicadav1.SliceResult) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	return b
}

func validProto(t *testing.T) *cicadav1.SliceResult {
	t.Helper()
	b, err := Marshal(sampleResult())
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var m cicadav1.SliceResult
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	return &m
}

func TestUnmarshalRejectsCorrupt(t *testing.T) {
	t.Parallel()
	valid, err := Marshal(sampleResult())
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	otherGeometry, err := hdrhistogram.New(1, 3_600_000_000, 3).Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	tests := []struct {
		name    string
		in      func(t *testing.T) []byte
		wantErr string
	}{
		{"truncated", func(t *testing.T) []byte { return valid[:len(valid)/2] }, "unmarshal slice result"},
		{"garbage", func(t *testing.T) []byte { return []byte("\xff\xff\xff\xff") }, "unmarshal slice result"},
		{"latency not base64", func(t *testing.T) []byte {
			m := validProto(t)
			m.LatencyHdr = []byte("!!!!")
			return rawMarshal(t, m)
		}, "decode latency histogram"},
		{"service truncated", func(t *testing.T) []byte {
			m := validProto(t)
			m.ServiceHdr = m.ServiceHdr[:len(m.ServiceHdr)-8]
			return rawMarshal(t, m)
		}, "decode service histogram"},
		{"latency other geometry", func(t *testing.T) []byte {
			m := validProto(t)
			m.LatencyHdr = otherGeometry
			return rawMarshal(t, m)
		}, "decode latency histogram: histogram geometry"},
		{"histogram total is not completed", func(t *testing.T) []byte {
			m := validProto(t)
			m.Completed++
			m.Sent++
			m.Outcomes["http:200"]++
			return rawMarshal(t, m)
		}, "latency histogram: total count"},
		{"negative counter", func(t *testing.T) []byte {
			m := validProto(t)
			m.Intended = -1
			return rawMarshal(t, m)
		}, "intended is negative"},
		{"negative outcome", func(t *testing.T) []byte {
			m := validProto(t)
			m.Outcomes["x"] = -1
			return rawMarshal(t, m)
		}, "is negative"},
		{"huge index", func(t *testing.T) []byte {
			m := validProto(t)
			m.Index = 1 << 40
			return rawMarshal(t, m)
		}, "index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Unmarshal(tt.in(t))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Unmarshal error = %v, want one containing %q", err, tt.wantErr)
			}
			if got != nil {
				t.Errorf("Unmarshal result = %+v, want nil on error", got)
			}
		})
	}
}

func TestUnmarshalNormalizesSampleErrors(t *testing.T) {
	t.Parallel()
	m := validProto(t)
	m.SampleErrors = []string{"g", "f", "e", "d", "c", "b", "a", "a"}
	got, err := Unmarshal(rawMarshal(t, m))
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := []string{"a", "b", "c", "d", "e"}
	if strings.Join(got.SampleErrors, ",") != strings.Join(want, ",") {
		t.Errorf("SampleErrors = %q, want %q", got.SampleErrors, want)
	}
}
