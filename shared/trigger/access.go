package trigger

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// Access is the trigger's rails on callers: the Host it answers to
// (origin.go), who submitted a run and who else may cancel it or read its
// plan, and how many runs may go at once. Config embeds it, so its fields
// are read as CICADA_TRIGGER_* like the rest.
//
// Who a caller is: on Google Cloud, the function sits behind Cloud Run's
// IAM invocation check, which verifies the caller's Google-signed identity
// token (X-Serverless-Authorization when the request has one, else
// Authorization) before the request reaches the function, and passes the
// header on. With TrustPlatformIdentity the trigger reads the principal
// from that token's payload (its e-mail, else its subject); it does not
// verify the signature again, so the flag must only be set where no
// request reaches the trigger unverified (Terraform sets it on the
// function, which has no public invoker). Without it, as on a laptop,
// every caller is the local user: run.json records no submitter, and every
// caller may cancel any run and read any plan.
type Access struct {
	AllowedHosts           []string `envconfig:"ALLOWED_HOSTS" desc:"comma-separated Host headers the trigger answers to (421 otherwise): host (any port), host:port, *.domain or * (any); empty = the address it listens on and localhost on that port, plus the host of PUBLIC_URL"`
	TrustPlatformIdentity  bool     `envconfig:"TRUST_PLATFORM_IDENTITY" default:"false" desc:"take the caller from the identity token the platform verified (Cloud Run with IAM invocation): recorded as submitted_by, and only the submitter and ADMINS may cancel a run or read its plan.json; set it only where no request reaches the trigger unverified. false: every caller is the local user, who may do everything"`
	Admins                 []string `envconfig:"ADMINS" desc:"comma-separated principals (the e-mail, or else the subject, of their identity token; a user: or serviceAccount: prefix is allowed) that may cancel any run and read any run's plan.json, beside its submitter"`
	MaxActiveRuns          int      `envconfig:"MAX_ACTIVE_RUNS" default:"20" desc:"most runs scheduled or running at once, all callers together (429 beyond); 0 = no operator limit"`
	MaxActiveRunsPerCaller int      `envconfig:"MAX_ACTIVE_RUNS_PER_CALLER" default:"5" desc:"most runs scheduled or running at once per submitter (429 beyond; every local caller is one submitter); 0 = no operator limit"`
}

// serverlessAuthorization is the header Cloud Run checks instead of
// Authorization when a request has both, leaving Authorization to the
// application.
const serverlessAuthorization = "X-Serverless-Authorization"

// localUser names the caller in messages when the trigger knows no
// identity.
const localUser = "the local user"

// check lists what is wrong with a: negative limits, admins that no
// identity token can name, host patterns that cannot match.
func (a Access) check() []string {
	var probs []string
	if a.MaxActiveRuns < 0 || a.MaxActiveRunsPerCaller < 0 {
		probs = append(probs, fmt.Sprintf("MAX_ACTIVE_RUNS and MAX_ACTIVE_RUNS_PER_CALLER must be >= 0, got %d and %d", a.MaxActiveRuns, a.MaxActiveRunsPerCaller))
	}
	for _, p := range a.Admins {
		if kind, _, ok := strings.Cut(strings.TrimSpace(p), ":"); ok && (kind == "group" || kind == "domain" || kind == "principalSet") {
			probs = append(probs, fmt.Sprintf("ADMINS entry %q: an identity token names one principal, never its groups or domain; list each principal", p))
		}
	}
	if _, err := parseHostPatterns(a.AllowedHosts); err != nil {
		probs = append(probs, err.Error())
	}
	return probs
}

// normPrincipal is how principals compare: trimmed, without an IAM member
// prefix, lower case (e-mail addresses are case-insensitive in practice,
// and Google subjects are digits).
func normPrincipal(s string) string {
	s = strings.TrimSpace(s)
	for _, prefix := range []string{"user:", "serviceAccount:"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			s = rest
			break
		}
	}
	return strings.ToLower(s)
}

// isAdmin reports whether principal is one of a.Admins.
func (a Access) isAdmin(principal string) bool {
	if principal == "" {
		return false
	}
	for _, p := range a.Admins {
		if normPrincipal(p) == principal {
			return true
		}
	}
	return false
}

// callerOf is who sent r: "" (the local user) without
// TrustPlatformIdentity, else the principal of the identity token the
// platform verified. A trusted deployment that finds no readable token
// refuses the request (401): the platform should not have let it in.
func (a Access) callerOf(r *http.Request) (string, error) {
	if !a.TrustPlatformIdentity {
		return "", nil
	}
	header := r.Header.Get(serverlessAuthorization)
	if header == "" {
		header = r.Header.Get("Authorization")
	}
	p, err := tokenPrincipal(header)
	if err != nil {
		return "", &Error{Kind: KindUnauthenticated, Err: err, Message: fmt.Sprintf(
			"no caller identity: %v (this trigger takes the caller from the Google identity token its platform verified)", err)}
	}
	return p, nil
}

