package plan

import (
	"fmt"
	"reflect"
	"testing"
)

// authJSON is minimalHTTP in JSON, with target.auth set to %s.
const authJSON = `{"name": "m", "data": {"texts": ["hello"]},
	"load": {"model": "open", "stages": [{"duration": "10s", "rate": 5}]},
	"target": {"protocol": "http", "url": "http://127.0.0.1:8501/v1/predict", "auth": %s}}`

func TestParseAuth(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml, json string
		want             Auth
		kind, header     string
	}{
		{
			name: "id token",
			yaml: "google_id_token: {audience: https://svc-abc.a.run.app}",
			json: `{"google_id_token": {"audience": "https://svc-abc.a.run.app"}}`,
			want: Auth{GoogleIDToken: &GoogleIDToken{Audience: "https://svc-abc.a.run.app"}},
			kind: AuthGoogleIDToken, header: "Authorization",
		},
		{
			name: "access token, default scope",
			yaml: "google_access_token: {}",
			json: `{"google_access_token": {}}`,
			want: Auth{GoogleAccessToken: &GoogleAccessToken{}},
			kind: AuthGoogleAccessToken, header: "Authorization",
		},
		{
			name: "access token, scopes",
			yaml: "google_access_token: {scopes: [openid, https://www.googleapis.com/auth/userinfo.email]}",
			json: `{"google_access_token": {"scopes": ["openid", "https://www.googleapis.com/auth/userinfo.email"]}}`,
			want: Auth{GoogleAccessToken: &GoogleAccessToken{Scopes: []string{"openid", "https://www.googleapis.com/auth/userinfo.email"}}},
			kind: AuthGoogleAccessToken, header: "Authorization",
		},
		{
			name: "secret with header and format",
			yaml: "secret: {name: projects/p/secrets/api-key/versions/latest, header: X-Api-Key, format: '{{.}}'}",
			json: `{"secret": {"name": "projects/p/secrets/api-key/versions/latest", "header": "X-Api-Key", "format": "{{.}}"}}`,
			want: Auth{Secret: &SecretAuth{Name: "projects/p/secrets/api-key/versions/latest", Header: "X-Api-Key", Format: "{{.}}"}},
			kind: AuthSecret, header: "X-Api-Key",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			y := mustParse(t, minimalHTTP+"\n  auth: {"+tt.yaml+"}", "yaml")
			j := mustParse(t, fmt.Sprintf(authJSON, tt.json), "json")
			for format, p := range map[string]*Plan{"yaml": y, "json": j} {
				if got := p.Target.Auth; got == nil || !reflect.DeepEqual(*got, tt.want) {
					t.Errorf("%s: target.auth = %+v, want %+v", format, got, tt.want)
					continue
				}
				if k := p.Target.Auth.Kind(); k != tt.kind {
					t.Errorf("%s: Kind() = %q, want %q", format, k, tt.kind)
				}
				if h := p.Target.Auth.HeaderName(); h != tt.header {
					t.Errorf("%s: HeaderName() = %q, want %q", format, h, tt.header)
				}
			}
		})
	}
}

func TestAuthDefaults(t *testing.T) {
	t.Parallel()
	if got := (&GoogleAccessToken{}).ScopeList(); !reflect.DeepEqual(got, []string{"https://www.googleapis.com/auth/cloud-platform"}) {
		t.Errorf("default scopes = %v", got)
	}
	for _, tt := range []struct {
		format, want string
	}{
		{"", "Bearer s3cr3t"},
		{"{{.}}", "s3cr3t"},
		{"Key {{.}}; again {{.}}", "Key s3cr3t; again s3cr3t"},
		{"Token {{.Text}}{{.}}", "Token {{.Text}}s3cr3t"}, // refused by validation, never run as a template
	} {
		if got := (&SecretAuth{Format: tt.format}).Value("s3cr3t"); got != tt.want {
			t.Errorf("format %q: Value = %q, want %q", tt.format, got, tt.want)
		}
	}
}

