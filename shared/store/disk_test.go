package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/store/storetest"
)

func newDisk(t *testing.T, root string) *store.Disk {
	t.Helper()
	d, err := store.NewDisk(root)
	if err != nil {
		t.Fatalf("NewDisk(%s): %v", root, err)
	}
	return d
}

func TestDisk(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return newDisk(t, t.TempDir())
	})
}

func TestDiskInvalidNames(t *testing.T) {
	t.Parallel()
	d := newDisk(t, t.TempDir())
	ctx := context.Background()
	names := []string{"", "/runs/1/plan.json", "runs/1/", "runs//plan.json", "../x", "runs/../../x", "runs/./x", "..", "."}
	for _, name := range names {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			ops := []struct {
				op  string
				err error
			}{
				{"Get", func() error { _, err := d.Get(ctx, name); return err }()},
				{"Create", func() error { _, err := d.Create(ctx, name, []byte("x"), ""); return err }()},
				{"Replace", func() error { _, err := d.Replace(ctx, name, 1, []byte("x"), ""); return err }()},
				{"Put", func() error { _, err := d.Put(ctx, name, []byte("x"), ""); return err }()},
				{"Delete", d.Delete(ctx, name, 0)},
			}
			for _, o := range ops {
				if !errors.Is(o.err, store.ErrInvalidName) {
					t.Errorf("%s(%q) error = %v, want ErrInvalidName", o.op, name, o.err)
				}
			}
		})
	}
	prefixes := []string{"/", "/runs/", "runs//", "../", "runs/../", "./x"}
	for _, p := range prefixes {
		if _, err := d.List(ctx, p); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("List(%q) error = %v, want ErrInvalidName", p, err)
		}
	}
	// Nothing was written outside the root, nor inside it.
	if got, err := d.List(ctx, ""); err != nil || len(got) != 0 {
		t.Errorf("List(\"\") = %q, %v; want nothing", got, err)
	}
}

// TestDiskNames stores names that need escaping, or that look like Disk's
// own files, and reads them back one by one and by List.
func TestDiskNames(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := newDisk(t, root)
	ctx := context.Background()
	names := []string{
		"runs/a b/ü.json",
		"runs/%41/x",
		"runs/A/x",
		"runs/.hidden/.x",
		"runs/x#/y#",
		"runs/x/y",
		"runs/x",
		".cicada-disk/locks/00",
		".cicada-disk/tmp/1-1",
		"tab\there/new\nline",
		"...",
		"runs/..x/x..",
	}
	for _, n := range names {
		if _, err := d.Create(ctx, n, []byte(n), "text/plain"); err != nil {
			t.Fatalf("Create(%q): %v", n, err)
		}
	}
	for _, n := range names {
		o, err := d.Get(ctx, n)
		if err != nil || string(o.Data) != n {
			t.Errorf("Get(%q) = %q, %v", n, o.Data, err)
		}
	}
	got, err := d.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := append([]string(nil), names...)
	slices.Sort(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("List(\"\")\n got %q\nwant %q", got, want)
	}
	// Every file stayed under the root.
	err = filepath.WalkDir(root, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, err := filepath.Rel(root, path); err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("%s is outside %s", path, root)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
}

// TestDiskForeignFiles: files in the root that Disk did not write are not
// objects.
func TestDiskForeignFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := newDisk(t, root)
	ctx := context.Background()
	if _, err := d.Create(ctx, "runs/1/plan.json", []byte("p"), ""); err != nil {
		t.Fatalf("Create: %v", err)
	}
	foreign := []string{"README", "runs/1/notes.txt", "runs/1/%zz/x#", "runs/1/bad%41#", "runs/.git/HEAD#", "runs/1/%2/x#"}
	for _, f := range foreign {
		path := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("not an object"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		prefix string
		want   string
	}{
		{"", "runs/1/plan.json"},
		{"runs/", "runs/1/plan.json"},
		{"runs/1/", "runs/1/plan.json"},
		{"R", ""},
	}
	for _, tt := range tests {
		got, err := d.List(ctx, tt.prefix)
		if err != nil || strings.Join(got, "|") != tt.want {
			t.Errorf("List(%q) = %q, %v; want %q", tt.prefix, got, err, tt.want)
		}
	}
}

// TestDiskReopen: objects and generations outlive the Disk that wrote them,
// and generations keep growing after a reopen and after a Delete.
func TestDiskReopen(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ctx := context.Background()
	d1 := newDisk(t, root)
	gen1, err := d1.Create(ctx, "runs/1/leases/0", []byte("v1"), "application/json")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	d2 := newDisk(t, root)
	o, err := d2.Get(ctx, "runs/1/leases/0")
	if err != nil || string(o.Data) != "v1" || o.Generation != gen1 {
		t.Fatalf("Get after reopen = %q gen %d, %v; want v1 gen %d", o.Data, o.Generation, err, gen1)
	}
	gen2, err := d2.Replace(ctx, "runs/1/leases/0", gen1, []byte("v2"), "")
	if err != nil || gen2 <= gen1 {
		t.Fatalf("Replace after reopen = gen %d, %v; want > %d", gen2, err, gen1)
	}
	if _, err := d1.Replace(ctx, "runs/1/leases/0", gen1, []byte("stale"), ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Replace through the first Disk at the old generation: %v, want ErrConflict", err)
	}
	if err := d1.Delete(ctx, "runs/1/leases/0", gen2); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	gen3, err := newDisk(t, root).Create(ctx, "runs/1/leases/0", []byte("v3"), "")
	if err != nil || gen3 <= gen2 {
		t.Errorf("Create after Delete = gen %d, %v; want > %d", gen3, err, gen2)
	}
}

// TestDiskCorrupt: a truncated object file is an error for Get and for the
// conditional writes, and Put and Delete(0) clear it.
func TestDiskCorrupt(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := newDisk(t, root)
	ctx := context.Background()
	const name = "runs/1/live.json"
	gen, err := d.Create(ctx, name, []byte(`{"some":"json"}`), "")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	file := filepath.Join(root, "runs", "1", "live.json#")
	for _, size := range []int64{40, 5} { // data cut short, then the header too
		if err := os.Truncate(file, size); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Get(ctx, name); err == nil || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("Get of a file cut at %d: %v, want a corrupt object error", size, err)
		}
	}
	if _, err := d.Replace(ctx, name, gen, []byte("x"), ""); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Replace of a corrupt object: %v, want an error other than ErrNotFound", err)
	}
	if _, err := d.Put(ctx, name, []byte("fixed"), ""); err != nil {
		t.Fatalf("Put over a corrupt object: %v", err)
	}
	if o, err := d.Get(ctx, name); err != nil || string(o.Data) != "fixed" {
		t.Errorf("Get after Put = %q, %v", o.Data, err)
	}
}

