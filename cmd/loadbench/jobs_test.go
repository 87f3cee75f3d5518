package main

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/testpki"
	"github.com/cicadaload/cicada/shared/plan"
)

// TestTLSJobs checks that the TLS scenarios are selected by -run and that
// cicada's plans for them render to valid plans trusting the run's CA,
// while the plaintext plans carry no tls block.
func TestTLSJobs(t *testing.T) {
	t.Parallel()
	var got []string
	for _, j := range selectJobs(config{filter: regexp.MustCompile("https|tls")}) {
		if !overTLS(j.Scenario) {
			t.Errorf("-run 'https|tls' selected %s %s", j.Tool, j.Scenario)
		}
		got = append(got, j.Tool+" "+j.Scenario+" "+j.Variant)
	}
	if len(got) != 5 {
		t.Errorf("TLS jobs %q, want wrk and cicada https max, ghz and cicada (conns=1, 4) grpc tls max", got)
	}

	ca, err := testpki.NewCA("loadbench test CA")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{cfg: config{duration: 10 * time.Second, connections: 50}, root: root,
		httpURL: "http://127.0.0.1:1/v1/predict", httpsURL: "https://127.0.0.1:2/v1/predict",
		grpcAddr: "127.0.0.1:3", grpcTLSAddr: "127.0.0.1:4", caPEM: string(ca.CertPEM)}
	for _, tt := range []struct {
		name  string
		build func(e *env, dir string) (invocation, error)
		addr  string
		tls   bool
	}{
		{"https", cicadaHTTPS, e.httpsURL, true},
		{"grpc tls", cicadaGRPC(1, true), e.grpcTLSAddr, true},
		{"http", cicadaHTTP(false, ""), e.httpURL, false},
		{"grpc", cicadaGRPC(4, false), e.grpcAddr, false},
	} {
		dir := t.TempDir()
		inv, err := tt.build(e, dir)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		p, err := plan.LoadFile(inv.args[1])
		if err != nil {
			t.Fatalf("%s: rendered plan: %v", tt.name, err)
		}
		if addr := p.Target.URL + p.Target.Address; addr != tt.addr {
			t.Errorf("%s: target %s, want %s", tt.name, addr, tt.addr)
		}
		if (p.Target.TLS != nil) != tt.tls || tt.tls && p.Target.TLS.CA != e.caPEM {
			t.Errorf("%s: target.tls %+v, want the CA: %v", tt.name, p.Target.TLS, tt.tls)
		}
	}
}
