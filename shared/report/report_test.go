package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/slice"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fixture returns a seeded, fixed-time run: 3 shards × 4 slices of 10 s over a
// 35 s plan (the last slice is 5 s long), shard 2 missing slice 1.
func fixture(t *testing.T) Input {
	t.Helper()
	rng := rand.New(rand.NewPCG(42, 7))
	var results []*slice.Result
	for k := range 4 {
		for shard := range 3 {
			if shard == 2 && k == 1 {
				continue // a lost shard-slice: shows as a gap
			}
			n := 100
			if k == 3 {
				n = 50
			}
			rec := slice.NewRecorder()
			rec.Intend(int64(n))
			dropped := rng.IntN(3)
			rec.Drop(int64(dropped))
			for i := range n - dropped {
				lat := time.Duration(rng.ExpFloat64()*2000+200) * time.Microsecond
				switch {
				case i%40 == 7:
					rec.Record("http:503", false, lat, lat/2, 64, 32, 0)
					rec.SampleError(fmt.Sprintf("status 503 from shard %d", shard))
				case i%97 == 5:
					rec.RecordFailedSend("error:connect", "dial tcp 127.0.0.1:8501: connect: connection refused", lat)
				default:
					rec.Record("http:200", true, lat, lat*3/4, 64, 128, time.Duration(rng.IntN(400))*time.Microsecond)
				}
			}
			start := t0.Add(time.Duration(k) * 10 * time.Second)
			r := slice.NewResult("run-golden", shard, k, start, start.Add(10*time.Second))
			r.Writer = fmt.Sprintf("worker-%d", shard)
			r.AddRecorder(rec)
			results = append(results, roundTripResult(t, r))
		}
	}
	return Input{
		RunID: "run-golden", PlanName: "golden", Status: StatusCompleted,
		Start: t0, End: t0.Add(35 * time.Second),
		SliceDuration: 10 * time.Second, PlanDuration: 35 * time.Second, Shards: 3,
		PlannedIntended: []int64{300, 300, 300, 150},
		Slices:          results,
	}
}

func roundTripResult(t *testing.T, r *slice.Result) *slice.Result {
	t.Helper()
	b, err := slice.Marshal(r)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got, err := slice.Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	return got
}

func writeJSON(t *testing.T, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	got := writeJSON(t, Build(fixture(t)))
	path := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report.json differs from %s (run go test -update to accept):\n%s", path, got)
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	golden := writeJSON(t, Build(fixture(t)))
	tests := []struct {
		name      string
		data      []byte
		wantErr   bool
		roundTrip bool // WriteJSON gives data back
	}{
		{"report.json round trip", golden, false, true},
		{"empty object", []byte("{}"), false, false},
		{"not JSON", []byte("<html>"), true, false},
		{"wrong type", []byte(`{"shards": "two"}`), true, false},
		{"empty", nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Decode(tt.data)
			if tt.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "decode report: ") {
					t.Fatalf("Decode(%q) error = %v, want one starting \"decode report: \"", tt.data, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if rep.Total != nil || rep.SliceResults != nil {
				t.Error("Decode set Total or SliceResults, which the JSON does not hold")
			}
			if tt.roundTrip {
				if again := writeJSON(t, rep); !bytes.Equal(again, tt.data) {
					t.Errorf("WriteJSON(Decode(report.json)) differs:\n%s", again)
				}
			}
		})
	}
}

func TestBuildShuffledInputIsByteIdentical(t *testing.T) {
	t.Parallel()
	in := fixture(t)
	want := writeJSON(t, Build(in))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := in
		shuffled.Slices = append([]*slice.Result(nil), in.Slices...)
		rng.Shuffle(len(shuffled.Slices), func(a, b int) {
			shuffled.Slices[a], shuffled.Slices[b] = shuffled.Slices[b], shuffled.Slices[a]
		})
		if got := writeJSON(t, Build(shuffled)); !bytes.Equal(got, want) {
			t.Fatalf("shuffle %d: report differs from the unshuffled one", i)
		}
	}
}

func TestBuildDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	in := fixture(t)
	before := make([]*slice.Result, len(in.Slices))
	for i, r := range in.Slices {
		before[i] = r.Clone()
	}
	Build(in)
	for i, r := range in.Slices {
		if !r.Equal(before[i]) {
			t.Errorf("Build modified input slice %d", i)
		}
	}
}

