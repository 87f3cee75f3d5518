package trigger

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/runs"
)

// idToken is a JWT with claims as its payload, as Cloud Run passes it on
// (the signature is not looked at).
func idToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(b) + ".c2lnbmF0dXJl"
}

// bearer is the Authorization header of principal's identity token.
func bearer(t *testing.T, email string) []string {
	return []string{"Authorization", "Bearer " + idToken(t, map[string]any{"email": email, "email_verified": true, "sub": "1234"})}
}

// TestCrossSiteRefused replays a web page's requests to a local trigger:
// a form or fetch without preflight (text/plain, form types), and any
// request that changes something from another origin. Nothing is stored.
func TestCrossSiteRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, contentType string
		header                    []string
		code                      int
		want                      string // in the error
	}{
		{"text/plain POST", http.MethodPost, "text/plain", nil, http.StatusUnsupportedMediaType, `Content-Type "text/plain"`},
		{"text/plain POST with charset", http.MethodPost, "text/plain; charset=utf-8", nil, http.StatusUnsupportedMediaType, "application/json or application/yaml"},
		{"form POST", http.MethodPost, "application/x-www-form-urlencoded", nil, http.StatusUnsupportedMediaType, "x-www-form-urlencoded"},
		{"multipart POST", http.MethodPost, "multipart/form-data; boundary=x", nil, http.StatusUnsupportedMediaType, "multipart/form-data"},
		{"POST without a type", http.MethodPost, "", nil, http.StatusUnsupportedMediaType, "no Content-Type"},
		{"POST from another origin", http.MethodPost, "application/json", []string{"Origin", "http://evil.example"}, http.StatusForbidden, `from a page of "http://evil.example"`},
		{"POST from another port of the host", http.MethodPost, "application/json", []string{"Origin", "http://example.com:3000"}, http.StatusForbidden, "cross-site request refused"},
		{"POST from an opaque origin", http.MethodPost, "application/json", []string{"Origin", "null"}, http.StatusForbidden, `"null"`},
		{"POST marked cross-site", http.MethodPost, "application/json", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, "Sec-Fetch-Site: cross-site"},
		{"text/plain POST from another origin", http.MethodPost, "text/plain", []string{"Origin", "https://evil.example"}, http.StatusForbidden, "cross-site"},
		{"same origin", http.MethodPost, "application/json", []string{"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin"}, http.StatusAccepted, ""},
		{"same origin, default port written", http.MethodPost, "application/json", []string{"Origin", "http://EXAMPLE.com:80"}, http.StatusAccepted, ""},
		{"no browser headers (curl, the CLI)", http.MethodPost, "application/yaml", nil, http.StatusAccepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig())
			body := planJSON(1, "")
			w := e.do(t, tt.method, "/runs", tt.contentType, body, tt.header...)
			if w.Code != tt.code {
				t.Fatalf("%s /runs = %d %s, want %d", tt.method, w.Code, w.Body, tt.code)
			}
			if tt.code == http.StatusAccepted {
				return
			}
			if got := decode[errorBody](t, w); !strings.Contains(got.Error, tt.want) {
				t.Errorf("error %q, want it to name %q", got.Error, tt.want)
			}
			if objs := e.objects(t); len(objs) != 0 {
				t.Errorf("objects written for a refused request: %v", objs)
			}
			if msgs := e.drain(t, 100*time.Millisecond); len(msgs) != 0 {
				t.Errorf("messages published for a refused request: %+v", msgs)
			}
		})
	}
}

// TestCrossSiteCancelAndReads: a cross-site DELETE is refused and writes
// no cancel marker; cross-site reads (links followed to the live view)
// still answer, since a page cannot read another origin's answer.
func TestCrossSiteCancelAndReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.putRun(t, testRun, 1)
	cross := []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}
	if w := e.do(t, http.MethodDelete, "/runs/"+testRun, "", "", cross...); w.Code != http.StatusForbidden {
		t.Errorf("cross-site DELETE = %d %s, want 403", w.Code, w.Body)
	}
	if slices.Contains(e.objects(t), runs.CancelPath(testRun)) {
		t.Errorf("a cross-site DELETE wrote %s", runs.CancelPath(testRun))
	}
	if w := e.do(t, http.MethodGet, "/runs/"+testRun, "", "", "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusOK {
		t.Errorf("GET followed from another site = %d %s, want 200", w.Code, w.Body)
	}
}

