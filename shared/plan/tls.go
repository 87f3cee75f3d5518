package plan

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
)

// TLS is how the engine speaks TLS to an https:// or gRPC target: which
// certificate authorities to trust, which name to verify, and a client
// certificate for mutual TLS. Secrets are never written in a plan, only
// named: the worker reads each named Secret Manager version when its shard
// starts. For gRPC, the presence of target.tls turns TLS on (a target on
// port 443 uses TLS without it).
type TLS struct {
	// CA is PEM certificates trusted instead of the system's roots.
	CA string `json:"ca,omitempty" yaml:"ca,omitempty"`
	// CASecret names a Secret Manager version holding the PEM, instead of CA.
	CASecret string `json:"ca_secret,omitempty" yaml:"ca_secret,omitempty"`
	// ServerName is the name the server's certificate must carry, also sent
	// as SNI; default the target's host.
	ServerName string `json:"server_name,omitempty" yaml:"server_name,omitempty"`
	// ClientCertSecret and ClientKeySecret name the Secret Manager versions
	// of a PEM client certificate (chain) and its key, for mutual TLS; both
	// or neither.
	ClientCertSecret string `json:"client_cert_secret,omitempty" yaml:"client_cert_secret,omitempty"`
	ClientKeySecret  string `json:"client_key_secret,omitempty" yaml:"client_key_secret,omitempty"`
	// InsecureSkipVerify accepts any server certificate. The trigger refuses
	// it unless its operator allows it.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty" yaml:"insecure_skip_verify,omitempty"`
}

// UsesTLS reports whether the engine speaks TLS to t: an https:// URL; for
// gRPC, a target.tls block or port 443.
func (t *Target) UsesTLS() bool {
	switch t.Protocol {
	case ProtocolHTTP:
		u, err := url.Parse(t.URL)
		return err == nil && u.Scheme == "https"
	case ProtocolGRPC:
		if t.TLS != nil {
			return true
		}
		_, port, err := net.SplitHostPort(t.Address)
		return err == nil && port == "443"
	}
	return false
}

// ParseCertificates parses PEM text holding one or more CERTIFICATE blocks
// and nothing else, as target.tls.ca and its secret must.
func ParseCertificates(pemText []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := pemText
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			// Never echo the block: it may be a private key pasted by mistake.
			return nil, fmt.Errorf("PEM block %d is a %q, want CERTIFICATE", len(certs)+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("text after the last PEM certificate")
	}
	return certs, nil
}

// tlsSecretVersionName checks the form of a Secret Manager version name,
// projects/P/secrets/S/versions/V. It does not ask whether it exists: the
// worker reads it when the shard starts.
func tlsSecretVersionName(name string) error {
	const want = "want projects/PROJECT/secrets/SECRET/versions/VERSION"
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "secrets" || parts[4] != "versions" {
		return fmt.Errorf("%s, got %q", want, truncate(name, 120))
	}
	for _, p := range []string{parts[1], parts[3], parts[5]} {
		if p == "" || strings.ContainsFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return fmt.Errorf("%s, got %q", want, truncate(name, 120))
		}
	}
	for _, r := range parts[3] {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("secret id %q: only letters, digits, _ and -", parts[3])
		}
	}
	return nil
}

// tls checks target.tls: one CA source that parses, secret names of the
// right form, a client certificate with its key, a server name that is a
// host, and TLS only where the target speaks it.
func (c *checker) tls(t *Target) {
	x := t.TLS
	if x == nil {
		return
	}
	const at = "target.tls"
	if t.Protocol == ProtocolHTTP {
		if u, err := url.Parse(t.URL); err == nil && u.Scheme == "http" {
			c.add(at, "only for https:// URLs, got a plain http:// URL (use https:// to speak TLS)")
		}
	}
	switch {
	case x.CA != "" && x.CASecret != "":
		c.add(at, "set at most one of ca and ca_secret")
	case x.CA != "":
		if _, err := ParseCertificates([]byte(x.CA)); err != nil {
			c.add(at+".ca", "not PEM certificates: %v", err)
		}
	}
	for _, s := range []struct{ field, name string }{
		{"ca_secret", x.CASecret},
		{"client_cert_secret", x.ClientCertSecret},
		{"client_key_secret", x.ClientKeySecret},
	} {
		if s.name == "" {
			continue
		}
		if err := tlsSecretVersionName(s.name); err != nil {
			c.add(at+"."+s.field, "not a Secret Manager version name: %v", err)
		}
	}
	switch {
	case x.ClientCertSecret != "" && x.ClientKeySecret == "":
		c.add(at+".client_key_secret", "required with client_cert_secret (mutual TLS needs the certificate and its key)")
	case x.ClientKeySecret != "" && x.ClientCertSecret == "":
		c.add(at+".client_cert_secret", "required with client_key_secret (mutual TLS needs the certificate and its key)")
	}
	if x.ServerName != "" && !validServerName(x.ServerName) {
		c.add(at+".server_name", "want a host name or IP address (no scheme, port or path), got %q", truncate(x.ServerName, 80))
	}
}

// validServerName reports whether s can be verified against a certificate:
// an IP address, or a DNS name of letters, digits, '-', '_' and dots.
func validServerName(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	if len(s) > 253 || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
