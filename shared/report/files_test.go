package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/cicadaload/cicada/shared/slice"
)

// fixtureSuccess tells the success outcomes of this package's fixtures,
// whose plans list no expect_status: of their outcomes only http:200 is one.
// The rule itself is plan.Target.Success, which this package cannot import
// (plan imports it); plan_test.go checks the two together.
func fixtureSuccess(outcome string) bool { return outcome == "http:200" }

// filesPlanJSON is the plan the files fixture ran, as the aggregator passes it.
var filesPlanJSON = []byte(`{"name":"files","target":{"protocol":"http","url":"http://127.0.0.1:8501/predict","method":"POST","body":"{\"text\": {{json .Text}}}"},` +
	`"load":{"model":"open","stages":[{"duration":"60s","rate":20}]},"slice":"10s","shards":2,"thresholds":["p99 < 250ms","error_rate < 1%"]}`)

// filesFixture returns a seeded, fixed-time run: 2 shards × 6 slices of 10 s,
// shard 1 missing slice 2 and both shards missing slice 4 (a whole gap),
// with 503s, timeouts and connect errors, two thresholds of which one fails.
func filesFixture(t *testing.T) Input {
	t.Helper()
	rng := rand.New(rand.NewPCG(2026, 4))
	var results []*slice.Result
	for k := range 6 {
		for shard := range 2 {
			if k == 4 || (k == 2 && shard == 1) {
				continue // lost shard slices: gaps, not zeros
			}
			const n = 100
			rec := slice.NewRecorder()
			rec.Intend(n)
			dropped := 0
			if k == 5 && shard == 0 {
				dropped = 3
			}
			rec.Drop(int64(dropped))
			for i := range n - dropped {
				lat := time.Duration(rng.ExpFloat64()*3000+300) * time.Microsecond
				switch {
				case i%25 == 3:
					rec.Record("http:503", false, lat, lat/2, 64, 32, 0)
					rec.SampleError(fmt.Sprintf("status 503 from shard %d", shard))
				case k == 3 && i%30 == 11:
					rec.RecordFailedSend("error:timeout", "no answer within 5s", 5*time.Second)
				case i%97 == 50:
					rec.RecordFailedSend("error:connect", "dial tcp 127.0.0.1:8501: connect: connection refused", lat)
				default:
					rec.Record("http:200", true, lat, lat*3/4, 64, 128, time.Duration(rng.IntN(300))*time.Microsecond)
				}
			}
			start := t0.Add(time.Duration(k) * 10 * time.Second)
			r := slice.NewResult("run-files", shard, k, start, start.Add(10*time.Second))
			r.Writer = fmt.Sprintf("worker-%d", shard)
			r.AddRecorder(rec)
			results = append(results, roundTripResult(t, r))
		}
	}
	return Input{
		RunID: "run-files", PlanName: "files", Status: StatusCompleted,
		Start: t0, End: t0.Add(60 * time.Second),
		SliceDuration: 10 * time.Second, PlanDuration: 60 * time.Second, Shards: 2,
		PlannedIntended: []int64{200, 200, 200, 200, 200, 200},
		Slices:          results,
	}
}

// filesReport is the fixture built and judged: the judging is another
// package's, so its results are set here as it would set them.
func filesReport(t *testing.T) *Report {
	t.Helper()
	rep := Build(filesFixture(t))
	rep.Coverage = &Coverage{Expected: 12, Received: 9, Missing: []ShardSlice{{1, 2}, {0, 4}, {1, 4}}}
	rep.Thresholds = []ThresholdResult{
		{Expr: "p99 < 250ms", Observed: rep.Summary.LatencyMS.P99, Unit: "ms", Pass: true},
		{Expr: "error_rate < 1% per_slice", Observed: 100 * rep.Summary.ErrorRate, Unit: "%", Pass: false, FailingSlices: []int{0, 1, 2, 3, 5}},
	}
	rep.Verdict = VerdictFail
	rep.VerdictReasons = []string{"threshold error_rate < 1% per_slice failed: observed 5.4%"}
	return rep
}

func TestFilesGolden(t *testing.T) {
	files, err := Files(filesReport(t), filesPlanJSON, fixtureSuccess)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	for _, name := range []string{FileJSON, FileCSV, FileJUnit} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "files", name)
			got := files[name]
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatalf("update golden: %v", err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatalf("update golden: %v", err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run go test -update to accept):\n%s", name, path, got)
			}
		})
	}
}

