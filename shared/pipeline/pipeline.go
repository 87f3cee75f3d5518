// Package pipeline composes cicada's parts: the trigger, workers and the
// aggregator over one bucket and one bus. It is the one place that wires
// them, for `cicada local`, `make run` and the end-to-end tests alike.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/worker"
)

// Options configure an embedded pipeline.
type Options struct {
	Workers    int // worker count, default 2
	Worker     worker.Config
	Aggregator aggregate.Config
	Trigger    trigger.Config
	// ServePredict also serves the sample predict service on Predict's
	// addresses.
	ServePredict bool
	Predict      predict.Config
	Log          *zap.Logger
	// BucketDir is the directory of the bucket (store.Disk), which keeps
	// the runs after the process ends; empty means a temporary directory
	// removed by stop.
	BucketDir string
}

// EmbeddedBucket is the name of an embedded pipeline's bucket in a gs://
// URI: a plan's data.uri gs://cicada-local/OBJECT reads OBJECT of the
// bucket on disk (docs/corpora.md).
const EmbeddedBucket = "cicada-local"

// OpenEmbeddedBucket opens the bucket of an embedded pipeline in dir, as
// StartEmbedded does: a corpus (data.uri gs://EmbeddedBucket/...) keeps the
// generation a run pinned when it is overwritten, as in a versioned
// bucket; cicada's own objects, rewritten often and read only at their
// live generation, keep none.
func OpenEmbeddedBucket(dir string) (*store.Disk, error) {
	st, err := store.NewDisk(dir)
	if err != nil {
		return nil, fmt.Errorf("bucket: %w", err)
	}
	st.SetVersioning(runs.Root, runs.ActivePrefix, runs.IdempotencyPrefix)
	return st, nil
}

// Embedded is a running pipeline in this process.
type Embedded struct {
	Store      store.Store
	Bus        bus.Bus
	TriggerURL string          // http://127.0.0.1:port
	Predict    *predict.Server // when served
	// PredictHTTP and PredictGRPC are the served predict addresses.
	PredictHTTP, PredictGRPC string
}

// StartEmbedded runs the trigger, the workers and the aggregator in this
// process against in-process Pub/Sub (pstest, through the real client
// library) and a bucket on local disk (store.Disk). stop ends everything
// and waits for it; it also runs when setup fails half-way.
func StartEmbedded(ctx context.Context, o Options) (e *Embedded, stop func(), err error) {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var cleanups []func()
	stop = func() {
		cancel()
		wg.Wait()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error(name+" stopped", zap.Error(err))
			}
		}()
	}

	// A bucket on disk: its operations cost the same however many slice
	// objects a run writes (fakestorage's scan the whole bucket).
	dir := o.BucketDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cicada-bucket-"); err != nil {
			return nil, stop, fmt.Errorf("bucket directory: %w", err)
		}
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	}
	st, err := OpenEmbeddedBucket(dir)
	if err != nil {
		return nil, stop, err
	}
	corpora := store.OneBucket{Name: EmbeddedBucket, Versions: st}
	b, closeBus, err := bus.NewInProcess(ctx)
	if err != nil {
		return nil, stop, fmt.Errorf("in-process Pub/Sub: %w", err)
	}
	cleanups = append(cleanups, closeBus)
	e = &Embedded{Store: st, Bus: b}

	if o.ServePredict {
		httpLn, grpcLn, err := predict.Listen(ctx, o.Predict)
		if err != nil {
			return nil, stop, err
		}
		e.PredictHTTP, e.PredictGRPC = predict.Addr(httpLn), predict.Addr(grpcLn)
		e.Predict = predict.NewServer(o.Predict, log.Named("predict"))
		goRun("predict", func(ctx context.Context) error { return e.Predict.Serve(ctx, httpLn, grpcLn) })
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, stop, fmt.Errorf("listen for the trigger: %w", err)
	}
	e.TriggerURL = "http://" + ln.Addr().String()
	tcfg, wcfg := localPolicies(o.Trigger, o.Worker, ln.Addr().String())
	srv := &http.Server{
		Handler:           trigger.NewHandler(trigger.Deps{Store: st, Bus: b, Config: tcfg, Log: log.Named("trigger"), Corpora: corpora}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	goRun("trigger", func(ctx context.Context) error { return serve(ctx, srv, ln) })

	workers := o.Workers
	if workers <= 0 {
		workers = 2
	}
	for i := range workers {
		cfg := wcfg
		cfg.ID = fmt.Sprintf("local-worker-%d", i+1)
		cfg.Corpora = corpora
		w := worker.New(cfg, st, b, log.Named(cfg.ID), nil)
		goRun(cfg.ID, w.Run)
	}
	agg := aggregate.NewService(o.Aggregator, st, b, log.Named("aggregator"), nil)
	goRun("aggregator", agg.Run)
	return e, stop, nil
}

// localPolicies are the trigger's and the workers' configurations of an
// embedded pipeline: one operator, so workers without Rules of their own
// hold plans to the trigger's; and both refuse the trigger's own address
// (triggerAddr), which an allow-list of 127.0.0.1 would otherwise let a
// plan aim at.
func localPolicies(t trigger.Config, w worker.Config, triggerAddr string) (trigger.Config, worker.Config) {
	if w.Rules == nil {
		r := t.Rules
		w.Rules, w.MaxPlanShards = &r, t.MaxShards
	}
	t.Rules = t.Rules.Refusing(triggerAddr)
	r := w.Rules.Refusing(triggerAddr)
	w.Rules = &r
	return t, w
}

// serve serves srv on ln until ctx ends, then shuts it down within a bound.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