// TestHost: DNS rebinding. A page whose name resolves to the trigger's
// address sends its own name as Host; the trigger answers 421 to every
// Host but those it is reached by.
func TestHost(t *testing.T) {
	t.Parallel()
	t.Run("default: the listener's address and localhost", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Config{AllowedTargets: []string{"127.0.0.1"}, MaxBody: 1 << 20})
		srv := httptest.NewServer(e.h)
		t.Cleanup(srv.Close)
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		tests := []struct {
			host string
			code int
		}{
			{"127.0.0.1:" + port, http.StatusNotFound}, // answered: no such run
			{"localhost:" + port, http.StatusNotFound},
			{"LOCALHOST.:" + port, http.StatusNotFound},
			{"rebound.evil.example:" + port, http.StatusMisdirectedRequest},
			{"rebound.evil.example", http.StatusMisdirectedRequest},
			{"127.0.0.1", http.StatusMisdirectedRequest}, // port 80, not the listener's
			{"localhost:1", http.StatusMisdirectedRequest},
			{"[::1]:" + port, http.StatusMisdirectedRequest}, // another address than the one listened on
			{"127.0.0.1:" + port + ":1", http.StatusMisdirectedRequest},
		}
		for _, tt := range tests {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/runs/"+testRun, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("GET with Host %s: %v", tt.host, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("GET with Host %q = %d %s, want %d", tt.host, resp.StatusCode, body, tt.code)
			}
			if tt.code == http.StatusMisdirectedRequest && !strings.Contains(string(body), "CICADA_TRIGGER_ALLOWED_HOSTS") {
				t.Errorf("421 body %s does not say how to widen the check", body)
			}
		}
		// A POST through the rebound name stores nothing.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/runs", strings.NewReader(planJSON(1, "")))
		req.Host = "rebound.evil.example:" + port
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("POST through a rebound name = %d, want 421", resp.StatusCode)
		}
		if objs := e.objects(t); len(objs) != 0 {
			t.Errorf("objects written: %v", objs)
		}
	})
	t.Run("configured", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			allowed   []string
			publicURL string
			host      string
			proto     string
			ok        bool
		}{
			{[]string{"trigger.example"}, "", "trigger.example:8080", "", true},
			{[]string{"trigger.example:8443"}, "", "trigger.example:8443", "", true},
			{[]string{"trigger.example:8443"}, "", "trigger.example", "", false},
			{[]string{"trigger.example:443"}, "", "trigger.example", "https", true},
			{[]string{"*.run.app"}, "", "cicada-trigger-abc-ew.a.run.app", "https", true},
			{[]string{"*.run.app"}, "", "run.app", "", false},
			{[]string{"*.run.app"}, "", "evilrun.app", "", false},
			{[]string{"*"}, "", "anything.example:1", "", true},
			{[]string{"::1"}, "", "[::1]:8080", "", true},
			{[]string{"trigger.example"}, "https://public.example/", "public.example", "https", true},
			{nil, "https://public.example", "public.example", "https", true},
			{nil, "https://public.example", "public.example", "", false}, // port 80, not PublicURL's 443
			{nil, "", "example.com", "", false},                          // no listener known, nothing configured
		}
		for _, tt := range tests {
			cfg := testConfig()
			cfg.AllowedHosts, cfg.PublicURL = tt.allowed, tt.publicURL
			e := newEnv(t, cfg)
			req := httptest.NewRequest(http.MethodGet, "/runs/"+testRun, nil)
			req.Host = tt.host
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, req)
			if got := w.Code != http.StatusMisdirectedRequest; got != tt.ok {
				t.Errorf("allowed %q, public %q: Host %q (%s) = %d %s, want answered %v", tt.allowed, tt.publicURL, tt.host, tt.proto, w.Code, w.Body, tt.ok)
			}
		}
	})
	t.Run("bad patterns", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"a.*.b", "host:0", "host:x", "[::1", "**"} {
			cfg := testConfig()
			cfg.AllowedHosts = []string{p}
			if err := cfg.Check(); err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("Check() with ALLOWED_HOSTS %q = %v, want an error naming it", p, err)
			}
			e := newEnv(t, cfg)
			if w := e.do(t, http.MethodGet, "/runs/"+testRun, "", ""); w.Code != http.StatusInternalServerError {
				t.Errorf("handler with ALLOWED_HOSTS %q = %d, want 500", p, w.Code)
			}
		}
	})
}

// trustedConfig is a trigger behind the platform's identity check, with
// one admin.
func trustedConfig() Config {
	cfg := testConfig()
	cfg.TrustPlatformIdentity = true
	cfg.Admins = []string{"serviceAccount:Ops@Example.iam.gserviceaccount.com"}
	return cfg
}

