package aggregate

import (
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/report"
)

// TestSubmittedBy: the report names who posted the plan, as run.json
// records it, in report.json and summary.txt; a run with no recorded
// submitter (a local trigger) names nobody.
func TestSubmittedBy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, by string
		wantJSON string // in report.json; "" = no submitted_by at all
		wantTxt  string // in summary.txt
	}{
		{"recorded", "alice@example.com", `"submitted_by": "alice@example.com"`, "submitted by alice@example.com\n"},
		{"local", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := state(all()...)
			s.Run.SubmittedBy = tt.by
			s.Done[0], s.Done[1] = true, true
			files, err := report.Files(s.Report(true), nil, s.Plan.Target.Success)
			if err != nil {
				t.Fatal(err)
			}
			js, txt := string(files[report.FileJSON]), string(files[report.FileSummary])
			if tt.wantJSON == "" {
				if strings.Contains(js, "submitted_by") || strings.Contains(txt, "submitted by") {
					t.Errorf("a run without submitter names one:\n%s\n%s", js, txt)
				}
				return
			}
			if !strings.Contains(js, tt.wantJSON) {
				t.Errorf("report.json lacks %s:\n%s", tt.wantJSON, js)
			}
			if !strings.Contains(txt, tt.wantTxt) {
				t.Errorf("summary.txt lacks %q:\n%s", tt.wantTxt, txt)
			}
		})
	}
}
