package trigger

import (
	"github.com/cicadaload/cicada/shared/plan"
)

// checkSecrets refuses, with 400, a plan that carries a credential as
// written, unless the operator allows literal secrets
// (policy.Rules.LiteralSecrets). The rule is the policy's
// (Policy.CheckLiteralSecrets), which the workers hold plans to too; the
// trigger adds its own credential header names (Config.SecretHeaders).
func (s *Service) checkSecrets(p *plan.Plan) error {
	probs := s.pol.CheckLiteralSecrets(p, s.cfg.SecretHeaders)
	if len(probs) == 0 {
		return nil
	}
	out := make([]plan.Problem, len(probs))
	for i, pr := range probs {
		out[i] = pr.Plan()
	}
	return &Error{Kind: KindInvalid, Message: "plan carries literal credentials; use target.auth", Problems: out}
}
