package policy

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/cicadaload/cicada/shared/plan"
)

// entry is one item of an allow-list: a host pattern or an address range,
// with an optional port, allowing or (written with a leading "!") refusing.
type entry struct {
	raw    string
	refuse bool
	host   string       // lower case, no brackets, no trailing dot; "*" or "*.suffix" for wildcards; "" for a range
	prefix netip.Prefix // an address or a CIDR (an address is its /32 or /128); invalid for a host pattern
	port   string       // "" = any port
}

// isRange reports whether e names addresses (an IP or a CIDR) rather than
// host names.
func (e entry) isRange() bool { return e.prefix.IsValid() }

// parseEntry reads "host", "host:port", "[v6]:port", a bare IPv6
// address, "*.domain", "*", a CIDR ("10.0.0.0/8", "10.0.0.0/8:8501",
// "fd00::/8", "[fd00::/8]:8501"), each optionally after a "!" that makes it
// a refusal.
func parseEntry(s string) (entry, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return entry{}, fmt.Errorf("allowed target %q: empty", s)
	}
	body, refuse := strings.CutPrefix(raw, "!")
	body = strings.TrimSpace(body)
	if body == "" {
		return entry{}, fmt.Errorf("allowed target %q: nothing after \"!\"", raw)
	}
	host, port := body, ""
	switch {
	case strings.HasPrefix(body, "["):
		h, p, err := net.SplitHostPort(body)
		if err != nil {
			h, p = strings.TrimSuffix(strings.TrimPrefix(body, "["), "]"), "any"
			if !strings.HasSuffix(body, "]") || strings.ContainsAny(h, "[]") {
				return entry{}, fmt.Errorf("allowed target %q: want host, host:port, [v6] or [v6]:port", raw)
			}
		}
		host, port = h, p
	case strings.Count(body, ":") == 1:
		h, p, err := net.SplitHostPort(body)
		if err != nil {
			return entry{}, fmt.Errorf("allowed target %q: %v", raw, err)
		}
		host, port = h, p
		if port == "" {
			return entry{}, fmt.Errorf("allowed target %q: empty port", raw)
		}
	}
	if port == "any" {
		port = ""
	}
	if port != "" && !validPort(port) {
		return entry{}, fmt.Errorf("allowed target %q: bad port %q", raw, port)
	}
	e := entry{raw: raw, refuse: refuse, port: port}
	if strings.Contains(host, "/") {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(host))
		if err != nil {
			return entry{}, fmt.Errorf("allowed target %q: bad CIDR: %v", raw, err)
		}
		if pfx.Addr().Is4In6() {
			return entry{}, fmt.Errorf("allowed target %q: write an IPv4 range in IPv4 form", raw)
		}
		e.prefix = pfx.Masked()
		return e, nil
	}
	host = normHost(host)
	if host == "" {
		return entry{}, fmt.Errorf("allowed target %q: no host", raw)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		e.prefix = netip.PrefixFrom(a, a.BitLen())
		return e, nil
	}
	if strings.Contains(strings.TrimPrefix(host, "*."), "*") && host != "*" {
		return entry{}, fmt.Errorf("allowed target %q: a wildcard is only allowed as \"*\" or a leading \"*.\"", raw)
	}
	e.host = host
	return e, nil
}

func validPort(p string) bool {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return false
		}
	}
	return p != "" && n > 0
}

// normHost lower-cases a host name and drops a trailing dot, so that
// "LocalHost." and "localhost" compare equal; IP addresses are written in
// their canonical form ("0:0::1" is "::1", "::ffff:127.0.0.1" is
// "127.0.0.1"). Nothing is resolved.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.Unmap().String()
	}
	return h
}

// matchName reports whether the host name or address literal host (as
// normHost returns it) on port is matched by e.
func (e entry) matchName(host, port string) bool {
	if e.port != "" && e.port != port {
		return false
	}
	if e.isRange() {
		a, err := netip.ParseAddr(host)
		return err == nil && a.Zone() == "" && e.prefix.Contains(a)
	}
	switch {
	case e.host == "*":
		return true
	case strings.HasPrefix(e.host, "*."):
		return strings.HasSuffix(host, e.host[1:]) && len(host) > len(e.host)-1
	default:
		return e.host == host
	}
}

// matchAddr reports whether the address a on port is in e's range; a host
// pattern names no address.
func (e entry) matchAddr(a netip.Addr, port string) bool {
	return e.isRange() && (e.port == "" || e.port == port) && e.prefix.Contains(a)
}

// AllowList is a parsed list of allowed (and, with "!", refused) targets.
// A refusal wins over any allowance. See Rules.AllowedTargets.
type AllowList struct {
	entries []entry
}

