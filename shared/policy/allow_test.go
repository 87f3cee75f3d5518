package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/plan"
)

func TestAllowList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		protocol string
		target   string // url or address
		allowed  bool
	}{
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.1:8501/x", true},
		{[]string{"127.0.0.1", "localhost"}, "http", "https://LocalHost./x", true},                  // case and trailing dot
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.2/x", false},                   // no ranges
		{[]string{"127.0.0.1", "localhost"}, "http", "http://2130706433/x", false},                  // decimal form is not parsed
		{[]string{"127.0.0.1", "localhost"}, "http", "http://localhost.evil.com/x", false},          // not a suffix match
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.1@evil.com/x", false},          // userinfo is not the host
		{[]string{"127.0.0.1:8501"}, "http", "http://127.0.0.1:8501/x", true},                       // host:port
		{[]string{"127.0.0.1:8501"}, "http", "http://127.0.0.1/x", false},                           // default port 80
		{[]string{"example.com:443"}, "http", "https://example.com/x", true},                        // default port 443
		{[]string{"*.svc.local"}, "http", "http://predict.ns.svc.local/x", true},                    // wildcard
		{[]string{"*.svc.local"}, "http", "http://svc.local/x", false},                              // not the domain itself
		{[]string{"*.svc.local"}, "http", "http://evilsvc.local/x", false},                          // label boundary
		{[]string{"::1"}, "http", "http://[0:0::1]:80/x", true},                                     // canonical IPv6
		{[]string{"[::1]:50051"}, "grpc", "[::1]:50051", true},                                      // bracketed with port
		{[]string{"[::1]:50051"}, "grpc", "[::1]:50052", false},                                     // other port
		{[]string{"localhost"}, "grpc", "LOCALHOST:50051", true},                                    // grpc address
		{[]string{"localhost"}, "grpc", "predict:50051", false},                                     // other host
		{[]string{"*"}, "grpc", "anything.example:1", true},                                         // everything
		{nil, "http", "http://127.0.0.1/x", false},                                                  // empty list allows nothing
		{[]string{" 127.0.0.1 ", ""}, "http", "http://127.0.0.1/x", true},                           // spaces, empty entries
		{[]string{"127.0.0.1"}, "http", "http://[::ffff:127.0.0.1]/x", true},                        // IPv4-mapped
		{[]string{"localhost"}, "http", "http://localhost%2e/x", false},                             // escaped dot stays a different name
		{[]string{"fe80::1"}, "http", "http://[fe80::1%25eth0]/x", false},                           // zones never match
		{[]string{"127.0.0.1"}, "grpc", "127.0.0.1:50051", true},                                    // any port
		{[]string{"LOCALHOST:8080"}, "http", "http://localhost:8080", true},                         // pattern case
		{[]string{"example.com."}, "http", "http://example.com/", true},                             // pattern trailing dot
		{[]string{"*.example.com:8443"}, "http", "https://a.example.com:8443/", true},               // wildcard with port
		{[]string{"*.example.com:8443"}, "http", "https://a.example.com/", false},                   // wildcard, other port
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.1.nip.io/x", false},            // DNS tricks are names
		{[]string{"127.0.0.1", "localhost"}, "http", "http://[::1]/x", false},                       // ::1 not listed
		{[]string{"127.0.0.1", "localhost"}, "grpc", "0.0.0.0:50051", false},                        // unspecified address
		{[]string{"127.0.0.1", "localhost"}, "http", "http://127.0.0.1:80@169.254.169.254/", false}, // metadata server
		{[]string{"10.0.0.0/8"}, "http", "http://10.1.2.3/x", true},                                 // CIDR holds an address literal
		{[]string{"10.0.0.0/8"}, "http", "http://11.1.2.3/x", false},                                // outside the CIDR
		{[]string{"10.0.0.0/8"}, "http", "http://ten.example/x", false},                             // a CIDR names no host name
		{[]string{"10.0.0.0/8:8501"}, "http", "http://10.1.2.3:8501/x", true},                       // CIDR with port
		{[]string{"10.0.0.0/8:8501"}, "http", "http://10.1.2.3:8502/x", false},                      // CIDR, other port
		{[]string{"[fd00::/8]:443"}, "http", "https://[fd12::1]/x", true},                           // IPv6 CIDR with port
		{[]string{"fd00::/8"}, "grpc", "[fe80::1]:50051", false},                                    // outside the IPv6 CIDR
		{[]string{"127.0.0.1", "!127.0.0.1:8080"}, "http", "http://127.0.0.1:8080/runs", false},     // a refusal wins
		{[]string{"!127.0.0.1:8080", "127.0.0.1"}, "http", "http://127.0.0.1:8501/x", true},         // whatever the order, only its port
		{[]string{"*", "!*.internal"}, "grpc", "db.internal:5432", false},                           // refused names
		{[]string{"*", "!10.0.0.0/8"}, "http", "http://10.9.9.9/x", false},                          // refused range
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v %s", tt.patterns, tt.target), func(t *testing.T) {
			t.Parallel()
			a, err := ParseAllowList(tt.patterns)
			if err != nil {
				t.Fatalf("ParseAllowList(%q): %v", tt.patterns, err)
			}
			tg := plan.Target{Protocol: tt.protocol}
			if tt.protocol == "http" {
				tg.URL = tt.target
			} else {
				tg.Address = tt.target
			}
			_, host, port, err := TargetHost(tg)
			if err != nil {
				if tt.allowed {
					t.Fatalf("TargetHost: %v", err)
				}
				return // an unparsable target is refused by validation
			}
			if got := a.AllowsName(host, port); got != tt.allowed {
				t.Errorf("AllowsName(%s, %s) = %v, want %v", host, port, got, tt.allowed)
			}
		})
	}
}

