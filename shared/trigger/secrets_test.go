package trigger

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
)

// secretPlan is a valid plan whose target carries the given headers (a
// JSON object) and URL.
func secretPlan(protocol, url, headers string) string {
	target := `"protocol": "http", "url": "` + url + `"`
	if protocol == plan.ProtocolGRPC {
		target = `"protocol": "grpc", "address": "127.0.0.1:8500", "method": "/cicada.v1.Predictor/Predict"`
	}
	if headers != "" {
		target += `, "headers": ` + headers
	}
	return `{"name": "secrets", "target": {` + target + `}, "data": {"texts": ["a"]},
  "load": {"model": "open", "stages": [{"duration": "10s", "rate": 20}]}}`
}

// TestLiteralSecretsRefused: a literal credential is refused with 400
// naming each field and pointing at target.auth, nothing stored or
// published, and no answer repeats its value.
func TestLiteralSecretsRefused(t *testing.T) {
	t.Parallel()
	const url = "http://127.0.0.1:8501/v1/predict"
	withOperatorName := testConfig()
	withOperatorName.SecretHeaders = []string{"X-Tenant-Token", " X-Other "}
	tests := []struct {
		name      string
		cfg       Config
		body      string
		wantPaths []string
	}{
		{"authorization header", testConfig(), secretPlan("http", url, `{"Authorization": "Bearer PLANTED", "Accept": "x"}`),
			[]string{`target.headers["Authorization"]`}},
		{"every default header", testConfig(), secretPlan("http", url,
			`{"proxy-authorization": "PLANTED", "Cookie": "PLANTED", "Set-Cookie": "PLANTED", "x-api-key": "PLANTED", "X-Goog-Api-Key": "PLANTED"}`),
			[]string{`target.headers["Cookie"]`, `target.headers["Set-Cookie"]`, `target.headers["X-Goog-Api-Key"]`,
				`target.headers["proxy-authorization"]`, `target.headers["x-api-key"]`}},
		{"grpc metadata", testConfig(), secretPlan("grpc", "", `{"authorization": "Bearer PLANTED"}`),
			[]string{`target.headers["authorization"]`}},
		{"operator's header names", withOperatorName, secretPlan("http", url, `{"x-tenant-token": "PLANTED", "X-Other": "PLANTED"}`),
			[]string{`target.headers["X-Other"]`, `target.headers["x-tenant-token"]`}},
		{"secret query parameters", testConfig(), secretPlan("http", url+"?model=m&api_key=PLANTED&X-Goog-Signature=PLANTED", ""),
			[]string{"target.url", "target.url"}},
		{"userinfo", testConfig(), secretPlan("http", "http://user:PLANTED@127.0.0.1:8501/v1/predict", ""),
			[]string{"target.url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg)
			w := e.do(t, http.MethodPost, "/runs", "application/json", tt.body)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("POST /runs = %d %s, want 400", w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "PLANTED") {
				t.Errorf("the answer repeats a secret: %s", w.Body)
			}
			body := decode[errorBody](t, w)
			var paths []string
			for _, p := range body.Problems {
				paths = append(paths, p.Path)
				if !strings.Contains(p.Reason, "target.auth") || !strings.Contains(p.Reason, "CICADA_TRIGGER_LITERAL_SECRETS") {
					t.Errorf("problem %+v does not point at target.auth and CICADA_TRIGGER_LITERAL_SECRETS", p)
				}
			}
			if !slices.Equal(paths, tt.wantPaths) {
				t.Errorf("problem paths = %q, want %q", paths, tt.wantPaths)
			}
			if objs := e.objects(t); len(objs) > 0 {
				t.Errorf("a refused plan wrote %v", objs)
			}
			if msgs := e.drain(t, 100*time.Millisecond); len(msgs) > 0 {
				t.Errorf("a refused plan published %d messages", len(msgs))
			}
		})
	}
}

