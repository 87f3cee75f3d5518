package policy_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/policy/policytest"
)

// listen accepts connections on 127.0.0.1 until the test ends and returns
// its port.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestGuardDial: the address dialed is the address checked. Names the
// allow-list allows resolve (through a stub DNS) to addresses it may not
// reach; each dial resolves once, checks every address, and connects to
// an allowed address or to none.
func TestGuardDial(t *testing.T) {
	t.Parallel()
	port := listen(t)
	dns := policytest.NewDNS(t, map[string][]string{
		"metadata.example":  {"169.254.169.254"},
		"metadata6.example": {"fd00:ec2::254"},
		"private.example":   {"10.0.0.5"},
		"cgnat.example":     {"100.64.1.1"},
		"loop.example":      {"127.0.0.1"},
		"loop6.example":     {"::1"},
		"zero.example":      {"0.0.0.0"},
		"multicast.example": {"224.0.0.251"},
		"linklocal.example": {"fe80::1"},
		"mixed.example":     {"169.254.169.254", "127.0.0.1"},
		"rebind.example":    {"127.0.0.1"},
	})
	tests := []struct {
		name    string
		list    []string
		addr    string
		wantErr string // "" = connects
	}{
		{"metadata server", []string{"*.example"}, "metadata.example:" + port, "link-local (the cloud metadata server)"},
		{"metadata server over IPv6", []string{"*.example"}, "metadata6.example:" + port, "the cloud metadata server"},
		{"private", []string{"*.example"}, "private.example:" + port, "10.0.0.5 is private"},
		{"shared address space", []string{"*.example"}, "cgnat.example:" + port, "shared address space"},
		{"loopback", []string{"*.example"}, "loop.example:" + port, "127.0.0.1 is loopback"},
		{"loopback IPv6", []string{"*.example"}, "loop6.example:" + port, "::1 is loopback"},
		{"unspecified", []string{"*.example"}, "zero.example:" + port, "unspecified"},
		{"multicast", []string{"*.example"}, "multicast.example:" + port, "multicast"},
		{"link-local IPv6", []string{"*.example"}, "linklocal.example:" + port, "link-local"},
		{"literal metadata address", []string{"*"}, "169.254.169.254:80", "link-local (the cloud metadata server)"},
		{"name not allowed: no lookup", []string{"other.example"}, "loop.example:" + port, "is not allowed by this worker"},
		{"loopback listed as an address", []string{"*.example", "127.0.0.1"}, "loop.example:" + port, ""},
		{"loopback listed as a CIDR", []string{"*.example", "127.0.0.0/8"}, "loop.example:" + port, ""},
		{"listed for another port", []string{"*.example", "127.0.0.1:1"}, "loop.example:" + port, "loopback"},
		{"only the allowed address is dialed", []string{"*.example", "127.0.0.1"}, "mixed.example:" + port, ""},
		{"the trigger's own port", []string{"127.0.0.1", "localhost", "!127.0.0.1:" + port}, "127.0.0.1:" + port, `refused by "!127.0.0.1:` + port},
		{"the trigger's own port by name", []string{"*.example", "127.0.0.1", "!127.0.0.1:" + port}, "loop.example:" + port, `refused by "!127.0.0.1:` + port},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := policy.New(policy.Rules{AllowedTargets: tt.list}, policy.Worker)
			if err != nil {
				t.Fatal(err)
			}
			g := p.Guard(time.Time{}).WithResolver(dns.Resolver())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := g.Dial(ctx, &net.Dialer{}, "tcp", tt.addr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Dial(%s) = %v, want a connection", tt.addr, err)
				}
				defer c.Close()
				if got := c.RemoteAddr().String(); got != "127.0.0.1:"+port {
					t.Errorf("connected to %s, want 127.0.0.1:%s", got, port)
				}
				return
			}
			if c != nil {
				c.Close()
			}
			if !errors.Is(err, policy.ErrRefused) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Dial(%s) = %v, want a refusal saying %q", tt.addr, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "CICADA_WORKER_ALLOWED_TARGETS") {
				t.Errorf("refusal %q does not name the variable that widens it", err)
			}
		})
	}

	t.Run("one resolution per dial", func(t *testing.T) {
		// Not parallel with the others: it counts the stub's questions.
		p, err := policy.New(policy.Rules{AllowedTargets: []string{"*.example", "127.0.0.1"}}, policy.Worker)
		if err != nil {
			t.Fatal(err)
		}
		g := p.Guard(time.Time{}).WithResolver(dns.Resolver())
		before := dns.Queries("rebind.example")
		c, err := g.Dial(context.Background(), &net.Dialer{}, "tcp", "rebind.example:"+port)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		// One lookup asks for A and AAAA; nothing asks again before the
		// connect, which goes to the address checked.
		if n := dns.Queries("rebind.example") - before; n != 2 {
			t.Errorf("%d questions for one dial, want 2 (A and AAAA once)", n)
		}
		ap, err := g.Resolve(context.Background(), "tcp", "rebind.example:"+port)
		if err != nil || ap.String() != "127.0.0.1:"+port {
			t.Errorf("Resolve = %v, %v; want 127.0.0.1:%s", ap, err, port)
		}
	})
}

// TestNilGuard: without a policy (cicada run) nothing is checked.
func TestNilGuard(t *testing.T) {
	t.Parallel()
	port := listen(t)
	var g *policy.Guard
	c, err := g.Dial(context.Background(), &net.Dialer{}, "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("nil Guard Dial: %v", err)
	}
	c.Close()
	if ap, err := g.Resolve(context.Background(), "tcp", "127.0.0.1:"+port); err != nil || ap.Addr().String() != "127.0.0.1" {
		t.Errorf("nil Guard Resolve = %v, %v", ap, err)
	}
	if lim := g.RenderLimits(); lim.MaxBody != 0 || !g.Deadline().IsZero() {
		t.Errorf("nil Guard limits %+v", lim)
	}
}
