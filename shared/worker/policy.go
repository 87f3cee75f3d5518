package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/load"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// A worker runs only what the trigger could have accepted: anyone who can
// write the bucket can write a plan, so every plan is held to the worker's
// own policy (Config.Rules) before anything of it runs, and every address
// its engine dials is checked (policy.Guard). A refused shard sends no
// request: it ends failed, with the reason, which the report shows
// (verdict error).

// startAllowance is how much further ahead than MAX_START_DELAY a run may
// start: the trigger's lead time.
const startAllowance = time.Minute

// policyRules are the Rules the worker holds plans to.
func (c Config) policyRules() policy.Rules {
	if c.Rules == nil {
		r := policy.DefaultRules()
		if c.MaxPlanShards > 0 {
			r.MaxShards = c.MaxPlanShards
		}
		return r
	}
	r := *c.Rules
	r.MaxShards = c.MaxPlanShards
	return r
}

// newPolicy is the worker's Policy.
func (w *Worker) newPolicy() (*policy.Policy, error) {
	return policy.New(w.cfg.policyRules(), policy.Worker)
}

// refuse holds the plan of work to the worker's policy, before any lease
// is taken: a plan the policy refuses (its target, its limits, an
// unverified TLS target or a literal credential the operator does not
// allow: the trigger's own rules), or a run that starts further ahead
// than the worker waits for, ends the shard failed with the reason
// (failShard), and refuse reports true.
func (w *Worker) refuse(ctx context.Context, work runs.ShardWork, p *plan.Plan, run runs.Run, now time.Time, log *zap.Logger) bool {
	pol, err := w.newPolicy()
	if err != nil {
		w.failShard(ctx, work.RunID, work.Shard, err.Error(), log)
		return true
	}
	probs := pol.Check(p)
	if pr := pol.CheckInsecureTLS(p); pr != nil {
		probs = append(probs, *pr)
	}
	// The process-wide credential headers (CICADA_SECRET_HEADERS, applied
	// by the worker's main) are redact's; nothing to add here.
	probs = append(probs, pol.CheckLiteralSecrets(p, nil)...)
	if lim := pol.Rules().MaxStartDelay; lim > 0 {
		if ahead := run.StartAt.Sub(now); ahead > lim+startAllowance {
			probs = append(probs, policy.Problem{Kind: policy.KindOverLimit, Path: "start_at", Limit: pol.Var("MAX_START_DELAY"),
				Reason: fmt.Sprintf("the run starts %v from now, further than this worker's limit of %v plus %v (%s)",
					ahead.Round(time.Second), lim, startAllowance, pol.Var("MAX_START_DELAY"))})
		}
	}
	if len(probs) == 0 {
		return false
	}
	w.failShard(ctx, work.RunID, work.Shard, "refused by the worker's policy: "+policy.Summary(probs), log)
	return true
}

// prepare builds r's engine from o within the worker's policy: the
// engine's dials are checked (policy.Guard), its rendering bounded, and
// the whole preparation (rendering, a gRPC target's reflection) over by
// half the lease's life, while the lease is renewed. A failure is stated
// as the shard's failure reason.
func (w *Worker) prepare(r *shardRun, o load.Options) (*load.Engine, error) {
	pol, err := w.newPolicy()
	if err != nil {
		return nil, err
	}
	deadline := w.now().Add(w.cfg.LeaseTTL / 2)
	g := pol.Guard(deadline)
	if w.cfg.Resolver != nil {
		g = g.WithResolver(w.cfg.Resolver)
	}
	mem := w.memGuard()
	g = g.WithCheck(func() error { return mem.check("rendering the requests") })
	o.Guard = g
	e, err := load.New(o)
	if err == nil {
		// The requests are encoded after rendering: one more look.
		if err := mem.check("preparing the engine"); err != nil {
			e.Discard()
			return nil, err
		}
		return e, nil
	}
	var me *memoryError
	if errors.As(err, &me) {
		return nil, me
	}
	var re *plan.RenderError
	if errors.As(err, &re) {
		return nil, fmt.Errorf("refused by the worker's policy: %s", pol.RenderProblem(err, len(o.Plan.Data.Texts) > 0))
	}
	return nil, fmt.Errorf("set up load: %w", err)
}

// failShard ends a shard that cannot run: it writes the failed-shard
// marker with the reason, which the aggregator puts in the report, and
// tells the aggregator.
func (w *Worker) failShard(ctx context.Context, id string, shard int, reason string, log *zap.Logger) {
	log.Error("shard cannot run", zap.String("reason", reason))
	f := runs.ShardFailure{Worker: w.cfg.ID, Time: w.now(), Reason: reason}
	if _, err := w.st.Create(ctx, runs.FailedPath(id, shard), runs.Encode(f), "application/json"); err != nil && !errors.Is(err, store.ErrExists) {
		log.Error("write failed-shard marker", zap.Error(err))
		return
	}
	w.publish(runs.Event{Type: runs.EventFailed, RunID: id, Shard: shard}, log)
}
