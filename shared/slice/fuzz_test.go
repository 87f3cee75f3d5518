package slice

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// FuzzUnmarshal checks that no input makes Unmarshal panic, and that whatever
// it accepts is a valid result that survives another round trip unchanged.
func FuzzUnmarshal(f *testing.F) {
	valid, err := Marshal(sampleResult())
	if err != nil {
		f.Fatalf("Marshal: %v", err)
	}
	empty, err := Marshal(NewResult("r", 0, 0, t0, t0))
	if err != nil {
		f.Fatalf("Marshal: %v", err)
	}
	f.Add(valid)
	f.Add(empty)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:len(valid)-1])
	for _, bit := range []int{3, 40, len(valid) * 4, len(valid)*8 - 9} {
		flipped := bytes.Clone(valid)
		flipped[bit/8] ^= 1 << (bit % 8)
		f.Add(flipped)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		before := decodePanics.Load()
		r, err := Unmarshal(b)
		if decodePanics.Load() != before {
			t.Fatalf("hdrhistogram Decode panicked (recovered as %v)", err)
		}
		if err != nil {
			if r != nil {
				t.Fatalf("Unmarshal returned a result with error %v", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Unmarshal accepted an invalid result: %v", err)
		}
		again := roundTrip(t, r)
		if !again.Equal(r) {
			t.Fatalf("round trip of an accepted result changed it: %+v -> %+v", *r, *again)
		}
	})
}

// FuzzDecodeHistogram fuzzes the inflated histogram encoding (header and
// counts payload), which FuzzUnmarshal rarely reaches through zlib's
// checksum: the input is compressed and framed as Encode does, then decoded.
func FuzzDecodeHistogram(f *testing.F) {
	for _, vals := range [][]int64{{1}, {1, 2, 3, 1000, 5000, HighestUS}, seq(1, 300)} {
		f.Add(inflate(f, histOf(vals)))
	}
	f.Fuzz(func(t *testing.T, inflated []byte) {
		before := decodePanics.Load()
		h, err := decodeHist(frame(inflated))
		if decodePanics.Load() != before {
			t.Fatalf("hdrhistogram Decode panicked (recovered as %v)", err)
		}
		if err == nil {
			if cerr := checkHist(h, h.TotalCount()); cerr != nil {
				t.Fatalf("decodeHist accepted a foreign histogram: %v", cerr)
			}
		}
	})
}

// inflate returns the uncompressed V2 encoding of h.
func inflate(f *testing.F, h *hdrhistogram.Histogram) []byte {
	f.Helper()
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		f.Fatalf("Encode: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(enc))
	if err != nil {
		f.Fatalf("base64: %v", err)
	}
	z, err := zlib.NewReader(bytes.NewReader(raw[8:]))
	if err != nil {
		f.Fatalf("zlib: %v", err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(z); err != nil {
		f.Fatalf("inflate: %v", err)
	}
	return out.Bytes()
}

// frame compresses inflated and frames it as hdrhistogram's Encode does:
// cookie, compressed length, zlib stream, all base64.
func frame(inflated []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	_, _ = w.Write(inflated)
	_ = w.Close()
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.BigEndian, hdrhistogram.V2CompressedEncodingCookieBase|0x10)
	_ = binary.Write(&buf, binary.BigEndian, int32(z.Len()))
	buf.Write(z.Bytes())
	return []byte(base64.StdEncoding.EncodeToString(buf.Bytes()))
}
