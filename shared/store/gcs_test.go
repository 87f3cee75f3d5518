package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/cicadaload/cicada/internal/devenv/emulator"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/store/storetest"
)

func TestGCSInProcess(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _, cleanup, err := store.NewInProcess("cicada-test")
		if err != nil {
			t.Fatalf("NewInProcess: %v", err)
		}
		t.Cleanup(cleanup)
		return s
	})
}

// TestGCSInProcessSmallPages lists across page boundaries.
func TestGCSInProcessSmallPages(t *testing.T) {
	t.Parallel()
	s, _, cleanup, err := store.NewInProcess("cicada-test")
	if err != nil {
		t.Fatalf("NewInProcess: %v", err)
	}
	t.Cleanup(cleanup)
	store.SetPageSize(s, 2)
	ctx := context.Background()
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("runs/1/slices/0/%02d.pb", i)
		want = append(want, name)
		if _, err := s.Create(ctx, name, []byte{byte(i)}, ""); err != nil {
			t.Fatalf("Create(%q): %v", name, err)
		}
	}
	got, err := s.List(ctx, "runs/1/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("List over pages of 2\n got %q\nwant %q", got, want)
	}
}

// TestGCSFakeServerProcess runs the suite through STORAGE_EMULATOR_HOST
// against fake-gcs-server as its own process, one bucket per subtest.
func TestGCSFakeServerProcess(t *testing.T) {
	// Cancelled by Cleanup, not defer: the parallel subtests run after
	// this function returns.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	p, err := emulator.StartFakeGCS(ctx, t.TempDir())
	emulator.Require(t, err)
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop fake-gcs-server: %v", err)
		}
	})
	// Not t.Parallel: t.Setenv. The client reads the variable when built.
	t.Setenv(store.EmulatorHostEnv, p.Host)
	client, err := store.NewClientFromEnv(ctx)
	if err != nil {
		t.Fatalf("NewClientFromEnv: %v", err)
	}
	t.Cleanup(func() { client.Close() })

	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		bucket := fmt.Sprintf("cicada-test-%d", n.Add(1))
		if err := store.EnsureBucket(ctx, client, "test-project", bucket); err != nil {
			t.Fatalf("EnsureBucket(%s): %v", bucket, err)
		}
		return store.NewGCS(client, bucket)
	})

	t.Run("EnsureBucket is idempotent", func(t *testing.T) {
		for i := range 2 {
			if err := store.EnsureBucket(ctx, client, "test-project", "cicada-ensure"); err != nil {
				t.Fatalf("EnsureBucket #%d: %v", i, err)
			}
		}
	})
}

func TestGCSErrorsKeepContext(t *testing.T) {
	t.Parallel()
	s, _, cleanup, err := store.NewInProcess("cicada-test")
	if err != nil {
		t.Fatalf("NewInProcess: %v", err)
	}
	t.Cleanup(cleanup)
	ctx := context.Background()
	if _, err := s.Create(ctx, "runs/x/plan.json", []byte("a"), ""); err != nil {
		t.Fatalf("Create: %v", err)
	}
	tests := []struct {
		name string
		op   func() error
		want error
		msg  string
	}{
		{"create exists", func() error { _, err := s.Create(ctx, "runs/x/plan.json", nil, ""); return err }, store.ErrExists, "create runs/x/plan.json"},
		{"get missing", func() error { _, err := s.Get(ctx, "runs/y"); return err }, store.ErrNotFound, "get runs/y"},
		{"replace stale", func() error { _, err := s.Replace(ctx, "runs/x/plan.json", 1, nil, ""); return err }, store.ErrConflict, "replace runs/x/plan.json"},
		{"delete missing", func() error { return s.Delete(ctx, "runs/y", 0) }, store.ErrNotFound, "delete runs/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want errors.Is %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
	t.Run("invalid generations", func(t *testing.T) {
		if _, err := s.Replace(ctx, "runs/x/plan.json", 0, nil, ""); err == nil {
			t.Error("Replace at generation 0: no error")
		}
		if err := s.Delete(ctx, "runs/x/plan.json", -1); err == nil {
			t.Error("Delete at generation -1: no error")
		}
	})
}

// flaky fails the first upload it sees: before the server saw it (fail
// before), or after, with the response lost (fail after).
type flaky struct {
	next        http.RoundTripper
	failAfter   bool
	failed      atomic.Bool
	uploadsSeen atomic.Int64
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.Contains(r.URL.Path, "/upload/") {
		return f.next.RoundTrip(r)
	}
	f.uploadsSeen.Add(1)
	if f.failed.Swap(true) {
		return f.next.RoundTrip(r)
	}
	if f.failAfter {
		resp, err := f.next.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
		}
	} else if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusServiceUnavailable,
		Status:     "503 Service Unavailable",
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(`{"error":{"code":503,"message":"try again"}}`)),
		Request:    r,
	}, nil
}

// TestGCSWritesAreRetried checks the chunk size keeps uploads retried,
// and what a retry after a lost response answers.
func TestGCSWritesAreRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failAfter bool
		write     func(s store.Store) error
		want      error // nil: the retry succeeds
	}{
		{"create, server never saw it", false, func(s store.Store) error {
			_, err := s.Create(context.Background(), "runs/a/plan.json", []byte("p"), "")
			return err
		}, nil},
		{"put, server never saw it", false, func(s store.Store) error {
			_, err := s.Put(context.Background(), "runs/a/live.json", []byte("p"), "")
			return err
		}, nil},
		// The documented price of retrying a write-once: the caller's own
		// write answers ErrExists, and the caller recognises its content.
		{"create, response lost", true, func(s store.Store) error {
			_, err := s.Create(context.Background(), "runs/a/plan.json", []byte("p"), "")
			return err
		}, store.ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Writer: io.Discard})
			if err != nil {
				t.Fatalf("fakestorage: %v", err)
			}
			t.Cleanup(srv.Stop)
			srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "b"})
			f := &flaky{next: srv.HTTPClient().Transport, failAfter: tt.failAfter}
			client, err := storage.NewClient(context.Background(),
				option.WithHTTPClient(&http.Client{Transport: f}),
				option.WithoutAuthentication(),
				option.WithEndpoint("http://fakestorage.local/storage/v1/"),
				storage.WithJSONReads())
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			t.Cleanup(func() { client.Close() })
			s := store.NewGCS(client, "b")

			err = tt.write(s)
			if tt.want == nil && err != nil {
				t.Fatalf("write after one 503: %v, want retried to success", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("write after a lost response: %v, want %v", err, tt.want)
			}
			if n := f.uploadsSeen.Load(); n != 2 {
				t.Errorf("upload requests = %d, want 2 (one failed, one retry)", n)
			}
		})
	}
}
