package plan

import "testing"

func TestTargetSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expect  []int
		outcome string
		want    bool
	}{
		{"200 by default", nil, "http:200", true},
		{"204 by default", nil, "http:204", true},
		{"299 by default", nil, "http:299", true},
		{"199 is no 2xx", nil, "http:199", false},
		{"301 by default", nil, "http:301", false},
		{"503 by default", nil, "http:503", false},
		{"expected 404", []int{404}, "http:404", true},
		{"200 not expected", []int{404}, "http:200", false},
		{"one of several", []int{200, 201, 409}, "http:409", true},
		{"grpc OK", nil, "grpc:OK", true},
		{"grpc OK whatever expect_status", []int{404}, "grpc:OK", true},
		{"grpc error", nil, "grpc:UNAVAILABLE", false},
		{"transport error", nil, "error:timeout", false},
		{"code not a number", nil, "http:2xx", false},
		{"no prefix", nil, "200", false},
		{"empty", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (Target{ExpectStatus: tt.expect}).Success(tt.outcome); got != tt.want {
				t.Errorf("Target{ExpectStatus: %v}.Success(%q) = %v, want %v", tt.expect, tt.outcome, got, tt.want)
			}
		})
	}
}
