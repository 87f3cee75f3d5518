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
		{Prefix(id), "runs/r/"},
		{PlanPath(id), "runs/r/plan.json"},
		{RunPath(id), "runs/r/run.json"},
		{LeasePrefix(id), "runs/r/leases/"},
		{LeasePath(id, 2), "runs/r/leases/2"},
		{SlicePrefix(id), "runs/r/slices/"},
		{ShardSlicePrefix(id, 2), "runs/r/slices/2/"},
		{SlicePath(id, 2, 5), "runs/r/slices/2/5.pb"},
		{DonePrefix(id), "runs/r/shards/"},
		{DonePath(id, 2), "runs/r/shards/2.done"},
		{CancelPath(id), "runs/r/cancel"},
		{LivePath(id), "runs/r/live.json"},
		{ReportPath(id, "report.json"), "runs/r/report.json"},
		{IdempotencyPath("k"), "idempotency/8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q (docs/bucket-layout.md)", tt.got, tt.want)
		}
	}
}

func TestRunIDFromPath(t *testing.T) {
	t.Parallel()
	const id = "20261127-040512-3f9a1c"
	tests := []struct {
		name, path, want string
		ok               bool
	}{
		{"run.json", RunPath(id), id, true},
		{"report file", ReportPath(id, "report.json"), id, true},
		{"slice", SlicePath(id, 1, 2), id, true},
		{"lease", LeasePath(id, 0), id, true},
		{"the prefix itself", Prefix(id), id, true},
		{"no object under the id", Root + id, "", false},
		{"empty id", Root + "/run.json", "", false},
		{"the root", Root, "", false},
		{"outside the root", IdempotencyPath("k"), "", false},
		{"root as a suffix", "x/" + RunPath(id), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := RunIDFromPath(tt.path)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RunIDFromPath(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseShardPaths(t *testing.T) {
	t.Parallel()
	const id = "20261127-040512-3f9a1c"
	tests := []struct {
		name    string
		parse   func(id, name string) (int, error)
		path    string
		shard   int
		wantErr string
	}{
		{"lease round trip", ParseLeasePath, LeasePath(id, 7), 7, ""},
		{"lease zero", ParseLeasePath, LeasePath(id, 0), 0, ""},
		{"lease of another run", ParseLeasePath, LeasePath("20261127-040512-000000", 1), 0, "not under"},
		{"lease not a number", ParseLeasePath, LeasePrefix(id) + "x", 0, "bad shard"},
		{"lease negative", ParseLeasePath, LeasePrefix(id) + "-1", 0, "bad shard"},
		{"lease with a sign", ParseLeasePath, LeasePrefix(id) + "+1", 0, "bad shard"},
		{"lease with a leading zero", ParseLeasePath, LeasePrefix(id) + "01", 0, "bad shard"},
		{"lease nested", ParseLeasePath, LeasePrefix(id) + "1/2", 0, "bad shard"},
		{"lease prefix alone", ParseLeasePath, LeasePrefix(id), 0, "bad shard"},
		{"a done marker is no lease", ParseLeasePath, DonePath(id, 1), 0, "not under"},
		{"done round trip", ParseDonePath, DonePath(id, 3), 3, ""},
		{"done of another run", ParseDonePath, DonePath("20261127-040512-000000", 3), 0, "not under"},
		{"done without suffix", ParseDonePath, DonePrefix(id) + "3", 0, "want <shard>.done"},
		{"done notes", ParseDonePath, DonePrefix(id) + "notes.txt", 0, "want <shard>.done"},
		{"done not a number", ParseDonePath, DonePrefix(id) + "x.done", 0, "bad shard"},
		{"done with a leading zero", ParseDonePath, DonePrefix(id) + "03.done", 0, "bad shard"},
		{"a lease is no done marker", ParseDonePath, LeasePath(id, 1), 0, "not under"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			shard, err := tt.parse(id, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse(%q) = %d, %v; want error %q", tt.path, shard, err, tt.wantErr)
				}
				return
			}
			if err != nil || shard != tt.shard {
				t.Errorf("parse(%q) = %d, %v; want %d", tt.path, shard, err, tt.shard)
			}
		})
	}
}
