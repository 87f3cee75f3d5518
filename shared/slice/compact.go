package slice

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/protobuf/proto"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

// Compact is one slice index merged across shards, in a form an
// aggregator can keep for every slice of a long run. While shards' objects
// arrive it holds dense histograms, into which each object's few hundred
// buckets are added; Pack then turns them into hdrhistogram
// PackedHistograms, whose size follows the buckets in use (a few KB)
// instead of the ~140 KB counts array of the slice geometry. It knows which
// shards it holds, so that no shard's object is merged twice.
//
// A Compact is not safe for concurrent use.
type Compact struct {
	// head holds the counters, outcomes and samples; its histograms are nil.
	head Result
	// Exactly one pair is set: dense while open, packed once packed.
	dLat, dSvc       counts
	latency, service *hdrhistogram.PackedHistogram
	shards           []int // ascending, distinct
	// Corrupt lists the objects of this index that could not be decoded;
	// they count as reported (nobody will write them again) but add
	// nothing.
	Corrupt []Corrupt
}

// Corrupt names a shard's slice object that could not be decoded, and why.
type Corrupt struct {
	Shard  int
	Object string
	Error  string
}

// MarkCorrupt records that shard's object of this index could not be
// decoded.
func (c *Compact) MarkCorrupt(shard int, bad Corrupt) {
	if c.IsCorrupt(shard) {
		return
	}
	bad.Shard = shard
	c.Corrupt = append(c.Corrupt, bad)
}

// IsCorrupt reports whether shard's object of this index was corrupt.
func (c *Compact) IsCorrupt(shard int) bool {
	for _, bad := range c.Corrupt {
		if bad.Shard == shard {
			return true
		}
	}
	return false
}

// Reported is how many shards' objects of this index arrived, corrupt ones
// included.
func (c *Compact) Reported() int { return len(c.shards) + len(c.Corrupt) }

// NewCompact returns an empty merge of slice index of run runID.
func NewCompact(runID string, index int) *Compact {
	return &Compact{
		head: Result{RunID: runID, Index: index},
		dLat: newCounts(),
		dSvc: newCounts(),
	}
}

// Pack turns c's histograms into the sparse form; it is a no-op if they
// are already packed. A later Add unpacks them again.
func (c *Compact) Pack() {
	if c.dLat == nil {
		return
	}
	c.latency, c.service = c.dLat.packed(), c.dSvc.packed()
	c.dLat, c.dSvc = nil, nil
}

// Packed reports whether c holds its histograms in the sparse form.
func (c *Compact) Packed() bool { return c.dLat == nil }

// unpack makes c's histograms dense again, to add to them.
func (c *Compact) unpack() {
	if c.dLat != nil {
		return
	}
	c.dLat, c.dSvc = newCounts(), newCounts()
	c.dLat.addPacked(c.latency)
	c.dSvc.addPacked(c.service)
	c.latency, c.service = nil, nil
}

func newPacked() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(LowestUS, HighestUS, SigFigs)
}

// Index is the slice index merged.
func (c *Compact) Index() int { return c.head.Index }

// Shards returns the shards merged in, ascending. The slice is c's own:
// do not modify it.
func (c *Compact) Shards() []int { return c.shards }

// Has reports whether shard's result is merged in.
func (c *Compact) Has(shard int) bool {
	_, ok := slices.BinarySearch(c.shards, shard)
	return ok
}

// ErrDuplicate is returned for a shard already merged.
var ErrDuplicate = errors.New("shard already merged")

// Piece is one shard's slice object, decoded and checked, ready to be
// added to a Compact. Decoding is the costly part and needs no lock;
// adding is cheap.
type Piece struct {
	head     Result
	lat, svc []bucket
}

// Shard is the shard the piece is of.
func (p *Piece) Shard() int { return p.head.Shard }

// Index is the slice index the piece is of.
func (p *Piece) Index() int { return p.head.Index }

