// Package policy holds an operator's rails: the targets a plan may aim at
// and the limits on what a plan may cost. The trigger checks every plan
// against its Rules before it accepts it (CICADA_TRIGGER_*); each worker
// checks every plan against its own before it runs it (CICADA_WORKER_*),
// so that a plan written straight into the bucket is held to them too; and
// the load engine checks, at every connect, the address it is about to
// dial (Guard), so that what a host name resolves to is held to them as
// well.
package policy

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Rules is an operator's policy, read from the environment by the trigger
// (CICADA_TRIGGER_*) and by the worker (CICADA_WORKER_*), with one syntax.
// A component's Config embeds it. A zero limit means only the plan
// package's own bound applies.
type Rules struct {
	AllowedTargets []string `envconfig:"ALLOWED_TARGETS" default:"127.0.0.1,localhost" desc:"comma-separated targets a plan may aim at: host (any port), host:port, *.domain (its subdomains), * (any name), an address or CIDR (10.0.0.0/8, 10.0.0.0/8:8501, [fd00::/8]:443); a leading ! refuses instead (!127.0.0.1:8080), and a refusal wins; names are compared as written, and each address a name resolves to is checked at connect: loopback, link-local (the metadata server), private, unspecified and multicast addresses only when listed as an address or CIDR (the trigger also reads CICADA_ALLOWED_TARGETS)"`
	MaxRate        float64  `envconfig:"MAX_RATE" default:"10000" desc:"highest rate (req/s, whole plan) of any open-model stage, and of a closed model's users / think_time; 0 = no operator limit"`
	MaxUsers       int      `envconfig:"MAX_USERS" default:"10000" desc:"most closed-model users (whole plan) of any stage; 0 = no operator limit"`
	// MaxDuration bounds the sum of the plan's stages.
	MaxDuration time.Duration `envconfig:"MAX_DURATION" default:"1h" desc:"longest total duration of a plan's stages; 0 = no operator limit"`
	// MaxShards is the most shards a plan may ask for. Each component reads
	// it under its own name (Owner.ShardsVar): the worker's MAX_SHARDS is
	// how many shards it drives at once.
	MaxShards      int `ignored:"true"`
	MaxConnections int `envconfig:"MAX_CONNECTIONS" default:"1000" desc:"most target.connections (per shard); 0 = no operator limit"`
	// MaxTotalConnections bounds connections × shards: what the target
	// sees at once.
	MaxTotalConnections int           `envconfig:"MAX_TOTAL_CONNECTIONS" default:"10000" desc:"most target.connections × shards, the plan's connections in all; 0 = no operator limit"`
	MaxInFlight         int           `envconfig:"MAX_IN_FLIGHT" default:"10000" desc:"highest open-model load.max_in_flight (per shard); 0 = no operator limit"`
	MaxTimeout          time.Duration `envconfig:"MAX_TIMEOUT" default:"1m" desc:"longest target.timeout; 0 = no operator limit"`
	MaxStartDelay       time.Duration `envconfig:"MAX_START_DELAY" default:"15m" desc:"longest start_delay (a worker also refuses a run that starts further ahead, plus a minute for the trigger's lead time); 0 = no operator limit"`
	MaxRequests         int64         `envconfig:"MAX_REQUESTS" default:"36000000" desc:"most requests an open-model plan's schedule holds in all; 0 = no operator limit"`
	// MaxRenderedBody and MaxRenderedTotal bound what a plan's templates
	// make of its texts, which every worker holds in memory.
	MaxRenderedBody  int64 `envconfig:"MAX_RENDERED_BODY" default:"1048576" desc:"largest body (or gRPC request JSON) a template may render for one text, in bytes; 0 = the plan package's bound (16 MiB)"`
	MaxRenderedTotal int64 `envconfig:"MAX_RENDERED_TOTAL" default:"16777216" desc:"largest sum of the bodies a template renders for all the texts, in bytes; 0 = the plan package's bound (4 GiB)"`
	// MaxCorpusBytes bounds a data.uri object, which every worker reads
	// whole and holds as texts.
	MaxCorpusBytes int64 `envconfig:"MAX_CORPUS_BYTES" default:"268435456" desc:"largest corpus object (data.uri) in bytes, checked by the trigger at its size and by the worker as it reads it; 0 = no operator limit"`
	// LiteralSecrets accepts plans that carry credentials as written
	// (CheckLiteralSecrets); they are then stored in plan.json in the
	// bucket, and still redacted wherever served or shown.
	LiteralSecrets bool `envconfig:"LITERAL_SECRETS" default:"false" desc:"accept plans with literal credentials (a credential header in target.headers, a secret query parameter or userinfo in target.url), which are then stored in the bucket's plan.json; by default they are refused in favour of target.auth (the trigger answers 400, a worker fails the shard)"`
	// AllowInsecureTLS accepts plans that turn off the verification of the
	// target's certificate (CheckInsecureTLS).
	AllowInsecureTLS bool `envconfig:"ALLOW_INSECURE_TLS" default:"false" desc:"accept plans with target.tls.insecure_skip_verify: true, whose engine then trusts any certificate the target shows; by default they are refused (the trigger answers 403, a worker fails the shard)"`
}

