package plan

import (
	"strings"
	"testing"

	"github.com/cicadaload/cicada/internal/testpki"
)

// testCAPEM returns a freshly made CA certificate as PEM, and a private
// key as PEM.
func testCAPEM(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	ca, err := testpki.NewCA("plan test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Client("someone")
	if err != nil {
		t.Fatal(err)
	}
	return string(ca.CertPEM), string(leaf.KeyPEM)
}

const (
	testCertSecret = "projects/p1/secrets/client-cert/versions/latest"
	testKeySecret  = "projects/p1/secrets/client_key/versions/3"
)

func httpsPlan() *Plan {
	p := validHTTP()
	p.Target.URL = "https://127.0.0.1:8443/v1/predict"
	return p
}

func TestValidateTLS(t *testing.T) {
	t.Parallel()
	ca, key := testCAPEM(t)
	ok := []struct {
		name string
		p    func() *Plan
	}{
		{"https with ca and server name", func() *Plan {
			p := httpsPlan()
			p.Target.TLS = &TLS{CA: ca + ca, ServerName: "predict.internal"}
			return p
		}},
		{"https mutual TLS by secret", func() *Plan {
			p := httpsPlan()
			p.Target.TLS = &TLS{CASecret: "projects/123/secrets/ca/versions/1", ClientCertSecret: testCertSecret, ClientKeySecret: testKeySecret}
			return p
		}},
		{"grpc empty tls block", func() *Plan { p := validGRPC(); p.Target.TLS = &TLS{}; return p }},
		{"grpc insecure with IP server name", func() *Plan {
			p := validGRPC()
			p.Target.TLS = &TLS{InsecureSkipVerify: true, ServerName: "::1"}
			return p
		}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.p().Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
	bad := []struct {
		name         string
		base         func() *Plan
		tls          TLS
		path, reason string
	}{
		{"plain http", validHTTP, TLS{CA: ca}, "target.tls", "only for https:// URLs"},
		{"ca and ca_secret", httpsPlan, TLS{CA: ca, CASecret: testCertSecret}, "target.tls", "at most one of ca and ca_secret"},
		{"ca not PEM", httpsPlan, TLS{CA: "hello"}, "target.tls.ca", "no PEM certificate found"},
		{"ca a private key", httpsPlan, TLS{CA: key}, "target.tls.ca", `is a "PRIVATE KEY", want CERTIFICATE`},
		{"ca bad DER", httpsPlan, TLS{CA: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "target.tls.ca", "PEM block 1"},
		{"ca trailing text", httpsPlan, TLS{CA: ca + "junk"}, "target.tls.ca", "text after the last PEM certificate"},
		{"ca_secret form", httpsPlan, TLS{CASecret: "projects/p/secrets/s"}, "target.tls.ca_secret", "projects/PROJECT/secrets/SECRET/versions/VERSION"},
		{"ca_secret empty segment", validGRPC, TLS{CASecret: "projects//secrets/s/versions/1"}, "target.tls.ca_secret", "not a Secret Manager version name"},
		{"secret id characters", validGRPC, TLS{CASecret: "projects/p/secrets/a.b/versions/1"}, "target.tls.ca_secret", "only letters, digits, _ and -"},
		{"client cert a literal", httpsPlan, TLS{ClientCertSecret: ca, ClientKeySecret: testKeySecret}, "target.tls.client_cert_secret", "not a Secret Manager version name"},
		{"client cert without key", httpsPlan, TLS{ClientCertSecret: testCertSecret}, "target.tls.client_key_secret", "required with client_cert_secret"},
		{"client key without cert", validGRPC, TLS{ClientKeySecret: testKeySecret}, "target.tls.client_cert_secret", "required with client_key_secret"},
		{"server name with port", httpsPlan, TLS{ServerName: "host:443"}, "target.tls.server_name", "want a host name or IP address"},
		{"server name a URL", validGRPC, TLS{ServerName: "https://host"}, "target.tls.server_name", "want a host name or IP address"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.base()
			x := tt.tls
			p.Target.TLS = &x
			err := p.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want %s: %s", tt.path, tt.reason)
			}
			probs := problemsOf(t, err)
			if !hasProblem(probs, tt.path, tt.reason) {
				t.Errorf("got problems %v, want %q containing %q", probs, tt.path, tt.reason)
			}
			// A key pasted into the plan must not come back in the error.
			if strings.Contains(err.Error(), "PRIVATE KEY-----") || strings.Contains(err.Error(), strings.Split(key, "\n")[1]) {
				t.Errorf("error echoes the key: %v", err)
			}
		})
	}
}

func TestParseTLS(t *testing.T) {
	t.Parallel()
	ca, _ := testCAPEM(t)
	yamlPlan := minimalGRPC + "\n  tls:\n    ca: |\n" + indent(ca, "      ") +
		"    server_name: predict.internal\n    client_cert_secret: " + testCertSecret +
		"\n    client_key_secret: " + testKeySecret + "\n    insecure_skip_verify: false\n"
	p, err := Parse([]byte(yamlPlan), "yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := TLS{CA: ca, ServerName: "predict.internal", ClientCertSecret: testCertSecret, ClientKeySecret: testKeySecret}
	if p.Target.TLS == nil || *p.Target.TLS != want {
		t.Errorf("target.tls = %+v, want %+v", p.Target.TLS, want)
	}
	if !p.Target.UsesTLS() {
		t.Error("UsesTLS() = false for a gRPC target with a tls block")
	}

	for _, tt := range []struct {
		name, format, data, path, reason string
	}{
		{"unknown tls field", "yaml", minimalGRPC + "\n  tls: {client_key: x}", "target.tls.client_key", "unknown field"},
		{"string for bool", "yaml", minimalGRPC + "\n  tls: {insecure_skip_verify: \"yes\"}", "target.tls.insecure_skip_verify", "want true or false"},
		{"yaml 1.1 yes is a string", "yaml", minimalGRPC + "\n  tls: {insecure_skip_verify: yes}", "target.tls.insecure_skip_verify", "want true or false"},
		{"number for bool", "json", `{"target":{"tls":{"insecure_skip_verify":1}}}`, "target.tls.insecure_skip_verify", "want true or false"},
		{"list for tls", "yaml", minimalGRPC + "\n  tls: [a]", "target.tls", "want an object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.data), tt.format)
			if probs := problemsOf(t, err); !hasProblem(probs, tt.path, tt.reason) {
				t.Errorf("got problems %v, want %q containing %q", probs, tt.path, tt.reason)
			}
		})
	}
}

func TestUsesTLS(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		t    Target
		want bool
	}{
		{"http", Target{Protocol: ProtocolHTTP, URL: "http://h:443/x"}, false},
		{"https", Target{Protocol: ProtocolHTTP, URL: "https://h/x"}, true},
		{"grpc plaintext", Target{Protocol: ProtocolGRPC, Address: "h:8500"}, false},
		{"grpc port 443", Target{Protocol: ProtocolGRPC, Address: "h:443"}, true},
		{"grpc tls block", Target{Protocol: ProtocolGRPC, Address: "h:8500", TLS: &TLS{}}, true},
	} {
		if got := tt.t.UsesTLS(); got != tt.want {
			t.Errorf("%s: UsesTLS() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
