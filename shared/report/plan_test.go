package report_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/slice"
)

// outcomesReport is a one-slice report with the given outcome counts.
func outcomesReport(t *testing.T, outcomes map[string]int64) *report.Report {
	t.Helper()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	r := slice.NewResult("run", 0, 0, t0, t0.Add(time.Second))
	for k, n := range outcomes {
		r.Outcomes[k] = n
		r.Completed += n
		for range n {
			_ = r.Latency.RecordValue(1000)
			_ = r.Service.RecordValue(1000)
		}
	}
	r.Intended, r.Sent = r.Completed, r.Completed
	return report.Build(report.Input{Start: t0, End: t0.Add(time.Second), SliceDuration: time.Second, Shards: 1, Slices: []*slice.Result{r}})
}

// TestFilesTakeThePlansRule: report.csv's error class columns and the HTML
// outcome table follow plan.Target.Success, expect_status included.
func TestFilesTakeThePlansRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		outcomes map[string]int64
		target   plan.Target
		want     []string
	}{
		{"2xx and grpc OK are successes", map[string]int64{"http:200": 5, "http:204": 1, "grpc:OK": 2, "grpc:UNAVAILABLE": 1, "http:500": 1}, plan.Target{}, []string{"grpc:UNAVAILABLE", "http:500"}},
		{"expect_status makes 404 a success and 200 an error", map[string]int64{"http:404": 5, "http:200": 1}, plan.Target{ExpectStatus: []int{404}}, []string{"http:200"}},
		{"transport errors sorted", map[string]int64{"error:timeout": 1, "error:connect": 2, "http:200": 1}, plan.Target{}, []string{"error:connect", "error:timeout"}},
		{"no errors", map[string]int64{"http:200": 3}, plan.Target{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files, err := report.Files(outcomesReport(t, tt.outcomes), nil, tt.target.Success)
			if err != nil {
				t.Fatalf("Files: %v", err)
			}
			recs, err := csv.NewReader(bytes.NewReader(files[report.FileCSV])).ReadAll()
			if err != nil {
				t.Fatalf("report.csv: %v", err)
			}
			header := recs[0]
			first, last := slices.Index(header, "max_ms")+1, slices.Index(header, "shards_reporting")
			if first == 0 || last < first {
				t.Fatalf("report.csv header %v: no max_ms ... shards_reporting", header)
			}
			if got := header[first:last]; !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("error class columns = %v, want %v", got, tt.want)
			}
			page := string(files[report.FileHTML])
			for k := range tt.outcomes {
				mark := "success"
				if slices.Contains(tt.want, k) {
					mark = "error"
				}
				row := `<td class="l">` + k + `</td>`
				i := strings.Index(page, row)
				if i < 0 {
					t.Errorf("report.html has no outcome row for %s", k)
					continue
				}
				end := strings.Index(page[i:], "</tr>")
				if !strings.Contains(page[i:i+end], ">"+mark+"</td>") {
					t.Errorf("report.html marks %s as %q, want %s", k, page[i:i+end], mark)
				}
			}
		})
	}
}

// TestHTMLRedactsThePlan: report.html shows the plan without the values of
// its credential headers and URL query, names kept.
func TestHTMLRedactsThePlan(t *testing.T) {
	t.Parallel()
	planJSON := []byte(`{"name":"p","target":{"protocol":"http","url":"https://h.example/v1?api_key=PLANTED1\u0026model=m","headers":{"Authorization":"Bearer PLANTED2","Content-Type":"application/json"}}}`)
	files, err := report.Files(outcomesReport(t, map[string]int64{"http:200": 1}), planJSON, plan.Target{}.Success)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	page := string(files[report.FileHTML])
	for name, data := range files {
		if strings.Contains(string(data), "PLANTED") {
			t.Errorf("%s holds a planted secret", name)
		}
	}
	for _, want := range []string{"Authorization", "REDACTED", "api_key=REDACTED", "application/json"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}
