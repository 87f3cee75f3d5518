package plan

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validSearch is a valid search plan: 1s slices, probes of 1+2 slices.
func validSearch() *Plan {
	p := validHTTP()
	p.Slice = sec(1)
	p.Load = Load{Model: ModelOpen, Search: &Search{
		SLO: []string{"p99 < 50ms", "error_rate < 1%"}, From: 100, To: 2000, Step: 2,
		Hold: sec(2), Settle: sec(1), Precision: 0.1,
	}}
	return p
}

func TestParseSearch(t *testing.T) {
	t.Parallel()
	const head = `name: s
target: {protocol: http, url: "http://127.0.0.1:8501/v1/predict"}
data: {texts: [a]}
slice: 1s
load:
  model: open
  search:
    slo: ["p99 < 250ms", "error_rate < 1%"]
    from: 100
    to: 50000
    hold: 2500ms
    settle: 5s
`
	for _, tt := range []struct {
		name, extra, format string
		precision           float64
		step                float64
		probes              int
	}{
		{"yaml percent", "    precision: 5%\n", "yaml", 0.05, DefaultSearchStep, DefaultSearchMaxProbes},
		{"yaml fraction", "    precision: 0.02\n    step: 1.25\n", "yaml", 0.02, 1.25, DefaultSearchMaxProbes},
		{"yaml default", "    max_probes: 7\n", "yaml", DefaultSearchPrecision, DefaultSearchStep, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(head+tt.extra), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			s := p.Load.Search
			if s == nil {
				t.Fatal("no search")
			}
			if math.Abs(float64(s.Precision)-tt.precision) > 1e-12 || s.Step != tt.step || s.MaxProbes != tt.probes {
				t.Errorf("precision %v step %v max_probes %d, want %v %v %d", s.Precision, s.Step, s.MaxProbes, tt.precision, tt.step, tt.probes)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			// Settle 5s, hold 2.5s → 3 slices; 2×(5+3)+2 slices per probe.
			if settle, hold := s.ProbeSlices(p.SliceDuration()); settle != 5 || hold != 3 {
				t.Errorf("ProbeSlices = %d, %d, want 5, 3", settle, hold)
			}
			if got, want := p.SearchSlices(), tt.probes*18; got != want {
				t.Errorf("SearchSlices = %d, want %d", got, want)
			}
			if got, want := p.Duration(), time.Duration(tt.probes*18)*time.Second; got != want {
				t.Errorf("Duration = %v, want %v", got, want)
			}
			// JSON round trip: the precision as a fraction, read back the same.
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			q, err := Parse(b, "json")
			if err != nil {
				t.Fatalf("parse %s: %v", b, err)
			}
			if !reflect.DeepEqual(q.Load.Search, s) {
				t.Errorf("round trip: %+v, want %+v", q.Load.Search, s)
			}
		})
	}
}

func TestParsePercentForms(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want float64
		err  string
	}{
		{`"5%"`, 0.05, ""},
		{`"0.5 %"`, 0.005, ""},
		{`0.05`, 0.05, ""},
		{`"0.1"`, 0.1, ""},
		{`"five"`, 0, "invalid percentage"},
		{`true`, 0, `want "5%" or 0.05`},
	} {
		var p Percent
		err := json.Unmarshal([]byte(tt.in), &p)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || math.Abs(float64(p)-tt.want) > 1e-12 {
			t.Errorf("%s = %v, %v, want %v", tt.in, p, err, tt.want)
		}
	}
	if got := Percent(0.05).String(); got != "5%" {
		t.Errorf("String = %q, want 5%%", got)
	}
	// The plan decoder names the field of a bad percentage.
	_, err := Parse([]byte(`{"name":"s","target":{"protocol":"http","url":"http://h/"},"data":{"texts":["a"]},
		"load":{"model":"open","search":{"slo":["p99 < 1s"],"from":1,"to":2,"hold":"10s","precision":[1]}}}`), "json")
	if err == nil || !strings.Contains(err.Error(), "load.search.precision") {
		t.Errorf("bad precision: %v", err)
	}
}

