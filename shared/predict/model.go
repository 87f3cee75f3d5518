package predict

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sync"
	"unicode/utf8"
)

// Model is a multinomial naive Bayes text classifier over hashed word
// unigrams and bigrams. A Model is immutable after loading and safe for
// concurrent use.
type Model struct {
	labels  []string
	buckets uint32
	mask    uint32
	prior   []float32 // log P(class)
	// weights holds log P(bucket | class), bucket-major (weights[b*C+c]) so
	// that one feature touches one cache line for all classes.
	weights []float32
	// defaults is log P(bucket | class) for buckets never seen in training;
	// kept so that MarshalBinary can write the sparse form back.
	defaults []float32
}

// Model file format, all integers and floats little-endian:
//
//	magic    [8]byte  "CICADANB"
//	version  uint32   1
//	classes  uint32   1..maxClasses
//	buckets  uint32   power of two, 2..maxBuckets
//	entries  uint32   number of explicit buckets, <= buckets
//	labels   classes × (uint8 length, bytes)
//	prior    classes × float32   log P(class)
//	defaults classes × float32   log P(bucket|class) of every bucket not listed
//	entries  entries × (uint32 bucket, classes × float32 log P(bucket|class)), buckets strictly increasing
//	crc      uint32   CRC-32C (Castagnoli) of every byte before it
//
// Buckets are FNV-1a 32 of the lowercased word ("w1 w2" for a bigram),
// folded as (h ^ h>>16) & (buckets-1); see forEachFeature. The sparse form keeps
// the file small: only buckets seen in training differ from the defaults.
const (
	modelMagic   = "CICADANB"
	modelVersion = 1
	maxClasses   = 16
	maxBuckets   = 1 << 24
	headerSize   = 8 + 4*4
)

//go:embed model.bin
var modelBin []byte

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var defaultModel = sync.OnceValue(func() *Model {
	m, err := Load(modelBin)
	if err != nil {
		// The embedded file is part of the build, not input: a test loads it,
		// so reaching this means the binary itself is broken.
		panic(fmt.Sprintf("predict: embedded model.bin is invalid: %v", err))
	}
	return m
})

// Default returns the model embedded in the binary, loaded once on first use.
func Default() *Model { return defaultModel() }

// Labels returns a copy of the model's category names, indexed by category.
func (m *Model) Labels() []string {
	return append([]string(nil), m.labels...)
}

// Buckets returns the number of feature hash buckets of the model.
func (m *Model) Buckets() int { return int(m.buckets) }

// Predict returns the most likely category of text and its label. It does not
// allocate. Text without any word gets the class with the highest prior; ties
// go to the lowest category index.
func (m *Model) Predict(text string) (category int, label string) {
	var score [maxClasses]float32
	nc := len(m.prior)
	copy(score[:nc], m.prior)
	w := m.weights
	forEachFeature(text, m.mask, func(b uint32) {
		row := w[int(b)*nc : int(b)*nc+nc]
		for c, v := range row {
			score[c] += v
		}
	})
	best := 0
	for c := 1; c < nc; c++ {
		if score[c] > score[best] {
			best = c
		}
	}
	return best, m.labels[best]
}

// Train fits a naive Bayes model with 2^16 buckets to examples, whose Label
// fields index labels. It is deterministic: equal input gives a model whose
// MarshalBinary output is byte-identical.
func Train(examples []Example, labels []string) (*Model, error) {
	const (
		buckets = 1 << 16
		// alpha is the Laplace smoothing pseudo-count. Below 1 because hashing
		// makes the "vocabulary" (seen buckets) large relative to counts.
		alpha = 0.1
	)
	nc := len(labels)
	if nc < 1 || nc > maxClasses {
		return nil, fmt.Errorf("train: %d labels, want 1..%d", nc, maxClasses)
	}
	if len(examples) == 0 {
		return nil, errors.New("train: no examples")
	}
	counts := make([]uint32, buckets*nc)
	totals := make([]uint64, nc)
	docs := make([]uint64, nc)
	for i, ex := range examples {
		if ex.Label < 0 || ex.Label >= nc {
			return nil, fmt.Errorf("train: example %d has label %d, want 0..%d", i, ex.Label, nc-1)
		}
		docs[ex.Label]++
		forEachFeature(ex.Text, buckets-1, func(b uint32) {
			counts[int(b)*nc+ex.Label]++
			totals[ex.Label]++
		})
	}
	seen := 0
	for b := 0; b < buckets; b++ {
		for c := 0; c < nc; c++ {
			if counts[b*nc+c] != 0 {
				seen++
				break
			}
		}
	}
	m := &Model{
		labels:   append([]string(nil), labels...),
		buckets:  buckets,
		mask:     buckets - 1,
		prior:    make([]float32, nc),
		defaults: make([]float32, nc),
		weights:  make([]float32, buckets*nc),
	}
	// Explicit float64 conversions stop the compiler fusing multiply-adds on
	// platforms with FMA, which would change rounding and break byte-identical
	// retraining across machines.
	denom := make([]float64, nc)
	for c := 0; c < nc; c++ {
		denom[c] = math.Log(float64(totals[c]) + float64(alpha*float64(seen)))
		m.prior[c] = float32(math.Log(float64(docs[c])+1) - math.Log(float64(len(examples))+float64(nc)))
		m.defaults[c] = float32(math.Log(alpha) - denom[c])
	}
	for b := 0; b < buckets; b++ {
		for c := 0; c < nc; c++ {
			n := counts[b*nc+c]
			if n == 0 {
				m.weights[b*nc+c] = m.defaults[c]
				continue
			}
			m.weights[b*nc+c] = float32(math.Log(float64(n)+alpha) - denom[c])
		}
	}
	return m, nil
}

