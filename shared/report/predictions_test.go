package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/slice"

	"github.com/cicadaload/cicada/shared/browsertest"
)

// predictionShard is what one shard recorded in one slice: requests
// completed with a batch each, checks and text lengths.
type predictionShard struct {
	shard, index     int
	requests, batch  int
	checked, correct int64
	textChars        map[int]int // length -> texts
}

func (p predictionShard) result(t *testing.T) *slice.Result {
	t.Helper()
	rec := slice.NewRecorder()
	rec.Intend(int64(p.requests))
	for range p.requests {
		rec.Record("http:200", true, time.Millisecond, time.Millisecond, 64, 128, 0)
		rec.Instances(int64(p.batch))
	}
	if p.checked > 0 {
		rec.Checked(p.checked, p.correct)
	}
	for n, c := range p.textChars {
		for range c {
			rec.TextChars(n)
		}
	}
	start := t0.Add(time.Duration(p.index) * 10 * time.Second)
	r := slice.NewResult("run-pred", p.shard, p.index, start, start.Add(10*time.Second))
	r.AddRecorder(rec)
	return roundTripResult(t, r)
}

// predictionInput is 2 shards × 3 slices of 10 s with batches of 4:
//
//	slice 0: shard 0 100 requests, 400 instances, 390 of 400 correct, texts 10×200, 20×198, 500×2
//	         shard 1 100 requests, 400 instances, 200 of 400 correct, texts 30×400
//	slice 1: shard 0  50 requests, 200 instances, nothing checked,    texts 5×200
//	slice 2: nobody (a gap)
func predictionInput(t *testing.T) Input {
	t.Helper()
	shards := []predictionShard{
		{shard: 0, index: 0, requests: 100, batch: 4, checked: 400, correct: 390, textChars: map[int]int{10: 200, 20: 198, 500: 2}},
		{shard: 1, index: 0, requests: 100, batch: 4, checked: 400, correct: 200, textChars: map[int]int{30: 400}},
		{shard: 0, index: 1, requests: 50, batch: 4, textChars: map[int]int{5: 200}},
	}
	var results []*slice.Result
	for _, s := range shards {
		results = append(results, s.result(t))
	}
	return Input{
		RunID: "run-pred", PlanName: "pred", Status: StatusCompleted,
		Start: t0, End: t0.Add(30 * time.Second), SliceDuration: 10 * time.Second, PlanDuration: 30 * time.Second,
		Shards: 2, NumSlices: 3, Slices: results,
	}
}

func ptr(v float64) *float64 { return &v }

func TestBuildPredictions(t *testing.T) {
	t.Parallel()
	rep := Build(predictionInput(t))
	tests := []struct {
		name string
		got  Predictions
		want Predictions
	}{
		{"summary", rep.Summary.Predictions, Predictions{
			Instances: 1000, InstanceRate: 1000.0 / 30, Checked: 800, Correct: 590, Accuracy: ptr(590.0 / 800),
			TextChars: &TextChars{P50: 20, P99: 30, Max: 500},
		}},
		{"slice 0: two shards merged", rep.Slices[0].Predictions, Predictions{
			Instances: 800, InstanceRate: 80, Checked: 800, Correct: 590, Accuracy: ptr(0.7375),
			TextChars: &TextChars{P50: 30, P99: 30, Max: 500},
		}},
		{"slice 1: nothing checked, no accuracy", rep.Slices[1].Predictions, Predictions{
			Instances: 200, InstanceRate: 20, TextChars: &TextChars{P50: 5, P99: 5, Max: 5},
		}},
		{"slice 2: a gap has nothing", rep.Slices[2].Predictions, Predictions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !predictionsEqual(tt.got, tt.want) {
				t.Errorf("predictions = %s, want %s", predictionsString(tt.got), predictionsString(tt.want))
			}
		})
	}
}

func predictionsEqual(a, b Predictions) bool {
	eqPtr := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqChars := func(x, y *TextChars) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Instances == b.Instances && a.InstanceRate == b.InstanceRate && a.Checked == b.Checked &&
		a.Correct == b.Correct && eqPtr(a.Accuracy, b.Accuracy) && eqChars(a.TextChars, b.TextChars)
}