func TestFilesAreCompleteAndDeterministic(t *testing.T) {
	t.Parallel()
	rep := filesReport(t)
	first, err := Files(rep, filesPlanJSON, fixtureSuccess)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	if got, want := slices.Sorted(func(yield func(string) bool) {
		for k := range first {
			if !yield(k) {
				return
			}
		}
	}), slices.Sorted(slices.Values(FileNames)); !slices.Equal(got, want) {
		t.Fatalf("Files names = %v, want %v", got, want)
	}
	for name, b := range first {
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	if got, want := string(first[FileSummary]), FormatSummary(rep); got != want {
		t.Errorf("summary.txt = %q, want FormatSummary's %q", got, want)
	}
	if got, want := first[FileJSON], writeJSON(t, rep); !bytes.Equal(got, want) {
		t.Errorf("report.json is not WriteJSON's output")
	}

	// The same slices in another order, built again: every file byte-identical.
	in := filesFixture(t)
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(in.Slices), func(a, b int) { in.Slices[a], in.Slices[b] = in.Slices[b], in.Slices[a] })
	again := Build(in)
	again.Coverage, again.Thresholds, again.Verdict, again.VerdictReasons = rep.Coverage, rep.Thresholds, rep.Verdict, rep.VerdictReasons
	second, err := Files(again, filesPlanJSON, fixtureSuccess)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	for _, name := range FileNames {
		if !bytes.Equal(first[name], second[name]) {
			t.Errorf("%s differs between two builds of the same slices", name)
		}
	}
}

func TestFilesNilReport(t *testing.T) {
	t.Parallel()
	if _, err := Files(nil, nil, fixtureSuccess); err == nil {
		t.Error("Files(nil) = nil error, want an error")
	}
	for name, f := range map[string]func() error{
		"html":  func() error { return WriteHTML(&bytes.Buffer{}, nil, nil, fixtureSuccess, HTMLOptions{}) },
		"csv":   func() error { return WriteCSV(&bytes.Buffer{}, nil, fixtureSuccess) },
		"junit": func() error { return WriteJUnit(&bytes.Buffer{}, nil) },
		"hdr":   func() error { return WriteHDR(&bytes.Buffer{}, nil) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s of a nil report = nil error, want an error", name)
		}
	}
}

func TestFilesNeedASuccessRule(t *testing.T) {
	t.Parallel()
	rep := filesReport(t)
	for name, f := range map[string]func() error{
		"files": func() error { _, err := Files(rep, filesPlanJSON, nil); return err },
		"html":  func() error { return WriteHTML(&bytes.Buffer{}, rep, filesPlanJSON, nil, HTMLOptions{}) },
		"csv":   func() error { return WriteCSV(&bytes.Buffer{}, rep, nil) },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), "no success rule") {
			t.Errorf("%s without a success rule: error %v, want \"no success rule\"", name, err)
		}
	}
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("report.csv does not parse: %v\n%s", err, b)
	}
	return recs
}

