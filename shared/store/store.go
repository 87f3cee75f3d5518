// Package store is cicada's only state: objects in a bucket (Cloud Storage,
// fake-gcs-server, or the in-process fakestorage). Every writer is
// idempotent by construction: slices and plans are written only if absent,
// leases are replaced only at the generation their holder read.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists: Create found the object already there.
	ErrExists = errors.New("object already exists")
	// ErrConflict: Replace or Delete found another generation than the one
	// given (someone else wrote it, or it is gone).
	ErrConflict = errors.New("object changed")
)

// Object is one stored object.
type Object struct {
	Name       string
	Data       []byte
	Generation int64 // changes on every write; > 0
	Updated    time.Time
}

// Store is a bucket.
//
// All methods are safe for concurrent use. Implementations retry transient
// failures themselves (with the client library's retry policy), within the
// context's deadline; a write-once retried after a lost response that
// answers ErrExists may have been the caller's own write, which callers
// must recognise by the content (see lease). Names are bucket-relative,
// like "runs/<id>/plan.json".
type Store interface {
	// Get reads an object; ErrNotFound if absent.
	Get(ctx context.Context, name string) (Object, error)
	// Create writes name only if it does not exist; ErrExists otherwise.
	Create(ctx context.Context, name string, data []byte, contentType string) (generation int64, err error)
	// Replace writes name only if its current generation is generation;
	// ErrConflict otherwise (ErrNotFound if it is gone).
	Replace(ctx context.Context, name string, generation int64, data []byte, contentType string) (int64, error)
	// Put writes name unconditionally.
	Put(ctx context.Context, name string, data []byte, contentType string) (int64, error)
	// Delete removes name if its generation is generation, or whatever it is
	// when generation is 0. A missing object is ErrNotFound.
	Delete(ctx context.Context, name string, generation int64) error
	// List returns the names under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}
