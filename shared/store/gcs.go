package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GCS is a Store on a Cloud Storage bucket through cloud.google.com/go/storage.
// It works the same against Cloud Storage, fake-gcs-server and the in-process
// fakestorage: only the client differs.
//
// Writes are conditional where the contract says so (ifGenerationMatch), and
// every write is retried by the client library on transient errors
// (RetryAlways). For Create and Replace that is safe because the
// precondition makes a retry idempotent; the price is that a retry whose
// first attempt did land answers ErrExists (Create) or ErrConflict (Replace):
// callers recognise their own write by its content. Put and Delete(0) are
// retried too: a retried Put rewrites the same bytes, and may then overwrite
// a Put of someone else that landed in between; a retried Delete(0) may
// answer ErrNotFound for an object it did delete.
//
// Operations whose context has no deadline get one of DefaultTimeout, so
// that retries against an unreachable server end.
//
// A GCS is safe for concurrent use.
type GCS struct {
	client  *storage.Client
	bucket  *storage.BucketHandle
	name    string
	timeout time.Duration
	// pageSize is the List page size; 0 lets the server choose. Tests set
	// it small to cross page boundaries.
	pageSize int
}

var _ Store = (*GCS)(nil)

// DefaultTimeout bounds an operation whose context has no deadline.
const DefaultTimeout = 2 * time.Minute

// maxChunk is the largest upload buffer: an object larger than this is sent
// as a resumable upload in chunks of this size (still retried per chunk).
const maxChunk = 16 << 20

// NewGCS returns a Store on bucket. The client stays the caller's: GCS does
// not close it.
func NewGCS(client *storage.Client, bucket string) *GCS {
	return &GCS{client: client, bucket: client.Bucket(bucket), name: bucket, timeout: DefaultTimeout}
}

// Bucket is the bucket's name.
func (g *GCS) Bucket() string { return g.name }

// object returns the handle of name with the retry policy of writes.
func (g *GCS) object(name string) *storage.ObjectHandle {
	return g.bucket.Object(name).Retryer(storage.WithPolicy(storage.RetryAlways))
}

func (g *GCS) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, g.timeout)
}

// Get implements Store.
func (g *GCS) Get(ctx context.Context, name string) (Object, error) {
	ctx, cancel := g.bound(ctx)
	defer cancel()
	r, err := g.bucket.Object(name).NewReader(ctx)
	if err != nil {
		return Object{}, fmt.Errorf("get %s: %w", name, mapErr(err, ErrNotFound))
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return Object{}, fmt.Errorf("get %s: read: %w", name, mapErr(err, ErrNotFound))
	}
	return Object{Name: name, Data: data, Generation: r.Attrs.Generation, Updated: r.Attrs.LastModified}, nil
}

// Create implements Store with ifGenerationMatch=0.
func (g *GCS) Create(ctx context.Context, name string, data []byte, contentType string) (int64, error) {
	gen, err := g.write(ctx, g.object(name).If(storage.Conditions{DoesNotExist: true}), data, contentType)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", name, mapErr(err, ErrExists))
	}
	return gen, nil
}

// Replace implements Store with ifGenerationMatch=generation. A missing
// object answers ErrNotFound: the server says 412 either way, and a
// follow-up read tells the two apart (the write itself was atomic).
func (g *GCS) Replace(ctx context.Context, name string, generation int64, data []byte, contentType string) (int64, error) {
	if generation <= 0 {
		return 0, fmt.Errorf("replace %s: generation %d: must be > 0", name, generation)
	}
	gen, err := g.write(ctx, g.object(name).If(storage.Conditions{GenerationMatch: generation}), data, contentType)
	if err != nil {
		err = mapErr(err, ErrConflict)
		if errors.Is(err, ErrConflict) {
			err = g.conflictOrGone(ctx, name, err)
		}
		return 0, fmt.Errorf("replace %s at generation %d: %w", name, generation, err)
	}
	return gen, nil
}

// Put implements Store.
func (g *GCS) Put(ctx context.Context, name string, data []byte, contentType string) (int64, error) {
	gen, err := g.write(ctx, g.object(name), data, contentType)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", name, mapErr(err, ErrConflict))
	}
	return gen, nil
}