func TestCSV(t *testing.T) {
	t.Parallel()
	rep := filesReport(t)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rep, fixtureSuccess); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	recs := readCSV(t, buf.Bytes())
	wantHeader := "index,start,planned_rps,achieved_rps,intended,completed,dropped,errors,p50_ms,p90_ms,p95_ms,p99_ms,p999_ms,max_ms," +
		"error:connect,error:timeout,http:503,shards_reporting," +
		"instances,instance_rate,checked,correct,accuracy,text_chars_p50,text_chars_p99,text_chars_max"
	if got := strings.Join(recs[0], ","); got != wantHeader {
		t.Fatalf("header = %s\nwant     %s", got, wantHeader)
	}
	if got, want := len(recs), 1+len(rep.Slices); got != want {
		t.Fatalf("rows = %d, want %d (header + one per slice)", got, want)
	}
	col := func(name string) int { return slices.Index(recs[0], name) }
	tests := []struct {
		name      string
		row       int // slice index
		column    string
		want      string
		wantEqual bool
	}{
		{"slice 0 start is RFC 3339", 0, "start", "2026-11-27T12:00:00Z", true},
		{"slice 3 start", 3, "start", "2026-11-27T12:00:30Z", true},
		{"slice 0 planned rps", 0, "planned_rps", "20", true},
		{"slice 0 both shards", 0, "shards_reporting", "2", true},
		{"slice 2 one shard", 2, "shards_reporting", "1", true},
		{"gap: no shard", 4, "shards_reporting", "0", true},
		{"gap: zero completed", 4, "completed", "0", true},
		{"gap: zero 503s", 4, "http:503", "0", true},
		{"slice 0 503s (4 per shard)", 0, "http:503", "8", true},
		{"timeouts only in slice 3", 3, "error:timeout", "0", false},
		{"no timeouts in slice 0", 0, "error:timeout", "0", true},
		{"slice 5 dropped", 5, "dropped", "3", true},
		{"slice 3 max (a 5 s timeout)", 3, "max_ms", "5001.215", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := recs[1+tt.row][col(tt.column)]
			if (got == tt.want) != tt.wantEqual {
				t.Errorf("slice %d %s = %q, want equal to %q: %v", tt.row, tt.column, got, tt.want, tt.wantEqual)
			}
		})
	}
	// Error classes in a row sum to its errors.
	for _, rec := range recs[1:] {
		var sum, errs int
		for _, c := range []string{"error:connect", "error:timeout", "http:503"} {
			var n int
			fmt.Sscan(rec[col(c)], &n)
			sum += n
		}
		fmt.Sscan(rec[col("errors")], &errs)
		if sum != errs {
			t.Errorf("slice %s: error classes sum to %d, errors = %d", rec[0], sum, errs)
		}
	}
}

// junitDoc is junit.xml as a CI system reads it.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Time     string `xml:"time,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		edit         func(*Report)
		wantCases    []string
		wantFailures []string // names of failing cases
		wantMessage  string   // in some failure message
	}{
		{
			name:         "one threshold fails",
			edit:         func(*Report) {},
			wantCases:    []string{"p99 < 250ms", "error_rate < 1% per_slice"},
			wantFailures: []string{"error_rate < 1% per_slice"},
			wantMessage:  "expected error_rate < 1% per_slice",
		},
		{
			name: "all pass",
			edit: func(r *Report) {
				r.Thresholds[1].Pass = true
				r.Verdict, r.VerdictReasons = VerdictPass, nil
			},
			wantCases: []string{"p99 < 250ms", "error_rate < 1% per_slice"},
		},
		{
			name: "incomplete fails even with thresholds passing",
			edit: func(r *Report) {
				r.Thresholds[1].Pass = true
				r.Verdict = VerdictIncomplete
				r.VerdictReasons = []string{"coverage 75% below min_coverage 100%", "generator saturated: 3 requests dropped"}
			},
			wantCases:    []string{"p99 < 250ms", "error_rate < 1% per_slice", JUnitCoverageCase},
			wantFailures: []string{JUnitCoverageCase},
			wantMessage:  "coverage 75% below min_coverage 100%; generator saturated",
		},
		{
			name: "comparison regression",
			edit: func(r *Report) {
				r.Thresholds = nil
				r.Verdict = VerdictFail
				r.Comparison = &Comparison{BaselineRunID: "run-base", TolerancePct: 10, Regression: true, Metrics: []MetricDiff{
					{Name: "p99", Unit: "ms", Base: 10, New: 15, ChangePct: 50, Regression: true},
					{Name: "rps", Unit: "req/s", Base: 20, New: 20},
				}}
			},
			wantCases:    []string{"comparison"},
			wantFailures: []string{"comparison"},
			wantMessage:  "p99 10 -> 15 ms (+50.0%)",
		},
		{
			name: "a threshold with nothing to judge says why",
			edit: func(r *Report) {
				r.Thresholds = []ThresholdResult{{Expr: "accuracy >= 90%", Unit: "%",
					Reason: "accuracy: no prediction was checked (target.check not set?)"}}
			},
			wantCases:    []string{"accuracy >= 90%"},
			wantFailures: []string{"accuracy >= 90%"},
			wantMessage:  "accuracy: no prediction was checked (target.check not set?), expected accuracy >= 90%",
		},
		{
			name:      "no thresholds",
			edit:      func(r *Report) { r.Thresholds, r.Verdict = nil, VerdictPass },
			wantCases: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := filesReport(t)
			tt.edit(rep)
			var buf bytes.Buffer
			if err := WriteJUnit(&buf, rep); err != nil {
				t.Fatalf("WriteJUnit: %v", err)
			}
			var doc junitDoc
			if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("junit.xml does not parse: %v\n%s", err, buf.Bytes())
			}
			if len(doc.Suites) != 1 {
				t.Fatalf("suites = %d, want 1", len(doc.Suites))
			}
			s := doc.Suites[0]
			var cases, failures, messages []string
			for _, c := range s.Cases {
				cases = append(cases, c.Name)
				if c.Classname != "files" {
					t.Errorf("case %q classname = %q, want the plan name", c.Name, c.Classname)
				}
				if c.Failure != nil {
					failures = append(failures, c.Name)
					messages = append(messages, c.Failure.Message)
				}
			}
			if !slices.Equal(cases, tt.wantCases) {
				t.Errorf("cases = %q, want %q", cases, tt.wantCases)
			}
			if !slices.Equal(failures, tt.wantFailures) {
				t.Errorf("failing cases = %q, want %q", failures, tt.wantFailures)
			}
			if s.Tests != len(cases) || s.Failures != len(failures) || doc.Tests != s.Tests || doc.Failures != s.Failures {
				t.Errorf("counts: suite tests=%d failures=%d, root tests=%d failures=%d; want %d and %d",
					s.Tests, s.Failures, doc.Tests, doc.Failures, len(cases), len(failures))
			}
			if s.Time != "60.000" {
				t.Errorf("time = %q, want 60.000", s.Time)
			}
			if tt.wantMessage != "" && !strings.Contains(strings.Join(messages, "\n"), tt.wantMessage) {
				t.Errorf("failure messages %q lack %q", messages, tt.wantMessage)
			}
		})
	}
}

