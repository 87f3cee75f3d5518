package runs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/store"
)

func TestControlRateAt(t *testing.T) {
	t.Parallel()
	end := 9
	c := Control{Probes: []ControlProbe{{N: 0, Rate: 100, From: 0}, {N: 1, Rate: 150, From: 4}, {N: 2, Rate: 125, From: 7}}, EndSlice: &end}
	tests := []struct {
		k    int
		rate float64
		ok   bool
	}{{0, 100, true}, {3, 100, true}, {4, 150, true}, {6, 150, true}, {7, 125, true}, {8, 125, true}, {9, 0, false}, {20, 0, false}}
	for _, tt := range tests {
		rate, ok := c.RateAt(tt.k)
		if rate != tt.rate || ok != tt.ok {
			t.Errorf("RateAt(%d) = %v, %v; want %v, %v", tt.k, rate, ok, tt.rate, tt.ok)
		}
	}
	if _, ok := (Control{}).RateAt(0); ok {
		t.Error("an empty control gives a rate")
	}
}

func TestControlCheck(t *testing.T) {
	t.Parallel()
	six, zero := 6, 0
	tests := []struct {
		name string
		c    Control
		want string
	}{
		{"fine", Control{Probes: []ControlProbe{{N: 0, Rate: 100, From: 0}, {N: 1, Rate: 150, From: 4}}, EndSlice: &six}, ""},
		{"empty", Control{}, ""},
		{"numbering", Control{Probes: []ControlProbe{{N: 1, Rate: 100, From: 0}}}, "numbered 1"},
		{"rate", Control{Probes: []ControlProbe{{N: 0, Rate: 0, From: 0}}}, "rate 0"},
		{"order", Control{Probes: []ControlProbe{{N: 0, Rate: 100, From: 4}, {N: 1, Rate: 150, From: 4}}}, "not after probe 0"},
		{"end", Control{Probes: []ControlProbe{{N: 0, Rate: 100, From: 0}}, EndSlice: &zero}, "end_slice 0"},
	}
	for _, tt := range tests {
		err := tt.c.Check()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Check() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestControlReadWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261127-040512-3f9a1c"
	if _, _, err := ReadControl(ctx, st, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReadControl of nothing = %v, want ErrNotFound", err)
	}
	first := Control{Probes: []ControlProbe{{N: 0, Rate: 100, From: 0}}}
	gen, err := WriteControl(ctx, st, id, 0, first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteControl(ctx, st, id, 0, first); !errors.Is(err, store.ErrExists) {
		t.Errorf("second create = %v, want ErrExists", err)
	}
	next := Control{Probes: append(first.Probes, ControlProbe{N: 1, Rate: 150, From: 6})}
	if _, err := WriteControl(ctx, st, id, gen, next); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteControl(ctx, st, id, gen, next); !errors.Is(err, store.ErrConflict) {
		t.Errorf("write at a stale generation = %v, want ErrConflict", err)
	}
	got, _, err := ReadControl(ctx, st, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Probes) != 2 || got.Probes[1] != (ControlProbe{N: 1, Rate: 150, From: 6}) || got.EndSlice != nil {
		t.Errorf("read back %+v", got)
	}
	if _, err := WriteControl(ctx, st, id, gen, Control{Probes: []ControlProbe{{N: 0, Rate: -1, From: 0}}}); err == nil {
		t.Error("a control with a negative rate was written")
	}
}