func predictionsString(p Predictions) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func TestTextCharsOf(t *testing.T) {
	t.Parallel()
	oneToHundred := map[int64]int64{}
	for n := int64(1); n <= 100; n++ {
		oneToHundred[n] = 1
	}
	tests := []struct {
		name   string
		counts map[int64]int64
		want   *TextChars
	}{
		{"nil", nil, nil},
		{"only zero counts (a recorder reset)", map[int64]int64{12: 0, 40: 0}, nil},
		{"one text", map[int64]int64{7: 1}, &TextChars{P50: 7, P99: 7, Max: 7}},
		{"empty texts count", map[int64]int64{0: 3}, &TextChars{}},
		{"lengths 1..100 once each", oneToHundred, &TextChars{P50: 50, P99: 99, Max: 100}},
		{"half short, half long: p50 is the last short", map[int64]int64{3: 50, 300: 50}, &TextChars{P50: 3, P99: 300, Max: 300}},
		{"one long text in a hundred stays out of p99", map[int64]int64{10: 99, 9000: 1}, &TextChars{P50: 10, P99: 10, Max: 9000}},
		{"two long texts in a hundred reach p99", map[int64]int64{10: 98, 9000: 2}, &TextChars{P50: 10, P99: 9000, Max: 9000}},
		{"zero counts are no texts", map[int64]int64{10: 4, 9000: 0}, &TextChars{P50: 10, P99: 10, Max: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := textCharsOf(tt.counts)
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("textCharsOf(%v) = %+v, want %+v", tt.counts, got, tt.want)
			}
		})
	}
}

func TestPredictionsJSON(t *testing.T) {
	t.Parallel()
	unchecked := predictionInput(t)
	unchecked.Slices = unchecked.Slices[2:] // slice 1 only: batches, no checks
	tests := []struct {
		name        string
		rep         *Report
		want        []string
		notWant     []string
		wantSummary map[string]any
	}{
		{"checked", Build(predictionInput(t)),
			[]string{`"accuracy": 0.7375`, `"text_chars": {`, `"p50": 20`},
			nil,
			map[string]any{"instances": 1000.0, "checked": 800.0, "correct": 590.0, "accuracy": 0.7375,
				"text_chars": map[string]any{"p50": 20.0, "p99": 30.0, "max": 500.0}}},
		{"nothing checked: no accuracy at all", Build(unchecked),
			nil,
			[]string{`"accuracy"`},
			map[string]any{"instances": 200.0, "checked": 0.0, "correct": 0.0}},
		{"old slices: no accuracy, no text lengths", Build(fixture(t)),
			nil,
			[]string{`"accuracy"`, `"text_chars"`},
			map[string]any{"instances": 0.0, "instance_rate": 0.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := writeJSON(t, tt.rep)
			for _, w := range tt.want {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("report.json lacks %s", w)
				}
			}
			for _, w := range tt.notWant {
				if bytes.Contains(out, []byte(w)) {
					t.Errorf("report.json has %s", w)
				}
			}
			var doc struct {
				Summary map[string]any `json:"summary"`
			}
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			for k, v := range tt.wantSummary {
				got, _ := json.Marshal(doc.Summary[k])
				want, _ := json.Marshal(v)
				if !bytes.Equal(got, want) {
					t.Errorf("summary.%s = %s, want %s", k, got, want)
				}
			}
			// A report read back gives the same JSON: the new fields
			// survive Decode.
			back, err := Decode(out)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if again := writeJSON(t, back); !bytes.Equal(again, out) {
				t.Errorf("WriteJSON(Decode(report.json)) differs:\n%s", again)
			}
		})
	}
}

