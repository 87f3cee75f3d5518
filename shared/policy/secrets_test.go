package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/plan"
)

// TestCheckInsecureTLS: a plan that skips certificate verification is
// refused unless the rules allow it, naming the variable that does.
func TestCheckInsecureTLS(t *testing.T) {
	t.Parallel()
	insecure := func(t *testing.T) *plan.Plan {
		p := basePlan(t)
		p.Target.URL = "https://127.0.0.1:8501/v1/predict"
		p.Target.TLS = &plan.TLS{InsecureSkipVerify: true}
		return p
	}
	verified := func(t *testing.T) *plan.Plan {
		p := insecure(t)
		p.Target.TLS.InsecureSkipVerify = false
		return p
	}
	allow := DefaultRules()
	allow.AllowInsecureTLS = true
	tests := []struct {
		name  string
		rules Rules
		plan  func(*testing.T) *plan.Plan
		want  string // "" = no problem
	}{
		{"refused by default", DefaultRules(), insecure, "CICADA_WORKER_ALLOW_INSECURE_TLS=true"},
		{"allowed by the operator", allow, insecure, ""},
		{"verified", DefaultRules(), verified, ""},
		{"no tls block", DefaultRules(), basePlan, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pr := workerPolicy(t, tt.rules).CheckInsecureTLS(tt.plan(t))
			switch {
			case tt.want == "" && pr != nil:
				t.Errorf("problem %v, want none", pr)
			case tt.want != "" && pr == nil:
				t.Errorf("no problem, want one naming %s", tt.want)
			case tt.want != "":
				if pr.Kind != KindForbidden || pr.Path != InsecureTLSPath || !strings.Contains(pr.Reason, tt.want) || !strings.Contains(pr.Reason, "this worker") {
					t.Errorf("problem %+v, want KindForbidden at %s naming %s", pr, InsecureTLSPath, tt.want)
				}
			}
		})
	}
}

// TestCheckLiteralSecrets: each literal credential is a problem at its
// field, pointing at target.auth and the variable that allows it; the
// operator's leave, empty values and plain headers pass.
func TestCheckLiteralSecrets(t *testing.T) {
	t.Parallel()
	allow := DefaultRules()
	allow.LiteralSecrets = true
	tests := []struct {
		name    string
		rules   Rules
		headers map[string]string
		url     string
		extra   []string
		want    []string // the problems' paths
	}{
		{"credential header", DefaultRules(), map[string]string{"Authorization": "Bearer PLANTED", "Accept": "x"}, "", nil,
			[]string{`target.headers["Authorization"]`}},
		{"operator's header", DefaultRules(), map[string]string{"x-tenant": "PLANTED"}, "", []string{" X-Tenant "},
			[]string{`target.headers["x-tenant"]`}},
		{"query parameter and userinfo", DefaultRules(), nil, "http://u:PLANTED@127.0.0.1:8501/v1/predict?key=PLANTED", nil,
			[]string{"target.url", "target.url"}},
		{"empty credential header", DefaultRules(), map[string]string{"Authorization": ""}, "", nil, nil},
		{"allowed by the operator", allow, map[string]string{"Authorization": "Bearer PLANTED"}, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := basePlan(t)
			p.Target.Headers = tt.headers
			if tt.url != "" {
				p.Target.URL = tt.url
			}
			probs := workerPolicy(t, tt.rules).CheckLiteralSecrets(p, tt.extra)
			var paths []string
			for _, pr := range probs {
				paths = append(paths, pr.Path)
				if pr.Kind != KindInvalid || !strings.Contains(pr.Reason, "target.auth") || !strings.Contains(pr.Reason, "CICADA_WORKER_LITERAL_SECRETS") {
					t.Errorf("problem %+v: want KindInvalid pointing at target.auth and CICADA_WORKER_LITERAL_SECRETS", pr)
				}
				if strings.Contains(pr.Reason, "PLANTED") {
					t.Errorf("problem %+v repeats the credential", pr)
				}
			}
			if !slices.Equal(paths, tt.want) {
				t.Errorf("paths %q, want %q", paths, tt.want)
			}
		})
	}
}
