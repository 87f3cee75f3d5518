package testpki

import (
	"crypto/tls"
	"net"
	"testing"
)

// TestMutualHandshake checks that what the package issues verifies both
// ways: the server by IP address and DNS name, the client by the CA.
func TestMutualHandshake(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1", "predict.test")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Client("load generator")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Server(); err == nil {
		t.Error("Server() with no host succeeded, want an error")
	}
	for _, name := range []string{"127.0.0.1", "predict.test"} {
		a, b := net.Pipe()
		s := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()})
		c := tls.Client(b, &tls.Config{ServerName: name, RootCAs: ca.Pool(), Certificates: []tls.Certificate{cli.TLS}})
		errc := make(chan error, 1)
		go func() { errc <- s.Handshake() }()
		if err := c.Handshake(); err != nil {
			t.Fatalf("client handshake with %s: %v", name, err)
		}
		if err := <-errc; err != nil {
			t.Errorf("server handshake with %s: %v", name, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "127.0.0.1" {
			t.Errorf("server certificate CN %q, want 127.0.0.1", got)
		}
		a.Close()
		b.Close()
	}
}