// tokenPrincipal reads the principal of a "Bearer <JWT>" header from the
// token's payload: its e-mail when the token says it is verified (or does
// not say), else its subject. The signature is not checked here: the
// platform did.
func tokenPrincipal(header string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("no identity token in the Authorization header")
	}
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) < 2 {
		return "", errors.New("the bearer token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", fmt.Errorf("identity token payload: %w", err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
		Sub           string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("identity token payload: %w", err)
	}
	if e := normPrincipal(claims.Email); e != "" && (claims.EmailVerified == nil || *claims.EmailVerified) {
		return e, nil
	}
	if s := normPrincipal(claims.Sub); s != "" {
		return s, nil
	}
	return "", errors.New("the identity token names no e-mail and no subject")
}

// authorize lets the request r do action (a verb phrase: "cancel", "read
// the plan of") to run: anyone locally; with a platform identity, the run's
// submitter and the admins only.
func (h *handler) authorize(r *http.Request, run runs.Run, action string) error {
	a := h.cfg.Access
	if !a.TrustPlatformIdentity {
		return nil
	}
	caller, err := a.callerOf(r)
	if err != nil {
		return err
	}
	if caller == normPrincipal(run.SubmittedBy) || a.isAdmin(caller) {
		return nil
	}
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(
		"%s run %s is allowed to the principal that submitted it and to this trigger's admins (CICADA_TRIGGER_ADMINS), not to %s", action, run.ID, caller)}
}

// activeReaders bounds the active-run markers read at once.
const activeReaders = 16

// checkActive refuses a run by caller over the operator's limits on runs
// going at once (MaxActiveRuns in all, MaxActiveRunsPerCaller each), with
// KindBusy and a RetryAfter when the first counted run ends. A run counts
// from its acceptance to its end (scheduled or running), read from the
// active-run markers, which hold run.json's content: a run past its end
// that waits for its report loads no target. A marker that cannot be read
// counts in all, for nobody.
func (s *Service) checkActive(ctx context.Context, caller string, now time.Time) error {
	all, each := s.cfg.MaxActiveRuns, s.cfg.MaxActiveRunsPerCaller
	if all <= 0 && each <= 0 {
		return nil
	}
	names, err := s.st.List(ctx, runs.ActivePrefix)
	if err != nil {
		return &Error{Kind: KindUnavailable, Err: fmt.Errorf("list active runs: %w", err)}
	}
	var (
		mu                 sync.Mutex
		wg                 sync.WaitGroup
		sem                = make(chan struct{}, activeReaders)
		total, mine        int
		firstEnd, firstMin time.Time // earliest end of all, of the caller's
		readErr            error
	)
	earliest := func(t *time.Time, end time.Time) {
		if t.IsZero() || end.Before(*t) {
			*t = end
		}
	}
	for _, name := range names {
		if _, err := runs.ParseActivePath(name); err != nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			obj, err := s.st.Get(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && !errors.Is(err, store.ErrNotFound):
				if readErr == nil {
					readErr = fmt.Errorf("read %s: %w", name, err)
				}
				return
			case err != nil:
				return // its report was written meanwhile
			}
			run, err := runs.DecodeRun(obj.Data)
			if err != nil {
				total++
				return
			}
			if !run.End.After(now) {
				return
			}
			total++
			earliest(&firstEnd, run.End)
			if normPrincipal(run.SubmittedBy) == caller {
				mine++
				earliest(&firstMin, run.End)
			}
		}()
	}
	wg.Wait()
	if readErr != nil {
		return &Error{Kind: KindUnavailable, Err: fmt.Errorf("count active runs: %w", readErr)}
	}
	who := caller
	if who == "" {
		who = localUser
	}
	switch {
	case all > 0 && total >= all:
		return &Error{Kind: KindBusy, RetryAfter: retryAfter(firstEnd, now), Message: fmt.Sprintf(
			"%d runs are scheduled or running, and this trigger's limit is %d at once (CICADA_TRIGGER_MAX_ACTIVE_RUNS); retry when one has ended", total, all)}
	case each > 0 && mine >= each:
		return &Error{Kind: KindBusy, RetryAfter: retryAfter(firstMin, now), Message: fmt.Sprintf(
			"%s has %d runs scheduled or running, and this trigger's limit is %d per submitter (CICADA_TRIGGER_MAX_ACTIVE_RUNS_PER_CALLER); retry when one has ended, or cancel one", who, mine, each)}
	}
	return nil
}

// retryAfter is the wait until end, in whole seconds, at least one; 0 when
// end is unknown.
func retryAfter(end, now time.Time) time.Duration {
	if end.IsZero() {
		return 0
	}
	return max(end.Sub(now).Truncate(time.Second)+time.Second, time.Second)
}
