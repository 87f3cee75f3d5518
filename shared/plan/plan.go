package plan

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by [Plan.ApplyDefaults] to fields left at zero.
const (
	DefaultSlice          = 10 * time.Second
	DefaultShards         = 1
	DefaultTimeout        = 5 * time.Second
	DefaultConnections    = 10
	DefaultOrder          = OrderSequential
	InFlightPerConnection = 10 // open model: default max_in_flight = InFlightPerConnection × connections
)

// Protocols, load models and data orders accepted in a plan.
const (
	ProtocolHTTP    = "http"
	ProtocolGRPC    = "grpc"
	ModelOpen       = "open"
	ModelClosed     = "closed"
	OrderSequential = "sequential"
	OrderRandom     = "random"
)

// Duration is a time.Duration written as a string ("500ms", "10s", "2m",
// "1m30s") in JSON and YAML alike.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does, which ParseDuration reads back.
func (d Duration) String() string { return time.Duration(d).String() }

// errWantDuration is the reason given for a duration written as a number or
// anything else that is not a duration string.
const errWantDuration = `want a duration string like "30s"`

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %s", s, errWantDuration)
	}
	return Duration(v), nil
}

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string and rejects numbers.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s, got %s", errWantDuration, b)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string and rejects numbers.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return fmt.Errorf("line %d: %s, got %q", n.Line, errWantDuration, n.Value)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// Plan is one load test: what to call, with which texts, how hard, and how
// the run is cut into slices and shards.
type Plan struct {
	Name       string   `json:"name" yaml:"name"`
	Target     Target   `json:"target" yaml:"target"`
	Data       Data     `json:"data" yaml:"data"`
	Load       Load     `json:"load" yaml:"load"`
	Slice      Duration `json:"slice,omitempty" yaml:"slice,omitempty"`             // default 10s
	Shards     int      `json:"shards,omitempty" yaml:"shards,omitempty"`           // default 1
	StartDelay Duration `json:"start_delay,omitempty" yaml:"start_delay,omitempty"` // how far ahead the common start is set
	Thresholds []string `json:"thresholds,omitempty" yaml:"thresholds,omitempty"`   // e.g. "p99 < 250ms", see package threshold
	// MinCoverage is the share of shard slices, in percent, a report needs
	// for a verdict other than incomplete (default 100).
	MinCoverage float64 `json:"min_coverage,omitempty" yaml:"min_coverage,omitempty"`
	// MaxLateness bounds how late the generator may send a request before
	// it counts as late; more than 1 % of the requests late makes the run
	// incomplete (a saturated generator, not a slow target); default 50ms.
	MaxLateness Duration `json:"max_lateness,omitempty" yaml:"max_lateness,omitempty"`
	// Baseline names a run to compare with: a run id, or "last-pass" for
	// the last passing run of this plan's name.
	Baseline string `json:"baseline,omitempty" yaml:"baseline,omitempty"`
	// CompareTolerance is how much worse than the baseline a figure may be,
	// in percent, before it is a regression (default 10).
	CompareTolerance float64 `json:"compare_tolerance,omitempty" yaml:"compare_tolerance,omitempty"`
}

