package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrForbidden: the server refused to read the object or its bucket (401,
// 403): the caller's identity has no read access to it.
var ErrForbidden = errors.New("access denied")

// Attrs is what a bucket says of an object's current generation, without
// reading it.
type Attrs struct {
	Generation int64
	Size       int64 // bytes
	Updated    time.Time
}

// Versions is a bucket whose objects can be read at a given generation:
// the generation read stays readable after the object is overwritten, on
// Cloud Storage while the bucket has Object Versioning on, on
// fake-gcs-server when the bucket was created with versioning, and on a
// Disk with SetVersioning. GCS and Disk implement it.
type Versions interface {
	// Attrs returns the current generation's attributes; ErrNotFound if
	// the object does not exist.
	Attrs(ctx context.Context, name string) (Attrs, error)
	// OpenGeneration streams the data of generation of name; ErrNotFound
	// if that generation does not exist (any more). The reader is the
	// caller's to close; ctx bounds the whole read.
	OpenGeneration(ctx context.Context, name string, generation int64) (io.ReadCloser, error)
}

// Buckets opens a bucket by name: where a gs:// URI points, which need not
// be the bucket of the runs.
type Buckets interface {
	Bucket(name string) (Versions, error)
}

// GCSBuckets opens any bucket its client reaches (Cloud Storage,
// fake-gcs-server, the in-process fakestorage).
type GCSBuckets struct{ Client *storage.Client }

// Bucket implements Buckets.
func (b GCSBuckets) Bucket(name string) (Versions, error) { return NewGCS(b.Client, name), nil }

// OneBucket is the single bucket Versions under the name Name: the
// embedded pipeline's bucket on disk, which has no other bucket beside it.
type OneBucket struct {
	Name string
	Versions
}

// Bucket implements Buckets: any other name is an error saying which one
// there is.
func (b OneBucket) Bucket(name string) (Versions, error) {
	if name != b.Name {
		return nil, fmt.Errorf("bucket %q: not reachable here; the only bucket is gs://%s/", name, b.Name)
	}
	return b.Versions, nil
}

// BucketsOf returns the Buckets that st's client reaches: any bucket for a
// GCS, nil for any other Store (which knows no bucket names).
func BucketsOf(st Store) Buckets {
	if g, ok := st.(*GCS); ok {
		return GCSBuckets{Client: g.client}
	}
	return nil
}

// Attrs implements Versions.
func (g *GCS) Attrs(ctx context.Context, name string) (Attrs, error) {
	ctx, cancel := g.bound(ctx)
	defer cancel()
	a, err := g.bucket.Object(name).Attrs(ctx)
	if err != nil {
		return Attrs{}, fmt.Errorf("attributes of gs://%s/%s: %w", g.name, name, mapReadErr(err))
	}
	return Attrs{Generation: a.Generation, Size: a.Size, Updated: a.Updated}, nil
}

// OpenGeneration implements Versions. A context without deadline gets
// DefaultTimeout for the whole read.
func (g *GCS) OpenGeneration(ctx context.Context, name string, generation int64) (io.ReadCloser, error) {
	if generation <= 0 {
		return nil, fmt.Errorf("read gs://%s/%s: generation %d: must be > 0", g.name, name, generation)
	}
	ctx, cancel := g.bound(ctx)
	r, err := g.bucket.Object(name).Generation(generation).NewReader(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("read gs://%s/%s generation %d: %w", g.name, name, generation, mapReadErr(err))
	}
	return &cancelReader{ReadCloser: r, cancel: cancel}, nil
}

// cancelReader ends its context when closed.
type cancelReader struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (r *cancelReader) Close() error {
	err := r.ReadCloser.Close()
	r.cancel()
	return err
}

// mapReadErr is mapErr for reads, which also tells a refused read
// (ErrForbidden) from the rest.
func mapReadErr(err error) error {
	switch statusOf(err) {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	if s, ok := status.FromError(err); ok && (s.Code() == codes.PermissionDenied || s.Code() == codes.Unauthenticated) {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	if errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return mapErr(err, ErrConflict)
}
