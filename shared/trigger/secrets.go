package trigger

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/redact"
)

// literalSecretAdvice ends the reason of every literal credential refused.
const literalSecretAdvice = "a plan is stored in the bucket as written and served back, so this trigger accepts no literal credential: " +
	"give it with target.auth (a token the worker mints, or a Secret Manager secret it reads), " +
	"or have the operator allow literal secrets (CICADA_TRIGGER_LITERAL_SECRETS)"

// checkSecrets refuses a plan that carries a credential as written, unless
// the operator allows literal secrets: a credential header in
// target.headers (HTTP headers and gRPC metadata alike), a target URL
// whose query gives a value to a parameter that names a credential
// (redact.SecretParams) or whose userinfo holds a password or token.
func (s *Service) checkSecrets(p *plan.Plan) error {
	if s.cfg.LiteralSecrets {
		return nil
	}
	if probs := literalSecrets(p, s.cfg.SecretHeaders); len(probs) > 0 {
		return &Error{Kind: KindInvalid, Message: "plan carries literal credentials; use target.auth", Problems: probs}
	}
	return nil
}

// literalSecrets lists every literal credential of p's target, a problem
// each, in a stable order. extra are header names the operator adds to
// the process-wide ones (redact.IsHeader).
func literalSecrets(p *plan.Plan, extra []string) []plan.Problem {
	var probs []plan.Problem
	t := p.Target
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
			probs = append(probs, plan.Problem{
				Path:   "target.headers[" + strconv.Quote(k) + "]",
				Reason: fmt.Sprintf("%s is a credential header; %s", k, literalSecretAdvice),
			})
		}
	}
	if t.URL != "" {
		for _, name := range redact.SecretParamsOf(t.URL) {
			probs = append(probs, plan.Problem{
				Path:   "target.url",
				Reason: fmt.Sprintf("query parameter %q carries a credential; %s", name, literalSecretAdvice),
			})
		}
		if redact.HasUserinfoSecret(t.URL) {
			probs = append(probs, plan.Problem{
				Path:   "target.url",
				Reason: "the URL's userinfo carries a credential; " + literalSecretAdvice,
			})
		}
	}
	return probs
}
