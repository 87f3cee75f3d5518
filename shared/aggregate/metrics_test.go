package aggregate

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// scrape GETs url and parses it with Prometheus's text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// runValue is the value of family name's series of run id, and whether
// there is one.
func runValue(fams map[string]*dto.MetricFamily, name, id string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["run_id"] != id {
			continue
		}
		if labels["plan"] != "abort" {
			return math.NaN(), true
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsDuringRun scrapes /metrics while a run is active: each
// family has the run's series with the figures of its last closed slice,
// and once the run's final report is written the run is gone.
func TestMetricsDuringRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261127-030000-00000a"
	base := time.Now()
	seedRun(t, st, id, base, 20*time.Millisecond) // 2 shards, slices 0..2 of 10, 10 requests each
	start := base.Add(-3500 * time.Millisecond)
	if _, err := st.Create(ctx, runs.ActivePath(id), nil, "text/plain"); err != nil {
		t.Fatal(err)
	}
	stored, err := runs.Read(ctx, st, id)
	if err != nil {
		t.Fatal(err)
	}
	// Slices 0..2 are closed once their requests' timeout and the
	// slack have passed after slice 2's end.
	var now atomic.Pointer[time.Time]
	mid := start.Add(3*time.Second + time.Duration(stored.Plan.Target.Timeout) + liveSlack + 200*time.Millisecond)
	now.Store(&mid)
	if _, err := lease.Acquire(ctx, st, runs.LeasePath(id, 0), "worker-1", time.Hour, mid); err != nil {
		t.Fatal(err)
	}
	// A minute of grace: mid is before the run's end plus the grace.
	s := NewService(Config{PickupGrace: time.Hour, Grace: time.Minute}, st, nil, zap.NewNop(), func() time.Time { return *now.Load() })
	srv := httptest.NewServer(s.MetricsHandler())
	defer srv.Close()

	s.sweep(ctx)
	fams := scrape(t, srv.URL)
	tests := []struct {
		name      string
		want, tol float64
	}{
		{"cicada_run_last_closed_slice", 2, 0},
		{"cicada_run_achieved_requests_per_second", 20, 0.5},
		{"cicada_run_latency_p50_seconds", 0.020, 0.001},
		{"cicada_run_latency_p99_seconds", 0.020, 0.001},
		{"cicada_run_error_ratio", 0, 0},
		{"cicada_run_generator_cpu_ratio", 0.3, 0}, // slice 2's busiest shard
		{"cicada_run_shards", 2, 0},
		{"cicada_run_shards_leased", 1, 0},
		{"cicada_run_coverage_ratio", 1, 0},
		{"cicada_run_requests_completed_total", 60, 0},
		{"cicada_run_request_errors_total", 0, 0},
	}
	for _, tt := range tests {
		got, ok := runValue(fams, tt.name, id)
		if !ok || math.Abs(got-tt.want) > tt.tol || math.IsNaN(got) {
			t.Errorf("%s{run_id=%q,plan=\"abort\"} = %v (present %v), want %v ± %v", tt.name, id, got, ok, tt.want, tt.tol)
		}
	}
	if f := fams["cicada_aggregator_active_runs"]; f == nil || f.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("cicada_aggregator_active_runs = %v, want 1", f)
	}
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}

	// The run ends: its final report is written and its series go.
	end := stored.Run.End.Add(2 * time.Minute)
	now.Store(&end)
	s.sweep(ctx)
	fams = scrape(t, srv.URL)
	for _, tt := range tests {
		if _, ok := runValue(fams, tt.name, id); ok {
			t.Errorf("%s still has run %s after its final report", tt.name, id)
		}
	}
	if f := fams["cicada_aggregator_active_runs"]; f == nil || f.GetMetric()[0].GetGauge().GetValue() != 0 {
		t.Errorf("cicada_aggregator_active_runs after the end = %v, want 0", f)
	}
}

// TestServeMetrics serves /metrics and /healthz on a real listener, as
// the aggregator binary does on CICADA_AGGREGATOR_METRICS_ADDR, and stops
// with its context.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewService(Config{}, nil, nil, zap.NewNop(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeMetrics(ctx, l) }()
	base := fmt.Sprintf("http://%s", l.Addr())
	fams := scrape(t, base+"/metrics")
	if f := fams["cicada_aggregator_active_runs"]; f == nil || f.GetType() != dto.MetricType_GAUGE {
		t.Errorf("cicada_aggregator_active_runs = %v, want a gauge", f)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeMetrics after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeMetrics did not stop with its context")
	}
}
