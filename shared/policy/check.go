package policy

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
)

// Kind is which rule a Problem breaks. The trigger answers each with its
// own status (400, 403, 422); a worker refuses the shard whatever the kind.
type Kind uint8

// Kinds of Problem.
const (
	KindInvalid   Kind = iota + 1 // no component runs it: data.file, a target that cannot be read, a template that cannot render
	KindForbidden                 // the target is not in the allow-list
	KindOverLimit                 // over one of the operator's limits
)

// Problem is one way a plan breaks the policy: the plan's field, the
// variable that sets the rule broken ("" when no variable does), and why,
// with the plan's value and the limit.
type Problem struct {
	Kind   Kind
	Path   string
	Limit  string
	Reason string
}

// String formats the problem as "path: reason".
func (p Problem) String() string { return p.Plan().String() }

// Plan is the problem as the plan package states problems.
func (p Problem) Plan() plan.Problem { return plan.Problem{Path: p.Path, Reason: p.Reason} }

// Owner names the component a Policy speaks for, so that a problem names
// the variable that widens it.
type Owner struct {
	Name      string // in reasons: "this trigger's limit"
	Prefix    string // of its variables: "CICADA_TRIGGER_"
	ShardsVar string // the variable of Rules.MaxShards, after Prefix
}

// The owners of the policies: the trigger's and the worker's, whose
// MAX_SHARDS is how many shards it drives at once.
var (
	Trigger = Owner{Name: "trigger", Prefix: "CICADA_TRIGGER_", ShardsVar: "MAX_SHARDS"}
	Worker  = Owner{Name: "worker", Prefix: "CICADA_WORKER_", ShardsVar: "MAX_PLAN_SHARDS"}
)

// Policy is Rules ready to check plans with. It is safe for concurrent use.
type Policy struct {
	rules  Rules
	allow  AllowList
	who    string
	prefix string
	shards string
}

// New checks r and returns its Policy, speaking for o.
func New(r Rules, o Owner) (*Policy, error) {
	if err := r.checkErr(o.Name); err != nil {
		return nil, err
	}
	a, err := ParseAllowList(r.AllowedTargets)
	if err != nil {
		return nil, fmt.Errorf("%s policy: %w", o.Name, err)
	}
	return &Policy{rules: r, allow: a, who: o.Name, prefix: o.Prefix, shards: o.ShardsVar}, nil
}

// Rules returns the rules p was made of.
func (p *Policy) Rules() Rules { return p.rules }

// AllowList returns p's parsed allow-list.
func (p *Policy) AllowList() AllowList { return p.allow }

// Var names the variable of one of the rules, e.g. Var("MAX_RATE") is
// "CICADA_TRIGGER_MAX_RATE" for the trigger.
func (p *Policy) Var(name string) string { return p.prefix + name }

// Check lists every way pl, a valid plan with its defaults applied,
// breaks p: data.file (KindInvalid), a target the allow-list does not
// name (KindForbidden) and every limit pl goes over (KindOverLimit), in
// that order. nil when pl may run.
func (p *Policy) Check(pl *plan.Plan) []Problem {
	var probs []Problem
	if pl.Data.File != "" {
		probs = append(probs, Problem{Kind: KindInvalid, Path: "data.file", Reason: fmt.Sprintf(
			"not accepted by the %s: a worker would read that path on its own disk; inline the texts as data.texts, or put the file in a bucket and name it in data.uri (gs://bucket/object)", p.who)})
	}
	probs = append(probs, p.checkTarget(pl.Target)...)
	return append(probs, p.limits(pl)...)
}

func (p *Policy) checkTarget(t plan.Target) []Problem {
	path, host, port, err := TargetHost(t)
	if err != nil {
		return []Problem{{Kind: KindInvalid, Path: path, Reason: err.Error()}}
	}
	why := p.allow.CheckName(host, port)
	if why == "" {
		return nil
	}
	how := "is not allowed by this " + p.who
	if strings.HasPrefix(why, "refused") {
		how = fmt.Sprintf("is %s in this %s's allow-list", why, p.who)
	}
	msg := fmt.Sprintf("target host %s of %s (%s) %s; allowed targets: %s",
		host, path, net.JoinHostPort(host, port), how, p.allow)
	return []Problem{{Kind: KindForbidden, Path: path, Limit: p.Var("ALLOWED_TARGETS"), Reason: msg}}
}

