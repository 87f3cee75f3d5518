package trigger

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/policy"
)

// Env is everything the trigger function (functions/trigger) reads from
// the environment: CICADA_LOG_*, CICADA_TRIGGER_* and CICADA_SETUP.
// `cicada local` reads it too.
type Env struct {
	Log     logging.Config `envconfig:"LOG"`
	Trigger Config         `envconfig:"TRIGGER"`
	// Setup lets the trigger set the topics and subscriptions up again
	// when a publish finds them missing, as the components with
	// CICADA_SETUP do (config.Cloud): on the emulators, whose restart
	// loses them.
	Setup bool `envconfig:"SETUP" default:"false" desc:"set the topics and subscriptions up again when a publish finds them missing (emulators only; Terraform owns them on Google Cloud)"`
}

// The allow-list is also read from allowedTargetsAlias, the name the
// README's pipeline table gives it, when allowedTargetsVar (Env's own name
// for it) is unset.
const (
	allowedTargetsVar   = "CICADA_TRIGGER_ALLOWED_TARGETS"
	allowedTargetsAlias = "CICADA_ALLOWED_TARGETS"
)

// Config is the operator's side of the trigger: what plans it accepts and
// where it puts them; the field Trigger of Env (CICADA_TRIGGER_*). Its
// Rules (the allow-list and the limits, CICADA_TRIGGER_ALLOWED_TARGETS,
// CICADA_TRIGGER_MAX_*) are those of shared/policy, which the workers hold
// plans to as well, with the switches for literal credentials and
// unverified TLS (CICADA_TRIGGER_LITERAL_SECRETS,
// CICADA_TRIGGER_ALLOW_INSECURE_TLS); a zero limit means only the plan
// package's own bound applies.
type Config struct {
	policy.Rules
	// MaxShards is Rules.MaxShards, read under the trigger's own name.
	MaxShards int           `envconfig:"MAX_SHARDS" default:"100" desc:"most shards a plan may ask for; 0 = no operator limit"`
	MaxBody   int64         `envconfig:"MAX_BODY" default:"1048576" desc:"largest plan body accepted, in bytes (413 beyond)"`
	LeadTime  time.Duration `envconfig:"LEAD_TIME" default:"10s" desc:"least time between accepting a plan and its start, for workers to pick up their shards; the plan's start_delay wins when longer"`
	Bucket    string        `envconfig:"BUCKET" desc:"Cloud Storage bucket of the runs"`
	Project   string        `envconfig:"PROJECT" desc:"Google Cloud project of the Pub/Sub topics"`
	PublicURL string        `envconfig:"PUBLIC_URL" desc:"base URL of the trigger in status_url and links; default derived from the request (Host, X-Forwarded-Proto)"`
	// SecretHeaders are header names redacted like the default credential
	// headers (package redact), and refused as literals alike.
	SecretHeaders []string `envconfig:"SECRET_HEADERS" desc:"comma-separated header names whose values are credentials, redacted wherever shown and refused as literals in a plan, besides the defaults Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key and X-Goog-Api-Key; give the workers and the aggregator the same list (CICADA_SECRET_HEADERS)"`
	// Access is who may do what, and from where (access.go, origin.go).
	Access
}

// ReadEnv reads the trigger's configuration, honouring
// CICADA_ALLOWED_TARGETS when CICADA_TRIGGER_ALLOWED_TARGETS is unset, and
// checks it. The function requires a bucket; `cicada local` does not.
func ReadEnv() (Env, error) {
	var e Env
	if err := config.Read(&e); err != nil {
		return Env{}, fmt.Errorf("trigger config: %w", err)
	}
	if _, ok := os.LookupEnv(allowedTargetsVar); !ok {
		if v, ok := os.LookupEnv(allowedTargetsAlias); ok {
			e.Trigger.AllowedTargets = policy.SplitList(v)
		}
	}
	if err := e.Trigger.Check(); err != nil {
		return Env{}, err
	}
	return e, nil
}

// Check rejects a configuration the handler cannot work with: negative
// limits and allow-list entries that cannot match anything.
func (c Config) Check() error {
	probs := c.Rules.Check()
	if c.MaxShards < 0 {
		probs = append(probs, "MAX_SHARDS must be >= 0")
	}
	if c.MaxBody <= 0 {
		probs = append(probs, fmt.Sprintf("MAX_BODY must be > 0, got %d", c.MaxBody))
	}
	if c.LeadTime < 0 {
		probs = append(probs, fmt.Sprintf("LEAD_TIME must be >= 0, got %v", c.LeadTime))
	}
	probs = append(probs, c.Access.check()...)
	for _, h := range c.SecretHeaders {
		if !validHeaderName(h) {
			probs = append(probs, fmt.Sprintf("SECRET_HEADERS: %q is not a header name", h))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("trigger config: %s", strings.Join(probs, "; "))
	}
	return nil
}

// newPolicy is the trigger's policy of c.
func newPolicy(c Config) (*policy.Policy, error) {
	r := c.Rules
	r.MaxShards = c.MaxShards
	return policy.New(r, policy.Trigger)
}

// validHeaderName reports whether h is an HTTP field name (RFC 9110 token).
func validHeaderName(h string) bool {
	h = strings.TrimSpace(h)
	if h == "" {
		return false
	}
	for _, c := range []byte(h) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
