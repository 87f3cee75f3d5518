package worker

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// TestShardCorpus drives shards of plans with data.uri through the worker
// and the in-process Cloud Storage: the shard sends the texts of the
// generation run.json pins, even after the object was overwritten in a
// versioned bucket; a run with no pin, a pinned generation gone (a bucket
// without versioning), a corpus over the worker's limit end the shard
// failed before its first request, with the reason.
func TestShardCorpus(t *testing.T) {
	const (
		first  = "alpha\nbeta\n"
		second = "gamma\ndelta\n"
	)
	tests := []struct {
		name      string
		bucket    string // "" is the runs' bucket (no versioning)
		overwrite bool   // write second over the object after the pin
		pin       func(gen int64, uri string) *runs.Corpus
		limit     int64 // the worker's MAX_CORPUS_BYTES; 0 keeps the default
		memory    int64 // the worker's MEMORY_LIMIT; 0 keeps the default
		wantTexts []string
		reason    string // in the failed marker; "" when the shard runs
	}{
		{name: "pinned", wantTexts: []string{"alpha", "beta"},
			pin: func(gen int64, uri string) *runs.Corpus {
				return &runs.Corpus{URI: uri, Generation: gen, Bytes: int64(len(first))}
			}},
		{name: "overwritten in a versioned bucket", bucket: "corpora", overwrite: true, wantTexts: []string{"alpha", "beta"},
			pin: func(gen int64, uri string) *runs.Corpus {
				return &runs.Corpus{URI: uri, Generation: gen, Bytes: int64(len(first))}
			}},
		{name: "no pin", pin: func(int64, string) *runs.Corpus { return nil },
			reason: "run.json pins no generation of it"},
		{name: "pin of another uri", pin: func(gen int64, _ string) *runs.Corpus {
			return &runs.Corpus{URI: "gs://b/other", Generation: gen, Bytes: 1}
		},
			reason: "run.json pins no generation of it"},
		{name: "overwritten without versioning", overwrite: true,
			pin: func(gen int64, uri string) *runs.Corpus {
				return &runs.Corpus{URI: uri, Generation: gen, Bytes: int64(len(first))}
			},
			reason: "no longer exists: the object was overwritten or deleted; enable Object Versioning on the bucket"},
		{name: "over the worker's limit", limit: 4,
			pin: func(gen int64, uri string) *runs.Corpus {
				return &runs.Corpus{URI: uri, Generation: gen, Bytes: int64(len(first))}
			},
			reason: "is 11 bytes, over this worker's limit of 4 bytes (CICADA_WORKER_MAX_CORPUS_BYTES)"},
		{name: "larger than its pin says", limit: 4,
			pin:    func(gen int64, uri string) *runs.Corpus { return &runs.Corpus{URI: uri, Generation: gen, Bytes: 3} },
			reason: "larger than its pin of 3 bytes says, over this worker's limit (CICADA_WORKER_MAX_CORPUS_BYTES)"},
		{name: "over the worker's memory budget", memory: 1,
			pin: func(gen int64, uri string) *runs.Corpus {
				return &runs.Corpus{URI: uri, Generation: gen, Bytes: int64(len(first))}
			},
			reason: "this shard does not fit the worker's memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.limit > 0 || tt.memory != 0 {
				r := policy.DefaultRules()
				if tt.limit > 0 {
					r.MaxCorpusBytes = tt.limit
				}
				cfg := testConfig()
				cfg.Rules, cfg.MemoryLimit = &r, tt.memory
				e.w = New(cfg, e.st, e.b, testLog(t), nil)
			}
			var (
				mu    sync.Mutex
				texts []string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				texts = append(texts, string(b))
				mu.Unlock()
			}))
			t.Cleanup(srv.Close)
			e.url = srv.URL

			ctx := context.Background()
			bucket := tt.bucket
			var corpora store.Versions = e.st
			if bucket == "" {
				bucket = e.st.Bucket()
			} else {
				client := store.BucketsOf(e.st).(store.GCSBuckets).Client
				if err := client.Bucket(bucket).Create(ctx, "p", &storage.BucketAttrs{VersioningEnabled: true}); err != nil {
					t.Fatalf("create bucket %s: %v", bucket, err)
				}
				corpora = store.NewGCS(client, bucket)
			}
			const object = "corpora/eval.txt"
			uri := "gs://" + bucket + "/" + object
			gen, err := corpora.(store.Store).Put(ctx, object, []byte(first), "text/plain")
			if err != nil {
				t.Fatalf("put corpus: %v", err)
			}
			const id = "run-corpus"
			e.writeRunWith(t, id, time.Now().Add(500*time.Millisecond), time.Second, func(p *plan.Plan) {
				p.Data = plan.Data{URI: uri}
				p.Target.Method, p.Target.Body = http.MethodPost, "{{.Text}}"
			})
			run, err := runs.Read(ctx, e.st, id)
			if err != nil {
				t.Fatal(err)
			}
			run.Run.Corpus = tt.pin(gen, uri)
			e.put(t, runs.RunPath(id), runs.Encode(run.Run))
			if tt.overwrite {
				if _, err := corpora.(store.Store).Put(ctx, object, []byte(second), "text/plain"); err != nil {
					t.Fatalf("overwrite corpus: %v", err)
				}
			}

			e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: "start"}))
			e.handle(t, ctx, e.pullWork(t), 10*time.Second)

			mu.Lock()
			sent := slices.Compact(slices.Sorted(slices.Values(texts)))
			mu.Unlock()
			if tt.reason == "" {
				if !slices.Equal(sent, tt.wantTexts) {
					t.Errorf("target got texts %q, want exactly %q", sent, tt.wantTexts)
				}
				if !e.exists(t, runs.DonePath(id, 0)) {
					t.Error("no done marker")
				}
				return
			}
			if len(sent) != 0 {
				t.Errorf("a refused shard sent %q", sent)
			}
			obj, err := e.st.Get(ctx, runs.FailedPath(id, 0))
			if err != nil {
				t.Fatalf("failed marker: %v", err)
			}
			var f runs.ShardFailure
			if err := json.Unmarshal(obj.Data, &f); err != nil || !strings.Contains(f.Reason, tt.reason) || !strings.Contains(f.Reason, "gs://") {
				t.Errorf("failed marker %s (%v), want a reason naming the corpus and containing %q", obj.Data, err, tt.reason)
			}
		})
	}
}
