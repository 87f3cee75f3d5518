package trigger

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// A web page the user opens can send requests to a trigger on the user's
// machine. Three rails keep such a page out:
//
//   - the Host check (hostGuard): the trigger answers only to the names
//     it is reached by, so that a page whose own name was rebound to
//     127.0.0.1 (DNS rebinding) gets 421 instead of a same-origin view of
//     the trigger;
//   - the Origin check (checkOrigin): a state-changing request a browser
//     marks as coming from another site is refused (403), since a browser
//     may send a cross-site POST or DELETE without asking first;
//   - the Content-Type check (planFormat, create.go): a plan is JSON or
//     YAML by its declared type (415 otherwise), which a cross-site page
//     can only declare after a CORS preflight that the trigger never
//     grants.

// hostPattern is one entry of Access.AllowedHosts.
type hostPattern struct {
	raw  string
	host string // canonical (canonHost); "*" or "*.suffix" for wildcards
	port string // "" = any port
}

// parseHostPatterns reads Access.AllowedHosts: "host", "host:port",
// "[v6]:port", "*.domain" or "*"; empty entries are skipped.
func parseHostPatterns(raw []string) ([]hostPattern, error) {
	var out []hostPattern
	for _, s := range raw {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		h, p, err := splitHost(s)
		if err != nil || h == "" || (p != "" && !isPort(p)) {
			return nil, fmt.Errorf("ALLOWED_HOSTS entry %q: want host, host:port, [v6]:port, *.domain or *", s)
		}
		h = canonHost(h)
		if strings.Contains(strings.TrimPrefix(h, "*."), "*") && h != "*" {
			return nil, fmt.Errorf("ALLOWED_HOSTS entry %q: a wildcard is only allowed as \"*\" or a leading \"*.\"", s)
		}
		out = append(out, hostPattern{raw: s, host: h, port: p})
	}
	return out, nil
}

func (p hostPattern) match(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	switch {
	case p.host == "*":
		return true
	case strings.HasPrefix(p.host, "*."):
		return strings.HasSuffix(host, p.host[1:]) && len(host) > len(p.host)-1
	}
	return p.host == host
}

// splitHost splits a Host header (or a pattern) into host and port, the
// port "" when none is written; a bare IPv6 address has no port.
func splitHost(s string) (host, port string, err error) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		host, rest, ok := strings.Cut(rest, "]")
		if !ok {
			return "", "", fmt.Errorf("host %q: unclosed [", s)
		}
		if rest == "" {
			return host, "", nil
		}
		if port, ok = strings.CutPrefix(rest, ":"); !ok {
			return "", "", fmt.Errorf("host %q: junk after ]", s)
		}
		return host, port, nil
	}
	if strings.Count(s, ":") > 1 {
		return s, "", nil
	}
	host, port, _ = strings.Cut(s, ":")
	return host, port, nil
}

// canonHost lower-cases a name and drops a trailing dot; an IP address is
// written in its canonical form (IPv4-mapped IPv6 as IPv4).
func canonHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return h
}

func isPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n <= 65535 && strconv.Itoa(n) == p
}

// defaultPort is the port of a scheme when none is written.
func defaultPort(scheme string) string {
	if strings.EqualFold(scheme, "https") {
		return "443"
	}
	return "80"
}

// requestScheme is the scheme the client used: https over TLS, or as the
// platform in front says (X-Forwarded-Proto), else http.
func requestScheme(r *http.Request) string {
	switch p := r.Header.Get("X-Forwarded-Proto"); {
	case p == "https" || p == "http":
		return p
	case r.TLS != nil:
		return "https"
	}
	return "http"
}

// requestHost is r's Host, canonical, with the scheme's port when none is
// written.
func requestHost(r *http.Request) (host, port string, err error) {
	host, port, err = splitHost(r.Host)
	if err != nil || host == "" || (port != "" && !isPort(port)) {
		return "", "", fmt.Errorf("the Host header %q is not a host[:port]", r.Host)
	}
	if port == "" {
		port = defaultPort(requestScheme(r))
	}
	return canonHost(host), port, nil
}

