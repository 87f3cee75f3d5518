package slice

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/protobuf/proto"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

// Marshal encodes r as a cicada.v1.SliceResult. Histograms are stored as
// hdrhistogram-go's Encode output (base64 text of the V2 compressed form, as
// HdrHistogram logs carry it); an empty histogram is stored as no bytes. The
// encoding is deterministic, so equal results give equal bytes. r must pass
// Validate: a result the reader would reject is refused at the writer.
func Marshal(r *Result) ([]byte, error) {
	if r == nil {
		return nil, errors.New("marshal slice result: nil result")
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("marshal slice result: %w", err)
	}
	if r.Shard > math.MaxInt32 || r.ShardsReporting > math.MaxInt32 {
		return nil, fmt.Errorf("marshal slice result: shard %d or shards_reporting %d out of int32 range", r.Shard, r.ShardsReporting)
	}
	lat, err := encodeHist(r.Latency)
	if err != nil {
		return nil, fmt.Errorf("marshal slice result: encode latency histogram: %w", err)
	}
	svc, err := encodeHist(r.Service)
	if err != nil {
		return nil, fmt.Errorf("marshal slice result: encode service histogram: %w", err)
	}
	m := &cicadav1.SliceResult{
		RunId:           r.RunID,
		Shard:           int32(r.Shard),
		Index:           int64(r.Index),
		StartUnixNano:   unixNano(r.Start),
		EndUnixNano:     unixNano(r.End),
		Intended:        r.Intended,
		Sent:            r.Sent,
		Completed:       r.Completed,
		Dropped:         r.Dropped,
		Errors:          r.Errors,
		BytesSent:       r.BytesSent,
		BytesReceived:   r.BytesReceived,
		Outcomes:        r.Outcomes,
		SampleErrors:    r.SampleErrors,
		LatencyHdr:      lat,
		ServiceHdr:      svc,
		ShardsReporting: int32(r.ShardsReporting),
		Writer:          r.Writer,
		MaxLatenessUs:   r.MaxLatenessUS,
		SumLatenessUs:   r.SumLatenessUS,
		Late:            r.Late,
		GeneratorCpu:    r.GeneratorCPU,
		Instances:       r.Instances,
		Checked:         r.Checked,
		Correct:         r.Correct,
		TextChars:       r.TextChars,
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal slice result: %w", err)
	}
	return b, nil
}

// Unmarshal decodes a cicada.v1.SliceResult written by Marshal. Corrupt or
// truncated input, a histogram of another geometry and counters that fail
// Validate give an error, never a panic. Sample errors are normalized (sorted,
// distinct, at most MaxSampleErrors).
func Unmarshal(b []byte) (*Result, error) {
	var m cicadav1.SliceResult
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("unmarshal slice result: %w", err)
	}
	lat, err := decodeHist(m.LatencyHdr)
	if err != nil {
		return nil, fmt.Errorf("unmarshal slice result: decode latency histogram: %w", err)
	}
	svc, err := decodeHist(m.ServiceHdr)
	if err != nil {
		return nil, fmt.Errorf("unmarshal slice result: decode service histogram: %w", err)
	}
	// The counters are decoded and checked as Compact reads them.
	r, err := headFromProto(&m)
	if err != nil {
		return nil, err
	}
	r.Latency, r.Service = lat, svc
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("unmarshal slice result %d of shard %d: %w", r.Index, r.Shard, err)
	}
	return r, nil
}

func encodeHist(h *hdrhistogram.Histogram) ([]byte, error) {
	if h == nil || h.TotalCount() == 0 {
		return nil, nil
	}
	return h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
}

// decodePanics counts panics recovered in decodeHist; the fuzz tests fail if
// it moves, so a panicking input is found rather than hidden.
var decodePanics atomic.Int64

// decodeHist decodes an Encode output; no bytes is an empty histogram. The
// decoded geometry must be the slice geometry, so that merges are exact.
//
// hdrhistogram-go v1.4.0's Decode validates its input (lengths, geometry,
// payload indexes) and did not panic under FuzzDecodeHistogram; the recover is
// a guard for inputs nobody found yet, since a slice object is untrusted
// input and one bad object must not take the aggregator down.
func decodeHist(b []byte) (h *hdrhistogram.Histogram, err error) {
	if len(b) == 0 {
		return NewHistogram(), nil
	}
	defer func() {
		if p := recover(); p != nil {
			decodePanics.Add(1)
			h, err = nil, fmt.Errorf("hdrhistogram decode panicked: %v", p)
		}
	}()
	h, err = hdrhistogram.Decode(b)
	if err != nil {
		return nil, err
	}
	if err := checkHist(h, h.TotalCount()); err != nil {
		return nil, err
	}
	return h, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
