package worker

import (
	"context"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/plan"
)

// credentials obtains the credential of the plan's target.auth before the
// shard's first request, and keeps it current until it is closed (a nil
// Header when the plan has none). When it cannot be had the shard cannot
// run: credentials writes the shard's failed marker with the reason, so
// that the report says why (verdict error) instead of showing gaps or a
// run of 401s, and returns false; nothing is sent.
//
// It asks for no longer than half the lease's life: the lease is not
// renewed yet, and must not lapse while the worker waits.
func (w *Worker) credentials(ctx context.Context, id string, shard int, p *plan.Plan, log *zap.Logger) (*credential.Header, bool) {
	if p.Target.Credential() == nil {
		return nil, true
	}
	fetchCtx, cancel := context.WithTimeout(ctx, w.cfg.LeaseTTL/2)
	defer cancel()
	auth, err := credential.Open(fetchCtx, p.Target.Credential(), credential.Options{
		OnError: func(err error) { log.Warn("refresh target credential", zap.Error(err)) },
	})
	if err != nil {
		log.Error("target credential: the shard cannot run", zap.Error(err))
		w.failShard(ctx, id, shard, err.Error(), log)
		return nil, false
	}
	log.Info("target credential obtained", zap.String("kind", p.Target.Auth.Kind()), zap.String("header", auth.Name()), zap.Time("expires", auth.Expiry()))
	return auth, true
}
