package aggregate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/report"
)

// runFigures are what /metrics shows of one active run: its last closed
// slice (a slice whose time and stragglers' time are past) and the run so
// far, as of the aggregator's last live update.
type runFigures struct {
	plan string
	// lastSlice is the index of the last closed slice, -1 before the
	// first; the slice figures are zero until then.
	lastSlice            int
	achievedRPS, planned float64
	p50, p99             float64 // seconds
	errorRatio           float64
	generatorCPU         float64 // the busiest generator's CPU share
	completed, errors    int64   // the run so far
	shards, leased       int
	coverage             float64 // received / expected shard slices, 1 when none expected yet
	expected, received   int
	leasesKnown          bool
}

// liveMetrics is the aggregator's current view of its active runs, read
// by the Prometheus collector at each scrape.
type liveMetrics struct {
	mu   sync.Mutex
	runs map[string]runFigures
}

// set records run id's figures from its live report; leased is the number
// of shards with a live lease, or -1 when the leases were not read this
// update (the previous count stands).
func (m *liveMetrics) set(id string, rep *report.Report, leased int) {
	f := runFigures{plan: rep.PlanName, lastSlice: -1, shards: rep.Shards, coverage: 1,
		completed: rep.Summary.Completed, errors: rep.Summary.Errors}
	if c := rep.Coverage; c != nil {
		f.expected, f.received = c.Expected, c.Received
		if c.Expected > 0 {
			f.coverage = float64(c.Received) / float64(c.Expected)
		}
		// A live report's coverage counts only the closed slices, of
		// every shard.
		if rep.Shards > 0 {
			f.lastSlice = c.Expected/rep.Shards - 1
		}
	}
	for _, s := range rep.Slices {
		if s.Index != f.lastSlice {
			continue
		}
		f.achievedRPS, f.planned = s.RPS, s.PlannedRPS
		f.p50, f.p99 = s.LatencyMS.P50/1000, s.LatencyMS.P99/1000
		if s.Completed > 0 {
			f.errorRatio = float64(s.Errors) / float64(s.Completed)
		}
		f.generatorCPU = s.GeneratorCPU
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runs == nil {
		m.runs = map[string]runFigures{}
	}
	f.leased, f.leasesKnown = leased, leased >= 0
	if old, ok := m.runs[id]; ok && !f.leasesKnown {
		f.leased, f.leasesKnown = old.leased, old.leasesKnown
	}
	m.runs[id] = f
}

// drop forgets a run that ended (or is no longer this aggregator's).
func (m *liveMetrics) drop(id string) {
	m.mu.Lock()
	delete(m.runs, id)
	m.mu.Unlock()
}

// The metric families of /metrics (docs/history.md). Per-run families
// carry the labels run_id and plan.
var (
	runLabels       = []string{"run_id", "plan"}
	descActive      = prometheus.NewDesc("cicada_aggregator_active_runs", "Runs the aggregator is following (no final report yet).", nil, nil)
	descAchieved    = prometheus.NewDesc("cicada_run_achieved_requests_per_second", "Completed requests per second in the run's last closed slice.", runLabels, nil)
	descPlanned     = prometheus.NewDesc("cicada_run_planned_requests_per_second", "Requests per second the schedule planned in the run's last closed slice.", runLabels, nil)
	descP50         = prometheus.NewDesc("cicada_run_latency_p50_seconds", "Median latency of the run's last closed slice, seconds.", runLabels, nil)
	descP99         = prometheus.NewDesc("cicada_run_latency_p99_seconds", "99th percentile latency of the run's last closed slice, seconds.", runLabels, nil)
	descErrorRatio  = prometheus.NewDesc("cicada_run_error_ratio", "Errors per completed request in the run's last closed slice.", runLabels, nil)
	descLastSlice   = prometheus.NewDesc("cicada_run_last_closed_slice", "Index of the run's last closed slice (-1 before the first closes).", runLabels, nil)
	descShards      = prometheus.NewDesc("cicada_run_shards", "Shards the run's plan asked for.", runLabels, nil)
	descLeased      = prometheus.NewDesc("cicada_run_shards_leased", "Shards of the run a worker holds a live lease on, as of the last sweep.", runLabels, nil)
	descCoverage    = prometheus.NewDesc("cicada_run_coverage_ratio", "Shard slices received / expected so far (1 before any is expected).", runLabels, nil)
	descCompleted   = prometheus.NewDesc("cicada_run_requests_completed_total", "Requests of the run completed so far, in the slices received.", runLabels, nil)
	descErrorsTotal = prometheus.NewDesc("cicada_run_request_errors_total", "Requests of the run that failed so far, in the slices received.", runLabels, nil)
	descGenCPU      = prometheus.NewDesc("cicada_run_generator_cpu_ratio", "Share of its CPUs the busiest generating process used in the run's last closed slice (near 1: the generator's own queueing is in the latencies).", runLabels, nil)
)

// Describe implements prometheus.Collector.
func (m *liveMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descAchieved, descPlanned, descP50, descP99, descErrorRatio,
		descLastSlice, descShards, descLeased, descCoverage, descCompleted, descErrorsTotal, descGenCPU} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the runs as of now, so that a
// run that ended disappears from the next scrape.
func (m *liveMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	ids := make([]string, 0, len(m.runs))
	for id := range m.runs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	figs := make([]runFigures, len(ids))
	for i, id := range ids {
		figs[i] = m.runs[id]
	}
	m.mu.Unlock()

	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(len(ids)))
	for i, f := range figs {
		lv := []string{ids[i], f.plan}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
		}
		gauge(descLastSlice, float64(f.lastSlice))
		gauge(descShards, float64(f.shards))
		gauge(descCoverage, f.coverage)
		ch <- prometheus.MustNewConstMetric(descCompleted, prometheus.CounterValue, float64(f.completed), lv...)
		ch <- prometheus.MustNewConstMetric(descErrorsTotal, prometheus.CounterValue, float64(f.errors), lv...)
		if f.leasesKnown {
			gauge(descLeased, float64(f.leased))
		}
		if f.lastSlice >= 0 {
			gauge(descAchieved, f.achievedRPS)
			gauge(descPlanned, f.planned)
			gauge(descP50, f.p50)
			gauge(descP99, f.p99)
			gauge(descErrorRatio, f.errorRatio)
			gauge(descGenCPU, f.generatorCPU)
		}
	}
}

// MetricsHandler serves the aggregator's metrics in the Prometheus
// exposition format: its active runs' figures, and the Go runtime's and
// the process's.
func (s *Service) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(s.log), Registry: reg})
}

// ServeMetrics serves /metrics (MetricsHandler) and /healthz on l until
// ctx ends.
func (s *Service) ServeMetrics(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", l.Addr(), err)
	}
	return nil
}

// liveLeases counts the shards of st with a live lease at now (leases
// loaded).
func liveLeases(st *State, now time.Time) int {
	n := 0
	for _, rec := range st.Leases {
		if rec.Live(now) {
			n++
		}
	}
	return n
}
