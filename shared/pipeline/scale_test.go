package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/triggerapi"
	"github.com/cicadaload/cicada/shared/worker"
)

// BenchmarkEmbedded200Shards runs a 200-shard plan at a low rate per shard
// through the whole embedded pipeline (trigger, 4 workers, aggregator, the
// predict service, a bucket on disk) and reports the start skew across
// shards (spread of slice 0's worst send lateness), the time from the run's
// end to report.json, the process's peak heap during the run, and the peak
// heap of `cicada aggregate` rebuilding the report afterwards.
func BenchmarkEmbedded200Shards(b *testing.B) {
	const shards = 200
	for b.Loop() {
		e, stop, err := StartEmbedded(context.Background(), Options{
			Workers:    4,
			Worker:     worker.Config{Capacity: shards / 4, LeaseTTL: 10 * time.Second, RenewEvery: 2 * time.Second},
			Aggregator: aggregate.Config{Grace: 5 * time.Second},
			Trigger: trigger.Config{Rules: policy.Rules{AllowedTargets: []string{"127.0.0.1"}, MaxRate: 10000, MaxDuration: time.Hour},
				LeadTime: 5 * time.Second, MaxBody: 1 << 20, MaxShards: shards},
			ServePredict: true,
			Predict:      predict.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"},
		})
		if err != nil {
			b.Fatal(err)
		}
		plan := fmt.Sprintf(`{"name": "wide", "target": {"protocol": "http", "url": "http://%s/v1/predict", "connections": 1,
			"body": "{\"text\": {{json .Text}}}"},
			"data": {"texts": ["the striker scored", "shares fell", "a new chip"]},
			"load": {"model": "open", "stages": [{"duration": "20s", "rate": 400}]},
			"slice": "2s", "shards": %d}`, e.PredictHTTP, shards)
		ctx := context.Background()
		var acc triggerapi.Accepted
		var repObj []byte
		var repAt time.Time
		_, peak := measureHeap(func() {
			acc = mustPostB(b, e, plan)
			for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if o, err := e.Store.Get(ctx, runs.ReportPath(acc.RunID, report.FileJSON)); err == nil {
					repObj, repAt = o.Data, o.Updated
					break
				}
			}
		})
		if repObj == nil {
			stop()
			b.Fatal("no report within 2 minutes")
		}
		rep, err := report.Decode(repObj)
		if err != nil {
			b.Fatal(err)
		}
		stored, err := runs.Read(ctx, e.Store, acc.RunID)
		if err != nil {
			b.Fatal(err)
		}
		// Slice 0's worst lateness per shard: how late each shard's first
		// requests went out.
		var late []float64
		for shard := range shards {
			o, err := e.Store.Get(ctx, runs.SlicePath(acc.RunID, shard, 0))
			if err != nil {
				continue
			}
			r, err := slice.Unmarshal(o.Data)
			if err == nil {
				late = append(late, float64(r.MaxLatenessUS)/1000)
			}
		}
		sort.Float64s(late)
		_, aggPeak := measureHeap(func() {
			if _, _, err := aggregate.Once(ctx, e.Store, acc.RunID, time.Now(), time.Second, true); err != nil {
				b.Error(err)
			}
		})
		stop()
		if len(late) > 0 {
			b.ReportMetric(late[len(late)-1]-late[0], "skew-ms")
			b.ReportMetric(late[len(late)-1], "slice0-max-late-ms")
		}
		b.ReportMetric(repAt.Sub(stored.Run.End).Seconds(), "end-to-report-s")
		b.ReportMetric(float64(peak)/(1<<20), "process-peak-MB")
		b.ReportMetric(float64(aggPeak)/(1<<20), "aggregate-peak-MB")
		b.ReportMetric(float64(rep.Coverage.Received), "slices-received")
		b.ReportMetric(float64(rep.Coverage.Expected), "slices-expected")
		if rep.Verdict != report.VerdictPass {
			b.Logf("verdict %s: %v", rep.Verdict, rep.VerdictReasons)
		}
	}
}

func mustPostB(b *testing.B, e *Embedded, body string) triggerapi.Accepted {
	b.Helper()
	acc, err := triggerapi.New(e.TriggerURL).Submit(context.Background(), []byte(body), "application/json", "")
	if err != nil {
		b.Fatalf("POST /runs: %v", err)
	}
	return acc
}

// measureHeap returns fn's time and the highest heap in use while it ran.
func measureHeap(fn func()) (time.Duration, uint64) {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak.Store(max(peak.Load(), ms.HeapInuse))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t := time.Now()
	fn()
	d := time.Since(t)
	close(stop)
	wg.Wait()
	return d, peak.Load()
}