// DecodePiece decodes a slice object written by Marshal. Corrupt input
// and counters that fail Validate are an error, never a panic.
func DecodePiece(b []byte) (p *Piece, err error) {
	var m cicadav1.SliceResult
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("unmarshal slice result: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			decodePanics.Add(1)
			p, err = nil, fmt.Errorf("decode slice result panicked: %v", r)
		}
	}()
	head, err := headFromProto(&m)
	if err != nil {
		return nil, err
	}
	p = &Piece{head: *head, lat: getBuckets(), svc: getBuckets()}
	defer func() {
		if err != nil {
			p.release()
		}
	}()
	var total int64
	if len(m.LatencyHdr) > 0 {
		if p.lat, total, err = decodeBuckets(m.LatencyHdr, p.lat); err != nil {
			return nil, fmt.Errorf("unmarshal slice result: decode latency histogram: %w", err)
		}
	}
	if total != head.Completed {
		return nil, fmt.Errorf("unmarshal slice result: latency histogram: total count %d is not completed %d", total, head.Completed)
	}
	total = 0
	if len(m.ServiceHdr) > 0 {
		if p.svc, total, err = decodeBuckets(m.ServiceHdr, p.svc); err != nil {
			return nil, fmt.Errorf("unmarshal slice result: decode service histogram: %w", err)
		}
	}
	if total != head.Completed {
		return nil, fmt.Errorf("unmarshal slice result: service histogram: total count %d is not completed %d", total, head.Completed)
	}
	return p, nil
}

// Add decodes one shard's slice object and merges it into c: the object
// must hold c's run and index and the shard its name gives. A corrupt or
// mismatched object is an error and c is unchanged.
func (c *Compact) Add(b []byte, shard int) error {
	p, err := DecodePiece(b)
	if err != nil {
		return err
	}
	return c.AddPiece(p, shard)
}

// bucketPool holds bucket buffers of decoded pieces: a 5,000-request
// slice uses a few thousand buckets, and an aggregator decodes every
// slice object of a run.
var bucketPool sync.Pool

func getBuckets() []bucket {
	if b, ok := bucketPool.Get().(*[]bucket); ok {
		return (*b)[:0]
	}
	return make([]bucket, 0, 1024)
}

// release hands p's buffers back; p is unusable afterwards.
func (p *Piece) release() {
	for _, b := range [][]bucket{p.lat, p.svc} {
		if cap(b) > 0 {
			bucketPool.Put(&b)
		}
	}
	p.lat, p.svc = nil, nil
}

// AddPiece merges a decoded piece into c, checking that it holds c's run
// and index and the given shard, and that the shard is not in c yet. The
// piece is consumed either way.
func (c *Compact) AddPiece(p *Piece, shard int) error {
	defer p.release()
	if p.head.RunID != c.head.RunID || p.head.Index != c.head.Index || p.head.Shard != shard {
		return fmt.Errorf("holds run %s shard %d slice %d", p.head.RunID, p.head.Shard, p.head.Index)
	}
	if p.head.ShardsReporting != 1 {
		return fmt.Errorf("slice %d of shard %d: shards_reporting is %d, not 1", p.head.Index, shard, p.head.ShardsReporting)
	}
	if c.Has(shard) || c.IsCorrupt(shard) {
		return fmt.Errorf("slice %d of shard %d: %w", c.head.Index, shard, ErrDuplicate)
	}
	c.unpack()
	c.mergeHead(&p.head)
	c.dLat.add(p.lat)
	c.dSvc.add(p.svc)
	c.shards = insertSorted(c.shards, shard)
	return nil
}

// mergeHead adds one's counters to c's, keeping c's identity.
func (c *Compact) mergeHead(one *Result) {
	keepShards := c.head.ShardsReporting
	c.head.Merge(one)
	c.head.ShardsReporting = keepShards + one.ShardsReporting
}

func insertSorted(s []int, v int) []int {
	i, _ := slices.BinarySearch(s, v)
	return slices.Insert(s, i, v)
}

