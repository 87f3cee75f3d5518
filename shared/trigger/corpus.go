package trigger

import (
	"context"
	"errors"
	"fmt"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// corpusURI is the plan's data.uri, "" when it has none.
func corpusURI(p *plan.Plan) string { return p.Data.URI }

// pinCorpus checks the object p's data.uri names, and returns it pinned at
// its current generation, which every worker then reads: nil without
// data.uri. The trigger reads only the object's attributes, not the texts.
// A missing object, an empty one, or one the trigger may not read is
// refused (400, at data.uri), one over MAX_CORPUS_BYTES too (422); a
// failure to ask is KindUnavailable (503).
func (s *Service) pinCorpus(ctx context.Context, p *plan.Plan) (*runs.Corpus, error) {
	uri := corpusURI(p)
	if uri == "" {
		return nil, nil
	}
	invalid := func(format string, args ...any) error {
		reason := fmt.Sprintf(format, args...)
		return &Error{Kind: KindInvalid, Message: "invalid plan: data.uri " + reason,
			Problems: []plan.Problem{{Path: "data.uri", Reason: reason}}}
	}
	bucket, object, err := plan.ParseGCSURI(uri)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if s.corpora == nil {
		return nil, invalid("%s: this trigger reads no bucket (it is not on Cloud Storage); inline the texts as data.texts", uri)
	}
	b, err := s.corpora.Bucket(bucket)
	if err != nil {
		return nil, invalid("%s: %v", uri, err)
	}
	a, err := b.Attrs(ctx, object)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalid("%s: no such object (or no such bucket)", uri)
	case errors.Is(err, store.ErrForbidden):
		return nil, invalid("%s: the trigger may not read it (%v); the trigger's and the workers' service accounts need storage.objects.get on bucket %s", uri, err, bucket)
	case err != nil:
		return nil, &Error{Kind: KindUnavailable, Message: fmt.Sprintf("cannot read the attributes of data.uri %s: %v", uri, err), Err: err}
	case a.Size == 0:
		return nil, invalid("%s is empty: a corpus holds at least one text", uri)
	}
	if lim := s.pol.Rules().MaxCorpusBytes; lim > 0 && a.Size > lim {
		reason := fmt.Sprintf("%s is %d bytes, over this trigger's limit of %d bytes (%s)", uri, a.Size, lim, s.pol.Var("MAX_CORPUS_BYTES"))
		return nil, &Error{Kind: KindOverLimit, Message: "plan over this trigger's limits",
			Problems: []plan.Problem{{Path: "data.uri", Reason: reason}}}
	}
	return &runs.Corpus{URI: uri, Generation: a.Generation, Bytes: a.Size}, nil
}