// hostGuard is the Host check: the configured patterns, or by default the
// address the request came in on and localhost on its port; the host of
// Config.PublicURL in both cases.
type hostGuard struct {
	patterns []hostPattern
	// publicHost and publicPort are PublicURL's, "" when none is set.
	publicHost, publicPort string
}

func newHostGuard(a Access, publicURL string) (hostGuard, error) {
	patterns, err := parseHostPatterns(a.AllowedHosts)
	if err != nil {
		return hostGuard{}, fmt.Errorf("trigger config: %w", err)
	}
	g := hostGuard{patterns: patterns}
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || u.Host == "" {
			return hostGuard{}, fmt.Errorf("trigger config: PUBLIC_URL %q is not an absolute URL", publicURL)
		}
		g.publicHost, g.publicPort = canonHost(u.Hostname()), u.Port()
		if g.publicPort == "" {
			g.publicPort = defaultPort(u.Scheme)
		}
	}
	return g, nil
}

// check refuses r (KindMisdirected) unless its Host is one the trigger
// answers to. Without patterns, the listener's address comes from the
// connection (http.LocalAddrContextKey): a handler served without one
// answers only to PublicURL's host.
func (g hostGuard) check(r *http.Request) error {
	host, port, err := requestHost(r)
	if err != nil {
		return &Error{Kind: KindMisdirected, Message: err.Error()}
	}
	if g.publicHost != "" && host == g.publicHost && port == g.publicPort {
		return nil
	}
	var answers string
	if len(g.patterns) > 0 {
		raw := make([]string, len(g.patterns))
		for i, p := range g.patterns {
			if p.match(host, port) {
				return nil
			}
			raw[i] = p.raw
		}
		answers = strings.Join(raw, ", ")
	} else {
		local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		ap, err := netip.ParseAddrPort(fmt.Sprint(local))
		if ok && err == nil {
			ip, lport := ap.Addr().Unmap().String(), strconv.Itoa(int(ap.Port()))
			if port == lport && (host == ip || host == "localhost") {
				return nil
			}
			answers = net.JoinHostPort(ip, lport) + " and " + net.JoinHostPort("localhost", lport)
		} else {
			answers = "no address known"
		}
	}
	if g.publicHost != "" {
		answers += ", " + net.JoinHostPort(g.publicHost, g.publicPort)
	}
	return &Error{Kind: KindMisdirected, Message: fmt.Sprintf(
		"this trigger does not answer to Host %q: it answers to %s (CICADA_TRIGGER_ALLOWED_HOSTS widens it)", r.Host, answers)}
}

// safeMethod reports whether a method only reads: a browser's cross-site
// read cannot see the answer without CORS, which the trigger never grants.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkOrigin refuses (KindForbidden) a request that changes something
// when a browser says it comes from another site: Sec-Fetch-Site
// cross-site, or an Origin other than the trigger's own (the Host it was
// sent to, or PublicURL's). Clients that are not browsers send neither
// header and pass.
func (g hostGuard) checkOrigin(r *http.Request) error {
	if safeMethod(r.Method) {
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); strings.EqualFold(site, "cross-site") {
		return &Error{Kind: KindForbidden, Message: fmt.Sprintf(
			"cross-site request refused: %s %s from another site's page (Sec-Fetch-Site: %s); use the CLI or curl", r.Method, requestPath(r), site)}
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" {
		oh, op := canonHost(u.Hostname()), u.Port()
		if op == "" {
			op = defaultPort(u.Scheme)
		}
		host, port, err := requestHost(r)
		if err == nil && oh == host && op == port {
			return nil
		}
		if g.publicHost != "" && oh == g.publicHost && op == g.publicPort {
			return nil
		}
	}
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(
		"cross-site request refused: %s %s from a page of %q, not of this trigger; use the CLI or curl", r.Method, requestPath(r), origin)}
}
