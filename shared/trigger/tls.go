package trigger

import (
	"github.com/cicadaload/cicada/shared/plan"
)

// checkInsecureTLS refuses, with 403 like a host outside the allow-list, a
// plan that turns off the verification of the target's certificate, unless
// the operator allows it (policy.Rules.AllowInsecureTLS). The rule is the
// policy's (Policy.CheckInsecureTLS), which the workers hold plans to too.
func (s *Service) checkInsecureTLS(p *plan.Plan) error {
	pr := s.pol.CheckInsecureTLS(p)
	if pr == nil {
		return nil
	}
	return &Error{Kind: KindForbidden, Message: pr.String(), Problems: []plan.Problem{pr.Plan()}}
}