// ParseAllowList reads the entries of an allow-list; blank entries are
// skipped.
func ParseAllowList(raw []string) (AllowList, error) {
	var a AllowList
	for _, s := range raw {
		if strings.TrimSpace(s) == "" {
			continue
		}
		e, err := parseEntry(s)
		if err != nil {
			return AllowList{}, err
		}
		a.entries = append(a.entries, e)
	}
	return a, nil
}

// AllowsName reports whether a plan may aim at host:port as written
// (host normalized by normHost); see CheckName.
func (a AllowList) AllowsName(host, port string) bool { return a.CheckName(host, port) == "" }

// CheckName says why a plan may not aim at host:port as written (host
// normalized by normHost), or "" when it may: a refusal that matches wins,
// then any allowance allows. Host names are compared as written, never
// resolved: what they resolve to is checked at each dial (CheckAddr).
func (a AllowList) CheckName(host, port string) string {
	allowed := false
	for _, e := range a.entries {
		if e.matchName(host, port) {
			if e.refuse {
				return fmt.Sprintf("refused by %q", e.raw)
			}
			allowed = true
		}
	}
	if !allowed {
		return "not in the allow-list"
	}
	return ""
}

// String lists the entries as written, "(none)" for an empty list.
func (a AllowList) String() string {
	if len(a.entries) == 0 {
		return "(none)"
	}
	s := make([]string, len(a.entries))
	for i, e := range a.entries {
		s[i] = e.raw
	}
	return strings.Join(s, ", ")
}

// CheckAddr says why a connection to the resolved address a on port is
// refused, or "" when it is allowed: an address that a refusal range holds
// is refused; an address of a special range (loopback, link-local, private,
// unspecified, multicast, reserved) only when an allowance range (a CIDR
// or an IP address in the list) holds it; any other address is allowed,
// its name having been checked by AllowsName.
func (a AllowList) CheckAddr(a0 netip.Addr, port string) string {
	addr := a0.Unmap().WithZone("")
	for _, e := range a.entries {
		if e.refuse && e.matchAddr(addr, port) {
			return fmt.Sprintf("%s is refused by %q", net.JoinHostPort(addr.String(), port), e.raw)
		}
	}
	kind := Special(addr)
	if kind == "" {
		return ""
	}
	for _, e := range a.entries {
		if !e.refuse && e.matchAddr(addr, port) {
			return ""
		}
	}
	return fmt.Sprintf("%s is %s, which is dialed only when the allow-list names it as an address or CIDR", addr, kind)
}

// special are the address ranges a dial reaches only when the allow-list
// names them as a range: where a cluster's, a cloud's or the machine's own
// services live, rather than a target on the network.
var special = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "link-local (the cloud metadata server)"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "private (the cloud metadata server)"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (\"this host\")"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "private (shared address space)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (incl. broadcast)"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "reserved (IPv4-compatible)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "reserved (site-local)"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// embeds4 are IPv6 ranges that carry an IPv4 address a gateway may reach:
// such an address is as special as the IPv4 address it carries.
var embeds4 = []struct {
	prefix netip.Prefix
	at     int // byte offset of the IPv4 address
}{
	{netip.MustParsePrefix("64:ff9b::/96"), 12}, // NAT64
	{netip.MustParsePrefix("2002::/16"), 2},     // 6to4
}

// Special names the kind of special range a is in ("loopback",
// "link-local (the cloud metadata server)", ...), or "" for an ordinary
// address.
func Special(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.kind
		}
	}
	if a.Is6() {
		for _, e := range embeds4 {
			if e.prefix.Contains(a) {
				b := a.As16()
				if k := Special(netip.AddrFrom4([4]byte(b[e.at : e.at+4]))); k != "" {
					return k + " behind " + e.prefix.String()
				}
			}
		}
	}
	return ""
}

// TargetHost is where a valid plan sends its requests: the HTTP URL's host
// and port (the scheme's default port when none is written), or the gRPC
// address, the host normalized. path is the plan field it came from.
func TargetHost(t plan.Target) (path, host, port string, err error) {
	switch t.Protocol {
	case plan.ProtocolHTTP:
		u, err := url.Parse(t.URL)
		if err != nil {
			return "target.url", "", "", fmt.Errorf("target.url: %w", err)
		}
		port = u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
		}
		return "target.url", normHost(u.Hostname()), port, nil
	case plan.ProtocolGRPC:
		h, p, err := net.SplitHostPort(t.Address)
		if err != nil {
			return "target.address", "", "", fmt.Errorf("target.address: %w", err)
		}
		return "target.address", normHost(h), p, nil
	}
	return "target.protocol", "", "", fmt.Errorf("target.protocol: unknown protocol %q", t.Protocol)
}
