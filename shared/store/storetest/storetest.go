// Package storetest is the conformance suite of store.Store: every
// implementation, and every server an implementation talks to (Cloud
// Storage, fake-gcs-server, the in-process fakestorage), must pass Run.
// Its Recorder wraps a real store and records what a reader asked of it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/store"
)

// Parallel is how many writers race for one name in the Create race test.
const Parallel = 40

// Run runs the suite. newStore must return an empty store each time it is
// called (for instance a fresh bucket), usable until the test ends; it
// registers its own cleanup with t.Cleanup. Subtests run in parallel.
//
// The contract checked, beyond store.Store's doc:
//   - Create of an existing name is ErrExists, and of Parallel concurrent
//     Creates of one name exactly one succeeds.
//   - Replace of a missing object is ErrNotFound (not ErrConflict).
//   - Delete of a missing object is ErrNotFound, with or without a
//     generation; with a stale generation it is ErrConflict and the object
//     stays.
//   - Generations are > 0 and grow with every write of a name; Get returns
//     the generation the write returned and a recent Updated time.
//   - List is sorted, and a prefix is a byte prefix only ("runs/1/" does
//     not match "runs/10/").
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"CreateTwice", testCreateTwice},
		{"CreateRace", testCreateRace},
		{"Replace", testReplace},
		{"Put", testPut},
		{"Delete", testDelete},
		{"List", testList},
		{"RoundTrip", testRoundTrip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustGet reads name and checks its data and generation.
func mustGet(t *testing.T, s store.Store, name string, wantData []byte, wantGen int64) store.Object {
	t.Helper()
	o, err := s.Get(ctxFor(t), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	if o.Name != name {
		t.Errorf("Get(%q).Name = %q", name, o.Name)
	}
	if !bytes.Equal(o.Data, wantData) {
		t.Errorf("Get(%q).Data = %q, want %q", name, clip(o.Data), clip(wantData))
	}
	if wantGen != 0 && o.Generation != wantGen {
		t.Errorf("Get(%q).Generation = %d, want %d (returned by the write)", name, o.Generation, wantGen)
	}
	if age := time.Since(o.Updated); o.Updated.IsZero() || age > 10*time.Minute || age < -10*time.Minute {
		t.Errorf("Get(%q).Updated = %v, want about now", name, o.Updated)
	}
	return o
}

func clip(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", b[:40], len(b))
	}
	return string(b)
}

func mustCreate(t *testing.T, s store.Store, name string, data []byte) int64 {
	t.Helper()
	gen, err := s.Create(ctxFor(t), name, data, "application/octet-stream")
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	if gen <= 0 {
		t.Fatalf("Create(%q) generation = %d, want > 0", name, gen)
	}
	return gen
}

func wantErr(t *testing.T, op string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error = %v, want errors.Is %v", op, err, want)
	}
}

func testGetMissing(t *testing.T, s store.Store) {
	_, err := s.Get(ctxFor(t), "runs/none/plan.json")
	wantErr(t, "Get of a missing object", err, store.ErrNotFound)
}

func testCreateTwice(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	gen := mustCreate(t, s, "runs/a/plan.json", []byte("first"))
	gen2, err := s.Create(ctx, "runs/a/plan.json", []byte("second"), "text/plain")
	wantErr(t, "second Create", err, store.ErrExists)
	if gen2 != 0 {
		t.Errorf("second Create generation = %d, want 0 on error", gen2)
	}
	mustGet(t, s, "runs/a/plan.json", []byte("first"), gen)
}

func testCreateRace(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const name = "runs/race/leases/0"
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
		gens    []int64
		others  []error
	)
	start := make(chan struct{})
	for i := range Parallel {
		wg.Go(func() {
			<-start
			gen, err := s.Create(ctx, name, fmt.Appendf(nil, "writer %d", i), "text/plain")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, i)
				gens = append(gens, gen)
			case !errors.Is(err, store.ErrExists):
				others = append(others, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range others {
		t.Errorf("a losing Create answered %v, want ErrExists", err)
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d parallel Creates won (%v), want exactly 1", len(winners), Parallel, winners)
	}
	mustGet(t, s, name, fmt.Appendf(nil, "writer %d", winners[0]), gens[0])
}

func testReplace(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const name = "runs/r/leases/1"
	gen1 := mustCreate(t, s, name, []byte("v1"))

	gen2, err := s.Replace(ctx, name, gen1, []byte("v2"), "text/plain")
	if err != nil {
		t.Fatalf("Replace at the current generation: %v", err)
	}
	if gen2 <= gen1 {
		t.Errorf("Replace generation = %d, want > %d", gen2, gen1)
	}
	mustGet(t, s, name, []byte("v2"), gen2)

	tests := []struct {
		name string
		obj  string
		gen  int64
		want error
	}{
		{"stale generation", name, gen1, store.ErrConflict},
		{"made-up generation", name, gen2 + 12345, store.ErrConflict},
		{"missing object", "runs/r/leases/missing", gen1, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Replace(ctx, tt.obj, tt.gen, []byte("lost"), "text/plain")
			wantErr(t, "Replace", err, tt.want)
		})
	}
	// The failed Replaces changed nothing.
	mustGet(t, s, name, []byte("v2"), gen2)
	if _, err := s.Get(ctx, "runs/r/leases/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Replace of a missing object created it: Get error = %v", err)
	}
}

