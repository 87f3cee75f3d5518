package trigger

import (
	"github.com/cicadaload/cicada/shared/plan"
)

// insecureTLSReason is why a plan with insecure_skip_verify is refused.
const insecureTLSReason = "not allowed by this trigger: a run that trusts any certificate can load and measure a host impersonating the target; " +
	"trust the target's CA with target.tls.ca or target.tls.ca_secret instead (the operator can allow it with CICADA_TRIGGER_ALLOW_INSECURE_TLS=true)"

// checkInsecureTLS refuses, with 403 like a host outside the allow-list, a
// plan that turns off the verification of the target's certificate, unless
// the operator allows it (Config.AllowInsecureTLS).
func (s *Service) checkInsecureTLS(p *plan.Plan) error {
	if x := p.Target.TLS; x == nil || !x.InsecureSkipVerify || s.cfg.AllowInsecureTLS {
		return nil
	}
	const path = "target.tls.insecure_skip_verify"
	return &Error{Kind: KindForbidden, Message: path + ": " + insecureTLSReason,
		Problems: []plan.Problem{{Path: path, Reason: insecureTLSReason}}}
}
