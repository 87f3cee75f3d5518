package runid

import (
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 4, 5, 12, 0, time.FixedZone("x", 3600))
	a, b := New(at), New(at)
	if a == b {
		t.Errorf("two ids in one second are equal: %s", a)
	}
	if a[:15] != "20261127-030512" {
		t.Errorf("New = %s, want the UTC time first", a)
	}
	if later := New(at.Add(time.Second)); later <= a && later <= b {
		t.Errorf("id %s of a later second sorts before %s", later, a)
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id string
		ok bool
	}{
		{New(time.Now()), true},
		{"20261127-040512-3f9a1c", true},
		{"", false},
		{"../../etc", false},
		{"20261127-040512-3F9A1C", false},
		{"20261127-040512-3f9a1c/x", false},
	}
	for _, tt := range tests {
		if err := Valid(tt.id); (err == nil) != tt.ok {
			t.Errorf("Valid(%q) = %v, want ok %v", tt.id, err, tt.ok)
		}
	}
}