// headFromProto decodes and validates m's counters into a Result without
// histograms.
func headFromProto(m *cicadav1.SliceResult) (*Result, error) {
	if m.Index > math.MaxInt32 {
		return nil, fmt.Errorf("unmarshal slice result: index %d out of range", m.Index)
	}
	r := &Result{
		RunID:           m.RunId,
		Shard:           int(m.Shard),
		Index:           int(m.Index),
		Start:           fromUnixNano(m.StartUnixNano),
		End:             fromUnixNano(m.EndUnixNano),
		Intended:        m.Intended,
		Sent:            m.Sent,
		Completed:       m.Completed,
		Dropped:         m.Dropped,
		Errors:          m.Errors,
		BytesSent:       m.BytesSent,
		BytesReceived:   m.BytesReceived,
		Outcomes:        m.Outcomes,
		SampleErrors:    unionSamples(m.SampleErrors, nil),
		ShardsReporting: int(m.ShardsReporting),
		Writer:          m.Writer,
		MaxLatenessUS:   m.MaxLatenessUs,
		SumLatenessUS:   m.SumLatenessUs,
		Late:            m.Late,
		GeneratorCPU:    m.GeneratorCpu,
		Instances:       m.Instances,
		Checked:         m.Checked,
		Correct:         m.Correct,
		TextChars:       m.TextChars,
	}
	if r.Outcomes == nil {
		r.Outcomes = map[string]int64{}
	}
	if err := r.validateCounters(); err != nil {
		return nil, fmt.Errorf("unmarshal slice result %d of shard %d: %w", r.Index, r.Shard, err)
	}
	return r, nil
}

// decodePacked decodes an Encode output into the sparse form; no bytes is
// an empty histogram. The geometry must be the slice geometry and the total
// count must be completed.
func decodePacked(b []byte, completed int64) (p *hdrhistogram.PackedHistogram, err error) {
	if len(b) == 0 {
		p = newPacked()
	} else {
		defer func() {
			if r := recover(); r != nil {
				decodePanics.Add(1)
				p, err = nil, fmt.Errorf("hdrhistogram decode panicked: %v", r)
			}
		}()
		if p, err = hdrhistogram.DecodePacked(b); err != nil {
			return nil, err
		}
		if p.LowestTrackableValue() != LowestUS || p.HighestTrackableValue() != HighestUS || p.SignificantFigures() != SigFigs {
			return nil, fmt.Errorf("%w: got %d..%d at %d", errGeometry, p.LowestTrackableValue(), p.HighestTrackableValue(), p.SignificantFigures())
		}
	}
	if p.TotalCount() != completed {
		return nil, fmt.Errorf("total count %d is not completed %d", p.TotalCount(), completed)
	}
	return p, nil
}

// Merge adds o into c. The shards of o must not be in c already
// (ErrDuplicate); o is not modified.
func (c *Compact) Merge(o *Compact) error {
	for _, s := range o.shards {
		if c.Has(s) || c.IsCorrupt(s) {
			return fmt.Errorf("slice %d of shard %d: %w", c.head.Index, s, ErrDuplicate)
		}
	}
	c.unpack()
	c.mergeHead(&o.head)
	if o.Packed() {
		c.dLat.addPacked(o.latency)
		c.dSvc.addPacked(o.service)
	} else {
		c.dLat.addCounts(o.dLat)
		c.dSvc.addCounts(o.dSvc)
	}
	for _, s := range o.shards {
		c.shards = insertSorted(c.shards, s)
	}
	for _, bad := range o.Corrupt {
		c.MarkCorrupt(bad.Shard, bad)
	}
	return nil
}

// Result returns c as a Result with dense histograms (ShardsReporting is the
// number of shards merged, Shard is 0), equal to Merge of the shards'
// decoded results in any order.
func (c *Compact) Result() *Result {
	r := c.head
	r.Outcomes = cloneOutcomes(c.head.Outcomes)
	r.SampleErrors = slices.Clone(c.head.SampleErrors)
	r.TextChars = maps.Clone(c.head.TextChars)
	if c.Packed() {
		r.Latency, r.Service = NewHistogram(), NewHistogram()
		c.latency.MergeInto(r.Latency)
		c.service.MergeInto(r.Service)
	} else {
		r.Latency, r.Service = c.dLat.hist(), c.dSvc.hist()
	}
	return &r
}

