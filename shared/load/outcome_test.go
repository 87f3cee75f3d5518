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
	okTests := []struct {
		code int
		ok   bool
	}{{200, false}, {404, true}, {503, false}, {600, false}}
	for _, tt := range okTests {
		if got := st.ok(tt.code); got != tt.ok {
			t.Errorf("ok(%d) = %v with expect_status [404], want %v", tt.code, got, tt.ok)
		}
	}
	if def := newStatusTable(nil); !def.ok(204) || def.ok(301) {
		t.Errorf("default table: 204 ok %v, 301 ok %v; want any 2xx and only 2xx", def.ok(204), def.ok(301))
	}
}
