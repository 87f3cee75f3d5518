package predict

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// Keys of the per-protocol counters in Stats.Presets: the serving
// protocol, a slash, and "rest" or "grpc". Docs: docs/predict.md.
const (
	KServeV1REST  = "kserve_v1/rest"
	TFServingREST = "tfserving/rest"
	TFServingGRPC = "tfserving/grpc"
	OIPv2REST     = "oip_v2/rest"
	OIPv2GRPC     = "oip_v2/grpc"
	VertexREST    = "vertex/rest"
	VertexGRPC    = "vertex/grpc"
)

// presetKeys lists the keys in the order of the preset indexes below.
var presetKeys = [...]string{KServeV1REST, TFServingREST, TFServingGRPC, OIPv2REST, OIPv2GRPC, VertexREST, VertexGRPC}

// Indexes into Server.presets, one per key of presetKeys.
const (
	pKServeV1REST = iota
	pTFServingREST
	pTFServingGRPC
	pOIPv2REST
	pOIPv2GRPC
	pVertexREST
	pVertexGRPC
	numPresets
)

// PresetStats are the counters of one serving protocol over one transport.
type PresetStats struct {
	// Requests counts every request routed to the protocol's predict or
	// infer call, valid or not (REST on arrival, gRPC when the call reaches
	// the handler).
	Requests int64 `json:"requests"`
	// Instances counts the instances (texts) of the valid requests.
	Instances int64 `json:"instances"`
	// Invalid counts the requests refused: wrong method, body too large,
	// malformed body, unknown model, version or signature, wrong tensor
	// name, datatype or shape.
	Invalid int64 `json:"invalid"`
	// BatchSizes counts the valid requests by their number of instances.
	BatchSizes map[int]int64 `json:"batch_sizes,omitempty"`
	// Last describes the last valid request whose shape differed from the
	// one before it; nil before the first.
	Last *WireShape `json:"last,omitempty"`
}

// WireShape summarizes what a valid request carried, as the protocol names
// it, so that a test can check a client against the published shape.
type WireShape struct {
	// Model is the model named by the path or the request (for Vertex AI,
	// the endpoint ID).
	Model string `json:"model"`
	// Version is the version the request named, if any ("" for none).
	Version string `json:"version,omitempty"`
	// Signature is TF Serving's signature_name as sent ("" for none).
	Signature string `json:"signature,omitempty"`
	// Endpoint is the Vertex AI endpoint resource name.
	Endpoint string `json:"endpoint,omitempty"`
	// Input is the input tensor's name (OIP, TF Serving), or the field of
	// the instance objects (REST instances; "" when they were strings).
	Input string `json:"input,omitempty"`
	// Datatype is the input tensor's type: "BYTES" (OIP), "DT_STRING" (TF
	// Serving gRPC); "" for JSON instances.
	Datatype string `json:"datatype,omitempty"`
	// Shape is the input tensor's shape; [N] for JSON instances.
	Shape []int64 `json:"shape"`
	// Encoding says where the texts were: "instances" (a JSON list of
	// instances), "inputs" (TF Serving's columnar JSON), "data" (OIP JSON),
	// "bytes_contents" or "raw_input_contents" (OIP gRPC), "string_val"
	// (TF Serving gRPC), "values" (Vertex AI gRPC).
	Encoding string `json:"encoding"`
	// Batch is the number of instances.
	Batch int `json:"batch"`
}

func (a *WireShape) equal(b *WireShape) bool {
	return a.Model == b.Model && a.Version == b.Version && a.Signature == b.Signature &&
		a.Endpoint == b.Endpoint && a.Input == b.Input && a.Datatype == b.Datatype &&
		a.Encoding == b.Encoding && a.Batch == b.Batch && slices.Equal(a.Shape, b.Shape)
}

// maxTrackedBatch bounds the lock-free batch-size counters; larger batches
// go to a map under a mutex.
const maxTrackedBatch = 1024

// presetCounters are one preset's live counters.
type presetCounters struct {
	requests, instances, invalid atomic.Int64
	batches                      [maxTrackedBatch + 1]atomic.Int64 // by batch size
	last                         atomic.Pointer[WireShape]

	mu    sync.Mutex
	large map[int]int64 // batches over maxTrackedBatch
}

// accept counts a valid request of shape w.
func (c *presetCounters) accept(w *WireShape) {
	c.instances.Add(int64(w.Batch))
	if w.Batch <= maxTrackedBatch {
		c.batches[w.Batch].Add(1)
	} else {
		c.mu.Lock()
		if c.large == nil {
			c.large = make(map[int]int64)
		}
		c.large[w.Batch]++
		c.mu.Unlock()
	}
	// Store only a change: a steady load keeps one shape, and the hot path
	// then does no write to shared memory.
	if old := c.last.Load(); old == nil || !old.equal(w) {
		c.last.Store(w)
	}
}

func (c *presetCounters) snapshot() PresetStats {
	ps := PresetStats{Requests: c.requests.Load(), Instances: c.instances.Load(), Invalid: c.invalid.Load()}
	for n := range c.batches {
		if v := c.batches[n].Load(); v > 0 {
			if ps.BatchSizes == nil {
				ps.BatchSizes = make(map[int]int64)
			}
			ps.BatchSizes[n] = v
		}
	}
	c.mu.Lock()
	if len(c.large) > 0 && ps.BatchSizes == nil {
		ps.BatchSizes = make(map[int]int64)
	}
	maps.Copy(ps.BatchSizes, c.large)
	c.mu.Unlock()
	if w := c.last.Load(); w != nil {
		cp := *w
		cp.Shape = slices.Clone(w.Shape)
		ps.Last = &cp
	}
	return ps
}

// Preset returns the counters of one serving protocol and transport, by
// its key (KServeV1REST, OIPv2GRPC, ...); an unknown key gives zeros.
func (s *Server) Preset(key string) PresetStats {
	if i := slices.Index(presetKeys[:], key); i >= 0 {
		return s.presets[i].snapshot()
	}
	return PresetStats{}
}

// presetStats returns the counters of the presets that saw a request.
func (s *Server) presetStats() map[string]PresetStats {
	var m map[string]PresetStats
	for i := range s.presets {
		if s.presets[i].requests.Load() == 0 {
			continue
		}
		if m == nil {
			m = make(map[string]PresetStats)
		}
		m[presetKeys[i]] = s.presets[i].snapshot()
	}
	return m
}

// shape1 returns the shape [n].
func shape1(n int) []int64 { return []int64{int64(n)} }

// batchOf returns the batch size of a text tensor's shape: n for [n] or
// [n, 1], the only shapes the classifier takes (one text per row); ok is
// false for any other shape.
func batchOf(shape []int64) (n int, ok bool) {
	switch {
	case len(shape) == 1 && shape[0] >= 1:
	case len(shape) == 2 && shape[0] >= 1 && shape[1] == 1:
	default:
		return 0, false
	}
	if shape[0] > 1<<30 {
		return 0, false
	}
	return int(shape[0]), true
}

// shapeString renders a shape as the protocols' error messages do: [2,1].
func shapeString(shape []int64) string {
	b := []byte{'['}
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return string(append(b, ']'))
}