func TestHDRReadsBack(t *testing.T) {
	t.Parallel()
	rep := filesReport(t)
	var buf bytes.Buffer
	if err := WriteHDR(&buf, rep); err != nil {
		t.Fatalf("WriteHDR: %v", err)
	}
	if !strings.HasPrefix(buf.String(), "#[Histogram log format version 1.3]\n") {
		t.Errorf("histogram.hdr does not start with the format version:\n%.200s", buf.String())
	}
	r := hdrhistogram.NewHistogramLogReader(bytes.NewReader(buf.Bytes()))
	merged := hdrhistogram.New(hdrLowestNS, hdrHighestNS, slice.SigFigs)
	var starts []int64
	for {
		h, err := r.NextIntervalHistogram()
		if err != nil {
			t.Fatalf("read interval %d: %v", len(starts), err)
		}
		if h == nil {
			break
		}
		starts = append(starts, h.StartTimeMs())
		if d := h.EndTimeMs() - h.StartTimeMs(); d != 10_000 {
			t.Errorf("interval %d lasts %d ms, want 10000", len(starts)-1, d)
		}
		merged.Merge(h)
	}
	var want []int64
	for i, res := range rep.SliceResults {
		if res != nil {
			want = append(want, rep.Slices[i].Start.UnixMilli())
		}
	}
	if !slices.Equal(starts, want) {
		t.Errorf("interval starts = %v, want one per reported slice %v", starts, want)
	}
	if got, want := merged.TotalCount(), rep.Summary.Completed; got != want {
		t.Errorf("total count = %d, want summary.completed %d", got, want)
	}
	// Percentiles survive the change of unit within the histogram's precision.
	for _, q := range []float64{50, 90, 99, 99.9, 100} {
		got := float64(merged.ValueAtQuantile(q)) / 1e6
		want := float64(rep.Total.Latency.ValueAtQuantile(q)) / 1e3
		if d := got/want - 1; d < -0.002 || d > 0.002 {
			t.Errorf("p%g = %.4f ms after reading back, want %.4f ms", q, got, want)
		}
	}
}

func TestHDREmptyAndGaps(t *testing.T) {
	t.Parallel()
	rep := Build(Input{RunID: "gaps", Start: t0, End: t0.Add(30 * time.Second), SliceDuration: 10 * time.Second, Shards: 2, NumSlices: 3})
	var buf bytes.Buffer
	if err := WriteHDR(&buf, rep); err != nil {
		t.Fatalf("WriteHDR: %v", err)
	}
	h, err := hdrhistogram.NewHistogramLogReader(&buf).NextIntervalHistogram()
	if err != nil || h != nil {
		t.Errorf("a run with only gaps: first interval = %v, %v; want none", h, err)
	}
}
