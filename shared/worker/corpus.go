package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// corpusTimeout bounds reading a corpus when the store sets no bound of
// its own: 256 MiB at 2 MiB/s.
const corpusTimeout = 2 * time.Minute

// readCorpus reads the corpus of a plan with data.uri, at the generation
// the trigger pinned in run.json, streaming into plan.ReadCorpus within
// MAX_CORPUS_BYTES; nil, nil for a plan without data.uri. Every shard of a
// run reads the same generation, whatever was written over the object
// since. The error is the shard's failure reason: a run with no pin (its
// run.json was not the trigger's), a pinned generation gone, a bucket the
// worker may not read, a corpus over the limit or that does not parse.
func (w *Worker) readCorpus(ctx context.Context, p *plan.Plan, run runs.Run) (*plan.Corpus, error) {
	uri := p.Data.URI
	if uri == "" {
		return nil, nil
	}
	pin := run.Corpus
	if pin == nil || pin.URI != uri {
		return nil, fmt.Errorf("data.uri %s: run.json pins no generation of it, so the shards could read different versions; only a run the trigger accepted reads a corpus", uri)
	}
	lim := w.cfg.policyRules().MaxCorpusBytes
	if lim > 0 && pin.Bytes > lim {
		return nil, fmt.Errorf("refused by the worker's policy: data.uri: %s is %d bytes, over this worker's limit of %d bytes (%s)",
			uri, pin.Bytes, lim, policy.Worker.Prefix+"MAX_CORPUS_BYTES")
	}
	bucket, object, err := plan.ParseGCSURI(uri)
	if err != nil {
		return nil, fmt.Errorf("data.uri %w", err)
	}
	corpora := w.cfg.Corpora
	if corpora == nil {
		corpora = store.BucketsOf(w.st)
	}
	if corpora == nil {
		return nil, fmt.Errorf("corpus %s: this worker reads no bucket but its own", uri)
	}
	b, err := corpora.Bucket(bucket)
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", uri, err)
	}
	ctx, cancel := context.WithTimeout(ctx, corpusTimeout)
	defer cancel()
	r, err := b.OpenGeneration(ctx, object, pin.Generation)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("corpus %s generation %d no longer exists: the object was overwritten or deleted; enable Object Versioning on the bucket", uri, pin.Generation)
	case errors.Is(err, store.ErrForbidden):
		return nil, fmt.Errorf("corpus %s: the worker may not read it; its service account needs storage.objects.get on bucket %s: %w", uri, bucket, err)
	case err != nil:
		return nil, fmt.Errorf("corpus %s generation %d: %w", uri, pin.Generation, err)
	}
	defer r.Close()
	c, err := plan.ReadCorpus(&guardedReader{r: r, g: w.memGuard(), name: uri}, uri, lim)
	if errors.Is(err, plan.ErrCorpusTooLarge) {
		return nil, fmt.Errorf("refused by the worker's policy: data.uri: %s generation %d is larger than its pin of %d bytes says, over this worker's limit (%s): %w",
			uri, pin.Generation, pin.Bytes, policy.Worker.Prefix+"MAX_CORPUS_BYTES", err)
	}
	if err != nil {
		return nil, fmt.Errorf("corpus %s generation %d: %w", uri, pin.Generation, err)
	}
	return c, nil
}
