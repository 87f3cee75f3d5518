package plan

import (
	"fmt"
	"strings"
	"unicode"
)

// Auth is how the worker authenticates its requests to the target: exactly
// one of its fields. The plan holds only references; the worker mints or
// reads the credential itself at shard start and keeps it current, so no
// secret value is ever stored with a run.
type Auth struct {
	// GoogleIDToken sends "Authorization: Bearer <ID token>" minted for
	// an audience from the worker's own identity (Application Default
	// Credentials): Cloud Run, Cloud Functions, IAP.
	GoogleIDToken *GoogleIDToken `json:"google_id_token,omitempty" yaml:"google_id_token,omitempty"`
	// GoogleAccessToken sends "Authorization: Bearer <OAuth access
	// token>" for scopes, from the worker's own identity: Vertex AI and
	// other Google APIs.
	GoogleAccessToken *GoogleAccessToken `json:"google_access_token,omitempty" yaml:"google_access_token,omitempty"`
	// Secret sends a value read from Secret Manager: an API key, a static
	// bearer token.
	Secret *SecretAuth `json:"secret,omitempty" yaml:"secret,omitempty"`
	// None sends no credential: it turns off a preset's default (vertex
	// adds google_access_token), for a stand-in endpoint that needs none.
	None bool `json:"none,omitempty" yaml:"none,omitempty"`
}

// Credential is the credential the requests carry: Auth, or nil when the
// plan has none or says none.
func (t *Target) Credential() *Auth {
	if t.Auth == nil || t.Auth.None {
		return nil
	}
	return t.Auth
}

// GoogleIDToken asks for a Google-signed ID token.
type GoogleIDToken struct {
	// Audience is the token's aud claim: a Cloud Run or Cloud Functions
	// URL, or an IAP OAuth client ID.
	Audience string `json:"audience" yaml:"audience"`
}

// GoogleAccessToken asks for an OAuth 2.0 access token.
type GoogleAccessToken struct {
	// Scopes default to DefaultAccessTokenScope.
	Scopes []string `json:"scopes,omitempty" yaml:"scopes,omitempty"`
}

// SecretAuth sends a Secret Manager secret version as a header.
type SecretAuth struct {
	// Name is the secret version, projects/P/secrets/S/versions/V (V a
	// number or "latest").
	Name string `json:"name" yaml:"name"`
	// Header is the header (gRPC metadata key) to send; default
	// DefaultAuthHeader.
	Header string `json:"header,omitempty" yaml:"header,omitempty"`
	// Format is the header's value with SecretPlaceholder where the
	// secret goes; default DefaultSecretFormat. Only the placeholder is
	// substituted: the format is not a template program.
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
}

// Defaults of target.auth, applied by the accessors below rather than
// written into the plan.
const (
	DefaultAccessTokenScope = "https://www.googleapis.com/auth/cloud-platform"
	DefaultAuthHeader       = "Authorization"
	SecretPlaceholder       = "{{.}}"
	DefaultSecretFormat     = "Bearer " + SecretPlaceholder
)

// Auth kinds, as returned by [Auth.Kind] and written in the plan.
const (
	AuthGoogleIDToken     = "google_id_token"
	AuthGoogleAccessToken = "google_access_token"
	AuthSecret            = "secret"
)

