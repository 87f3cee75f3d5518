package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// corpusPlan is planJSON with data.uri instead of inline texts.
func corpusPlan(uri string) string {
	return strings.Replace(planJSON(2, ""), `"data": {"texts": ["a", "b"]}`, `"data": {"uri": "`+uri+`"}`, 1)
}

// fakeBuckets answers every Attrs with err: what a bucket the trigger may
// not read, or cannot reach, answers.
type fakeBuckets struct{ err error }

func (f fakeBuckets) Bucket(string) (store.Versions, error) { return f, nil }
func (f fakeBuckets) Attrs(context.Context, string) (store.Attrs, error) {
	return store.Attrs{}, f.err
}
func (f fakeBuckets) OpenGeneration(context.Context, string, int64) (io.ReadCloser, error) {
	return nil, f.err
}

// TestCreateCorpus: the trigger pins data.uri's generation and size in
// run.json, and refuses a corpus that is missing, empty, over its limit,
// in a bucket it cannot reach or may not read, each naming data.uri; none
// of the refusals writes a run.
func TestCreateCorpus(t *testing.T) {
	t.Parallel()
	const obj = "corpora/eval.txt"
	tests := []struct {
		name    string
		uri     string
		data    string // the content of obj, written before the post
		limit   int64  // MaxCorpusBytes
		corpora store.Buckets
		code    int
		want    []string // in the refusal's problem at data.uri, or its error
	}{
		{"pinned", "gs://cicada-test/" + obj, "first\nsecond\n", 1 << 20, nil, http.StatusAccepted, nil},
		{"at the limit", "gs://cicada-test/" + obj, "0123456789", 10, nil, http.StatusAccepted, nil},
		{"missing", "gs://cicada-test/corpora/none.txt", "", 1 << 20, nil, http.StatusBadRequest,
			[]string{"gs://cicada-test/corpora/none.txt", "no such object"}},
		{"empty", "gs://cicada-test/" + obj, "", 1 << 20, nil, http.StatusBadRequest, []string{"gs://cicada-test/" + obj + " is empty"}},
		{"over the limit", "gs://cicada-test/" + obj, "0123456789A", 10, nil, http.StatusUnprocessableEntity,
			[]string{"gs://cicada-test/" + obj, "is 11 bytes", "limit of 10 bytes", "CICADA_TRIGGER_MAX_CORPUS_BYTES"}},
		{"no such bucket", "gs://elsewhere/" + obj, "first\n", 1 << 20, nil, http.StatusBadRequest,
			[]string{"gs://elsewhere/" + obj, "no such object (or no such bucket)"}},
		{"bucket not reachable", "gs://elsewhere/" + obj, "first\n", 1 << 20, store.OneBucket{Name: "cicada-local"}, http.StatusBadRequest,
			[]string{"gs://elsewhere/" + obj, "the only bucket is gs://cicada-local/"}},
		{"may not read", "gs://private/" + obj, "first\n", 1 << 20, fakeBuckets{store.ErrForbidden}, http.StatusBadRequest,
			[]string{"gs://private/" + obj, "may not read", "storage.objects.get on bucket private"}},
		{"bucket down", "gs://cicada-test/" + obj, "first\n", 1 << 20, fakeBuckets{errors.New("connection refused")}, http.StatusServiceUnavailable,
			[]string{"gs://cicada-test/" + obj, "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.MaxCorpusBytes = tt.limit
			e := newEnv(t, cfg)
			if tt.corpora != nil {
				e.h = NewHandler(Deps{Store: e.st, Bus: e.bus, Config: cfg, Now: e.clock.Now, Corpora: tt.corpora})
			}
			gen, err := e.st.Put(context.Background(), obj, []byte(tt.data), "text/plain")
			if err != nil {
				t.Fatalf("put corpus: %v", err)
			}
			w := e.do(t, http.MethodPost, "/runs", "application/json", corpusPlan(tt.uri))
			if w.Code != tt.code {
				t.Fatalf("POST /runs = %d %s, want %d", w.Code, w.Body, tt.code)
			}
			if tt.code != http.StatusAccepted {
				body := decode[errorBody](t, w)
				text := body.Error
				for _, p := range body.Problems {
					if p.Path != "data.uri" {
						t.Errorf("problem at %s, want data.uri: %+v", p.Path, p)
					}
					text += " | " + p.Reason
				}
				if tt.code != http.StatusServiceUnavailable && len(body.Problems) != 1 {
					t.Errorf("problems = %+v, want one at data.uri", body.Problems)
				}
				for _, s := range tt.want {
					if !strings.Contains(text, s) {
						t.Errorf("refusal %q does not say %q", text, s)
					}
				}
				if names, err := e.st.List(context.Background(), runs.Root); err != nil || len(names) != 0 {
					t.Errorf("objects of a refused run: %q, %v", names, err)
				}
				return
			}
			acc := decode[Accepted](t, w)
			var run runs.Run
			if err := json.Unmarshal(e.get(t, runs.RunPath(acc.RunID)), &run); err != nil {
				t.Fatalf("run.json: %v", err)
			}
			want := runs.Corpus{URI: tt.uri, Generation: gen, Bytes: int64(len(tt.data))}
			if run.Corpus == nil || *run.Corpus != want {
				t.Errorf("run.json corpus = %+v, want %+v", run.Corpus, want)
			}
			checkShards(t, e.drain(t, 300*time.Millisecond), acc.RunID, 2)
		})
	}
}