func testPut(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const name = "runs/p/live.json"
	var last int64
	for i := range 3 {
		data := fmt.Appendf(nil, `{"version":%d}`, i)
		gen, err := s.Put(ctx, name, data, "application/json")
		if err != nil {
			t.Fatalf("Put #%d: %v", i, err)
		}
		if gen <= last {
			t.Errorf("Put #%d generation = %d, want > %d", i, gen, last)
		}
		last = gen
		mustGet(t, s, name, data, gen)
	}
	// Put also overwrites what Create wrote.
	mustCreate(t, s, "runs/p/plan.json", []byte("created"))
	gen, err := s.Put(ctx, "runs/p/plan.json", []byte("put"), "text/plain")
	if err != nil {
		t.Fatalf("Put over a created object: %v", err)
	}
	mustGet(t, s, "runs/p/plan.json", []byte("put"), gen)
}

func testDelete(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const name = "runs/d/leases/0"
	gen1 := mustCreate(t, s, name, []byte("v1"))
	gen2, err := s.Replace(ctx, name, gen1, []byte("v2"), "text/plain")
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}

	err = s.Delete(ctx, name, gen1)
	wantErr(t, "Delete at a stale generation", err, store.ErrConflict)
	mustGet(t, s, name, []byte("v2"), gen2) // still there

	if err := s.Delete(ctx, name, gen2); err != nil {
		t.Fatalf("Delete at the current generation: %v", err)
	}
	_, err = s.Get(ctx, name)
	wantErr(t, "Get after Delete", err, store.ErrNotFound)

	tests := []struct {
		name string
		gen  int64
	}{
		{"any generation", 0},
		{"with a generation", gen2},
	}
	for _, tt := range tests {
		t.Run("missing object "+tt.name, func(t *testing.T) {
			wantErr(t, "Delete of a missing object", s.Delete(ctx, name, tt.gen), store.ErrNotFound)
		})
	}

	// Generation 0 deletes whatever is there.
	mustCreate(t, s, "runs/d/cancel", []byte("x"))
	if err := s.Delete(ctx, "runs/d/cancel", 0); err != nil {
		t.Fatalf("Delete(0): %v", err)
	}
	_, err = s.Get(ctx, "runs/d/cancel")
	wantErr(t, "Get after Delete(0)", err, store.ErrNotFound)

	// A name can be created again after its Delete.
	mustCreate(t, s, name, []byte("v3"))
}

func testList(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	// Written out of order on purpose.
	names := []string{
		"runs/10/plan.json",
		"runs/1/slices/0/2.pb",
		"runs/1/plan.json",
		"runs/1/slices/0/10.pb",
		"runs/1/slices/1/0.pb",
		"runs/1/slices/0/1.pb",
		"runs/100/plan.json",
		"runs/1",
		"other/runs/1/plan.json",
	}
	for _, n := range names {
		mustCreate(t, s, n, []byte(n))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"runs/1/", []string{"runs/1/plan.json", "runs/1/slices/0/1.pb", "runs/1/slices/0/10.pb", "runs/1/slices/0/2.pb", "runs/1/slices/1/0.pb"}},
		{"runs/1/slices/0/", []string{"runs/1/slices/0/1.pb", "runs/1/slices/0/10.pb", "runs/1/slices/0/2.pb"}},
		{"runs/10/", []string{"runs/10/plan.json"}},
		{"runs/1", []string{"runs/1", "runs/1/plan.json", "runs/1/slices/0/1.pb", "runs/1/slices/0/10.pb", "runs/1/slices/0/2.pb", "runs/1/slices/1/0.pb", "runs/10/plan.json", "runs/100/plan.json"}},
		{"runs/2/", nil},
		{"", []string{"other/runs/1/plan.json", "runs/1", "runs/1/plan.json", "runs/1/slices/0/1.pb", "runs/1/slices/0/10.pb", "runs/1/slices/0/2.pb", "runs/1/slices/1/0.pb", "runs/10/plan.json", "runs/100/plan.json"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("prefix %q", tt.prefix), func(t *testing.T) {
			got, err := s.List(ctx, tt.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tt.prefix, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
				t.Errorf("List(%q)\n got %q\nwant %q", tt.prefix, got, tt.want)
			}
		})
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	// Sizes around the 256 KiB upload unit, where an implementation's
	// buffering changes.
	pattern := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i>>8)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"every byte value", all},
		{"invalid UTF-8 and NULs", []byte{0xff, 0xfe, 0, 0, 0xc3, 0x28, '\n', '\r'}},
		{"256 KiB - 1", pattern(256<<10 - 1)},
		{"256 KiB", pattern(256 << 10)},
		{"1 MiB + 1", pattern(1<<20 + 1)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("runs/bin/slices/0/%d.pb", i)
			gen := mustCreate(t, s, name, tt.data)
			o := mustGet(t, s, name, tt.data, gen)
			if len(o.Data) != len(tt.data) {
				t.Errorf("len = %d, want %d", len(o.Data), len(tt.data))
			}
		})
	}
}
