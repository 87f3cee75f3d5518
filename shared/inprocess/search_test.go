package inprocess

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/report"
)

// TestRunSearch is `cicada run` of a capacity search against the sample
// service with a known capacity (2 requests in service at once, 10 ms
// each: 200 req/s): every slice all shards closed is judged in process,
// the engines move to each probe's rate and stop at the search's end, and
// the report's search section finds the capacity within its precision.
func TestRunSearch(t *testing.T) {
	t.Parallel()
	const capacity, precision = 200.0, 0.10
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := predict.NewServer(predict.Config{Concurrency: 2, ServiceTime: 10 * time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Serve(ctx, ln, nil) }()

	p, err := plan.Parse([]byte(fmt.Sprintf(`{"name": "search", "target": {"protocol": "http", "url": "http://%s/v1/predict",
		"body": "{\"text\": {{json .Text}}}", "timeout": "1s", "connections": 8},
		"data": {"texts": ["the striker scored", "shares fell", "a new chip"]},
		"load": {"model": "open", "max_in_flight": 500, "search": {"slo": ["p99 < 50ms"],
			"from": 50, "to": 800, "step": 2, "settle": "500ms", "hold": "1s", "precision": "10%%", "max_probes": 12}},
		"slice": "500ms", "shards": 2}`, ln.Addr())), "json")
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	rep, err := Run(context.Background(), Options{Plan: p, RunID: "search", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Search
	if s == nil || len(s.Probes) < 3 {
		t.Fatalf("search section %+v, want the probes judged", s)
	}
	for _, pr := range s.Probes {
		t.Logf("probe %d: %6.1f req/s, achieved %6.1f, p99 %7.1f ms: %s %s", pr.N, pr.Rate, pr.AchievedRate, pr.P99MS, pr.Verdict, pr.Note)
		if pr.Verdict != report.ProbeHeld && math.Abs(pr.AchievedRate-pr.Rate) > 0.1*pr.Rate {
			t.Errorf("probe %d achieved %v req/s of the %v offered: the engines did not follow the search", pr.N, pr.AchievedRate, pr.Rate)
		}
	}
	if n := strings.Count(progress.String(), "probe "); n < len(s.Probes) {
		t.Errorf("the progress printed %d probe lines for %d probes", n, len(s.Probes))
	}
	if !strings.Contains(progress.String(), "capacity") {
		t.Errorf("the progress lacks the capacity line:\n%s", progress.String())
	}
	if got, bound := len(rep.Slices), p.NumSlices(); s.Status != report.SearchRunning && got >= bound {
		t.Errorf("%d slice rows: the run did not stop at the search's end (bound %d)", got, bound)
	}
	if raceDetector {
		return // the race detector slows the in-process target: no capacity to judge
	}
	if s.Status != report.SearchFound || s.MaxRateUnderSLO == nil {
		t.Fatalf("search %s (%s), want found", s.Status, s.Reason)
	}
	if d := math.Abs(*s.MaxRateUnderSLO-capacity) / capacity; d > precision {
		t.Errorf("capacity %v req/s: answer %v, %.0f%% off", capacity, *s.MaxRateUnderSLO, d*100)
	}
	if rep.Verdict != report.VerdictPass {
		t.Errorf("verdict %s %v, want pass", rep.Verdict, rep.VerdictReasons)
	}
	t.Logf("capacity %v req/s; answer %v; %d probes; %d slices", capacity, *s.MaxRateUnderSLO, len(s.Probes), len(rep.Slices))
}