// TestOwnership: on Google Cloud the submitter is recorded, and only it
// and the admins may cancel a run or read its plan.
func TestOwnership(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustedConfig())
	w := e.do(t, http.MethodPost, "/runs", "application/json", planJSON(1, ""), bearer(t, "Alice@example.com")...)
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST by alice = %d %s, want 202", w.Code, w.Body)
	}
	id := decode[Accepted](t, w).RunID
	for _, name := range []string{runs.RunPath(id), runs.ActivePath(id)} {
		run, err := runs.DecodeRun(e.get(t, name))
		if err != nil || run.SubmittedBy != "alice@example.com" {
			t.Errorf("%s: submitted_by %q (%v), want alice@example.com", name, run.SubmittedBy, err)
		}
	}

	bob := bearer(t, "bob@example.com")
	admin := bearer(t, "ops@example.iam.gserviceaccount.com")
	tests := []struct {
		name, method, path string
		header             []string
		code               int
		want               string
	}{
		{"status by another invoker", http.MethodGet, "/runs/" + id, bob, http.StatusOK, `"run_id"`},
		{"plan by another invoker", http.MethodGet, "/runs/" + id + "/plan.json", bob, http.StatusForbidden, "reading the plan of run " + id + " is allowed to the principal that submitted it"},
		{"cancel by another invoker", http.MethodDelete, "/runs/" + id, bob, http.StatusForbidden, "CICADA_TRIGGER_ADMINS"},
		{"cancel without identity", http.MethodDelete, "/runs/" + id, nil, http.StatusUnauthorized, "no identity token in the Authorization header"},
		{"plan by its submitter", http.MethodGet, "/runs/" + id + "/plan.json", bearer(t, "alice@EXAMPLE.com"), http.StatusOK, `"name":"trigger test"`},
		{"plan by an admin", http.MethodGet, "/runs/" + id + "/plan.json", admin, http.StatusOK, `"name":"trigger test"`},
		{"plan of an unknown run", http.MethodGet, "/runs/20261127-040512-ffffff/plan.json", bob, http.StatusNotFound, "not found"},
		{"cancel by an admin", http.MethodDelete, "/runs/" + id, admin, http.StatusAccepted, `"phase": "cancelled"`},
	}
	for _, tt := range tests {
		// In order: the cancels are last.
		before := slices.Contains(e.objects(t), runs.CancelPath(id))
		w := e.do(t, tt.method, tt.path, "", "", tt.header...)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s: %s %s = %d %s, want %d with %q", tt.name, tt.method, tt.path, w.Code, w.Body, tt.code, tt.want)
		}
		after := slices.Contains(e.objects(t), runs.CancelPath(id))
		if tt.code != http.StatusAccepted && after != before {
			t.Errorf("%s: the cancel marker changed on a refusal", tt.name)
		}
	}
	if !slices.Contains(e.objects(t), runs.CancelPath(id)) {
		t.Errorf("the admin's cancel wrote no marker")
	}

	// The submitter may cancel its own run.
	w = e.do(t, http.MethodPost, "/runs", "application/json", planJSON(1, ""), bearer(t, "alice@example.com")...)
	id2 := decode[Accepted](t, w).RunID
	if w := e.do(t, http.MethodDelete, "/runs/"+id2, "", "", bearer(t, "alice@example.com")...); w.Code != http.StatusAccepted {
		t.Errorf("cancel by its submitter = %d %s, want 202", w.Code, w.Body)
	}
}

// TestOwnershipStoredRun: a run with no submitter (written before the
// trigger recorded one, or by a local trigger) is the admins' alone.
func TestOwnershipStoredRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustedConfig())
	e.putRun(t, testRun, 1)
	if w := e.do(t, http.MethodDelete, "/runs/"+testRun, "", "", bearer(t, "bob@example.com")...); w.Code != http.StatusForbidden {
		t.Errorf("cancel of a run without submitter = %d %s, want 403", w.Code, w.Body)
	}
	if w := e.do(t, http.MethodDelete, "/runs/"+testRun, "", "", bearer(t, "ops@example.iam.gserviceaccount.com")...); w.Code != http.StatusAccepted {
		t.Errorf("cancel by an admin = %d %s, want 202", w.Code, w.Body)
	}
}

