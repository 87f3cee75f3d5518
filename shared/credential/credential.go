// Package credential obtains what a plan's target.auth asks for and keeps
// it current while a shard runs: a Google ID token or OAuth access token
// minted from the worker's own identity (Application Default Credentials:
// Workload Identity on GKE, the metadata server, a local ADC file), or a
// value read from Secret Manager.
//
// Tokens come from the Google libraries (cloud.google.com/go/auth and its
// idtoken package); this package only decides when to ask for the next
// one. A [Header] holds the current header value in an atomic pointer, so
// that senders read it without a lock, and refreshes it on its own
// goroutine before it expires (see refreshAt), handing each new value to
// its subscribers: the load engine rebuilds its pre-serialized requests
// once per token, never per request.
//
// Values never leave the process: errors name the credential (the kind,
// the secret's resource name), never its value.
package credential

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/idtoken"

	"github.com/cicadaload/cicada/shared/plan"
)

// FetchTimeout bounds one attempt to obtain a credential: the first, at
// shard start, and each refresh.
const FetchTimeout = 30 * time.Second

// Options configure Open.
type Options struct {
	// ReadSecret reads a Secret Manager secret version; nil means
	// [ReadSecret].
	ReadSecret func(ctx context.Context, name string) ([]byte, error)
	// OnError is told of each refresh that failed; the current value stays
	// in use meanwhile and the refresh is retried. Nil ignores them.
	OnError func(error)
}

// Header is one request header whose value is a credential, kept current.
// Its methods are safe for concurrent use.
type Header struct {
	name string
	cur  atomic.Pointer[current]

	mu   sync.Mutex // orders set and Subscribe
	subs []func(string)

	cancel context.CancelFunc
	done   chan struct{} // closed when the refresher has stopped
	once   sync.Once
}

type current struct {
	value  string
	expiry time.Time // zero: does not expire
}

// token is one credential as minted: the header value and when it expires.
type token struct {
	value  string
	expiry time.Time
}

// minter obtains a new credential.
type minter func(ctx context.Context) (token, error)

// Open obtains the credential a (a plan's target.auth) asks for, and keeps
// it current until Close. It fails when the credential cannot be had
// within FetchTimeout or ctx: the error says why, for the report, and
// names no secret value. A nil a returns a nil Header and no error.
func Open(ctx context.Context, a *plan.Auth, o Options) (*Header, error) {
	if a == nil {
		return nil, nil
	}
	var (
		mint minter
		what string
	)
	switch a.Kind() {
	case plan.AuthGoogleIDToken:
		what = "target.auth.google_id_token"
		mint = idTokenMinter(a.GoogleIDToken.Audience)
	case plan.AuthGoogleAccessToken:
		what = "target.auth.google_access_token"
		mint = accessTokenMinter(a.GoogleAccessToken.ScopeList())
	case plan.AuthSecret:
		what = "target.auth.secret"
		mint = secretMinter(a.Secret, o.ReadSecret)
	default:
		return nil, errors.New("target.auth: set exactly one of google_id_token, google_access_token or secret")
	}
	fetchCtx, cancel := context.WithTimeout(ctx, FetchTimeout)
	t, err := mint(fetchCtx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	h := newHeader(a.HeaderName(), t)
	if !t.expiry.IsZero() {
		h.startRefresh(what, mint, t, time.Now(), o.OnError)
	}
	return h, nil
}

// newHeader returns a header holding t, with nothing to refresh it.
func newHeader(name string, t token) *Header {
	h := &Header{name: name, done: make(chan struct{})}
	h.cur.Store(&current{value: t.value, expiry: t.expiry})
	h.cancel = func() { close(h.done) }
	return h
}

// Name is the header's name (for gRPC, the metadata key before lowering).
func (h *Header) Name() string { return h.name }

// Value is the header's current value. It loads one pointer: cheap enough
// for every request.
func (h *Header) Value() string { return h.cur.Load().value }

// Expiry is when the current value expires; zero when it does not.
func (h *Header) Expiry() time.Time { return h.cur.Load().expiry }

// Subscribe calls fn with the current value at once, then with each new
// value, in order, from the refresher's goroutine, until Close. fn must
// not call Subscribe. A value stays in Value until fn has returned for
// every subscriber, and is replaced only before it expires, so a
// subscriber that swaps in what it built from the value never sends an
// expired one.
func (h *Header) Subscribe(fn func(value string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn(h.cur.Load().value)
	h.subs = append(h.subs, fn)
}

// set makes t current and tells the subscribers if its value changed.
func (h *Header) set(t token) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	if t.value == old.value {
		h.cur.Store(&current{value: old.value, expiry: t.expiry})
		return
	}
	for _, fn := range h.subs {
		fn(t.value)
	}
	h.cur.Store(&current{value: t.value, expiry: t.expiry})
}

// Close stops refreshing. Value keeps returning the last value. A nil
// Header (no target.auth) has nothing to close.
func (h *Header) Close() {
	if h == nil {
		return
	}
	h.once.Do(h.cancel)
	<-h.done
}

// startRefresh refreshes t, obtained at obtained, until Close.
func (h *Header) startRefresh(what string, mint minter, t token, obtained time.Time, onErr func(error)) {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		timer := time.NewTimer(time.Until(refreshAt(obtained, t.expiry)))
		defer timer.Stop()
		var backoff time.Duration
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			fetchCtx, cancelFetch := context.WithTimeout(ctx, FetchTimeout)
			next, err := mint(fetchCtx)
			cancelFetch()
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			if err != nil {
				backoff = retryAfter(backoff, t.expiry.Sub(obtained))
				if onErr != nil {
					onErr(fmt.Errorf("refresh %s (the current one expires at %s; next try in %v): %w", what, h.Expiry().Format(time.RFC3339), backoff, err))
				}
				timer.Reset(backoff)
				continue
			}
			backoff = 0
			t, obtained = next, now
			h.set(t)
			if t.expiry.IsZero() {
				return // it no longer expires
			}
			timer.Reset(time.Until(refreshAt(obtained, t.expiry)))
		}
	}()
}

