package predict

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cicadaload/cicada/internal/testpki"
	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

// writeServerCert makes a CA and a certificate for 127.0.0.1, and writes
// the certificate and key to files for Config.TLSCert and TLSKey.
func writeServerCert(t *testing.T) (ca *testpki.CA, certFile, keyFile string) {
	t.Helper()
	ca, err := testpki.NewCA("predict test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, leaf.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, leaf.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca, certFile, keyFile
}

// TestServeTLS serves both protocols over TLS and checks that a client
// trusting the CA is answered (REST as HTTP/1.1 even when the client offers
// HTTP/2), and that a plaintext client is not.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	ca, certFile, keyFile := writeServerCert(t)
	cfg := testConfig()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	s := NewServer(cfg, zaptest.NewLogger(t))
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, httpLn, grpcLn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	reqCtx, reqCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer reqCancel()

	t.Run("rest", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Post("https://"+httpLn.Addr().String()+"/v1/predict", "application/json",
			strings.NewReader(`{"text": "the striker scored twice"}`))
		if err != nil {
			t.Fatalf("POST over TLS: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"sports"`) {
			t.Errorf("POST over TLS = %d %s, want 200 sports", resp.StatusCode, body)
		}
		if resp.TLS == nil || resp.ProtoMajor != 1 {
			t.Errorf("answered over %s, TLS %v; want HTTP/1.1 over TLS", resp.Proto, resp.TLS != nil)
		}
	})
	t.Run("rest plaintext refused", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + httpLn.Addr().String() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("plaintext GET /healthz answered 200 by a TLS server")
			}
		}
	})
	t.Run("grpc", func(t *testing.T) {
		cc, err := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool()})))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		resp, err := cicadav1.NewPredictorClient(cc).Predict(reqCtx, &cicadav1.PredictRequest{Text: "shares fell sharply after the earnings report"})
		if err != nil || resp.GetLabel() != "business" {
			t.Errorf("Predict over TLS = %v, %v; want business", resp.GetLabel(), err)
		}
	})
	t.Run("grpc plaintext refused", func(t *testing.T) {
		cc, err := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		short, cancel := context.WithTimeout(reqCtx, 2*time.Second)
		defer cancel()
		if _, err := cicadav1.NewPredictorClient(cc).Predict(short, &cicadav1.PredictRequest{Text: "a goal"}); err == nil {
			t.Errorf("plaintext Predict to a TLS server succeeded")
		}
	})
	if got := s.Stats(); got.HTTPRequests != 1 || got.GRPCRequests != 1 {
		t.Errorf("stats %+v, want one request of each protocol", got)
	}
}

// TestServeTLSBadFiles checks that a certificate that cannot be loaded stops
// Serve at once with an error naming the files, and closes the listeners.
func TestServeTLSBadFiles(t *testing.T) {
	t.Parallel()
	_, certFile, _ := writeServerCert(t)
	cfg := testConfig()
	cfg.TLSCert, cfg.TLSKey = certFile, certFile // a certificate where the key should be
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = NewServer(cfg, zaptest.NewLogger(t)).Serve(context.Background(), ln, nil)
	if err == nil || !strings.Contains(err.Error(), "TLS_CERT") {
		t.Errorf("Serve with a bad key = %v, want an error naming TLS_CERT", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener still open after a failed Serve: Accept = %v", err)
	}
}
