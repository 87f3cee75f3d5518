package slice

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/klauspost/compress/zlib"
	"io"
	"math"
	"math/bits"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// An aggregator decodes every slice object of a run, and hdrhistogram.Decode
// builds a dense counts array of the slice geometry (~140 KB) for each, then
// Merge walks all of it: at 200 shards × 360 slices that is most of the
// cost. decodeBuckets reads the same V2 encoding into the few hundred
// buckets a slice actually uses, which merge in proportion to their number.

// Geometry of the slice histograms, as hdrhistogram lays out its counts:
// unit magnitude 0 (lowest 1 µs), sub-buckets of 2048 (3 digits).
const (
	subBucketHalfCountMag = 10
	subBucketHalfCount    = 1 << subBucketHalfCountMag
	subBucketCount        = 2 * subBucketHalfCount
)

// countsLen is the length of the counts array of the slice geometry.
var countsLen = func() int32 {
	smallestUntrackable := int64(subBucketCount)
	buckets := int32(1)
	for smallestUntrackable <= HighestUS {
		smallestUntrackable <<= 1
		buckets++
	}
	return (buckets + 1) * subBucketHalfCount
}()

// valueAt is the lowest value of counts index i, as hdrhistogram's
// valueFromIndex computes it for the slice geometry.
func valueAt(i int32) int64 {
	bucket := (i >> subBucketHalfCountMag) - 1
	sub := (i & (subBucketHalfCount - 1)) + subBucketHalfCount
	if bucket < 0 {
		sub -= subBucketHalfCount
		bucket = 0
	}
	return int64(sub) << bucket
}

// bucket is one non-empty bucket of a decoded histogram.
type bucket struct {
	index int32
	count int64
}

// V2 encoding cookies (hdrhistogram's, with the word size bits cleared).
const (
	v2Cookie           = 0x1c849303
	v2CompressedCookie = 0x1c849304
	v2HeaderLen        = 40
)