// refreshAt is when to ask for the next credential, for one obtained at
// obtained that expires at expiry: at 80% of its lifetime, or a minute
// before it expires if that comes first, but not before half its lifetime
// (a lifetime under two minutes leaves less than the minute). Libraries
// and the metadata server may hand back the same token while it is far
// from its end; the next refresh then comes sooner, at the same fractions
// of what is left, until a new one comes.
func refreshAt(obtained, expiry time.Time) time.Time {
	life := expiry.Sub(obtained)
	at := obtained.Add(life * 4 / 5)
	if early := expiry.Add(-time.Minute); early.Before(at) {
		at = early
	}
	if half := obtained.Add(life / 2); at.Before(half) {
		at = half
	}
	if soonest := obtained.Add(minRefresh); at.Before(soonest) {
		at = soonest
	}
	return at
}

// minRefresh keeps a credential that arrives already expired from
// turning the refresher into a busy loop.
const minRefresh = 100 * time.Millisecond

// retryAfter is the wait before the next attempt after a failed refresh:
// a tenth of the credential's lifetime at first (at most a second), then
// doubling, at most 30 s.
func retryAfter(prev, life time.Duration) time.Duration {
	if prev <= 0 {
		return min(max(life/10, minRefresh), time.Second)
	}
	return min(prev*2, 30*time.Second)
}

// bearer is the Authorization value of a token.
func bearer(tok string) string { return "Bearer " + tok }

// accessTokenMinter mints OAuth access tokens for scopes from Application
// Default Credentials. Each call builds the credentials afresh, so that
// the library's cache, which would hand back its token until a few
// minutes before expiry, does not decide when a new one comes.
func accessTokenMinter(scopes []string) minter {
	return func(ctx context.Context) (token, error) {
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: scopes})
		if err != nil {
			return token{}, err
		}
		t, err := creds.Token(ctx)
		if err != nil {
			return token{}, err
		}
		if err := checkValue(t.Value); err != nil {
			return token{}, fmt.Errorf("access token: %w", err)
		}
		return token{value: bearer(t.Value), expiry: t.Expiry}, nil
	}
}

// idTokenMinter mints Google ID tokens for audience from Application
// Default Credentials. The library says a token from the metadata server
// lasts an hour; the token's own exp claim, when earlier, is what the
// target checks, so it is what counts.
func idTokenMinter(audience string) minter {
	return func(ctx context.Context) (token, error) {
		creds, err := idtoken.NewCredentials(&idtoken.Options{Audience: audience})
		if err != nil {
			return token{}, err
		}
		t, err := creds.Token(ctx)
		if err != nil {
			return token{}, err
		}
		if err := checkValue(t.Value); err != nil {
			return token{}, fmt.Errorf("ID token: %w", err)
		}
		exp := t.Expiry
		if p, err := idtoken.ParsePayload(t.Value); err == nil && p.Expires > 0 {
			if e := time.Unix(p.Expires, 0); exp.IsZero() || e.Before(exp) {
				exp = e
			}
		}
		return token{value: bearer(t.Value), expiry: exp}, nil
	}
}

// secretMinter reads the secret once: a secret has no expiry, so the
// header keeps the value read at shard start.
func secretMinter(s *plan.SecretAuth, read func(context.Context, string) ([]byte, error)) minter {
	if read == nil {
		read = ReadSecret
	}
	return func(ctx context.Context) (token, error) {
		b, err := read(ctx, s.Name)
		if err != nil {
			return token{}, err
		}
		// A value stored with `echo` ends in a newline nobody meant.
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return token{}, fmt.Errorf("secret %s is empty", s.Name)
		}
		if err := checkValue(s.Value(v)); err != nil {
			return token{}, fmt.Errorf("secret %s: %w", s.Name, err)
		}
		return token{value: s.Value(v)}, nil
	}
}

// checkValue refuses a header value that HTTP/1.1 or gRPC metadata cannot
// carry as it is (a line break would even smuggle in a header of its
// own): printable ASCII only. It never quotes the value.
func checkValue(v string) error {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b > 0x7e {
			return errors.New("the value holds a character a header cannot carry (printable ASCII only)")
		}
	}
	return nil
}