// MarshalBinary encodes the model in the model file format (see Load).
func (m *Model) MarshalBinary() ([]byte, error) {
	nc := len(m.labels)
	var entries []uint32
	for b := uint32(0); b < m.buckets; b++ {
		row := m.weights[int(b)*nc : int(b)*nc+nc]
		for c, v := range row {
			if math.Float32bits(v) != math.Float32bits(m.defaults[c]) {
				entries = append(entries, b)
				break
			}
		}
	}
	out := make([]byte, 0, headerSize+nc*(maxLabelLen+1+8)+len(entries)*(4+4*nc)+4)
	out = append(out, modelMagic...)
	out = binary.LittleEndian.AppendUint32(out, modelVersion)
	out = binary.LittleEndian.AppendUint32(out, uint32(nc))
	out = binary.LittleEndian.AppendUint32(out, m.buckets)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(entries)))
	for _, l := range m.labels {
		if len(l) == 0 || len(l) > maxLabelLen {
			return nil, fmt.Errorf("marshal model: label %q: length must be 1..%d", l, maxLabelLen)
		}
		out = append(out, byte(len(l)))
		out = append(out, l...)
	}
	out = appendFloats(out, m.prior)
	out = appendFloats(out, m.defaults)
	for _, b := range entries {
		out = binary.LittleEndian.AppendUint32(out, b)
		out = appendFloats(out, m.weights[int(b)*nc:int(b)*nc+nc])
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

const maxLabelLen = 255

func appendFloats(out []byte, fs []float32) []byte {
	for _, f := range fs {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(f))
	}
	return out
}

// Load decodes and validates a model file (format documented beside
// MarshalBinary's constants): magic, version, sizes, checksum, label names,
// bucket order and that every weight is finite. It never panics on bad input.
func Load(data []byte) (*Model, error) {
	if len(data) < headerSize+4 {
		return nil, fmt.Errorf("load model: %d bytes is shorter than the header", len(data))
	}
	if string(data[:8]) != modelMagic {
		return nil, errors.New("load model: bad magic, not a cicada model file")
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("load model: checksum mismatch (file %08x, computed %08x)", sum, got)
	}
	le := binary.LittleEndian
	version, nc, buckets, entries := le.Uint32(data[8:]), le.Uint32(data[12:]), le.Uint32(data[16:]), le.Uint32(data[20:])
	switch {
	case version != modelVersion:
		return nil, fmt.Errorf("load model: version %d, want %d", version, modelVersion)
	case nc < 1 || nc > maxClasses:
		return nil, fmt.Errorf("load model: %d classes, want 1..%d", nc, maxClasses)
	case buckets < 2 || buckets > maxBuckets || buckets&(buckets-1) != 0:
		return nil, fmt.Errorf("load model: %d buckets, want a power of two in 2..%d", buckets, maxBuckets)
	case entries > buckets:
		return nil, fmt.Errorf("load model: %d entries exceed %d buckets", entries, buckets)
	}
	r := body[headerSize:]
	m := &Model{buckets: buckets, mask: buckets - 1}
	seen := make(map[string]bool, nc)
	for c := uint32(0); c < nc; c++ {
		if len(r) < 1 || len(r) < 1+int(r[0]) {
			return nil, fmt.Errorf("load model: truncated label %d", c)
		}
		l := string(r[1 : 1+int(r[0])])
		r = r[1+int(r[0]):]
		if l == "" || !utf8.ValidString(l) || seen[l] {
			return nil, fmt.Errorf("load model: label %d (%q) is empty, not UTF-8 or repeated", c, l)
		}
		seen[l] = true
		m.labels = append(m.labels, l)
	}
	n := int(nc)
	if want := 8*n + int(entries)*(4+4*n); len(r) != want {
		return nil, fmt.Errorf("load model: %d bytes of weights, want %d", len(r), want)
	}
	var err error
	if m.prior, r, err = readFloats(r, n); err != nil {
		return nil, fmt.Errorf("load model: prior: %w", err)
	}
	if m.defaults, r, err = readFloats(r, n); err != nil {
		return nil, fmt.Errorf("load model: defaults: %w", err)
	}
	m.weights = make([]float32, int(buckets)*n)
	for b := 0; b < int(buckets); b++ {
		copy(m.weights[b*n:b*n+n], m.defaults)
	}
	next := uint32(0) // smallest bucket allowed next, to enforce strict order
	for e := uint32(0); e < entries; e++ {
		b := le.Uint32(r)
		if b < next || b >= buckets {
			return nil, fmt.Errorf("load model: entry %d: bucket %d out of order or range", e, b)
		}
		next = b + 1
		var row []float32
		if row, r, err = readFloats(r[4:], n); err != nil {
			return nil, fmt.Errorf("load model: entry %d: %w", e, err)
		}
		copy(m.weights[int(b)*n:], row)
	}
	return m, nil
}

func readFloats(r []byte, n int) ([]float32, []byte, error) {
	if len(r) < 4*n {
		return nil, r, errors.New("truncated")
	}
	fs := make([]float32, n)
	for i := range fs {
		f := math.Float32frombits(binary.LittleEndian.Uint32(r[4*i:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, r, fmt.Errorf("value %d is not finite", i)
		}
		fs[i] = f
	}
	return fs, r[4*n:], nil
}
