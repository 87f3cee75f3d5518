package worker

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
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
	if p.Target.Auth == nil {
		return nil, true
	}
	fetchCtx, cancel := context.WithTimeout(ctx, w.cfg.LeaseTTL/2)
	defer cancel()
	auth, err := credential.Open(fetchCtx, p.Target.Auth, credential.Options{
		OnError: func(err error) { log.Warn("refresh target credential", zap.Error(err)) },
	})
	if err != nil {
		log.Error("target credential: the shard cannot run", zap.Error(err))
		w.fail(ctx, id, shard, err.Error(), log)
		return nil, false
	}
	log.Info("target credential obtained", zap.String("kind", p.Target.Auth.Kind()), zap.String("header", auth.Name()), zap.Time("expires", auth.Expiry()))
	return auth, true
}

// fail writes the shard's failed marker (runs.FailedPath) with reason and
// tells the aggregator.
func (w *Worker) fail(ctx context.Context, id string, shard int, reason string, log *zap.Logger) {
	f := runs.ShardFailure{Worker: w.cfg.ID, Time: w.now(), Reason: reason}
	if _, err := w.st.Create(ctx, runs.FailedPath(id, shard), runs.Encode(f), "application/json"); err != nil && !errors.Is(err, store.ErrExists) {
		log.Error("write failed-shard marker", zap.Error(err))
		return
	}
	w.publish(ctx, runs.Event{Type: runs.EventFailed, RunID: id, Shard: shard}, log)
}
