package load

import "testing"

func TestOutcomeKeys(t *testing.T) {
	t.Parallel()
	st := newStatusTable([]int{404})
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"http 200", st.key(200), "http:200"},
		{"http 503", st.key(503), "http:503"},
		{"status out of range", st.key(99), outcomeProtocol},
		{"grpc OK", "grpc:" + grpcCodeNames[0], "grpc:OK"},
		{"grpc 4", "grpc:" + grpcCodeNames[4], "grpc:DEADLINE_EXCEEDED"},
		{"grpc 14", "grpc:" + grpcCodeNames[14], "grpc:UNAVAILABLE"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestOutcomeSuccess checks that the status table holds the plan's rule for
// every code it covers, and that codes outside it are never a success.
func TestOutcomeSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		expect []int
		code   int
		ok     bool
	}{
		{"default 200", nil, 200, true},
		{"default 204", nil, 204, true},
		{"default 301", nil, 301, false},
		{"default 503", nil, 503, false},
		{"expected 404", []int{404}, 404, true},
		{"200 not expected", []int{404}, 200, false},
		{"503 not expected", []int{404}, 503, false},
		{"below the table", nil, 99, false},
		{"above the table", []int{600}, 600, false},
		{"expected but out of range", []int{700}, 700, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := newStatusTable(tt.expect).ok(tt.code); got != tt.ok {
				t.Errorf("ok(%d) with expect_status %v = %v, want %v", tt.code, tt.expect, got, tt.ok)
			}
		})
	}
}