func TestValidateSearch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		change func(p *Plan)
		path   string
		reason string
	}{
		{"valid", func(*Plan) {}, "", ""},
		{"valid without settle and defaults", func(p *Plan) { p.Load.Search.Settle, p.Load.Search.Step, p.Load.Search.Precision = 0, 0, 0 }, "", ""},
		{"closed model", func(p *Plan) { p.Load.Model = ModelClosed; p.Load.MaxInFlight = 0 }, "load.search", "only for model open"},
		{"stages too", func(p *Plan) { p.Load.Stages = []Stage{{Duration: sec(10), Rate: 10}} }, "load.stages", "not allowed with load.search"},
		{"start_rate", func(p *Plan) { p.Load.StartRate = ptr(5.0) }, "load.start_rate", "not allowed with load.search"},
		{"no slo", func(p *Plan) { p.Load.Search.SLO = nil }, "load.search.slo", "at least one objective"},
		{"bad slo", func(p *Plan) { p.Load.Search.SLO = []string{"p99 < 1s", "p77 < 1s"} }, "load.search.slo[1]", "unknown metric"},
		{"per_slice slo", func(p *Plan) { p.Load.Search.SLO = []string{"p99 < 1s per_slice"} }, "load.search.slo[0]", "per_slice is not allowed"},
		{"stage slo", func(p *Plan) { p.Load.Search.SLO = []string{"p99 < 1s stage 1"} }, "load.search.slo[0]", "stage is not allowed"},
		{"ignore_first slo", func(p *Plan) { p.Load.Search.SLO = []string{"p99 < 1s ignore_first 5s"} }, "load.search.slo[0]", "ignore_first is not allowed"},
		{"from zero", func(p *Plan) { p.Load.Search.From = 0 }, "load.search.from", "must be > 0"},
		{"from negative", func(p *Plan) { p.Load.Search.From = -1 }, "load.search.from", "must be > 0"},
		{"from NaN", func(p *Plan) { p.Load.Search.From = math.NaN() }, "load.search.from", "finite"},
		{"to below from", func(p *Plan) { p.Load.Search.To = 100 }, "load.search.to", "must be > from (100)"},
		{"to over MaxRate", func(p *Plan) { p.Load.Search.To = 2e6 }, "load.search.to", "must be <= 1e+06 req/s"},
		{"to Inf", func(p *Plan) { p.Load.Search.To = math.Inf(1) }, "load.search.to", "finite"},
		{"step 1", func(p *Plan) { p.Load.Search.Step = 1 }, "load.search.step", "must be > 1"},
		{"step huge", func(p *Plan) { p.Load.Search.Step = 1000 }, "load.search.step", "<= 100"},
		{"step NaN", func(p *Plan) { p.Load.Search.Step = math.NaN() }, "load.search.step", "finite"},
		{"hold under a slice", func(p *Plan) { p.Load.Search.Hold = Duration(500 * time.Millisecond) }, "load.search.hold", "at least one slice (1s)"},
		{"settle negative", func(p *Plan) { p.Load.Search.Settle = -sec(1) }, "load.search.settle", "must be >= 0"},
		{"precision over 100%", func(p *Plan) { p.Load.Search.Precision = 1.5 }, "load.search.precision", "at most 100%"},
		{"precision negative", func(p *Plan) { p.Load.Search.Precision = -0.1 }, "load.search.precision", "more than 0%"},
		{"max_probes over", func(p *Plan) { p.Load.Search.MaxProbes = 65 }, "load.search.max_probes", "must be 1..64"},
		{"max_probes negative", func(p *Plan) { p.Load.Search.MaxProbes = -1 }, "load.search.max_probes", "must be 1..64"},
		{"bound over 24h", func(p *Plan) { p.Load.Search.Hold = Duration(time.Hour); p.Load.Search.MaxProbes = 30 }, "load.search", "take up to"},
		{"absurd hold saturates", func(p *Plan) { p.Load.Search.Hold = Duration(math.MaxInt64) }, "load.search", "over 24h0m0s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := validSearch()
			tt.change(p)
			err := p.Validate()
			if tt.path == "" {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("err = %v, want a ValidationError at %s", err, tt.path)
			}
			for _, pr := range ve.Problems {
				if pr.Path == tt.path && strings.Contains(pr.Reason, tt.reason) {
					return
				}
			}
			t.Errorf("no problem %s: %q in %v", tt.path, tt.reason, ve)
		})
	}
}

// TestValidateSearchLeavesPlan: Validate applies defaults to a copy, and
// the search is behind a pointer: the caller's search keeps its zeros.
func TestValidateSearchLeavesPlan(t *testing.T) {
	t.Parallel()
	p := validSearch()
	p.Load.Search.Step, p.Load.Search.MaxProbes, p.Load.Search.Precision = 0, 0, 0
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := p.Load.Search; s.Step != 0 || s.MaxProbes != 0 || s.Precision != 0 {
		t.Errorf("Validate changed the plan's search: %+v", s)
	}
	p.ApplyDefaults()
	if s := p.Load.Search; s.Step != DefaultSearchStep || s.MaxProbes != DefaultSearchMaxProbes || s.Precision != DefaultSearchPrecision {
		t.Errorf("ApplyDefaults: %+v", s)
	}
}

