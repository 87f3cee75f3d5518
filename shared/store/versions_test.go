package store_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/cicadaload/cicada/shared/store"
)

// versioned is a bucket that keeps overwritten generations: what a corpus
// lives in.
type versioned interface {
	store.Store
	store.Versions
}

// versionedStores are the implementations under test, each on a fresh
// bucket with versioning on.
func versionedStores() []struct {
	name string
	open func(t *testing.T) versioned
} {
	return []struct {
		name string
		open func(t *testing.T) versioned
	}{
		{"disk", func(t *testing.T) versioned {
			d := newDisk(t, t.TempDir())
			d.SetVersioning("runs/")
			return d
		}},
		{"fakestorage", func(t *testing.T) versioned {
			_, client, cleanup, err := store.NewInProcess("cicada-test")
			if err != nil {
				t.Fatalf("NewInProcess: %v", err)
			}
			t.Cleanup(cleanup)
			// A second bucket, versioned, as a corpus bucket beside the
			// runs' would be.
			if err := client.Bucket("corpora").Create(context.Background(), "p", &storage.BucketAttrs{VersioningEnabled: true}); err != nil {
				t.Fatalf("create versioned bucket: %v", err)
			}
			v, err := store.GCSBuckets{Client: client}.Bucket("corpora")
			if err != nil {
				t.Fatalf("Bucket: %v", err)
			}
			return v.(*store.GCS)
		}},
	}
}

func readGen(t *testing.T, v store.Versions, name string, gen int64) (string, error) {
	t.Helper()
	r, err := v.OpenGeneration(context.Background(), name, gen)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s generation %d: %v", name, gen, err)
	}
	return string(b), nil
}

// TestVersions: a generation stays readable after it is overwritten and
// after the object is deleted, until it is deleted by its generation.
func TestVersions(t *testing.T) {
	t.Parallel()
	for _, impl := range versionedStores() {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			s := impl.open(t)
			ctx := context.Background()
			const name = "corpora/eval.jsonl"
			if _, err := s.Attrs(ctx, name); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Attrs of a missing object = %v, want ErrNotFound", err)
			}
			gen1, err := s.Create(ctx, name, []byte("first\n"), "text/plain")
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			a, err := s.Attrs(ctx, name)
			if err != nil || a.Generation != gen1 || a.Size != 6 || a.Updated.IsZero() {
				t.Fatalf("Attrs = %+v, %v; want generation %d, size 6", a, err, gen1)
			}
			gen2, err := s.Put(ctx, name, []byte("second version\n"), "text/plain")
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			gen3, err := s.Replace(ctx, name, gen2, []byte("third\n"), "text/plain")
			if err != nil {
				t.Fatalf("Replace: %v", err)
			}
			if a, err := s.Attrs(ctx, name); err != nil || a.Generation != gen3 || a.Size != 6 {
				t.Fatalf("Attrs after overwrites = %+v, %v; want generation %d", a, err, gen3)
			}
			steps := []struct {
				what string
				do   func() error
				gen  int64
				want string // "" for gone
			}{
				{"first, overwritten", nil, gen1, "first\n"},
				{"second, overwritten", nil, gen2, "second version\n"},
				{"third, live", nil, gen3, "third\n"},
				{"third, after a delete without generation", func() error { return s.Delete(ctx, name, 0) }, gen3, "third\n"},
				{"first, deleted by its generation", func() error { return s.Delete(ctx, name, gen1) }, gen1, ""},
				{"second, still there", nil, gen2, "second version\n"},
				{"a generation never written", nil, gen3 + 12345, ""},
			}
			for _, st := range steps {
				if st.do != nil {
					if err := st.do(); err != nil {
						t.Fatalf("%s: %v", st.what, err)
					}
				}
				got, err := readGen(t, s, name, st.gen)
				switch {
				case st.want == "" && !errors.Is(err, store.ErrNotFound):
					t.Errorf("%s: OpenGeneration(%d) = %q, %v; want ErrNotFound", st.what, st.gen, got, err)
				case st.want != "" && (err != nil || got != st.want):
					t.Errorf("%s: OpenGeneration(%d) = %q, %v; want %q", st.what, st.gen, got, err, st.want)
				}
			}
			if names, err := s.List(ctx, "corpora/"); err != nil || len(names) != 0 {
				t.Errorf("List after the delete = %q, %v; want no live object", names, err)
			}
		})
	}
}

// TestDiskVersioningOff: without SetVersioning, and under a prefix it
// leaves out, an overwritten generation is gone, as on a bucket without
// Object Versioning; the live one reads.
func TestDiskVersioningOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name      string
		except    []string // nil: versioning off
		object    string
		keepsPrev bool
	}{
		{"off", nil, "corpora/a.txt", false},
		{"left out", []string{"runs/", "active/"}, "runs/1/leases/0", false},
		{"on", []string{"runs/", "active/"}, "corpora/a.txt", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDisk(t, t.TempDir())
			if tt.except != nil {
				d.SetVersioning(tt.except...)
			}
			gen1, err := d.Create(ctx, tt.object, []byte("v1"), "")
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			gen2, err := d.Replace(ctx, tt.object, gen1, []byte("v2"), "")
			if err != nil {
				t.Fatalf("Replace: %v", err)
			}
			if got, err := readGen(t, d, tt.object, gen2); err != nil || got != "v2" {
				t.Errorf("live generation = %q, %v; want v2", got, err)
			}
			got, err := readGen(t, d, tt.object, gen1)
			if tt.keepsPrev && (err != nil || got != "v1") {
				t.Errorf("overwritten generation = %q, %v; want v1", got, err)
			}
			if !tt.keepsPrev && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("overwritten generation = %q, %v; want ErrNotFound", got, err)
			}
			// A stale generation's Delete is still a conflict when it
			// was not kept.
			err = d.Delete(ctx, tt.object, gen1)
			if tt.keepsPrev != (err == nil) || (!tt.keepsPrev && !errors.Is(err, store.ErrConflict)) {
				t.Errorf("Delete(generation %d) = %v, want nil when kept, ErrConflict otherwise", gen1, err)
			}
			names, err := d.List(ctx, "")
			if err != nil || !slices.Equal(names, []string{tt.object}) {
				t.Errorf("List = %q, %v; want only %s", names, err, tt.object)
			}
		})
	}
}

// TestBuckets: OneBucket names its bucket when asked for another.
func TestBuckets(t *testing.T) {
	t.Parallel()
	d := newDisk(t, t.TempDir())
	one := store.OneBucket{Name: "cicada-local", Versions: d}
	if v, err := one.Bucket("cicada-local"); err != nil || v != store.Versions(d) {
		t.Errorf("Bucket(cicada-local) = %v, %v; want the disk", v, err)
	}
	if _, err := one.Bucket("elsewhere"); err == nil || !strings.Contains(err.Error(), "gs://cicada-local/") {
		t.Errorf("Bucket(elsewhere) = %v, want an error naming gs://cicada-local/", err)
	}
	if store.BucketsOf(d) != nil {
		t.Error("BucketsOf(disk) != nil: a Disk knows no bucket names")
	}
}
