package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/redact"
)

// A plan is stored in the bucket as written, so a credential written in it
// is readable by whoever reads the bucket, and a run that trusts any
// certificate measures whoever answers. Both are refused unless the
// operator allows them (Rules.LiteralSecrets, Rules.AllowInsecureTLS): by
// the trigger before it stores a plan, and again by each worker before it
// runs one, since anyone who can write the bucket can write a plan.

// InsecureTLSPath is the plan field CheckInsecureTLS refuses.
const InsecureTLSPath = "target.tls.insecure_skip_verify"

// CheckInsecureTLS refuses (KindForbidden) a plan that turns off the
// verification of the target's certificate, unless the rules allow it.
// nil when pl may run.
func (p *Policy) CheckInsecureTLS(pl *plan.Plan) *Problem {
	if x := pl.Target.TLS; x == nil || !x.InsecureSkipVerify || p.rules.AllowInsecureTLS {
		return nil
	}
	reason := fmt.Sprintf("not allowed by this %s: a run that trusts any certificate can load and measure a host impersonating the target; "+
		"trust the target's CA with target.tls.ca or target.tls.ca_secret instead (the operator can allow it with %s=true)",
		p.who, p.Var("ALLOW_INSECURE_TLS"))
	return &Problem{Kind: KindForbidden, Path: InsecureTLSPath, Limit: p.Var("ALLOW_INSECURE_TLS"), Reason: reason}
}

// CheckLiteralSecrets lists (KindInvalid) every credential pl's target
// carries as written, unless the rules allow literal secrets: a credential
// header in target.headers (HTTP headers and gRPC metadata alike: the
// names redact.IsHeader knows, and extra), a target URL whose query gives
// a value to a parameter that names a credential (redact.SecretParams) or
// whose userinfo holds a password or token. In a stable order; nil when
// pl may run.
func (p *Policy) CheckLiteralSecrets(pl *plan.Plan, extra []string) []Problem {
	if p.rules.LiteralSecrets {
		return nil
	}
	advice := fmt.Sprintf("a plan is stored in the bucket as written and served back, so this %s accepts no literal credential: "+
		"give it with target.auth (a token the worker mints, or a Secret Manager secret it reads), "+
		"or have the operator allow literal secrets (%s)", p.who, p.Var("LITERAL_SECRETS"))
	var probs []Problem
	add := func(path, reason string) {
		probs = append(probs, Problem{Kind: KindInvalid, Path: path, Limit: p.Var("LITERAL_SECRETS"), Reason: reason + "; " + advice})
	}
	t := pl.Target
	keys := make([]string, 0, len(t.Headers))
	for k := range t.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if t.Headers[k] == "" {
			continue
		}
		if redact.IsHeader(k) || slices.ContainsFunc(extra, func(e string) bool { return strings.EqualFold(strings.TrimSpace(e), k) }) {
			add("target.headers["+strconv.Quote(k)+"]", k+" is a credential header")
		}
	}
	if t.URL != "" {
		for _, name := range redact.SecretParamsOf(t.URL) {
			add("target.url", fmt.Sprintf("query parameter %q carries a credential", name))
		}
		if redact.HasUserinfoSecret(t.URL) {
			add("target.url", "the URL's userinfo carries a credential")
		}
	}
	return probs
}
