package storetest

import (
	"context"
	"strings"
	"sync"

	"github.com/cicadaload/cicada/shared/store"
)

// Recorder is a store that records every List prefix and Get name before
// passing the call on to the store it wraps, for tests that prove which
// objects a component lists and reads (the runs index must never list
// runs/, say). Safe for concurrent use.
type Recorder struct {
	store.Store
	mu    sync.Mutex
	lists []string
	gets  []string
}

// NewRecorder wraps st.
func NewRecorder(st store.Store) *Recorder { return &Recorder{Store: st} }

// List records prefix and lists it.
func (r *Recorder) List(ctx context.Context, prefix string) ([]string, error) {
	r.mu.Lock()
	r.lists = append(r.lists, prefix)
	r.mu.Unlock()
	return r.Store.List(ctx, prefix)
}

// Get records name and reads it.
func (r *Recorder) Get(ctx context.Context, name string) (store.Object, error) {
	r.mu.Lock()
	r.gets = append(r.gets, name)
	r.mu.Unlock()
	return r.Store.Get(ctx, name)
}

// Lists returns the prefixes listed so far.
func (r *Recorder) Lists() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lists...)
}

// Gets returns the names read so far.
func (r *Recorder) Gets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.gets...)
}

// Reset forgets the calls recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.lists, r.gets = nil, nil
	r.mu.Unlock()
}

// Touched returns the calls that reached under prefix, as "List p" and
// "Get name": a listing of prefix, of a folder inside it, or of a prefix
// of it (which lists it too), and every read of an object under it.
func (r *Recorder) Touched(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.lists {
		if strings.HasPrefix(prefix, p) || strings.HasPrefix(p, prefix) {
			out = append(out, "List "+p)
		}
	}
	for _, n := range r.gets {
		if strings.HasPrefix(n, prefix) {
			out = append(out, "Get "+n)
		}
	}
	return out
}
