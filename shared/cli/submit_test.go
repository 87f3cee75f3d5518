package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/pipeline"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/store"
)

// TestSubmitBodyCorpus: cicada local sends plain lines inline and a JSONL
// file's records through its bucket (data.uri), once per distinct file.
func TestSubmitBodyCorpus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.NewDisk(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("lines.txt", "first text\nsecond text\n")
	write("records.jsonl", `{"text": "a goal", "label": "sports"}`+"\n"+`{"text": "a chip", "label": "technology"}`+"\n")
	const planFmt = `name: local
target:
  protocol: http
  url: http://127.0.0.1:8501
  preset: {name: kserve_v1, model: textcls}
  check: {path: "predictions[*].label", equals: "{{.Record.label}}"}
data: {file: %s}
load: {model: open, stages: [{duration: 1s, rate: 1}]}
`
	tests := []struct {
		file      string
		wantURI   bool
		wantTexts []string
	}{
		{"lines.txt", false, []string{"first text", "second text"}},
		{"records.jsonl", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, "plan-"+tt.file+".yaml")
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(planFmt, "%s", tt.file)), 0o600); err != nil {
				t.Fatal(err)
			}
			body, _, err := submitBody(context.Background(), path, "", putCorpus(st))
			if err != nil {
				t.Fatal(err)
			}
			var sent plan.Plan
			if err := json.Unmarshal(body, &sent); err != nil {
				t.Fatal(err)
			}
			if sent.Data.File != "" {
				t.Errorf("data.file %q sent: the trigger refuses it", sent.Data.File)
			}
			if !tt.wantURI {
				if sent.Data.URI != "" || strings.Join(sent.Data.Texts, "|") != strings.Join(tt.wantTexts, "|") {
					t.Errorf("data = %+v, want the texts inline", sent.Data)
				}
				return
			}
			bucket, object, err := plan.ParseGCSURI(sent.Data.URI)
			if err != nil || bucket != pipeline.EmbeddedBucket {
				t.Fatalf("data.uri = %q (%v), want one in the local bucket", sent.Data.URI, err)
			}
			obj, err := st.Get(context.Background(), object)
			if err != nil {
				t.Fatal(err)
			}
			c, err := plan.ReadCorpus(strings.NewReader(string(obj.Data)), object, 1<<20)
			if err != nil || c.Len() != 2 || !c.HasRecords() || c.Record(1)["label"] != "technology" {
				t.Errorf("stored corpus = %+v, %v; want both records", c, err)
			}
		})
	}
}