var (
	zlibPool sync.Pool // zlib readers, reset for each histogram
	bufPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// decodeBuckets decodes hdrhistogram's V2 compressed encoding of a slice
// histogram (the base64 text Encode writes) into its non-empty buckets,
// appended to dst, and their total count. Anything else (another geometry,
// a corrupt or truncated encoding) is an error.
func decodeBuckets(enc []byte, dst []bucket) ([]bucket, int64, error) {
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, err := base64.StdEncoding.Decode(raw, enc)
	if err != nil {
		return dst, 0, fmt.Errorf("histogram base64: %w", err)
	}
	raw = raw[:n]
	if len(raw) < 8 {
		return dst, 0, fmt.Errorf("encoded histogram too short: %d bytes", len(raw))
	}
	if c := binary.BigEndian.Uint32(raw) &^ 0xf0; c != v2CompressedCookie {
		return dst, 0, fmt.Errorf("histogram cookie %#x is not V2 compressed", c)
	}
	clen := binary.BigEndian.Uint32(raw[4:])
	if uint64(clen) > uint64(len(raw)-8) {
		return dst, 0, fmt.Errorf("histogram compressed length %d exceeds the %d bytes there", clen, len(raw)-8)
	}
	src := bytes.NewReader(raw[8 : 8+clen])
	var z io.ReadCloser
	if r, ok := zlibPool.Get().(io.ReadCloser); ok {
		if err := r.(zlib.Resetter).Reset(src, nil); err != nil {
			return dst, 0, fmt.Errorf("histogram zlib: %w", err)
		}
		z = r
	} else if z, err = zlib.NewReader(src); err != nil {
		return dst, 0, fmt.Errorf("histogram zlib: %w", err)
	}
	defer zlibPool.Put(z)

	var head [v2HeaderLen]byte
	if _, err := io.ReadFull(z, head[:]); err != nil {
		return dst, 0, fmt.Errorf("histogram header: %w", err)
	}
	if c := binary.BigEndian.Uint32(head[0:]) &^ 0xf0; c != v2Cookie {
		return dst, 0, fmt.Errorf("histogram cookie %#x is not V2", c)
	}
	payloadLen := int32(binary.BigEndian.Uint32(head[4:]))
	offset := int32(binary.BigEndian.Uint32(head[8:]))
	digits := int32(binary.BigEndian.Uint32(head[12:]))
	lowest := int64(binary.BigEndian.Uint64(head[16:]))
	highest := int64(binary.BigEndian.Uint64(head[24:]))
	if lowest != LowestUS || highest != HighestUS || digits != SigFigs || offset != 0 {
		return dst, 0, fmt.Errorf("%w: got %d..%d at %d (offset %d)", errGeometry, lowest, highest, digits, offset)
	}
	if payloadLen < 0 || int64(payloadLen) > int64(countsLen)*9 {
		return dst, 0, fmt.Errorf("histogram payload length %d out of range", payloadLen)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	// One byte more than announced: trailing data is an error, and reading
	// to the end checks zlib's checksum.
	if _, err := buf.ReadFrom(io.LimitReader(z, int64(payloadLen)+1)); err != nil {
		return dst, 0, fmt.Errorf("histogram payload: %w", err)
	}
	if buf.Len() != int(payloadLen) {
		return dst, 0, fmt.Errorf("histogram payload is %d bytes, header says %d", buf.Len(), payloadLen)
	}
	return parsePayload(buf.Bytes(), dst)
}

var errPayload = errors.New("corrupt histogram payload")

// parsePayload reads the ZigZag LEB128 counts of a V2 payload: a positive
// value is the count of the next index, a negative one a run of empty
// indexes.
func parsePayload(p []byte, dst []bucket) ([]bucket, int64, error) {
	var idx int32
	var total int64
	for len(p) > 0 {
		var u uint64
		if p[0] < 0x80 { // most counts and runs fit one byte
			u, p = uint64(p[0]), p[1:]
		} else {
			var n int
			if u, n = binary.Uvarint(p); n <= 0 {
				return dst, 0, fmt.Errorf("%w: bad varint at index %d", errPayload, idx)
			}
			p = p[n:]
		}
		v := int64(u>>1) ^ -int64(u&1)
		switch {
		case v < 0:
			if v == math.MinInt64 || -v > int64(countsLen-idx) {
				return dst, 0, fmt.Errorf("%w: run of %d empty buckets at index %d", errPayload, -v, idx)
			}
			idx += int32(-v)
		default:
			if idx >= countsLen {
				return dst, 0, fmt.Errorf("%w: index %d past the counts", errPayload, idx)
			}
			if v > 0 {
				if v > math.MaxInt64-total {
					return dst, 0, fmt.Errorf("%w: counts overflow", errPayload)
				}
				total += v
				dst = append(dst, bucket{idx, v})
			}
			idx++
		}
	}
	return dst, total, nil
}

// addBuckets records decoded buckets into a dense histogram of the slice
// geometry.
func addBuckets(h *hdrhistogram.Histogram, bs []bucket) {
	for _, b := range bs {
		// The value maps back to the same index in the same geometry.
		_ = h.RecordValues(valueAt(b.index), b.count)
	}
}

// indexOf is the counts index of value v (>= 1) in the slice geometry, as
// hdrhistogram's countsIndexFor computes it; valueAt's inverse.
func indexOf(v int64) int32 {
	pow2Ceiling := 64 - bits.LeadingZeros64(uint64(v)|(subBucketCount-1))
	bucket := int32(pow2Ceiling - (subBucketHalfCountMag + 1))
	sub := int32(v >> bucket)
	return (bucket+1)<<subBucketHalfCountMag + sub - subBucketHalfCount
}

// counts is a dense counts array of the slice geometry: adding a decoded
// object's buckets to it is one addition each, where a Histogram's
// RecordValues works out every index again.
type counts []int64

func newCounts() counts { return make(counts, countsLen) }

func (c counts) add(bs []bucket) {
	for _, b := range bs {
		c[b.index] += b.count
	}
}

func (c counts) addPacked(p *hdrhistogram.PackedHistogram) {
	p.ForEachBucket(func(v, n int64) bool {
		if i := indexOf(v); i >= 0 && i < countsLen {
			c[i] += n
		}
		return true
	})
}

func (c counts) addCounts(o counts) {
	for i, n := range o {
		c[i] += n
	}
}

// hist returns c as a Histogram of the slice geometry.
func (c counts) hist() *hdrhistogram.Histogram {
	h := NewHistogram()
	for i, n := range c {
		if n > 0 {
			_ = h.RecordValues(valueAt(int32(i)), n)
		}
	}
	return h
}

// packed returns c as a PackedHistogram; buckets come in ascending order,
// so each is appended.
func (c counts) packed() *hdrhistogram.PackedHistogram {
	p := newPacked()
	for i, n := range c {
		if n > 0 {
			_ = p.RecordValues(valueAt(int32(i)), n)
		}
	}
	return p
}