// Delete implements Store. With a generation it deletes that generation
// and asks ifGenerationMatch too: fake-gcs-server ignores preconditions on
// deletes but honours the generation, and Cloud Storage honours both.
// Either answers 404 when another generation is live; a follow-up read
// turns that into ErrConflict.
func (g *GCS) Delete(ctx context.Context, name string, generation int64) error {
	if generation < 0 {
		return fmt.Errorf("delete %s: generation %d: must be >= 0", name, generation)
	}
	ctx, cancel := g.bound(ctx)
	defer cancel()
	o := g.object(name)
	if generation > 0 {
		o = o.Generation(generation).If(storage.Conditions{GenerationMatch: generation})
	}
	err := o.Delete(ctx)
	if err == nil {
		return nil
	}
	err = mapErr(err, ErrConflict)
	if generation > 0 && (errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict)) {
		err = g.conflictOrGone(ctx, name, err)
	}
	return fmt.Errorf("delete %s at generation %d: %w", name, generation, err)
}

// List implements Store. Names come back sorted (Cloud Storage lists in
// lexicographic order already; sorting keeps that true of any server).
func (g *GCS) List(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := g.bound(ctx)
	defer cancel()
	q := &storage.Query{Prefix: prefix}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	it := g.bucket.Objects(ctx, q)
	if g.pageSize > 0 {
		it.PageInfo().MaxSize = g.pageSize
	}
	var names []string
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, mapErr(err, ErrConflict))
		}
		names = append(names, attrs.Name)
	}
	sort.Strings(names)
	return names, nil
}

// write uploads data through o and returns the new generation. Writer.Close
// is the commit, so its error is the write's.
func (g *GCS) write(ctx context.Context, o *storage.ObjectHandle, data []byte, contentType string) (int64, error) {
	ctx, cancel := g.bound(ctx)
	defer cancel()
	// Cancelling the context is the only way to abandon a Writer.
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	w := o.NewWriter(wctx)
	w.ContentType = contentType
	w.ChunkSize = chunkSize(len(data))
	if _, err := w.Write(data); err != nil {
		abort()
		_ = w.Close() // reports the same failure
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return w.Attrs().Generation, nil
}

// chunkSize is the Writer.ChunkSize for n bytes. It must stay > 0: with 0
// the library streams without a buffer and never retries (measured on
// fake-gcs-server, and documented). Strictly more than n so that the buffer
// sees EOF and sends one single-request upload, rounded to the 256 KiB the
// library would round to anyway, and capped so that a large object does not
// buffer all of itself.
func chunkSize(n int) int {
	const unit = 256 << 10
	c := (n/unit + 1) * unit
	if c > maxChunk {
		c = maxChunk
	}
	return c
}

// conflictOrGone tells a failed conditional write or delete on an existing
// object (ErrConflict) from one on a missing object (ErrNotFound), which
// the server answers alike. If the read fails, err stands.
func (g *GCS) conflictOrGone(ctx context.Context, name string, err error) error {
	_, aerr := g.bucket.Object(name).Attrs(ctx)
	switch {
	case aerr == nil:
		return fmt.Errorf("%w (%w)", ErrConflict, err)
	case errors.Is(mapErr(aerr, ErrConflict), ErrNotFound):
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	default:
		return err
	}
}

// mapErr adds the store's sentinel to a client error, keeping the original
// in the chain: 404 is ErrNotFound, 412 (a failed precondition) is
// onPrecondition. Both the JSON API (googleapi.Error) and gRPC (status
// codes) are understood.
func mapErr(err error, onPrecondition error) error {
	switch statusOf(err) {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", onPrecondition, err)
	}
	return err
}

// statusOf is the HTTP status an error stands for, or 0.
func statusOf(err error) int {
	if errors.Is(err, storage.ErrObjectNotExist) {
		return http.StatusNotFound
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.NotFound:
			return http.StatusNotFound
		case codes.FailedPrecondition:
			return http.StatusPreconditionFailed
		}
	}
	return 0
}