func TestBuildMergesAcrossShards(t *testing.T) {
	t.Parallel()
	mk := func(shard, index int, completed, errs int64, latUS int64) *slice.Result {
		r := slice.NewResult("run", shard, index, t0.Add(time.Duration(index)*time.Second), t0.Add(time.Duration(index+1)*time.Second))
		r.Intended, r.Sent, r.Completed, r.Errors = completed, completed, completed, errs
		r.Outcomes["http:200"] = completed - errs
		if errs > 0 {
			r.Outcomes["http:500"] = errs
		}
		for range completed {
			_ = r.Latency.RecordValue(latUS)
			_ = r.Service.RecordValue(latUS)
		}
		return r
	}
	busy := func(r *slice.Result, cpu float64) *slice.Result { r.GeneratorCPU = cpu; return r }
	in := Input{
		RunID: "run", Start: t0, End: t0.Add(2 * time.Second), SliceDuration: time.Second, Shards: 2,
		Slices: []*slice.Result{
			busy(mk(0, 0, 100, 0, 1000), 0.5),
			busy(mk(1, 0, 100, 10, 3000), 0.91234),
			busy(mk(1, 1, 50, 0, 2000), 0.25),
			mk(1, 1, 40, 0, 2000), // duplicate (shard, index): counted once
			nil,
		},
	}
	r := Build(in)
	if got, want := len(r.Slices), 2; got != want {
		t.Fatalf("len(Slices) = %d, want %d", got, want)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"slice 0 completed", r.Slices[0].Completed, int64(200)},
		{"slice 0 errors", r.Slices[0].Errors, int64(10)},
		{"slice 0 shards", r.Slices[0].ShardsReporting, 2},
		{"slice 0 rps", r.Slices[0].RPS, 200.0},
		{"slice 0 p50 (lower half at 1 ms)", r.Slices[0].LatencyMS.P50, 1.0},
		{"slice 0 p99 (highest equivalent of 3000 µs)", r.Slices[0].LatencyMS.P99, 3.001},
		{"slice 1 shards (one shard, duplicate dropped)", r.Slices[1].ShardsReporting, 1},
		{"slice 1 completed (larger duplicate kept)", r.Slices[1].Completed, int64(50)},
		{"slice 1 planned rps from intended", r.Slices[1].PlannedRPS, 50.0},
		{"slice 1 start", r.Slices[1].Start, t0.Add(time.Second)},
		{"summary completed", r.Summary.Completed, int64(250)},
		{"summary rps", r.Summary.RPS, 125.0},
		{"summary error rate", r.Summary.ErrorRate, 10.0 / 250},
		{"summary outcomes", fmt.Sprint(r.Summary.Outcomes), "map[http:200:240 http:500:10]"},
		{"slice 0 generator CPU (the busiest shard's)", r.Slices[0].GeneratorCPU, 0.912},
		{"slice 1 generator CPU", r.Slices[1].GeneratorCPU, 0.25},
		{"summary generator CPU (the busiest slice's)", r.Summary.GeneratorCPU, 0.912},
		{"summary.txt names the generator CPU", strings.Contains(FormatSummary(r), "generator CPU up to 91%"), true},
		{"total histogram count", r.Total.Latency.TotalCount(), int64(250)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestBuildEmptyRun(t *testing.T) {
	t.Parallel()
	r := Build(Input{RunID: "empty", Status: StatusFailed})
	if r.Summary.Completed != 0 || r.Summary.ErrorRate != 0 || r.Summary.RPS != 0 || r.Summary.LatencyMS != (slice.Percentiles{}) {
		t.Errorf("empty run summary = %+v, want zeros", r.Summary)
	}
	out := string(writeJSON(t, r))
	for _, want := range []string{`"slices": []`, `"outcomes": {}`, `"sample_errors": []`, `"status": "failed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("empty report lacks %s:\n%s", want, out)
		}
	}
	if s := FormatSummary(r); !strings.Contains(s, "completed 0") {
		t.Errorf("FormatSummary of an empty run = %q, want it to say completed 0", s)
	}

	// A planned run where nobody reported: every slice is a gap with zeros.
	r = Build(Input{Start: t0, End: t0.Add(20 * time.Second), SliceDuration: 10 * time.Second, Shards: 2, NumSlices: 2})
	if len(r.Slices) != 2 || r.Slices[1].ShardsReporting != 0 || r.Slices[1].Completed != 0 {
		t.Errorf("unreported slices = %+v, want 2 zero rows", r.Slices)
	}
}

func TestErrorRateAndRates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		completed, errors  int64
		planDuration       time.Duration
		wantRate           float64
		wantLastSliceRPS   float64
		wantSummaryPlanned float64
	}{
		// 2 slices of 10 s; the second carries the counts.
		{"no requests", 0, 0, 20 * time.Second, 0, 0, 3},
		{"no errors", 100, 0, 20 * time.Second, 0, 10, 3},
		{"all errors", 100, 100, 20 * time.Second, 1, 10, 3},
		{"some errors", 400, 3, 20 * time.Second, 0.0075, 40, 3},
		// a 15 s plan: the last slice is 5 s long
		{"partial last slice", 100, 1, 15 * time.Second, 0.01, 20, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := slice.NewResult("run", 0, 1, time.Time{}, time.Time{})
			r.Intended, r.Sent, r.Completed, r.Errors = tt.completed, tt.completed, tt.completed, tt.errors
			for range tt.completed {
				_ = r.Latency.RecordValue(1000)
				_ = r.Service.RecordValue(1000)
			}
			r.Outcomes["x"] = tt.completed
			got := Build(Input{
				Start: t0, End: t0.Add(20 * time.Second), SliceDuration: 10 * time.Second, PlanDuration: tt.planDuration,
				Shards: 1, PlannedIntended: []int64{30, 30}, Slices: []*slice.Result{r},
			})
			if got.Summary.ErrorRate != tt.wantRate {
				t.Errorf("error_rate = %v, want %v", got.Summary.ErrorRate, tt.wantRate)
			}
			if got.Slices[1].RPS != tt.wantLastSliceRPS {
				t.Errorf("last slice rps = %v, want %v", got.Slices[1].RPS, tt.wantLastSliceRPS)
			}
			if got.Summary.PlannedRPS != tt.wantSummaryPlanned {
				t.Errorf("summary planned_rps = %v, want %v", got.Summary.PlannedRPS, tt.wantSummaryPlanned)
			}
		})
	}
}

func TestReportJSONFieldOrder(t *testing.T) {
	t.Parallel()
	out := writeJSON(t, Build(fixture(t)))
	var order []string
	dec := json.NewDecoder(bytes.NewReader(out))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 && dec.More() {
				order = append(order, v)
				// skip the value
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					t.Fatalf("decode: %v", err)
				}
			}
		}
	}
	want := "run_id plan_name status start end slice_seconds shards summary slices"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("top-level keys = %q, want %q", got, want)
	}
	if !bytes.HasSuffix(out, []byte("}\n")) || !bytes.Contains(out, []byte("\n  \"summary\": {\n    \"intended\"")) {
		t.Errorf("report.json not indented by two spaces with a trailing newline:\n%s", out)
	}
}

func TestFormatSliceLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		row  SliceRow
		want string
	}{
		{
			"a clean slice: no errors, no drops",
			SliceRow{Index: 3, Start: t0.Add(30 * time.Second), Completed: 9998, RPS: 999.8, LatencyMS: slice.Percentiles{P50: 1.23, P99: 4.56}},
			"slice  3  12:00:30  rps  999.8  p50   1.23ms  p99   4.56ms  errors 0 (0.00%)  dropped 0",
		},
		{
			"errors and drops",
			SliceRow{Index: 12, Start: t0, Completed: 200, Errors: 3, Dropped: 7, RPS: 20, LatencyMS: slice.Percentiles{P50: 250.5, P99: 1500}},
			"slice 12  12:00:00  rps   20.0  p50 250.50ms  p99 1500.00ms  errors 3 (1.50%)  dropped 7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := FormatSliceLine(tt.row); got != tt.want {
				t.Errorf("FormatSliceLine =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestFormatSummary(t *testing.T) {
	t.Parallel()
	got := FormatSummary(Build(fixture(t)))
	for _, want := range []string{
		"run run-golden  plan \"golden\"  status completed",
		"gaps      1 slice(s) reported by fewer than 3 shard(s)",
		"p99.9",
		"latency",
		"http:200",
		"error:connect",
		"status 503 from shard 0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("FormatSummary lacks %q:\n%s", want, got)
		}
	}
	if i, j := strings.Index(got, "http:200"), strings.Index(got, "http:503"); i > j {
		t.Errorf("outcomes not most frequent first:\n%s", got)
	}
}