func cloneOutcomes(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Bytes is an estimate of the memory c holds, for capacity planning.
func (c *Compact) Bytes() int {
	if !c.Packed() {
		return 16*len(c.dLat) + 8*len(c.shards) + 256
	}
	return c.latency.GetMemorySize() + c.service.GetMemorySize() + 8*len(c.shards) + 256
}

// MarshalSealed encodes c as a cicada.v1.SealedSlice.
func (c *Compact) MarshalSealed() ([]byte, error) {
	c.Pack()
	lat, err := encodePacked(c.latency)
	if err != nil {
		return nil, fmt.Errorf("seal slice %d: encode latency histogram: %w", c.head.Index, err)
	}
	svc, err := encodePacked(c.service)
	if err != nil {
		return nil, fmt.Errorf("seal slice %d: encode service histogram: %w", c.head.Index, err)
	}
	r := c.head
	m := &cicadav1.SealedSlice{
		Merged: &cicadav1.SliceResult{
			RunId:           r.RunID,
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
			ShardsReporting: int32(len(c.shards)),
			MaxLatenessUs:   r.MaxLatenessUS,
			SumLatenessUs:   r.SumLatenessUS,
			Late:            r.Late,
			GeneratorCpu:    r.GeneratorCPU,
			Instances:       r.Instances,
			Checked:         r.Checked,
			Correct:         r.Correct,
			TextChars:       r.TextChars,
		},
	}
	for _, s := range c.shards {
		m.Shards = append(m.Shards, int32(s))
	}
	for _, bad := range c.Corrupt {
		m.Corrupt = append(m.Corrupt, &cicadav1.CorruptObject{Shard: int32(bad.Shard), Object: bad.Object, Error: bad.Error})
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("seal slice %d: %w", c.head.Index, err)
	}
	return b, nil
}

func encodePacked(p *hdrhistogram.PackedHistogram) ([]byte, error) {
	if p.TotalCount() == 0 {
		return nil, nil
	}
	return p.Encode()
}

// UnmarshalSealed decodes a cicada.v1.SealedSlice written by MarshalSealed;
// it must hold run runID's slice index.
func UnmarshalSealed(b []byte, runID string, index int) (*Compact, error) {
	var m cicadav1.SealedSlice
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("unmarshal sealed slice: %w", err)
	}
	if m.Merged == nil {
		return nil, errors.New("unmarshal sealed slice: no merged result")
	}
	r, err := headFromProto(m.Merged)
	if err != nil {
		return nil, fmt.Errorf("sealed slice: %w", err)
	}
	lat, err := decodePacked(m.Merged.LatencyHdr, r.Completed)
	if err != nil {
		return nil, fmt.Errorf("sealed slice %d: latency histogram: %w", index, err)
	}
	svc, err := decodePacked(m.Merged.ServiceHdr, r.Completed)
	if err != nil {
		return nil, fmt.Errorf("sealed slice %d: service histogram: %w", index, err)
	}
	if r.RunID != runID || r.Index != index {
		return nil, fmt.Errorf("sealed slice holds run %s slice %d", r.RunID, r.Index)
	}
	c := &Compact{head: *r, latency: lat, service: svc}
	c.head.Shard, c.head.Writer = 0, ""
	for _, s := range m.Shards {
		if s < 0 || (len(c.shards) > 0 && int(s) <= c.shards[len(c.shards)-1]) {
			return nil, fmt.Errorf("sealed slice %d: shards not ascending and distinct", index)
		}
		c.shards = append(c.shards, int(s))
	}
	if len(c.shards) != r.ShardsReporting {
		return nil, fmt.Errorf("sealed slice %d: %d shards listed, shards_reporting %d", index, len(c.shards), r.ShardsReporting)
	}
	for _, bad := range m.Corrupt {
		c.Corrupt = append(c.Corrupt, Corrupt{Shard: int(bad.Shard), Object: bad.Object, Error: bad.Error})
	}
	return c, nil
}