// TestDiskCancelled: a cancelled context stops every operation.
func TestDiskCancelled(t *testing.T) {
	t.Parallel()
	d := newDisk(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := []struct {
		op  string
		err error
	}{
		{"Get", func() error { _, err := d.Get(ctx, "a"); return err }()},
		{"Create", func() error { _, err := d.Create(ctx, "a", nil, ""); return err }()},
		{"Replace", func() error { _, err := d.Replace(ctx, "a", 1, nil, ""); return err }()},
		{"Put", func() error { _, err := d.Put(ctx, "a", nil, ""); return err }()},
		{"Delete", d.Delete(ctx, "a", 0)},
		{"List", func() error { _, err := d.List(ctx, ""); return err }()},
	}
	for _, o := range ops {
		if !errors.Is(o.err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", o.op, o.err)
		}
	}
}

// helperEnv makes the test binary a child process of
// TestDiskAcrossProcesses: its value is the root.
const helperEnv = "CICADA_DISK_TEST_HELPER"

// Counter increments, and Create race, per child process.
const (
	childIncrements = 40
	children        = 4
)

// TestDiskAcrossProcesses runs children processes on one root, each racing
// for one Create and adding childIncrements to a counter by Get then
// Replace: only flock keeps their Replaces apart.
func TestDiskAcrossProcesses(t *testing.T) {
	if root := os.Getenv(helperEnv); root != "" {
		diskChild(t, root)
		return
	}
	t.Parallel()
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := newDisk(t, root).Create(ctx, "counter", []byte("0"), ""); err != nil {
		t.Fatalf("Create counter: %v", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		outs []string
	)
	for range children {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDiskAcrossProcesses$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+root)
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("child: %v\n%s", err, out)
			}
			outs = append(outs, string(out))
		})
	}
	wg.Wait()
	winners := 0
	for _, out := range outs {
		winners += strings.Count(out, "created the race object")
	}
	if winners != 1 {
		t.Errorf("%d children created the race object, want 1:\n%s", winners, strings.Join(outs, "\n"))
	}
	o, err := newDisk(t, root).Get(ctx, "counter")
	if err != nil {
		t.Fatalf("Get counter: %v", err)
	}
	if got, want := string(o.Data), strconv.Itoa(children*childIncrements); got != want {
		t.Errorf("counter = %s, want %s: a Replace was lost", got, want)
	}
}

// diskChild is one child of TestDiskAcrossProcesses.
func diskChild(t *testing.T, root string) {
	d := newDisk(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if _, err := d.Create(ctx, "race", []byte(strconv.Itoa(os.Getpid())), ""); err == nil {
		fmt.Println("created the race object")
	} else if !errors.Is(err, store.ErrExists) {
		t.Fatalf("Create race: %v", err)
	}
	for range childIncrements {
		for {
			o, err := d.Get(ctx, "counter")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			n, err := strconv.Atoi(string(o.Data))
			if err != nil {
				t.Fatalf("counter %q: %v", o.Data, err)
			}
			_, err = d.Replace(ctx, "counter", o.Generation, []byte(strconv.Itoa(n+1)), "")
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Replace: %v", err)
			}
		}
	}
}