// Kind names the one kind of credential set ("" when none or several are).
func (a *Auth) Kind() string {
	if a == nil {
		return ""
	}
	var kinds []string
	if a.GoogleIDToken != nil {
		kinds = append(kinds, AuthGoogleIDToken)
	}
	if a.GoogleAccessToken != nil {
		kinds = append(kinds, AuthGoogleAccessToken)
	}
	if a.Secret != nil {
		kinds = append(kinds, AuthSecret)
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// HeaderName is the header the credential goes in: Authorization for
// Google tokens, the secret's header (default Authorization) for a secret.
func (a *Auth) HeaderName() string {
	if a != nil && a.Secret != nil && a.Secret.Header != "" {
		return a.Secret.Header
	}
	return DefaultAuthHeader
}

// ScopeList returns the scopes asked for, the default when none are set.
func (g *GoogleAccessToken) ScopeList() []string {
	if len(g.Scopes) == 0 {
		return []string{DefaultAccessTokenScope}
	}
	return g.Scopes
}

// Value returns the header value for a secret: the format with every
// placeholder replaced by secret.
func (s *SecretAuth) Value(secret string) string {
	f := s.Format
	if f == "" {
		f = DefaultSecretFormat
	}
	return strings.ReplaceAll(f, SecretPlaceholder, secret)
}

// reservedHeaders are set by cicada or by the transport; a credential in
// one of them would be overwritten or break the framing.
var reservedHeaders = []string{"Host", "Content-Length", "Connection", "Transfer-Encoding", "Content-Type", "TE", "User-Agent"}

// auth checks target.auth: exactly one kind, each with its fields, and a
// header that does not collide with target.headers.
func (c *checker) auth(t *Target) {
	a := t.Auth
	if a == nil {
		return
	}
	const at = "target.auth"
	n := 0
	for _, set := range []bool{a.GoogleIDToken != nil, a.GoogleAccessToken != nil, a.Secret != nil} {
		if set {
			n++
		}
	}
	switch {
	case a.None && n > 0:
		c.add(at+".none", "none sends no credential: it cannot go with google_id_token, google_access_token or secret")
		return
	case a.None:
		return
	case n == 0:
		c.add(at, "set exactly one of google_id_token, google_access_token or secret (google_access_token: {} for the default scope)")
		return
	case n > 1:
		c.add(at, "set exactly one of google_id_token, google_access_token or secret, not %d", n)
		return
	}
	switch {
	case a.GoogleIDToken != nil:
		switch aud := a.GoogleIDToken.Audience; {
		case aud == "":
			c.add(at+".google_id_token.audience", "required (the Cloud Run URL, or the IAP OAuth client ID)")
		case strings.ContainsFunc(aud, unicode.IsSpace) || strings.ContainsFunc(aud, unicode.IsControl):
			c.add(at+".google_id_token.audience", "must not contain spaces or control characters")
		}
	case a.GoogleAccessToken != nil:
		for i, s := range a.GoogleAccessToken.Scopes {
			// The library joins scopes with commas for the metadata server.
			if s == "" || strings.ContainsFunc(s, unicode.IsSpace) || strings.ContainsFunc(s, unicode.IsControl) || strings.Contains(s, ",") {
				c.add(fmt.Sprintf("%s.google_access_token.scopes[%d]", at, i), "want a scope such as %q, got %q", DefaultAccessTokenScope, s)
			}
		}
	case a.Secret != nil:
		c.secretAuth(at+".secret", a.Secret, t.Protocol)
	}
	name := a.HeaderName()
	for k := range t.Headers {
		if strings.EqualFold(k, name) {
			c.add(mapPath("target.headers", k), "set by target.auth: remove it from target.headers")
		}
	}
}

func (c *checker) secretAuth(at string, s *SecretAuth, protocol string) {
	if !validSecretVersion(s.Name) {
		c.add(at+".name", "must be projects/*/secrets/*/versions/*, got %q", s.Name)
	}
	if s.Header != "" {
		switch {
		case !validToken(s.Header):
			c.add(at+".header", "invalid header name %q", s.Header)
		case protocol == ProtocolGRPC && !validMetadataKey(s.Header):
			c.add(at+".header", "want a gRPC metadata key (letters, digits, - _ .; not grpc-*, not *-bin), got %q", s.Header)
		default:
			for _, r := range reservedHeaders {
				if strings.EqualFold(s.Header, r) {
					c.add(at+".header", "%s is set by cicada", r)
				}
			}
		}
	}
	if f := s.Format; f != "" {
		switch {
		case !strings.Contains(f, SecretPlaceholder):
			c.add(at+".format", "must contain %s where the secret goes, got %q", SecretPlaceholder, f)
		case strings.Contains(strings.ReplaceAll(f, SecretPlaceholder, ""), "{{"):
			c.add(at+".format", "only %s is substituted (the format is not a template), got %q", SecretPlaceholder, f)
		case strings.ContainsAny(f, "\r\n\x00"):
			c.add(at+".format", "must not contain CR, LF or NUL")
		}
	}
}

// validSecretVersion reports whether name is projects/P/secrets/S/versions/V
// with no segment empty or holding a space.
func validSecretVersion(name string) bool {
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "secrets" || parts[4] != "versions" {
		return false
	}
	for _, p := range []string{parts[1], parts[3], parts[5]} {
		if p == "" || strings.ContainsFunc(p, unicode.IsSpace) || strings.ContainsFunc(p, unicode.IsControl) {
			return false
		}
	}
	return true
}

// validMetadataKey reports whether k, lowercased, is a gRPC ASCII metadata
// key that is not reserved (grpc-*) or binary (*-bin).
func validMetadataKey(k string) bool {
	k = strings.ToLower(k)
	if k == "" || strings.HasPrefix(k, "grpc-") || strings.HasSuffix(k, "-bin") {
		return false
	}
	for i := 0; i < len(k); i++ {
		if b := k[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}