// TestOldReportDecodesAndRenders reads a report.json written before the
// prediction figures existed (testdata/report-v0.json): it decodes with
// them zero and absent, and every file renders without them.
func TestOldReportDecodesAndRenders(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "report-v0.json"))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if bytes.Contains(data, []byte(`"instances"`)) {
		t.Fatal("report-v0.json has instances: it must be a report from before them")
	}
	rep, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if rep.Summary.Completed == 0 || len(rep.Slices) != 4 {
		t.Fatalf("decoded report lost its figures: completed %d, %d slices", rep.Summary.Completed, len(rep.Slices))
	}
	for i, p := range append([]Predictions{rep.Summary.Predictions}, rowPredictions(rep)...) {
		if !predictionsEqual(p, Predictions{}) {
			t.Errorf("predictions %d of an old report = %s, want all zero and absent", i, predictionsString(p))
		}
	}
	files, err := Files(rep, nil, fixtureSuccess)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	checks := []struct {
		file    string
		notWant []string
	}{
		{FileSummary, []string{"instances", "accuracy", "texts "}},
		{FileHTML, []string{`id="figure-accuracy"`, `id="figure-instances"`, `id="predictions"`, "chart-accuracy"}},
	}
	for _, c := range checks {
		for _, w := range c.notWant {
			if bytes.Contains(files[c.file], []byte(w)) {
				t.Errorf("%s of an old report shows %q", c.file, w)
			}
		}
	}
	recs := readCSV(t, files[FileCSV])
	acc := slices.Index(recs[0], "accuracy")
	if acc < 0 {
		t.Fatalf("report.csv has no accuracy column: %v", recs[0])
	}
	for _, rec := range recs[1:] {
		if rec[acc] != "" {
			t.Errorf("slice %s accuracy = %q, want empty", rec[0], rec[acc])
		}
	}
}

func rowPredictions(rep *Report) []Predictions {
	out := make([]Predictions, len(rep.Slices))
	for i, r := range rep.Slices {
		out[i] = r.Predictions
	}
	return out
}