// TestLocalUserMayDoAll: without a platform identity there is one user,
// who may do everything; nothing is recorded as the submitter, and a
// token sent anyway is not believed.
func TestLocalUserMayDoAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	w := e.do(t, http.MethodPost, "/runs", "application/json", planJSON(1, ""), bearer(t, "mallory@example.com")...)
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", w.Code, w.Body)
	}
	id := decode[Accepted](t, w).RunID
	if run, err := runs.DecodeRun(e.get(t, runs.RunPath(id))); err != nil || run.SubmittedBy != "" {
		t.Errorf("run.json submitted_by %q (%v), want none: a local trigger verifies no token", run.SubmittedBy, err)
	}
	if w := e.do(t, http.MethodGet, "/runs/"+id+"/plan.json", "", ""); w.Code != http.StatusOK {
		t.Errorf("plan.json = %d, want 200", w.Code)
	}
	if w := e.do(t, http.MethodDelete, "/runs/"+id, "", ""); w.Code != http.StatusAccepted {
		t.Errorf("DELETE = %d, want 202", w.Code)
	}
}

// TestCallerIdentity reads the principal from the token the platform
// verified.
func TestCallerIdentity(t *testing.T) {
	t.Parallel()
	tok := func(claims map[string]any) string { return "Bearer " + idToken(t, claims) }
	tests := []struct {
		name    string
		header  map[string]string
		want    string
		wantErr string
	}{
		{"e-mail", map[string]string{"Authorization": tok(map[string]any{"email": "A@x.com", "sub": "1"})}, "a@x.com", ""},
		{"verified e-mail", map[string]string{"Authorization": tok(map[string]any{"email": "a@x.com", "email_verified": true, "sub": "1"})}, "a@x.com", ""},
		{"unverified e-mail falls back to the subject", map[string]string{"Authorization": tok(map[string]any{"email": "a@x.com", "email_verified": false, "sub": "1"})}, "1", ""},
		{"subject only", map[string]string{"Authorization": tok(map[string]any{"sub": "1077"})}, "1077", ""},
		{"X-Serverless-Authorization wins", map[string]string{
			"Authorization":              tok(map[string]any{"email": "app-level@x.com"}),
			"X-Serverless-Authorization": tok(map[string]any{"email": "caller@x.com"}),
		}, "caller@x.com", ""},
		{"lower-case scheme", map[string]string{"Authorization": "bearer " + idToken(t, map[string]any{"email": "a@x.com"})}, "a@x.com", ""},
		{"padded payload", map[string]string{"Authorization": "Bearer e30=." + base64.URLEncoding.EncodeToString([]byte(`{"email":"a@x.com"}`)) + ".s"}, "a@x.com", ""},
		{"no header", nil, "", "no identity token in the Authorization header"},
		{"basic auth", map[string]string{"Authorization": "Basic YTpi"}, "", "no identity token in the Authorization header"},
		{"opaque token", map[string]string{"Authorization": "Bearer ya29.opaque"}, "", "identity token payload"},
		{"not a JWT", map[string]string{"Authorization": "Bearer abc"}, "", "not a JWT"},
		{"no principal", map[string]string{"Authorization": tok(map[string]any{"aud": "x"})}, "", "no e-mail and no subject"},
	}
	a := Access{TrustPlatformIdentity: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/runs", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			got, err := a.callerOf(r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || KindOf(err) != KindUnauthenticated {
					t.Errorf("callerOf = %q, %v; want a KindUnauthenticated error naming %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("callerOf = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("401 on POST", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, trustedConfig())
		w := e.do(t, http.MethodPost, "/runs", "application/json", planJSON(1, ""))
		if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("POST without identity = %d %v %s, want 401 with WWW-Authenticate: Bearer", w.Code, w.Header(), w.Body)
		}
		if objs := e.objects(t); len(objs) != 0 {
			t.Errorf("objects written: %v", objs)
		}
	})
}

