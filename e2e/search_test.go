package e2e

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/cluster"
	"github.com/cicadaload/cicada/shared/report"
)

// TestSearchOnClusterWithWorkerLoss runs a capacity search on the emulator
// cluster against the sample service with a known capacity (4 requests in
// service at once, 10 ms each: 400 req/s) and kills a worker with SIGKILL
// mid-search. Its shards resume on the other workers; the search still
// finds the capacity within its precision, and no probe is judged on a
// window a shard was missing from: such a probe is held and run again.
func TestSearchOnClusterWithWorkerLoss(t *testing.T) {
	const capacity, precision = 400.0, 0.10
	e := startCluster(t, func(o *cluster.Options) {
		o.Env = append(o.Env, "CICADA_PREDICT_CONCURRENCY=4", "CICADA_PREDICT_SERVICE_TIME=10ms")
	})
	const shards = 3
	body := fmt.Sprintf(`{"name": "e2e search", "target": {"protocol": "http", "url": %q, "body": "{\"text\": {{json .Text}}}",
		"expect_status": [200], "timeout": "2s", "connections": 16},
		"data": {"texts": ["the striker scored twice", "shares fell after the earnings", "a new chip doubles battery life"]},
		"load": {"model": "open", "max_in_flight": 1000, "search": {"slo": ["p99 < 50ms", "error_rate < 1%%"],
			"from": 100, "to": 2000, "step": 2, "settle": "1s", "hold": "2s", "precision": "10%%", "max_probes": 14}},
		"slice": %q, "shards": %d, "max_lateness": %q}`, e.c.PredictURL+"/v1/predict", sliceLen.String(), shards, sharedMachineLateness.String())
	acc, _, _ := e.submit(t, body)

	// Mid-search: in probe 1 (200 req/s, from slice 5), every shard busy.
	e.waitSlices(t, acc.RunID, 5, acc.StartAt.Add(6*sliceLen+sliceLen/2))
	leases := e.holders(t, acc.RunID, shards)
	rec, ok := leases[0]
	if !ok || !rec.Live(time.Now()) {
		t.Fatalf("shard 0 has no live lease: %+v", leases)
	}
	victim := workerOf(rec.Holder)
	killed := time.Now()
	if err := e.c.Kill9(victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 %s (shards %v) %v into the run", victim, shardsOf(leases, victim, killed), killed.Sub(acc.StartAt).Round(time.Millisecond))

	e.waitFinal(t, acc.RunID, 4*time.Minute)
	rep := e.report(t, acc.RunID)
	s := rep.Search
	if s == nil {
		t.Fatal("the report has no search section")
	}
	missing := map[int]bool{}
	for _, m := range rep.Coverage.Missing {
		missing[m.Slice] = true
	}
	held := 0
	for _, p := range s.Probes {
		t.Logf("probe %d: %6.1f req/s, slices %d..%d, achieved %6.1f, p99 %7.1f ms, errors %.3f: %s %s",
			p.N, p.Rate, p.FromSlice, p.ToSlice, p.AchievedRate, p.P99MS, p.ErrorRate, p.Verdict, p.Note)
		if p.Verdict == report.ProbeHeld {
			held++
			continue
		}
		for k := p.FromSlice; k <= p.ToSlice; k++ {
			if missing[k] {
				t.Errorf("probe %d judged %s on slices %d..%d, but slice %d lacks a shard", p.N, p.Verdict, p.FromSlice, p.ToSlice, k)
			}
		}
	}
	if s.Status != report.SearchFound || s.MaxRateUnderSLO == nil {
		t.Fatalf("search %s (%s): want found", s.Status, s.Reason)
	}
	answer := *s.MaxRateUnderSLO
	if math.Abs(answer-capacity)/capacity > precision {
		t.Errorf("capacity %v req/s: the search answered %v, more than %v%% off", capacity, answer, precision*100)
	}
	t.Logf("capacity %v req/s; answer %v (bracket %v..%v); %d probes, %d held; shard slices missing %d",
		capacity, answer, *s.Low, ptrOr(s.High), len(s.Probes), held, len(rep.Coverage.Missing))
}

func ptrOr(v *float64) float64 {
	if v == nil {
		return math.Inf(1)
	}
	return *v
}
