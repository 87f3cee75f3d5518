package runs

import (
	"strings"
	"testing"
)

func TestParseSlicePath(t *testing.T) {
	t.Parallel()
	const id = "20261127-040512-3f9a1c"
	tests := []struct {
		name         string
		path         string
		shard, slice int
		wantErr      string
	}{
		{"round trip", SlicePath(id, 3, 17), 3, 17, ""},
		{"zeros", SlicePath(id, 0, 0), 0, 0, ""},
		{"another run", SlicePath("20261127-040512-000000", 1, 1), 0, 0, "not under"},
		{"no extension", SlicePrefix(id) + "1/2", 0, 0, "want <shard>/<slice>.pb"},
		{"bad shard", SlicePrefix(id) + "x/2.pb", 0, 0, "bad shard"},
		{"negative slice", SlicePrefix(id) + "1/-2.pb", 0, 0, "bad slice"},
		{"nested", SlicePrefix(id) + "1/2/3.pb", 0, 0, "bad slice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			shard, k, err := ParseSlicePath(id, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSlicePath(%q) error = %v, want %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil || shard != tt.shard || k != tt.slice {
				t.Errorf("ParseSlicePath(%q) = %d, %d, %v; want %d, %d", tt.path, shard, k, err, tt.shard, tt.slice)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	const id = "r"
	tests := []struct{ got, want string }{
		{PlanPath(id), "runs/r/plan.json"},
		{RunPath(id), "runs/r/run.json"},
		{LeasePath(id, 2), "runs/r/leases/2"},
		{SlicePath(id, 2, 5), "runs/r/slices/2/5.pb"},
		{DonePath(id, 2), "runs/r/shards/2.done"},
		{CancelPath(id), "runs/r/cancel"},
		{LivePath(id), "runs/r/live.json"},
		{ReportPath(id, "report.json"), "runs/r/report.json"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q (docs/bucket-layout.md)", tt.got, tt.want)
		}
	}
}