// limits lists every way pl goes over the limits.
func (p *Policy) limits(pl *plan.Plan) []Problem {
	var probs []Problem
	over := func(path, name, format string, args ...any) {
		probs = append(probs, Problem{Kind: KindOverLimit, Path: path, Limit: p.Var(name),
			Reason: fmt.Sprintf(format, args...) + fmt.Sprintf(" (%s)", p.Var(name))})
	}
	r, l, t := p.rules, pl.Load, pl.Target
	who := "this " + p.who + "'s limit"
	if s := l.Search; s != nil && l.Model == plan.ModelOpen {
		// Fit shrank what a search may shrink: what is still over is over.
		if r.MaxRate > 0 && s.From > r.MaxRate {
			over("load.search.from", "MAX_RATE", "%g req/s is over %s of %g req/s", s.From, who, r.MaxRate)
		}
		if r.MaxRate > 0 && s.To > r.MaxRate {
			over("load.search.to", "MAX_RATE", "%g req/s is over %s of %g req/s", s.To, who, r.MaxRate)
		}
		if r.MaxRequests > 0 {
			if n := s.RequestBound(s.MaxProbesOrDefault(), pl.SliceDuration()); n > float64(r.MaxRequests) {
				over("load.search.max_probes", "MAX_REQUESTS", "%d probes may send up to %.0f requests, over %s of %d",
					s.MaxProbesOrDefault(), n, who, r.MaxRequests)
			}
		}
	}
	if r.MaxRate > 0 && l.Model == plan.ModelOpen {
		if l.StartRate != nil && *l.StartRate > r.MaxRate {
			over("load.start_rate", "MAX_RATE", "%g req/s is over %s of %g req/s", *l.StartRate, who, r.MaxRate)
		}
		for i, st := range l.Stages {
			if st.Rate > r.MaxRate {
				over(fmt.Sprintf("load.stages[%d].rate", i), "MAX_RATE", "%g req/s is over %s of %g req/s", st.Rate, who, r.MaxRate)
			}
		}
	}
	if l.Model == plan.ModelClosed {
		if r.MaxUsers > 0 {
			if l.StartUsers != nil && *l.StartUsers > r.MaxUsers {
				over("load.start_users", "MAX_USERS", "%d users is over %s of %d", *l.StartUsers, who, r.MaxUsers)
			}
			for i, st := range l.Stages {
				if st.Users > r.MaxUsers {
					over(fmt.Sprintf("load.stages[%d].users", i), "MAX_USERS", "%d users is over %s of %d", st.Users, who, r.MaxUsers)
				}
			}
		}
		// Each user sends at most once per think time (plus the target's
		// answer): users / think_time bounds the rate. Without a think
		// time a user sends as fast as the target answers, which
		// MAX_USERS bounds.
		if think := l.ThinkTime.D(); r.MaxRate > 0 && think > 0 {
			most := 0
			if l.StartUsers != nil {
				most = *l.StartUsers
			}
			for _, st := range l.Stages {
				most = max(most, st.Users)
			}
			if rate := float64(most) / think.Seconds(); rate > r.MaxRate {
				over("load.think_time", "MAX_RATE", "%d users every %v is up to %.4g req/s, over %s of %g req/s", most, think, rate, who, r.MaxRate)
			}
		}
	}
	if d := pl.Duration(); r.MaxDuration > 0 && d > r.MaxDuration {
		if l.Search != nil {
			over("load.search.max_probes", "MAX_DURATION", "%d probes take up to %v, over %s of %v", l.Search.MaxProbesOrDefault(), d, who, r.MaxDuration)
		} else {
			over("load.stages", "MAX_DURATION", "total duration %v is over %s of %v", d, who, r.MaxDuration)
		}
	}
	if r.MaxShards > 0 && pl.Shards > r.MaxShards {
		over("shards", p.shards, "%d shards is over %s of %d", pl.Shards, who, r.MaxShards)
	}
	if r.MaxConnections > 0 && t.Connections > r.MaxConnections {
		over("target.connections", "MAX_CONNECTIONS", "%d connections per shard is over %s of %d", t.Connections, who, r.MaxConnections)
	}
	if total := int64(t.Connections) * int64(max(pl.Shards, 1)); r.MaxTotalConnections > 0 && total > int64(r.MaxTotalConnections) {
		over("target.connections", "MAX_TOTAL_CONNECTIONS", "%d connections × %d shards = %d connections in all is over %s of %d",
			t.Connections, pl.Shards, total, who, r.MaxTotalConnections)
	}
	if r.MaxInFlight > 0 && l.Model == plan.ModelOpen && l.MaxInFlight > r.MaxInFlight {
		over("load.max_in_flight", "MAX_IN_FLIGHT", "%d requests in flight per shard is over %s of %d", l.MaxInFlight, who, r.MaxInFlight)
	}
	if r.MaxTimeout > 0 && t.Timeout.D() > r.MaxTimeout {
		over("target.timeout", "MAX_TIMEOUT", "%v is over %s of %v", t.Timeout, who, r.MaxTimeout)
	}
	if r.MaxStartDelay > 0 && pl.StartDelay.D() > r.MaxStartDelay {
		over("start_delay", "MAX_START_DELAY", "%v is over %s of %v", pl.StartDelay, who, r.MaxStartDelay)
	}
	if r.MaxRequests > 0 && l.Model == plan.ModelOpen && l.Search == nil && ratesFinite(l) {
		if n := pl.Schedule().Total(); n > r.MaxRequests {
			over("load.stages", "MAX_REQUESTS", "the stages hold %d requests in all, over %s of %d", n, who, r.MaxRequests)
		}
	}
	return probs
}

