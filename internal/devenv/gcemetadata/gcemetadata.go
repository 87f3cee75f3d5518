// Package gcemetadata is a stand-in for the Compute Engine metadata server,
// for tests and local runs: an HTTP server on 127.0.0.1 that answers the
// paths the Google auth libraries ask for an identity's tokens
// (instance/service-accounts/default/token and .../identity) with tokens of
// a chosen lifetime, and remembers each token it issued so that a test
// target can tell a current token from an expired or unknown one. Point
// the libraries at it with GCE_METADATA_HOST=<Server.Host>.
package gcemetadata

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Server issues tokens.
type Server struct {
	// Host is host:port, the value for GCE_METADATA_HOST.
	Host string

	srv      *httptest.Server
	lifetime time.Duration

	mu     sync.Mutex
	n      int
	issued map[string]time.Time // token → expiry
	fail   string               // non-empty: refuse every token with this message
	delay  time.Duration        // before answering a token request
	asked  []string             // the scopes or audience of each request, in order
}

// Start serves tokens that expire lifetime after they are issued (whole
// seconds, as the metadata server counts them).
func Start(lifetime time.Duration) *Server {
	s := &Server{lifetime: lifetime.Truncate(time.Second), issued: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /computeMetadata/v1/instance/service-accounts/default/token", s.token)
	mux.HandleFunc("GET /computeMetadata/v1/instance/service-accounts/default/identity", s.identity)
	s.srv = httptest.NewServer(flavor(mux))
	s.Host = strings.TrimPrefix(s.srv.URL, "http://")
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Fail makes every later token request fail with 403 and msg, as the
// metadata server answers for an instance without a service account; ""
// serves tokens again.
func (s *Server) Fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = msg
}

// SetDelay makes every later token request wait d before it is answered:
// a slow metadata server, for showing that nobody waits for a refresh.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Check tells whether token was issued by s and is not expired at t.
func (s *Server) Check(token string, t time.Time) (known, current bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.issued[token]
	return ok, ok && t.Before(exp)
}

// Issued is how many tokens were issued.
func (s *Server) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Asked returns the scopes (access tokens) or audience (ID tokens) of each
// request so far, in order.
func (s *Server) Asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// flavor answers only requests that carry Metadata-Flavor: Google, and
// marks every answer with it, as the real server does.
func flavor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Metadata-Flavor", "Google")
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// issue records a new token under the lock and returns its serial number
// and expiry; ok is false when s is set to fail.
func (s *Server) issue(w http.ResponseWriter, what string) (n int, exp time.Time, ok bool) {
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	time.Sleep(delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, what)
	if s.fail != "" {
		http.Error(w, s.fail, http.StatusForbidden)
		return 0, time.Time{}, false
	}
	s.n++
	// Whole seconds, like the exp claim and expires_in.
	return s.n, time.Now().Add(s.lifetime).Truncate(time.Second), true
}

func (s *Server) remember(token string, exp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued[token] = exp
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	n, exp, ok := s.issue(w, r.URL.Query().Get("scopes"))
	if !ok {
		return
	}
	tok := fmt.Sprintf("ya29.stand-in-%d", n)
	s.remember(tok, exp)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"expires_in":   int(time.Until(exp) / time.Second), // rounded down: never later than exp
		"token_type":   "Bearer",
	})
}

// identity issues an unsigned JWT with the claims a Google ID token has;
// the client reads its exp, nobody here checks its signature.
func (s *Server) identity(w http.ResponseWriter, r *http.Request) {
	aud := r.URL.Query().Get("audience")
	n, exp, ok := s.issue(w, aud)
	if !ok {
		return
	}
	if aud == "" {
		http.Error(w, "non-empty audience parameter required", http.StatusBadRequest)
		return
	}
	enc := base64.RawURLEncoding
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "stand-in"})
	claims, _ := json.Marshal(map[string]any{
		"iss": "https://accounts.google.com", "aud": aud, "sub": "1000", "azp": "1000",
		"email": "worker@stand-in.iam.gserviceaccount.com", "iat": exp.Add(-s.lifetime).Unix(), "exp": exp.Unix(),
		"jti": n,
	})
	tok := enc.EncodeToString(head) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte("unsigned"))
	s.remember(tok, exp)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(tok))
}

// Audit tallies the Authorization values a test target receives, each
// judged at its arrival by the server that issued the token.
type Audit struct {
	s *Server

	mu       sync.Mutex
	counts   Counts
	distinct map[string]bool
}

// Counts are an Audit's tallies.
type Counts struct {
	OK       int // a current token of this server
	Expired  int // one of its tokens, past its expiry
	Unknown  int // a bearer token it never issued
	Missing  int // no bearer token at all
	Distinct int // different tokens seen
}

// NewAudit starts a tally of the tokens of s.
func (s *Server) NewAudit() *Audit { return &Audit{s: s, distinct: map[string]bool{}} }

// Check judges one request's Authorization value now, and reports whether
// it was a current token.
func (a *Audit) Check(authorization string) bool {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		a.counts.Missing++
		return false
	}
	if !a.distinct[tok] {
		a.distinct[tok] = true
		a.counts.Distinct++
	}
	switch known, current := a.s.Check(tok, now); {
	case !known:
		a.counts.Unknown++
	case !current:
		a.counts.Expired++
	default:
		a.counts.OK++
		return true
	}
	return false
}

// Counts returns the tallies so far.
func (a *Audit) Counts() Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts
}