func TestFormatSummaryPredictions(t *testing.T) {
	t.Parallel()
	unbatched := predictionInput(t)
	unbatched.Slices = nil
	for _, s := range []predictionShard{{shard: 0, index: 0, requests: 10, batch: 1, checked: 10, correct: 9}} {
		unbatched.Slices = append(unbatched.Slices, s.result(t))
	}
	tests := []struct {
		name    string
		rep     *Report
		want    []string
		notWant []string
	}{
		{"batches, checks and texts", Build(predictionInput(t)),
			[]string{
				"instances 1000  rate 33.3/s  4.00 per request\n",
				"accuracy  73.75% (590/800 instances checked)\n",
				"texts     length in characters  p50 20  p99 30  max 500\n",
			}, nil},
		{"one text per request: instances would repeat the requests", Build(unbatched),
			[]string{"accuracy  90.00% (9/10 instances checked)\n"},
			[]string{"\ninstances ", "\ntexts "}},
		{"nothing of it", Build(fixture(t)), nil, []string{"\ninstances ", "accuracy", "\ntexts "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := FormatSummary(tt.rep)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("summary lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("summary has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestFormatSliceLinePredictions(t *testing.T) {
	t.Parallel()
	base := SliceRow{Index: 3, Start: t0.Add(30 * time.Second), Completed: 2000, RPS: 200, LatencyMS: slice.Percentiles{P50: 1.23, P99: 4.56}}
	const head = "slice  3  12:00:30  rps  200.0  p50   1.23ms  p99   4.56ms  errors 0 (0.00%)  dropped 0"
	tests := []struct {
		name string
		p    Predictions
		want string
	}{
		{"one text per request", Predictions{Instances: 2000, InstanceRate: 200}, head},
		{"batches", Predictions{Instances: 16000, InstanceRate: 1600}, head + "  inst/s 1600.0"},
		{"checked", Predictions{Instances: 2000, InstanceRate: 200, Checked: 2000, Correct: 1876, Accuracy: ptr(0.938)}, head + "  accuracy 93.80%"},
		{"batches and checked", Predictions{Instances: 16000, InstanceRate: 1600, Checked: 16000, Correct: 16000, Accuracy: ptr(1)},
			head + "  inst/s 1600.0  accuracy 100.00%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			row := base
			row.Predictions = tt.p
			if got := FormatSliceLine(row); got != tt.want {
				t.Errorf("FormatSliceLine =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestCSVPredictions(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, Build(predictionInput(t)), fixtureSuccess); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	recs := readCSV(t, buf.Bytes())
	if got, want := recs[0][len(recs[0])-len(csvPredictionHeader):], csvPredictionHeader; !slices.Equal(got, want) {
		t.Fatalf("last columns = %v, want %v", got, want)
	}
	tail := func(i int) string { return strings.Join(recs[1+i][len(recs[0])-len(csvPredictionHeader):], ",") }
	tests := []struct {
		slice int
		want  string
	}{
		{0, "800,80,800,590,0.7375,30,30,500"},
		{1, "200,20,0,0,,5,5,5"},
		{2, "0,0,0,0,,,,"},
	}
	for _, tt := range tests {
		if got := tail(tt.slice); got != tt.want {
			t.Errorf("slice %d: %s, want %s", tt.slice, got, tt.want)
		}
	}
}

func TestHTMLPredictions(t *testing.T) {
	t.Parallel()
	built := Build(predictionInput(t))
	decoded, err := Decode(writeJSON(t, built))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	for name, rep := range map[string]*Report{"built": built, "decoded from report.json": decoded} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			page := writeHTML(t, rep, nil, HTMLOptions{})
			browsertest.CheckWellFormed(t, page)
			for _, w := range []string{
				// summary cards
				`<div class="figure" id="figure-instances"><div class="v">33.3/s</div><div class="k">instances (1000, 4.00 per request)</div></div>`,
				`<div class="figure" id="figure-accuracy"><div class="v">73.75%</div><div class="k">accuracy (590 of 800 checked)</div></div>`,
				`<div class="figure" id="figure-text-chars"><div class="v">20 / 30 / 500</div>`,
				// the per-slice table: slice 0, slice 1 unchecked, slice 2 a gap
				`<h2 id="predictions">`,
				`<tr><td>0</td><td class="l">&#43;0s</td><td>20.0</td><td>800</td><td>80.0</td><td>800</td><td>590</td><td>73.75%</td><td>30</td><td>30</td><td>500</td></tr>`,
				`<tr><td>1</td><td class="l">&#43;10s</td><td>5.0</td><td>200</td><td>20.0</td><td>0</td><td>0</td><td>n/a</td><td>5</td><td>5</td><td>5</td></tr>`,
				`<tr><td>2</td><td class="l">&#43;20s</td><td class="l" colspan="9">no report</td></tr>`,
				// the chart
				`<div class="chart" id="chart-accuracy">`,
				"; 73.75% over the run (590 of 800 checked)",
			} {
				if !strings.Contains(page, w) {
					t.Errorf("report.html lacks %s", w)
				}
			}
			if got, want := strings.Count(page, "<svg"), len(chartIDs)+1; got != want {
				t.Errorf("report.html has %d <svg> elements, want %d (the accuracy chart too)", got, want)
			}
		})
	}
}

// TestHTMLThresholdReason: a threshold that had nothing to judge shows its
// reason, not an observed 0.
func TestHTMLThresholdReason(t *testing.T) {
	t.Parallel()
	rep := filesReport(t)
	rep.Thresholds = []ThresholdResult{
		{Expr: "accuracy >= 90%", Unit: "%", Reason: "accuracy: no prediction was checked (target.check not set?)"},
		{Expr: "p99 < 250ms", Observed: 12.5, Unit: "ms", Pass: true},
	}
	page := writeHTML(t, rep, nil, HTMLOptions{})
	for _, w := range []string{
		`<td class="l"><code>accuracy &gt;= 90%</code></td><td>accuracy: no prediction was checked (target.check not set?)</td><td class="fail">fail</td>`,
		`<td class="l"><code>p99 &lt; 250ms</code></td><td>12.5 ms</td><td class="pass">pass</td>`,
	} {
		if !strings.Contains(page, w) {
			t.Errorf("report.html lacks %s", w)
		}
	}
}