// Fit shrinks pl's search (load.search) to p's limits instead of refusing
// it, and says so in Search.Capped, which the report shows: To is lowered
// to the rate limit, and MaxProbes to the most probes whose bound fits the
// duration and request limits. What cannot shrink (From over the rate
// limit, not even one probe within the duration) is left for Check to
// refuse. A plan without a search is left as it is. Call it on a valid
// plan, with its defaults applied, before Check.
func (p *Policy) Fit(pl *plan.Plan) {
	s := pl.Load.Search
	if s == nil || pl.Load.Model != plan.ModelOpen {
		return
	}
	c := *s // the caller's plan may share the pointer with another copy
	c.Capped = append([]string(nil), s.Capped...)
	r, slice := p.rules, pl.SliceDuration()
	who := "this " + p.who + "'s limit"
	if r.MaxRate > 0 && c.To > r.MaxRate && c.From <= r.MaxRate {
		c.Capped = append(c.Capped, fmt.Sprintf("to %g req/s capped at %s of %g req/s (%s)", c.To, who, r.MaxRate, p.Var("MAX_RATE")))
		c.To = r.MaxRate
	}
	if r.MaxDuration > 0 {
		if n := c.ProbesWithin(r.MaxDuration, slice); n >= 1 && n < c.MaxProbesOrDefault() {
			c.Capped = append(c.Capped, fmt.Sprintf("max_probes %d capped at %d, the most whose %v each fit %s of %v (%s)",
				c.MaxProbesOrDefault(), n, c.ProbeBound(slice), who, r.MaxDuration, p.Var("MAX_DURATION")))
			c.MaxProbes = n
		}
	}
	if r.MaxRequests > 0 {
		if n := c.ProbesUnderRequests(r.MaxRequests, slice); n >= 1 && n < c.MaxProbesOrDefault() {
			c.Capped = append(c.Capped, fmt.Sprintf("max_probes %d capped at %d, the most whose requests fit %s of %d (%s)",
				c.MaxProbesOrDefault(), n, who, r.MaxRequests, p.Var("MAX_REQUESTS")))
			c.MaxProbes = n
		}
	}
	pl.Load.Search = &c
}

// ratesFinite reports whether the open model's rates can be scheduled
// (validation refuses the others).
func ratesFinite(l plan.Load) bool {
	ok := func(r float64) bool { return !math.IsNaN(r) && !math.IsInf(r, 0) && r >= 0 && r <= plan.MaxRate }
	if l.StartRate != nil && !ok(*l.StartRate) {
		return false
	}
	for _, s := range l.Stages {
		if !ok(s.Rate) || s.Duration <= 0 {
			return false
		}
	}
	return true
}

// RenderLimits are the limits p sets on rendering a plan's templates,
// until deadline (zero for none).
func (p *Policy) RenderLimits(deadline time.Time) plan.RenderLimits {
	return plan.RenderLimits{MaxBody: p.rules.MaxRenderedBody, MaxTotal: p.rules.MaxRenderedTotal, Deadline: deadline}
}

// CheckRender renders pl's requests (and a check's expected values) from
// the texts pl holds inline, in its batches, within p's limits and until
// deadline, keeping nothing, and returns the first failure: KindInvalid at
// the text's path (data.texts[17]), naming the limit it went over, if any.
// nil when every request renders.
func (p *Policy) CheckRender(pl *plan.Plan, deadline time.Time) *Problem {
	err := pl.Target.CheckRequests(&plan.Corpus{Texts: pl.Data.Texts}, p.RenderLimits(deadline))
	if err == nil {
		return nil
	}
	return p.renderProblem(err, len(pl.Data.Texts) > 0)
}

// RenderProblem states a rendering failure (a *plan.RenderError, from
// CheckRender or the engine) as a Problem; inline says the texts are the
// plan's data.texts, not a file's lines.
func (p *Policy) RenderProblem(err error, inline bool) *Problem { return p.renderProblem(err, inline) }

func (p *Policy) renderProblem(err error, inline bool) *Problem {
	var re *plan.RenderError
	if !errors.As(err, &re) {
		return &Problem{Kind: KindInvalid, Path: "target", Reason: err.Error()}
	}
	path := re.Field
	if re.Index >= 0 {
		path = fmt.Sprintf("text %d", re.Index)
		if inline {
			path = fmt.Sprintf("data.texts[%d]", re.Index)
		}
	}
	reason := fmt.Sprintf("%s: %v", re.Field, re.Err)
	var limit string
	switch {
	case errors.Is(err, plan.ErrBodyTooLarge):
		limit = p.Var("MAX_RENDERED_BODY")
	case errors.Is(err, plan.ErrBodiesTooLarge):
		limit = p.Var("MAX_RENDERED_TOTAL")
	}
	if limit != "" {
		reason += fmt.Sprintf(", over this %s's limit (%s)", p.who, limit)
	}
	return &Problem{Kind: KindInvalid, Path: path, Limit: limit, Reason: reason}
}

// Summary joins problems into one line, as a failed shard's reason.
func Summary(probs []Problem) string {
	s := make([]string, len(probs))
	for i, pr := range probs {
		s[i] = pr.String()
	}
	return strings.Join(s, "; ")
}
