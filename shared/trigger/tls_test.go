package trigger

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
)

// TestCreateInsecureTLS checks that a plan skipping certificate
// verification is refused with 403 naming the field, writing and publishing
// nothing, unless the operator allows it; and that a verified TLS target is
// accepted with its tls block stored as written.
func TestCreateInsecureTLS(t *testing.T) {
	t.Parallel()
	withTLS := func(tls string) string {
		return strings.Replace(planYAML, "  request:", "  tls: "+tls+"\n  request:", 1)
	}
	allow := testConfig()
	allow.AllowInsecureTLS = true
	for _, tt := range []struct {
		name string
		cfg  Config
		body string
		code int
	}{
		{"insecure refused by default", testConfig(), withTLS("{insecure_skip_verify: true}"), http.StatusForbidden},
		{"insecure allowed by the operator", allow, withTLS("{insecure_skip_verify: true}"), http.StatusAccepted},
		{"verified TLS accepted", testConfig(), withTLS("{server_name: predict.internal, insecure_skip_verify: false}"), http.StatusAccepted},
		{"https insecure refused", testConfig(), strings.Replace(planJSON(1, ""), `"url": "http://127.0.0.1:8501/v1/predict"`,
			`"url": "https://127.0.0.1:8501/v1/predict", "tls": {"insecure_skip_verify": true}`, 1), http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg)
			ct := "application/yaml"
			if strings.HasPrefix(tt.body, "{") {
				ct = "application/json"
			}
			w := e.do(t, http.MethodPost, "/runs", ct, tt.body)
			if w.Code != tt.code {
				t.Fatalf("POST /runs = %d %s, want %d", w.Code, w.Body, tt.code)
			}
			if tt.code != http.StatusAccepted {
				got := decode[errorBody](t, w)
				if !strings.Contains(got.Error, "target.tls.insecure_skip_verify") || !strings.Contains(got.Error, "CICADA_TRIGGER_ALLOW_INSECURE_TLS") {
					t.Errorf("error %q does not name the field and the setting", got.Error)
				}
				if len(got.Problems) != 1 || got.Problems[0].Path != "target.tls.insecure_skip_verify" {
					t.Errorf("problems %+v, want one at target.tls.insecure_skip_verify", got.Problems)
				}
				if objs := e.objects(t); len(objs) != 0 {
					t.Errorf("objects written for a refused plan: %v", objs)
				}
				if msgs := e.drain(t, 200*time.Millisecond); len(msgs) != 0 {
					t.Errorf("messages published for a refused plan: %+v", msgs)
				}
				return
			}
			id := decode[Accepted](t, w).RunID
			stored, err := plan.Parse(e.get(t, runs.PlanPath(id)), "json")
			if err != nil {
				t.Fatalf("plan.json does not parse back: %v", err)
			}
			want, _ := plan.Parse([]byte(tt.body), "")
			if stored.Target.TLS == nil || *stored.Target.TLS != *want.Target.TLS {
				t.Errorf("stored target.tls = %+v, want %+v", stored.Target.TLS, want.Target.TLS)
			}
		})
	}
}