// Target is the service under test.
type Target struct {
	Protocol     string            `json:"protocol" yaml:"protocol"`                               // "http" | "grpc"
	URL          string            `json:"url,omitempty" yaml:"url,omitempty"`                     // http
	Method       string            `json:"method,omitempty" yaml:"method,omitempty"`               // http verb, or grpc full method "/pkg.Service/Method"
	Headers      map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`             // http headers, grpc metadata
	Body         string            `json:"body,omitempty" yaml:"body,omitempty"`                   // http body template
	ExpectStatus []int             `json:"expect_status,omitempty" yaml:"expect_status,omitempty"` // http; empty = any 2xx
	Address      string            `json:"address,omitempty" yaml:"address,omitempty"`             // grpc host:port
	Request      string            `json:"request,omitempty" yaml:"request,omitempty"`             // grpc request JSON template
	Timeout      Duration          `json:"timeout,omitempty" yaml:"timeout,omitempty"`             // default 5s
	Connections  int               `json:"connections,omitempty" yaml:"connections,omitempty"`     // per shard, default 10
	Auth         *Auth             `json:"auth,omitempty" yaml:"auth,omitempty"`                   // credential minted or read by the worker
	TLS          *TLS              `json:"tls,omitempty" yaml:"tls,omitempty"`                     // https and grpc: trust, server name, client certificate
	Preset       *Preset           `json:"preset,omitempty" yaml:"preset,omitempty"`               // a model serving protocol: fills url path or method, body or request
	Batch        int               `json:"batch,omitempty" yaml:"batch,omitempty"`                 // texts per request, 1..MaxBatch; 0 means 1
	Check        *Check            `json:"check,omitempty" yaml:"check,omitempty"`                 // the prediction each instance must get
	Protoset     string            `json:"protoset,omitempty" yaml:"protoset,omitempty"`           // base64 of a serialized google.protobuf.FileDescriptorSet (gRPC without reflection)
}

// Data is the corpus of texts fed to the body or request template.
type Data struct {
	Texts []string `json:"texts,omitempty" yaml:"texts,omitempty"`
	File  string   `json:"file,omitempty" yaml:"file,omitempty"`   // as written in the plan, relative to the plan's directory
	URI   string   `json:"uri,omitempty" yaml:"uri,omitempty"`     // gs://bucket/object: text lines or JSONL, read by each worker
	Order string   `json:"order,omitempty" yaml:"order,omitempty"` // "sequential" (default) | "random"

	// Path is File resolved by [LoadFile] against the plan's directory; it is what
	// [Plan.Texts] reads. Never serialized: a stored plan keeps File as written.
	Path string `json:"-" yaml:"-"`
}

// Load is the load model and its stages.
type Load struct {
	Model       string   `json:"model" yaml:"model"` // "open" | "closed"
	Stages      []Stage  `json:"stages" yaml:"stages"`
	MaxInFlight int      `json:"max_in_flight,omitempty" yaml:"max_in_flight,omitempty"` // open, per shard; default 10 × connections
	ThinkTime   Duration `json:"think_time,omitempty" yaml:"think_time,omitempty"`       // closed
	StartRate   *float64 `json:"start_rate,omitempty" yaml:"start_rate,omitempty"`       // open: rate the first stage ramps from; unset = constant first stage
	StartUsers  *int     `json:"start_users,omitempty" yaml:"start_users,omitempty"`     // closed: users the first stage ramps from; unset = constant first stage
	Search      *Search  `json:"search,omitempty" yaml:"search,omitempty"`               // instead of stages; open model only
}

// Stage is one segment of the load: the rate (open) or users (closed) at its
// end, reached by a linear ramp from the previous stage's end value.
type Stage struct {
	Duration Duration `json:"duration" yaml:"duration"`
	Rate     float64  `json:"rate,omitempty" yaml:"rate,omitempty"`   // open: req/s for the whole plan
	Users    int      `json:"users,omitempty" yaml:"users,omitempty"` // closed: users for the whole plan
}

// ApplyDefaults fills fields left at zero with their defaults, expands
// target.preset into the fields it stands for (those the plan set win), and
// normalizes the gRPC method to its leading-slash form. Parse and LoadFile
// call it.
func (p *Plan) ApplyDefaults() {
	if p.Slice == 0 {
		p.Slice = Duration(DefaultSlice)
	}
	if p.Shards == 0 {
		p.Shards = DefaultShards
	}
	t := &p.Target
	if t.Timeout == 0 {
		t.Timeout = Duration(DefaultTimeout)
	}
	if t.Connections == 0 {
		t.Connections = DefaultConnections
	}
	t.applyPreset()
	switch t.Protocol {
	case ProtocolHTTP:
		if t.Method == "" {
			t.Method = "GET"
			if t.Body != "" {
				t.Method = "POST"
			}
		}
	case ProtocolGRPC:
		if t.Method != "" && t.Method[0] != '/' {
			t.Method = "/" + t.Method
		}
	}
	if p.Data.Order == "" {
		p.Data.Order = DefaultOrder
	}
	if p.Data.Path == "" {
		p.Data.Path = p.Data.File
	}
	p.Load.applySearchDefaults()
	if p.Load.Model == ModelOpen && p.Load.MaxInFlight == 0 && t.Connections > 0 && t.Connections <= MaxConnections {
		p.Load.MaxInFlight = InFlightPerConnection * t.Connections
	}
}

// Duration returns the plan's length: the sum of its stages, or for a
// search (load.search) its upper bound, SearchSlices slices; the search
// usually ends before (runs.Control's EndSlice).
func (p *Plan) Duration() time.Duration {
	if p.Load.Search != nil {
		return p.searchDuration()
	}
	return stagesDuration(p.Load.Stages)
}

// DefaultMaxLateness is max_lateness when the plan leaves it at zero.
const DefaultMaxLateness = 50 * time.Millisecond

// LateBound returns max_lateness, the default if unset: a request sent
// later than this after its intended time counts as late. A nil plan has
// the default.
func (p *Plan) LateBound() time.Duration {
	if p == nil || p.MaxLateness <= 0 {
		return DefaultMaxLateness
	}
	return p.MaxLateness.D()
}

// SliceDuration returns the slice length, the default if unset.
func (p *Plan) SliceDuration() time.Duration {
	if p.Slice <= 0 {
		return DefaultSlice
	}
	return p.Slice.D()
}

// NumSlices returns how many slices cover the plan: ceil(Duration/Slice).
func (p *Plan) NumSlices() int {
	d, s := p.Duration(), p.SliceDuration()
	if d <= 0 {
		return 0
	}
	return int((d + s - 1) / s)
}

// Schedule returns the plan's load schedule; for a search, the rate table
// it starts from (SearchRates), which the probes then change.
func (p *Plan) Schedule() *Schedule {
	if p.Load.Search != nil {
		return NewSliceSchedule(p.SliceDuration(), p.SearchRates())
	}
	return NewScheduleFrom(p.Load)
}

// stagesDuration sums stage durations, saturating instead of overflowing so
// that absurd input is rejected by validation rather than wrapping around.
func stagesDuration(stages []Stage) time.Duration {
	var total time.Duration
	for _, s := range stages {
		if s.Duration <= 0 {
			continue
		}
		if total > maxDuration-s.Duration.D() {
			return maxDuration
		}
		total += s.Duration.D()
	}
	return total
}

const maxDuration = time.Duration(1<<63 - 1)
