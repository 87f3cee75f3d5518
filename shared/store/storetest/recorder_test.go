package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/cicadaload/cicada/shared/store"
)

func TestRecorderTouched(t *testing.T) {
	t.Parallel()
	d, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := NewRecorder(d)
	for _, name := range []string{"runs/a/plan.json", "index/p/a.json"} {
		if _, err := r.Put(ctx, name, []byte("x"), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = r.List(ctx, "index/")
	_, _ = r.List(ctx, "")
	_, _ = r.Get(ctx, "runs/a/plan.json")
	_, _ = r.Get(ctx, "index/p/a.json")
	tests := []struct {
		prefix string
		want   []string
	}{
		{"runs/", []string{"List ", "Get runs/a/plan.json"}},
		{"index/p/", []string{"List index/", "List ", "Get index/p/a.json"}},
		{"latest/", []string{"List "}},
	}
	for _, tt := range tests {
		if got := r.Touched(tt.prefix); !slices.Equal(got, tt.want) {
			t.Errorf("Touched(%q) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
	if len(r.Lists()) != 2 || len(r.Gets()) != 2 {
		t.Errorf("recorded %d lists, %d gets; want 2, 2", len(r.Lists()), len(r.Gets()))
	}
	r.Reset()
	if len(r.Lists())+len(r.Gets()) != 0 {
		t.Error("Reset kept calls")
	}
}