// DefaultRules are the Rules of an environment that sets none of them (the
// struct tags' defaults).
func DefaultRules() Rules {
	return Rules{
		AllowedTargets:      []string{"127.0.0.1", "localhost"},
		MaxRate:             10000,
		MaxUsers:            10000,
		MaxDuration:         time.Hour,
		MaxShards:           100,
		MaxConnections:      1000,
		MaxTotalConnections: 10000,
		MaxInFlight:         10000,
		MaxTimeout:          time.Minute,
		MaxStartDelay:       15 * time.Minute,
		MaxRequests:         36_000_000,
		MaxRenderedBody:     1 << 20,
		MaxRenderedTotal:    16 << 20,
		MaxCorpusBytes:      256 << 20,
	}
}

// Names are the names of the Rules' variables after a component's prefix
// (ALLOWED_TARGETS, MAX_RATE, ...), in field order: what a deployment sets
// alike for the trigger (CICADA_TRIGGER_) and the workers
// (CICADA_WORKER_). MaxShards is not among them: each component reads it
// under its own name (Owner.ShardsVar).
func Names() []string {
	t := reflect.TypeFor[Rules]()
	var out []string
	for i := range t.NumField() {
		if n := t.Field(i).Tag.Get("envconfig"); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// IsZero reports whether r is the zero Rules: nothing allowed, no limit,
// as a Config built in Go without them has.
func (r Rules) IsZero() bool {
	if len(r.AllowedTargets) > 0 {
		return false
	}
	r.AllowedTargets = nil
	return reflect.ValueOf(r).IsZero()
}

// Check lists what makes r unusable: a negative limit, an allow-list entry
// that cannot match anything. nil when r is usable.
func (r Rules) Check() []string {
	var probs []string
	neg := func(name string, bad bool) {
		if bad {
			probs = append(probs, name+" must be >= 0")
		}
	}
	neg("MAX_RATE", r.MaxRate < 0 || r.MaxRate != r.MaxRate)
	neg("MAX_USERS", r.MaxUsers < 0)
	neg("MAX_DURATION", r.MaxDuration < 0)
	neg("the shards limit (the trigger's MAX_SHARDS, the worker's MAX_PLAN_SHARDS)", r.MaxShards < 0)
	neg("MAX_CONNECTIONS", r.MaxConnections < 0)
	neg("MAX_TOTAL_CONNECTIONS", r.MaxTotalConnections < 0)
	neg("MAX_IN_FLIGHT", r.MaxInFlight < 0)
	neg("MAX_TIMEOUT", r.MaxTimeout < 0)
	neg("MAX_START_DELAY", r.MaxStartDelay < 0)
	neg("MAX_REQUESTS", r.MaxRequests < 0)
	neg("MAX_RENDERED_BODY", r.MaxRenderedBody < 0)
	neg("MAX_RENDERED_TOTAL", r.MaxRenderedTotal < 0)
	neg("MAX_CORPUS_BYTES", r.MaxCorpusBytes < 0)
	for _, s := range r.AllowedTargets {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if _, err := parseEntry(s); err != nil {
			probs = append(probs, err.Error())
		}
	}
	return probs
}

// SplitList splits a comma-separated list as envconfig does, trimming
// spaces and dropping empty items.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Refusing returns r with refusals of the addresses addrs (host:port)
// added to its allow-list: the component's own ports on a machine whose
// allow-list lets plans aim at 127.0.0.1.
func (r Rules) Refusing(addrs ...string) Rules {
	list := append([]string(nil), r.AllowedTargets...)
	for _, a := range addrs {
		list = append(list, "!"+a)
	}
	r.AllowedTargets = list
	return r
}

// checkErr formats Check's problems as one error, nil for none.
func (r Rules) checkErr(who string) error {
	if probs := r.Check(); len(probs) > 0 {
		return fmt.Errorf("%s policy: %s", who, strings.Join(probs, "; "))
	}
	return nil
}