// TestAccessCheck: configurations that cannot work are refused at start.
func TestAccessCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		access  Access
		wantErr string
	}{
		{"valid", Access{Admins: []string{"user:a@x.com", "b@x.com", "serviceAccount:c@p.iam.gserviceaccount.com"}, MaxActiveRuns: 3}, ""},
		{"a group cannot be checked", Access{Admins: []string{"group:ops@x.com"}}, `"group:ops@x.com"`},
		{"nor a domain", Access{Admins: []string{"domain:x.com"}}, `"domain:x.com"`},
		{"negative limit", Access{MaxActiveRunsPerCaller: -1}, "MAX_ACTIVE_RUNS_PER_CALLER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.Access = tt.access
			err := cfg.Check()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Check() = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestActiveRunsLimit: runs at once are limited in all and per submitter;
// a run counts until its end; an Idempotency-Key's replay is not a new
// run.
func TestActiveRunsLimit(t *testing.T) {
	t.Parallel()
	post := func(t *testing.T, e *env, who string, header ...string) *httptest.ResponseRecorder {
		t.Helper()
		if who != "" {
			header = append(header, bearer(t, who)...)
		}
		return e.do(t, http.MethodPost, "/runs", "application/json", planJSON(1, ""), header...)
	}
	t.Run("in all", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig()
		cfg.MaxActiveRuns = 2
		e := newEnv(t, cfg)
		for i := range 2 {
			if w := post(t, e, "", "Idempotency-Key", fmt.Sprint("k", i)); w.Code != http.StatusAccepted {
				t.Fatalf("POST %d = %d %s", i, w.Code, w.Body)
			}
		}
		before := e.objects(t)
		w := post(t, e, "", "Idempotency-Key", "k-over")
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("third POST = %d %s, want 429", w.Code, w.Body)
		}
		got := decode[errorBody](t, w).Error
		for _, s := range []string{"2 runs are scheduled or running", "limit is 2", "CICADA_TRIGGER_MAX_ACTIVE_RUNS"} {
			if !strings.Contains(got, s) {
				t.Errorf("429 error %q does not say %q", got, s)
			}
		}
		// The runs end 20 s after t0 (10 s lead, 10 s of load).
		if ra := w.Header().Get("Retry-After"); ra != "20" {
			t.Errorf("Retry-After = %q, want 20 (when the first run ends, rounded up)", ra)
		}
		if after := e.objects(t); !slices.Equal(after, before) {
			t.Errorf("a refused run left objects: %v, before %v", after, before)
		}
		// A retry of an accepted post is answered, not refused.
		if w := post(t, e, "", "Idempotency-Key", "k0"); w.Code != http.StatusOK {
			t.Errorf("replay at the limit = %d %s, want 200", w.Code, w.Body)
		}
		// Once they have ended (their reports may still be due), there is room.
		e.clock.Set(t0.Add(21 * time.Second))
		if w := post(t, e, ""); w.Code != http.StatusAccepted {
			t.Errorf("POST after the runs ended = %d %s, want 202", w.Code, w.Body)
		}
	})
	t.Run("per submitter", func(t *testing.T) {
		t.Parallel()
		cfg := trustedConfig()
		cfg.MaxActiveRunsPerCaller = 1
		e := newEnv(t, cfg)
		if w := post(t, e, "alice@example.com"); w.Code != http.StatusAccepted {
			t.Fatalf("alice's first POST = %d %s", w.Code, w.Body)
		}
		w := post(t, e, "Alice@Example.com")
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("alice's second POST = %d %s, want 429", w.Code, w.Body)
		}
		got := decode[errorBody](t, w).Error
		for _, s := range []string{"alice@example.com has 1 runs", "limit is 1 per submitter", "CICADA_TRIGGER_MAX_ACTIVE_RUNS_PER_CALLER"} {
			if !strings.Contains(got, s) {
				t.Errorf("429 error %q does not say %q", got, s)
			}
		}
		if w := post(t, e, "bob@example.com"); w.Code != http.StatusAccepted {
			t.Errorf("bob's POST = %d %s, want 202", w.Code, w.Body)
		}
	})
	t.Run("concurrent posts take one place each", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig()
		cfg.MaxActiveRuns = 3
		e := newEnv(t, cfg)
		codes := make(chan int, 8)
		for range 8 {
			go func() {
				req := httptest.NewRequest(http.MethodPost, "/runs", strings.NewReader(planJSON(1, "")))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, req)
				codes <- w.Code
			}()
		}
		accepted := 0
		for range 8 {
			switch c := <-codes; c {
			case http.StatusAccepted:
				accepted++
			case http.StatusTooManyRequests:
			default:
				t.Errorf("concurrent POST = %d", c)
			}
		}
		if accepted != 3 {
			t.Errorf("%d of 8 concurrent posts accepted, want 3 (the limit)", accepted)
		}
	})
}

// TestLiveViewRunsNoScript: the live view has no script, and its policy
// says so.
func TestLiveViewRunsNoScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.putRun(t, testRun, 1)
	w := e.do(t, http.MethodGet, "/runs/"+testRun, "", "", "Accept", "text/html")
	if w.Code != http.StatusOK {
		t.Fatalf("GET live view = %d %s", w.Code, w.Body)
	}
	csp := w.Header().Get("Content-Security-Policy")
	var script string
	for d := range strings.SplitSeq(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "script-src" {
			script = strings.Join(f[1:], " ")
		}
	}
	if script != "'none'" {
		t.Errorf("Content-Security-Policy %q: script-src %q, want 'none'", csp, script)
	}
	if strings.Contains(strings.ToLower(w.Body.String()), "<script") {
		t.Errorf("live view has a script")
	}
}
