package trigger

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/cicadaload/cicada/shared/plan"
)

// pattern is one entry of the allow-list.
type pattern struct {
	raw  string
	host string // lower case, no brackets, no trailing dot; "*" or "*.suffix" for wildcards
	port string // "" = any port
}

// parsePattern reads "host", "host:port", "[v6]:port", a bare IPv6
// address, "*.domain" or "*".
func parsePattern(s string) (pattern, error) {
	raw := s
	s = strings.TrimSpace(s)
	if s == "" {
		return pattern{}, fmt.Errorf("allowed target %q: empty", raw)
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			h, p = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "any"
			if !strings.HasSuffix(s, "]") || strings.ContainsAny(h, "[]") {
				return pattern{}, fmt.Errorf("allowed target %q: want host, host:port, [v6] or [v6]:port", raw)
			}
		}
		host, port = h, p
	case strings.Count(s, ":") == 1:
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return pattern{}, fmt.Errorf("allowed target %q: %v", raw, err)
		}
		host, port = h, p
		if port == "" {
			return pattern{}, fmt.Errorf("allowed target %q: empty port", raw)
		}
	}
	if port == "any" {
		port = ""
	}
	host = normHost(host)
	if host == "" {
		return pattern{}, fmt.Errorf("allowed target %q: no host", raw)
	}
	if port != "" && !validPort(port) {
		return pattern{}, fmt.Errorf("allowed target %q: bad port %q", raw, port)
	}
	if strings.Contains(strings.TrimPrefix(host, "*."), "*") && host != "*" {
		return pattern{}, fmt.Errorf("allowed target %q: a wildcard is only allowed as \"*\" or a leading \"*.\"", raw)
	}
	return pattern{raw: s, host: host, port: port}, nil
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
// their canonical form ("0:0::1" is "::1"). Nothing is resolved.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.Unmap().String()
	}
	return h
}

// match reports whether host:port is allowed by p. host is normalized.
func (p pattern) match(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	switch {
	case p.host == "*":
		return true
	case strings.HasPrefix(p.host, "*."):
		return strings.HasSuffix(host, p.host[1:]) && len(host) > len(p.host)-1
	default:
		return p.host == host
	}
}

// allowList is the parsed Config.AllowedTargets.
type allowList struct {
	patterns []pattern
}

func newAllowList(raw []string) (allowList, error) {
	var a allowList
	for _, s := range raw {
		if strings.TrimSpace(s) == "" {
			continue
		}
		p, err := parsePattern(s)
		if err != nil {
			return allowList{}, err
		}
		a.patterns = append(a.patterns, p)
	}
	return a, nil
}

func (a allowList) allows(host, port string) bool {
	for _, p := range a.patterns {
		if p.match(host, port) {
			return true
		}
	}
	return false
}

func (a allowList) String() string {
	if len(a.patterns) == 0 {
		return "(none)"
	}
	s := make([]string, len(a.patterns))
	for i, p := range a.patterns {
		s[i] = p.raw
	}
	return strings.Join(s, ", ")
}

// targetHost is where a valid plan sends its requests: the HTTP URL's host
// and port (the scheme's default port when none is written), or the gRPC
// address. path is the plan field it came from.
func targetHost(t plan.Target) (path, host, port string, err error) {
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
