package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
)

// secretTimeout bounds the reading of the target's TLS secrets in New.
const secretTimeout = 30 * time.Second

// clientTLS builds the TLS configuration the engine uses against t, reading
// the secrets t.TLS names through read, once. It returns nil when the
// engine speaks plaintext to t (plain http://, gRPC without target.tls on a
// port other than 443). An error names the plan field at fault and never
// carries a secret's value.
func clientTLS(t *plan.Target, read func(ctx context.Context, name string) ([]byte, error)) (*tls.Config, error) {
	if !t.UsesTLS() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	x := t.TLS
	if x == nil {
		return c, nil // the system's roots, the target's host
	}
	c.ServerName = x.ServerName
	c.InsecureSkipVerify = x.InsecureSkipVerify //nolint:gosec // only when the plan says so, and the trigger allows it

	ctx, cancel := context.WithTimeout(context.Background(), secretTimeout)
	defer cancel()
	secret := func(field, name string) ([]byte, error) {
		if read == nil {
			return nil, fmt.Errorf("target.tls.%s: cannot read secret %s: no Secret Manager access here", field, name)
		}
		b, err := read(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("target.tls.%s: read secret %s: %w", field, name, err)
		}
		return b, nil
	}

	caField, caPEM := "ca", []byte(x.CA)
	if x.CASecret != "" {
		var err error
		if caPEM, err = secret("ca_secret", x.CASecret); err != nil {
			return nil, err
		}
		caField = "ca_secret"
	}
	if len(caPEM) > 0 {
		certs, err := plan.ParseCertificates(caPEM)
		if err != nil {
			return nil, fmt.Errorf("target.tls.%s: not PEM certificates: %w", caField, err)
		}
		pool := x509.NewCertPool()
		for _, cert := range certs {
			pool.AddCert(cert)
		}
		c.RootCAs = pool
	}

	if x.ClientCertSecret != "" || x.ClientKeySecret != "" {
		certPEM, err := secret("client_cert_secret", x.ClientCertSecret)
		if err != nil {
			return nil, err
		}
		keyPEM, err := secret("client_key_secret", x.ClientKeySecret)
		if err != nil {
			return nil, err
		}
		// X509KeyPair's errors describe the mismatch, never the key.
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("target.tls.client_cert_secret, client_key_secret: not a PEM certificate and its key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// grpcCreds are the transport credentials of a gRPC channel: TLS with c, or
// plaintext when c is nil.
func grpcCreds(c *tls.Config) credentials.TransportCredentials {
	if c == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(c)
}

// isTLSFailure reports whether err is a failed TLS handshake or an alert
// from the peer: a certificate that does not verify, a name that does not
// match, a client certificate refused or missing, a peer that does not
// speak TLS. (Over HTTP/2, net/http may report a connection refused that
// way only as "client conn could not be established": error:io.)
func isTLSFailure(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	if errors.As(err, &op) && op.Op == "remote error" {
		return true // crypto/tls's wrapping of an alert the peer sent
	}
	return errors.As(err, &verify) || errors.As(err, &record) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// newHTTPS drives an https:// target. One handshake first asks it by ALPN
// which HTTP it speaks: HTTP/2 goes through net/http (httpStd), HTTP/1.1
// through the lean client over crypto/tls, at half net/http's CPU per
// request (see docs/engine.md). A target that cannot be asked gets
// net/http, which speaks both, and its requests record why.
func newHTTPS(u *url.URL, t *plan.Target, bodies [][]byte, check *checker, conns int, c *tls.Config, g *policy.Guard) (protocol, error) {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	c = c.Clone()
	if c.ServerName == "" {
		c.ServerName = u.Hostname() // what net/http verifies by default
	}
	timeout := t.Timeout.D()
	if timeout <= 0 {
		timeout = plan.DefaultTimeout
	}
	if speaksH2(addr, c, min(timeout, alpnTimeout), g) {
		h := newHTTPStd(t.URL, t.Method, t.Headers, bodies, t.ExpectStatus, conns, c)
		h.guard, h.check = g, check
		return h, nil
	}
	h, err := newHTTP1(u, t.Method, t.Headers, bodies, t.ExpectStatus)
	if err != nil {
		return nil, err
	}
	h.addr, h.guard, h.check = addr, g, check
	c.NextProtos = []string{"http/1.1"}
	h.tls = c
	return h, nil
}

// alpnTimeout bounds the ALPN question newHTTPS asks before the run.
const alpnTimeout = 10 * time.Second

// speaksH2 reports whether the target at addr negotiates HTTP/2 by ALPN,
// or cannot be asked within timeout. Its dial goes through g, as every
// other: a refused address is asked nothing.
func speaksH2(addr string, c *tls.Config, timeout time.Duration, g *policy.Guard) bool {
	probe := c.Clone()
	probe.NextProtos = []string{"h2", "http/1.1"}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	raw, err := g.Dial(ctx, &d, "tcp", addr)
	if err != nil {
		return true
	}
	defer raw.Close()
	tc := tls.Client(raw, probe)
	if err := tc.HandshakeContext(ctx); err != nil {
		return true
	}
	return tc.ConnectionState().NegotiatedProtocol == "h2"
}