// TestNotSecrets: headers and query parameters that are not credentials,
// and credential headers left empty, pass without the operator's leave.
func TestNotSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	body := secretPlan("http", "http://127.0.0.1:8501/v1/predict?model=m&page_token=n&key=",
		`{"Content-Type": "application/json", "X-Request-Id": "r", "Authorization": ""}`)
	if w := e.do(t, http.MethodPost, "/runs", "application/json", body); w.Code != http.StatusAccepted {
		t.Errorf("POST /runs = %d %s, want 202", w.Code, w.Body)
	}
}

// TestLiteralSecretsAllowed: with the operator's leave the plan is
// accepted and stored as written, and every answer about it is redacted.
func TestLiteralSecretsAllowed(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.LiteralSecrets = true
	cfg.SecretHeaders = []string{"X-Tenant-Token"}
	e := newEnv(t, cfg)
	body := secretPlan("http", "http://127.0.0.1:8501/v1/predict?api_key=PLANTED1&model=m",
		`{"Authorization": "Bearer PLANTED2", "X-Tenant-Token": "PLANTED3", "Accept": "application/json"}`)
	w := e.do(t, http.MethodPost, "/runs", "application/json", body)
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST /runs = %d %s, want 202", w.Code, w.Body)
	}
	id := decode[Accepted](t, w).RunID
	stored := string(e.get(t, runs.PlanPath(id)))
	for _, s := range []string{"PLANTED1", "PLANTED2", "PLANTED3"} {
		if !strings.Contains(stored, s) {
			t.Errorf("plan.json in the bucket lacks %s, which the workers need: %s", s, stored)
		}
	}

	e.put(t, runs.LivePath(id), strings.ReplaceAll(liveJSON("", ""), testRun, id))
	e.clock.Set(t0.Add(15 * time.Second))
	answers := map[string]*struct {
		path, accept string
		want         []string
	}{
		"plan.json": {"/runs/" + id + "/plan.json", "", []string{`"Authorization":"REDACTED"`, `"X-Tenant-Token":"REDACTED"`,
			`api_key=REDACTED\u0026model=REDACTED`, `"Accept":"application/json"`}},
		"status":    {"/runs/" + id, "", []string{`"run_id"`}},
		"live view": {"/runs/" + id, acceptChrome, []string{"Authorization", "REDACTED", "chart-latency"}},
		"live.json": {"/runs/" + id + "/live.json", "", []string{`"slices"`}},
	}
	for name, a := range answers {
		t.Run(name, func(t *testing.T) {
			w := e.do(t, http.MethodGet, a.path, "", "", "Accept", a.accept)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s = %d %s", a.path, w.Code, w.Body)
			}
			got := w.Body.String()
			if strings.Contains(got, "PLANTED") {
				t.Errorf("GET %s holds a secret:\n%s", a.path, got)
			}
			for _, s := range a.want {
				if !strings.Contains(got, s) {
					t.Errorf("GET %s lacks %q:\n%s", a.path, s, got)
				}
			}
			if cl := w.Header().Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(got)) {
				t.Errorf("Content-Length %s, body of %d bytes", cl, len(got))
			}
		})
	}
}

// TestErrorAnswersRedacted: a refusal that quotes the plan's URL does not
// repeat its query values.
func TestErrorAnswersRedacted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	body := secretPlan("http", "ftp://127.0.0.1/x?token=PLANTED", "")
	w := e.do(t, http.MethodPost, "/runs", "application/json", body)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("POST /runs = %d %s, want 400", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "PLANTED") || !strings.Contains(w.Body.String(), "token=REDACTED") {
		t.Errorf("answer %s: want the URL quoted with its query value redacted", w.Body)
	}
}

func TestSecretHeadersConfig(t *testing.T) {
	t.Parallel()
	ok := testConfig()
	ok.SecretHeaders = []string{"X-Token", " X-Other "}
	if err := ok.Check(); err != nil {
		t.Errorf("Check of valid header names: %v", err)
	}
	bad := testConfig()
	bad.SecretHeaders = []string{"X Token", ""}
	err := bad.Check()
	if err == nil || !strings.Contains(err.Error(), `"X Token"`) || !strings.Contains(err.Error(), `""`) {
		t.Errorf("Check of bad header names = %v, want both named", err)
	}
}
