package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
)

// ErrRefused is what every dial the policy refuses is (errors.Is).
var ErrRefused = errors.New("refused by the allow-list")

// RefusedError is a dial the policy refused: the address asked for, and
// why.
type RefusedError struct {
	Addr   string // host:port as asked for
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: %s", e.Addr, e.Reason)
}

// Is makes a RefusedError ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Guard checks what a load engine connects to and renders: the address
// of every dial (resolved once, checked, then dialed as that address, so
// that a name cannot resolve to one address for the check and another
// for the connect), and the size and time of rendering. A nil *Guard
// checks nothing: it dials as a net.Dialer does, for `cicada run`, where
// the user is the operator.
type Guard struct {
	allow    AllowList
	who      string
	listVar  string
	render   plan.RenderLimits
	resolver *net.Resolver
}

// Guard returns the Guard of p for an engine that must be prepared by
// deadline (zero for none).
func (p *Policy) Guard(deadline time.Time) *Guard {
	return &Guard{allow: p.allow, who: p.who, listVar: p.Var("ALLOWED_TARGETS"), render: p.RenderLimits(deadline)}
}

// WithResolver returns a copy of g that resolves names with r (a test's
// stub resolver) instead of net.DefaultResolver.
func (g *Guard) WithResolver(r *net.Resolver) *Guard {
	c := *g
	c.resolver = r
	return &c
}

// WithCheck returns a copy of g whose rendering calls check every few
// thousand requests and stops at its error (plan.RenderLimits.Check).
func (g *Guard) WithCheck(check func() error) *Guard {
	c := *g
	c.render.Check = check
	return &c
}

// RenderLimits are the limits of rendering the plan's templates; the
// plan package's bounds for a nil Guard.
func (g *Guard) RenderLimits() plan.RenderLimits {
	if g == nil {
		return plan.RenderLimits{}
	}
	return g.render
}

// Deadline is when preparing the engine must be over (zero for none).
func (g *Guard) Deadline() time.Time {
	if g == nil {
		return time.Time{}
	}
	return g.render.Deadline
}

func (g *Guard) lookup() *net.Resolver {
	if g.resolver != nil {
		return g.resolver
	}
	return net.DefaultResolver
}

// Resolve resolves addr (host:port) once and returns the first of its
// addresses (an IPv4 one when there is one) that the allow-list lets
// network ("tcp", "tcp4", "tcp6") dial, or a *RefusedError that names each address refused and why. With a nil
// Guard it returns the first address found, unchecked.
func (g *Guard) Resolve(ctx context.Context, network, addr string) (netip.AddrPort, error) {
	all, err := g.resolveAll(ctx, network, addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	// IPv4 first, as net.ResolveTCPAddr picks.
	for _, a := range all {
		if a.Addr().Is4() {
			return a, nil
		}
	}
	return all[0], nil
}

// resolveAll resolves addr and keeps the addresses the allow-list allows,
// in the resolver's order.
func (g *Guard) resolveAll(ctx context.Context, network, addr string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %s: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("address %s: bad port %q", addr, portStr)
	}
	var r *net.Resolver
	if g != nil {
		name := normHost(host)
		if why := g.allow.CheckName(name, portStr); why != "" {
			if !strings.HasPrefix(why, "refused") {
				why = "not allowed by this " + g.who
			}
			return nil, &RefusedError{Addr: addr, Reason: fmt.Sprintf("%s is %s (%s)", net.JoinHostPort(name, portStr), why, g.listVar)}
		}
		r = g.lookup()
	} else {
		r = net.DefaultResolver
	}
	var ips []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{a}
	} else {
		ips, err = r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	var ok []netip.AddrPort
	var refused []string
	for _, ip := range ips {
		ip = ip.Unmap()
		if (network == "tcp4" && !ip.Is4()) || (network == "tcp6" && !ip.Is6()) {
			continue
		}
		if g != nil {
			if why := g.allow.CheckAddr(ip, portStr); why != "" {
				refused = append(refused, why)
				continue
			}
		}
		ok = append(ok, netip.AddrPortFrom(ip, uint16(port)))
	}
	if len(ok) > 0 {
		return ok, nil
	}
	if len(refused) == 0 {
		return nil, fmt.Errorf("resolve %s: no %s address", host, network)
	}
	reason := strings.Join(refused, "; ")
	if _, err := netip.ParseAddr(host); err != nil {
		reason = host + " resolves to " + reason
	}
	return nil, &RefusedError{Addr: addr, Reason: reason + fmt.Sprintf(" (%s)", g.listVar)}
}

// Dial connects to addr (host:port) over network with d: it resolves the
// host once, keeps the addresses the allow-list allows, and dials those,
// by address, in turn until one connects. It fails with a *RefusedError
// when none is allowed. With a nil Guard it is d.DialContext.
func (g *Guard) Dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	if g == nil {
		return d.DialContext(ctx, network, addr)
	}
	all, err := g.resolveAll(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	var first error
	for _, a := range all {
		c, err := d.DialContext(ctx, network, a.String())
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}