func TestSearchBounds(t *testing.T) {
	t.Parallel()
	s := &Search{From: 100, To: 2000, Step: 2, Hold: sec(2), Settle: sec(1), MaxProbes: 10}
	slice := time.Second
	for _, tt := range []struct {
		name string
		got  float64
		want float64
	}{
		// A probe spans 2×(1+2)+2 = 8 slices (a rest may follow it).
		{"within 64s", float64(s.ProbesWithin(64*time.Second, slice)), 8},
		{"within 63s", float64(s.ProbesWithin(63*time.Second, slice)), 7},
		{"within 7s", float64(s.ProbesWithin(7*time.Second, slice)), 0},
		{"within an hour, at most MaxProbes", float64(s.ProbesWithin(time.Hour, slice)), 10},
		// 100, 200, 400, 800, 1600, then 2000 each, 8 s per probe.
		{"requests of 1 probe", s.RequestBound(1, slice), 800},
		{"requests of 5 probes", s.RequestBound(5, slice), 8 * 3100},
		{"requests of 7 probes", s.RequestBound(7, slice), 8 * (3100 + 4000)},
		{"probes under 24800 requests", float64(s.ProbesUnderRequests(24800, slice)), 5},
		{"probes under 24799 requests", float64(s.ProbesUnderRequests(24799, slice)), 4},
		{"probes under 10 requests", float64(s.ProbesUnderRequests(10, slice)), 0},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestSearchSchedule(t *testing.T) {
	t.Parallel()
	p := validSearch()
	p.ApplyDefaults()
	rates := p.SearchRates()
	if len(rates) != p.SearchSlices() || rates[0] != 100 || rates[len(rates)-1] != 100 {
		t.Fatalf("SearchRates: %d slices, want %d at 100", len(rates), p.SearchSlices())
	}
	sched := p.Schedule()
	if got, want := sched.Duration(), p.Duration(); got != want {
		t.Errorf("schedule lasts %v, want %v", got, want)
	}
	if got, want := sched.SliceIntended(3, time.Second), int64(100); got != want {
		t.Errorf("slice 3 holds %d requests, want %d", got, want)
	}
	if (&Plan{}).SearchRates() != nil || (&Plan{}).SearchSlices() != 0 {
		t.Error("a plan without search has a rate table")
	}
}

// TestSliceSchedulePrefix: changing the rates from slice k on moves no
// request before k, on any shard; slice k on follows the new rates.
func TestSliceSchedulePrefix(t *testing.T) {
	t.Parallel()
	const slice = 100 * time.Millisecond
	old := []float64{1000, 1000, 333.3, 333.3, 333.3, 333.3, 333.3, 333.3}
	for _, tt := range []struct {
		name string
		from int
		rate float64
	}{
		{"up", 3, 4321.5},
		{"down", 2, 17},
		{"same", 5, 333.3},
		{"last", 7, 9000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nu := append([]float64(nil), old...)
			for k := tt.from; k < len(nu); k++ {
				nu[k] = tt.rate
			}
			a, b := NewSliceSchedule(slice, old), NewSliceSchedule(slice, nu)
			cut := time.Duration(tt.from) * slice
			if a.CountBefore(cut) != b.CountBefore(cut) {
				t.Fatalf("requests before slice %d: %d, then %d", tt.from, a.CountBefore(cut), b.CountBefore(cut))
			}
			for i := range a.CountBefore(cut) {
				if a.Arrival(i) != b.Arrival(i) {
					t.Fatalf("request %d moved from %v to %v", i, a.Arrival(i), b.Arrival(i))
				}
			}
			for k := tt.from; k < len(nu); k++ {
				want := tt.rate * slice.Seconds()
				if got := float64(b.SliceIntended(k, slice)); math.Abs(got-want) > 1 {
					t.Errorf("slice %d holds %v requests, want %v", k, got, want)
				}
			}
			for sh := range 3 {
				if x, y := a.Shard(sh, 3).CountBefore(cut), b.Shard(sh, 3).CountBefore(cut); x != y {
					t.Errorf("shard %d: %d requests before the change, then %d", sh, x, y)
				}
			}
			if got, want := b.Total(), b.CountBefore(b.Duration()); got != want {
				t.Errorf("Total %d, CountBefore(end) %d", got, want)
			}
		})
	}
	if s := NewSliceSchedule(0, old); s.Total() != 0 || s.Duration() != 0 {
		t.Errorf("zero slice: %d requests over %v", s.Total(), s.Duration())
	}
}

// TestSearchExample: examples/search.yaml is a valid search plan.
func TestSearchExample(t *testing.T) {
	t.Parallel()
	p, err := LoadFile("../../examples/search.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	s := p.Load.Search
	if s == nil || s.From != 100 || s.To != 2000 || s.MaxProbes != 12 || math.Abs(float64(s.Precision)-0.1) > 1e-12 {
		t.Fatalf("search = %+v", s)
	}
	// 12 probes of 2×(1+2)+2 one-second slices (a rest may follow each).
	if got := p.Duration(); got != 96*time.Second {
		t.Errorf("Duration = %v, want 1m36s", got)
	}
}