func TestValidateAuth(t *testing.T) {
	t.Parallel()
	withAuth := func(base func() *Plan, a Auth) func() *Plan {
		return func() *Plan { p := base(); p.Target.Auth = &a; return p }
	}
	secret := func(s SecretAuth) Auth {
		if s.Name == "" {
			s.Name = "projects/p/secrets/key/versions/3"
		}
		return Auth{Secret: &s}
	}
	for _, tt := range []struct {
		name         string
		p            func() *Plan
		path, reason string // path "" means valid
	}{
		{"id token", withAuth(validHTTP, Auth{GoogleIDToken: &GoogleIDToken{Audience: "https://svc.a.run.app"}}), "", ""},
		{"id token for IAP client id", withAuth(validGRPC, Auth{GoogleIDToken: &GoogleIDToken{Audience: "123-abc.apps.googleusercontent.com"}}), "", ""},
		{"access token", withAuth(validGRPC, Auth{GoogleAccessToken: &GoogleAccessToken{}}), "", ""},
		{"secret", withAuth(validHTTP, secret(SecretAuth{Header: "X-Goog-Api-Key", Format: "{{.}}"})), "", ""},
		{"secret grpc", withAuth(validGRPC, secret(SecretAuth{Header: "x-api-key"})), "", ""},
		{"none", withAuth(validHTTP, Auth{}), "target.auth", "set exactly one of google_id_token, google_access_token or secret"},
		{"explicitly none", withAuth(validHTTP, Auth{None: true}), "", ""},
		{"none with a kind", withAuth(validHTTP, Auth{None: true, GoogleAccessToken: &GoogleAccessToken{}}), "target.auth.none", "cannot go with"},
		{"two", withAuth(validHTTP, Auth{GoogleAccessToken: &GoogleAccessToken{}, Secret: &SecretAuth{Name: "projects/p/secrets/k/versions/1"}}), "target.auth", "not 2"},
		{"audience required", withAuth(validHTTP, Auth{GoogleIDToken: &GoogleIDToken{}}), "target.auth.google_id_token.audience", "required"},
		{"audience space", withAuth(validHTTP, Auth{GoogleIDToken: &GoogleIDToken{Audience: "a b"}}), "target.auth.google_id_token.audience", "spaces"},
		{"empty scope", withAuth(validHTTP, Auth{GoogleAccessToken: &GoogleAccessToken{Scopes: []string{"openid", ""}}}), "target.auth.google_access_token.scopes[1]", "want a scope"},
		{"scope with comma", withAuth(validHTTP, Auth{GoogleAccessToken: &GoogleAccessToken{Scopes: []string{"a,b"}}}), "target.auth.google_access_token.scopes[0]", `got "a,b"`},
		{"secret name required", withAuth(validHTTP, Auth{Secret: &SecretAuth{}}), "target.auth.secret.name", "must be projects/*/secrets/*/versions/*"},
		{"secret name without version", withAuth(validHTTP, secret(SecretAuth{Name: "projects/p/secrets/key"})), "target.auth.secret.name", "must be projects/*/secrets/*/versions/*"},
		{"secret name empty segment", withAuth(validHTTP, secret(SecretAuth{Name: "projects//secrets/key/versions/1"})), "target.auth.secret.name", "must be projects/*/secrets/*/versions/*"},
		{"secret name extra segment", withAuth(validHTTP, secret(SecretAuth{Name: "projects/p/secrets/key/versions/1/x"})), "target.auth.secret.name", "must be projects/*/secrets/*/versions/*"},
		{"secret header invalid", withAuth(validHTTP, secret(SecretAuth{Header: "X Key"})), "target.auth.secret.header", "invalid header name"},
		{"secret header reserved", withAuth(validHTTP, secret(SecretAuth{Header: "host"})), "target.auth.secret.header", "Host is set by cicada"},
		{"secret grpc reserved key", withAuth(validGRPC, secret(SecretAuth{Header: "grpc-timeout"})), "target.auth.secret.header", "gRPC metadata key"},
		{"secret grpc binary key", withAuth(validGRPC, secret(SecretAuth{Header: "key-bin"})), "target.auth.secret.header", "gRPC metadata key"},
		{"secret grpc odd key", withAuth(validGRPC, secret(SecretAuth{Header: "x!key"})), "target.auth.secret.header", "gRPC metadata key"},
		{"format without placeholder", withAuth(validHTTP, secret(SecretAuth{Format: "Bearer"})), "target.auth.secret.format", "must contain {{.}}"},
		{"format as template", withAuth(validHTTP, secret(SecretAuth{Format: "{{.}} {{printf .}}"})), "target.auth.secret.format", "only {{.}} is substituted"},
		{"format line break", withAuth(validHTTP, secret(SecretAuth{Format: "{{.}}\r\nX-Evil: 1"})), "target.auth.secret.format", "CR, LF or NUL"},
		{"header also in target.headers", func() *Plan {
			p := withAuth(validHTTP, Auth{GoogleAccessToken: &GoogleAccessToken{}})()
			p.Target.Headers["authorization"] = "Bearer pasted"
			return p
		}, `target.headers["authorization"]`, "set by target.auth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p().Validate()
			if tt.path == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %s: %s", tt.path, tt.reason)
			}
			if probs := problemsOf(t, err); !hasProblem(probs, tt.path, tt.reason) {
				t.Errorf("got %v\nwant %s: ...%s...", err, tt.path, tt.reason)
			}
		})
	}
}

func TestParseAuthStrict(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, auth   string
		path, reason string
	}{
		{"unknown kind", "{api_key: x}", "target.auth.api_key", "unknown field"},
		{"unknown id token field", "{google_id_token: {audience: a, aud: b}}", "target.auth.google_id_token.aud", "unknown field"},
		{"unknown secret field", "{secret: {name: projects/p/secrets/s/versions/1, value: hunter2}}", "target.auth.secret.value", "unknown field"},
		{"scopes as string", "{google_access_token: {scopes: openid}}", "target.auth.google_access_token.scopes", "want a list"},
		{"null kind", "{google_access_token: null}", "target.auth", "google_access_token: {} for the default scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(minimalHTTP+"\n  auth: "+tt.auth), "yaml")
			if probs := problemsOf(t, err); !hasProblem(probs, tt.path, tt.reason) {
				t.Errorf("got problems %v, want %q containing %q", probs, tt.path, tt.reason)
			}
		})
	}
}

func TestCredential(t *testing.T) {
	t.Parallel()
	vertex := func(auth *Auth) *Target {
		tg := &Target{Protocol: ProtocolHTTP, URL: "http://127.0.0.1:8501", Auth: auth,
			Preset: &Preset{Name: PresetVertex, Project: "p", Location: "l", Endpoint: "e"}}
		p := &Plan{Target: *tg}
		p.ApplyDefaults()
		return &p.Target
	}
	for _, tt := range []struct {
		name string
		t    *Target
		want string // Kind of Credential(), "" for none
	}{
		{"no auth", &Target{}, ""},
		{"vertex preset default", vertex(nil), AuthGoogleAccessToken},
		{"vertex preset, auth none", vertex(&Auth{None: true}), ""},
		{"secret", &Target{Auth: &Auth{Secret: &SecretAuth{Name: "projects/p/secrets/k/versions/1"}}}, AuthSecret},
	} {
		if got := tt.t.Credential().Kind(); got != tt.want {
			t.Errorf("%s: Credential().Kind() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