func TestBadPatterns(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"host:", "host:0", "host:99999", "a.*.com", "**", "[::1", "h:x", ":80", "!", "10.0.0.0/33", "10.0.0.0/8:0", "::ffff:10.0.0.0/104", "fd00::/8:80"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseAllowList([]string{p}); err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("ParseAllowList(%q) = %v, want an error naming it", p, err)
			}
		})
	}
}

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		list    []string
		addr    string
		port    string
		wantErr string // "" = allowed
	}{
		{[]string{"*"}, "93.184.216.34", "443", ""},
		{[]string{"*"}, "169.254.169.254", "80", "link-local (the cloud metadata server)"},
		{[]string{"*"}, "fd00:ec2::254", "80", "the cloud metadata server"},
		{[]string{"*"}, "169.254.1.1", "80", "link-local"},
		{[]string{"*"}, "fe80::1", "80", "link-local"},
		{[]string{"*"}, "127.0.0.1", "80", "loopback"},
		{[]string{"*"}, "127.1.2.3", "80", "loopback"},
		{[]string{"*"}, "::1", "80", "loopback"},
		{[]string{"*"}, "::ffff:127.0.0.1", "80", "loopback"},
		{[]string{"*"}, "10.0.0.1", "80", "private"},
		{[]string{"*"}, "172.16.5.4", "80", "private"},
		{[]string{"*"}, "192.168.1.1", "80", "private"},
		{[]string{"*"}, "100.64.0.1", "80", "shared address space"},
		{[]string{"*"}, "fd12::1", "80", "private"},
		{[]string{"*"}, "0.0.0.0", "80", "unspecified"},
		{[]string{"*"}, "::", "80", "unspecified"},
		{[]string{"*"}, "224.0.0.1", "80", "multicast"},
		{[]string{"*"}, "ff02::1", "80", "multicast"},
		{[]string{"*"}, "255.255.255.255", "80", "reserved"},
		{[]string{"*"}, "64:ff9b::a9fe:a9fe", "80", "metadata server) behind 64:ff9b::/96"},
		{[]string{"*"}, "2002:7f00:1::", "80", "loopback behind 2002::/16"},
		{[]string{"*"}, "64:ff9b::5db8:d822", "80", ""}, // NAT64 of a public address
		{[]string{"127.0.0.1"}, "127.0.0.1", "8501", ""},
		{[]string{"127.0.0.1:8501"}, "127.0.0.1", "8502", "loopback"},
		{[]string{"10.0.0.0/8"}, "10.20.30.40", "80", ""},
		{[]string{"10.0.0.0/8:8501"}, "10.20.30.40", "80", "private"},
		{[]string{"169.254.169.254"}, "169.254.169.254", "80", ""}, // deliberately listed
		{[]string{"127.0.0.1", "!127.0.0.1:8080"}, "127.0.0.1", "8080", `refused by "!127.0.0.1:8080"`},
		{[]string{"*", "!203.0.113.0/24"}, "203.0.113.9", "443", `refused by "!203.0.113.0/24"`},
		{[]string{"localhost"}, "127.0.0.1", "80", "loopback"}, // a name does not list its addresses
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v %s:%s", tt.list, tt.addr, tt.port), func(t *testing.T) {
			t.Parallel()
			a, err := ParseAllowList(tt.list)
			if err != nil {
				t.Fatal(err)
			}
			got := a.CheckAddr(netip.MustParseAddr(tt.addr), tt.port)
			switch {
			case tt.wantErr == "" && got != "":
				t.Errorf("CheckAddr(%s, %s) = %q, want allowed", tt.addr, tt.port, got)
			case tt.wantErr != "" && !strings.Contains(got, tt.wantErr):
				t.Errorf("CheckAddr(%s, %s) = %q, want a refusal saying %q", tt.addr, tt.port, got, tt.wantErr)
			}
		})
	}
}
