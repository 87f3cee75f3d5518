package pipeline

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/worker"
)

// textRecorder is a target that counts the texts it is sent (the body is
// the text).
type textRecorder struct {
	mu    sync.Mutex
	texts map[string]int
}

func (r *textRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.texts[string(b)]++
	r.mu.Unlock()
}

func (r *textRecorder) seen() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.texts))
	for k, v := range r.texts {
		out[k] = v
	}
	return out
}

// corpusLines is a corpus of n texts "<version>-<i>".
func corpusLines(version string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s-%d\n", version, i)
	}
	return b.String()
}

// TestEmbeddedCorpusOverwritten: a run whose corpus object is overwritten
// after the trigger accepted it still sends only the first version's texts,
// from every shard, the shards taken after the overwrite included. The
// embedded pipeline's one worker holds a single shard; the other shards
// wait in the subscription until the overwrite is done and two more
// workers on the same bucket and bus start, so that they read the corpus
// after it.
func TestEmbeddedCorpusOverwritten(t *testing.T) {
	t.Parallel()
	rec := &textRecorder{texts: map[string]int{}}
	target := httptest.NewServer(rec)
	t.Cleanup(target.Close)

	workerCfg := worker.Config{Capacity: 1, MaxShards: 1, LeaseTTL: 10 * time.Second, RenewEvery: 500 * time.Millisecond}
	e, stop, err := StartEmbedded(context.Background(), Options{
		Workers:    1,
		Worker:     workerCfg,
		Aggregator: aggregate.Config{Grace: 10 * time.Second, Sweep: 300 * time.Millisecond, LiveEvery: 200 * time.Millisecond, PickupGrace: 5 * time.Second, Republish: time.Second},
		Trigger:    trigger.Config{Rules: policy.Rules{AllowedTargets: []string{"127.0.0.1"}, MaxCorpusBytes: 1 << 20}, LeadTime: 2 * time.Second, MaxBody: 1 << 20},
		Log:        testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	ctx := context.Background()
	const object = "corpora/eval.txt"
	first, second := corpusLines("first", 40), corpusLines("second", 40)
	gen, err := e.Store.Put(ctx, object, []byte(first), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	const shards = 3
	uri := "gs://" + EmbeddedBucket + "/" + object
	acc := mustPost(t, e, fmt.Sprintf(`{"name": "corpus", "target": {"protocol": "http", "url": %q, "method": "POST", "body": "{{.Text}}"},
		"data": {"uri": %q}, "load": {"model": "open", "stages": [{"duration": "2s", "rate": 90}]},
		"slice": "500ms", "shards": %d}`, target.URL, uri, shards))

	// Overwritten once accepted; then the workers that take the waiting
	// shards start.
	if _, err := e.Store.Put(ctx, object, []byte(second), "text/plain"); err != nil {
		t.Fatal(err)
	}
	obj, err := e.Store.Get(ctx, runs.RunPath(acc.RunID))
	if err != nil {
		t.Fatal(err)
	}
	run, err := runs.DecodeRun(obj.Data)
	if err != nil {
		t.Fatal(err)
	}
	if want := (runs.Corpus{URI: uri, Generation: gen, Bytes: int64(len(first))}); run.Corpus == nil || *run.Corpus != want {
		t.Fatalf("run.json corpus = %+v, want %+v", run.Corpus, want)
	}
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stopWorkers(); wg.Wait() })
	for i := range shards - 1 {
		cfg := workerCfg
		cfg.ID = fmt.Sprintf("late-worker-%d", i)
		cfg.Rules = &policy.Rules{AllowedTargets: []string{"127.0.0.1"}, MaxCorpusBytes: 1 << 20}
		cfg.Corpora = store.OneBucket{Name: EmbeddedBucket, Versions: e.Store.(*store.Disk)}
		w := worker.New(cfg, e.Store, e.Bus, testLog(t), nil)
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(wctx) }()
	}

	rep, _ := waitReport(t, e, acc.RunID, 30*time.Second)
	if rep.Status != report.StatusCompleted || rep.Coverage == nil || rep.Coverage.Received != shards*4 || len(rep.Coverage.Missing) != 0 {
		t.Fatalf("status %s coverage %+v, want completed with %d shards × 4 slices", rep.Status, rep.Coverage, shards)
	}
	sentBy := map[int]int64{}
	writers := map[string]bool{}
	for _, r := range slices(t, e, acc.RunID) {
		sentBy[r.Shard] += r.Sent
		writers[r.Writer] = true
	}
	for shard := range shards {
		if sentBy[shard] == 0 {
			t.Errorf("shard %d sent nothing", shard)
		}
	}
	if len(writers) != shards {
		t.Errorf("slices written by %v, want %d workers (one per shard)", writers, shards)
	}
	seen := rec.seen()
	var total int64
	for text, n := range seen {
		total += int64(n)
		if !strings.HasPrefix(text, "first-") {
			t.Errorf("the target got %q (%d times): not a text of the pinned generation", text, n)
		}
	}
	if total != rep.Summary.Sent || total == 0 {
		t.Errorf("the target got %d requests, the report says %d sent", total, rep.Summary.Sent)
	}
}
