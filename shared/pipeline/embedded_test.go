package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/triggerapi"
	"github.com/cicadaload/cicada/shared/worker"
)

// start runs an embedded pipeline with the predict service, tuned for short
// test runs.
func start(t *testing.T, workers int) *Embedded {
	t.Helper()
	e, stop, err := StartEmbedded(context.Background(), Options{
		Workers:      workers,
		Worker:       worker.Config{Capacity: 2, LeaseTTL: 10 * time.Second, RenewEvery: 500 * time.Millisecond},
		Aggregator:   aggregate.Config{Grace: 10 * time.Second, Sweep: 300 * time.Millisecond, LiveEvery: 200 * time.Millisecond, PickupGrace: 2 * time.Second, Republish: time.Second},
		Trigger:      trigger.Config{AllowedTargets: []string{"127.0.0.1"}, LeadTime: time.Second, MaxBody: 1 << 20},
		ServePredict: true,
		Predict:      predict.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"},
		Log:          testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return e
}

// testLog logs to the test's output when -v is given with CICADA_TEST_LOG=1.
func testLog(t *testing.T) *zap.Logger {
	if os.Getenv("CICADA_TEST_LOG") == "" {
		return zap.NewNop()
	}
	return zaptest.NewLogger(t)
}

func planJSON(url string, shards int, dur string) string {
	return fmt.Sprintf(`{"name": "embedded", "target": {"protocol": "http", "url": %q, "body": "{\"text\": {{json .Text}}}"},
		"data": {"texts": ["the striker scored", "shares fell", "a new chip"]},
		"load": {"model": "open", "stages": [{"duration": %q, "rate": 200}]},
		"slice": "500ms", "shards": %d}`, url, dur, shards)
}

// post submits a plan through the trigger's HTTP API, as the CLI does.
func post(t *testing.T, e *Embedded, body string) (triggerapi.Accepted, error) {
	t.Helper()
	return triggerapi.New(e.TriggerURL).Submit(context.Background(), []byte(body), "application/json", "")
}

// mustPost submits a plan that the trigger must accept.
func mustPost(t *testing.T, e *Embedded, body string) triggerapi.Accepted {
	t.Helper()
	acc, err := post(t, e, body)
	if err != nil {
		t.Fatalf("POST /runs: %v", err)
	}
	return acc
}

// waitReport waits for the run's report.json and returns it with its bytes.
// It polls the bucket, not the trigger: a status every 100 ms would load
// the process whose workers these tests count requests of.
func waitReport(t *testing.T, e *Embedded, id string, within time.Duration) (*report.Report, []byte) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		obj, err := e.Store.Get(context.Background(), runs.ReportPath(id, report.FileJSON))
		if err == nil {
			rep, err := report.Decode(obj.Data)
			if err != nil {
				t.Fatalf("report.json: %v", err)
			}
			return rep, obj.Data
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no report for run %s within %v", id, within)
	return nil, nil
}

// slices reads every slice object of a run.
func slices(t *testing.T, e *Embedded, id string) []*slice.Result {
	t.Helper()
	names, err := e.Store.List(context.Background(), runs.SlicePrefix(id))
	if err != nil {
		t.Fatal(err)
	}
	var out []*slice.Result
	for _, n := range names {
		obj, err := e.Store.Get(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := slice.Unmarshal(obj.Data); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// TestEmbeddedRun is the whole pipeline in one process: a plan posted to
// the trigger is run by two workers and merged into one exact report.
func TestEmbeddedRun(t *testing.T) {
	t.Parallel()
	e := start(t, 2)
	acc := mustPost(t, e, planJSON("http://"+e.PredictHTTP+"/v1/predict", 4, "3s"))
	rep, first := waitReport(t, e, acc.RunID, 20*time.Second)
	if rep.Status != report.StatusCompleted || rep.Coverage == nil || rep.Coverage.Received != 24 || len(rep.Coverage.Missing) != 0 {
		t.Fatalf("status %s coverage %+v, want completed with 4 shards × 6 slices", rep.Status, rep.Coverage)
	}
	if rep.Summary.Intended != 600 || rep.Summary.Completed != 600 || rep.Summary.Errors != 0 {
		t.Errorf("intended %d completed %d errors %d, want 600, 600, 0", rep.Summary.Intended, rep.Summary.Completed, rep.Summary.Errors)
	}
	// Totals equal the sum of the slice objects, each counted once.
	var sent int64
	seen := map[[2]int]bool{}
	writers := map[int]map[string]bool{}
	for _, r := range slices(t, e, acc.RunID) {
		key := [2]int{r.Shard, r.Index}
		if seen[key] {
			t.Errorf("shard %d slice %d stored twice", r.Shard, r.Index)
		}
		seen[key] = true
		sent += r.Sent
		if writers[r.Shard] == nil {
			writers[r.Shard] = map[string]bool{}
		}
		writers[r.Shard][r.Writer] = true
	}
	if sent != rep.Summary.Sent {
		t.Errorf("slices sum to %d sent, report says %d", sent, rep.Summary.Sent)
	}
	if got := e.Predict.Requests(); got != rep.Summary.Sent {
		t.Errorf("the target counted %d requests, the report %d sent", got, rep.Summary.Sent)
	}
	for shard, w := range writers {
		if len(w) != 1 {
			t.Errorf("shard %d was written by %d workers: %v", shard, len(w), w)
		}
	}
	// A second aggregation from the bucket alone gives the same bytes.
	again, _, err := aggregate.Once(context.Background(), e.Store, acc.RunID, time.Now(), time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := again.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), first) {
		t.Errorf("a second aggregation wrote a different report:\n%s\nvs\n%s", b.Bytes(), first)
	}
}

// TestEmbeddedDuplicateMessage delivers a shard's message twice: one worker
// drives it, the other sees the lease and leaves it.
func TestEmbeddedDuplicateMessage(t *testing.T) {
	t.Parallel()
	e := start(t, 2)
	acc := mustPost(t, e, planJSON("http://"+e.PredictHTTP+"/v1/predict", 1, "2s"))
	dup := runs.Encode(runs.ShardWork{RunID: acc.RunID, Shard: 0, Reason: "start"})
	if _, err := e.Bus.Publish(context.Background(), bus.ShardsTopic, dup, nil); err != nil {
		t.Fatal(err)
	}
	rep, _ := waitReport(t, e, acc.RunID, 20*time.Second)
	if rep.Summary.Intended != 400 || rep.Coverage.Received != 4 {
		t.Errorf("intended %d, slices %d; want 400 and 4 (one driver)", rep.Summary.Intended, rep.Coverage.Received)
	}
	// Every request sent reached the target once: a second driver would
	// send more than the report counts. (On a loaded machine some may be
	// dropped at max_in_flight; they are never sent.)
	if got := e.Predict.Requests(); got != rep.Summary.Sent || rep.Summary.Sent+rep.Summary.Dropped != 400 {
		t.Errorf("the target got %d requests; report: sent %d, dropped %d; want the target's count = sent and sent + dropped = 400 (one driver)", got, rep.Summary.Sent, rep.Summary.Dropped)
	}
}

// TestEmbeddedCancel cancels a run: workers stop at the next slice
// boundary and the report says cancelled.
func TestEmbeddedCancel(t *testing.T) {
	t.Parallel()
	e := start(t, 2)
	acc := mustPost(t, e, planJSON("http://"+e.PredictHTTP+"/v1/predict", 2, "20s"))
	time.Sleep(time.Until(acc.StartAt) + 1200*time.Millisecond)
	if _, err := triggerapi.New(e.TriggerURL).Cancel(context.Background(), acc.RunID); err != nil {
		t.Fatal(err)
	}
	cancelledAt := time.Now()
	rep, _ := waitReport(t, e, acc.RunID, 15*time.Second)
	if rep.Status != report.StatusCancelled {
		t.Errorf("status %s, want cancelled", rep.Status)
	}
	// Stopped within a slice (plus the lease renewal period that notices
	// the cancel): nothing intended much after the cancel.
	limit := cancelledAt.Sub(acc.StartAt) + 500*time.Millisecond + 500*time.Millisecond + 500*time.Millisecond
	if maxSlices := int(limit/(500*time.Millisecond)) + 1; len(slices(t, e, acc.RunID)) > maxSlices*2 {
		t.Errorf("%d slice objects after a cancel at %v, want at most %d", len(slices(t, e, acc.RunID)), cancelledAt.Sub(acc.StartAt), maxSlices*2)
	}
	if got := rep.Summary.Sent; got > int64(limit.Seconds()*200)+50 {
		t.Errorf("sent %d requests, want at most about %v of the 200 req/s load", got, limit)
	}
}

// TestEmbeddedForbiddenTarget: a plan aimed at a host not allowed is
// refused and never sends a request.
func TestEmbeddedForbiddenTarget(t *testing.T) {
	t.Parallel()
	e := start(t, 1)
	_, err := post(t, e, planJSON("http://10.1.2.3:8501/v1/predict", 1, "1s"))
	var answer *triggerapi.Error
	if !errors.As(err, &answer) || answer.StatusCode != http.StatusForbidden || !strings.Contains(answer.Body, "10.1.2.3") {
		t.Errorf("POST: %v, want 403 naming the host", err)
	}
	time.Sleep(500 * time.Millisecond)
	if names, _ := e.Store.List(context.Background(), "runs/"); len(names) != 0 {
		t.Errorf("a refused plan left objects: %v", names)
	}
}

// TestEmbeddedCorruptSlice: a corrupt slice object is reported, not fatal.
func TestEmbeddedCorruptSlice(t *testing.T) {
	t.Parallel()
	e := start(t, 2)
	acc := mustPost(t, e, planJSON("http://"+e.PredictHTTP+"/v1/predict", 1, "2s"))
	// Before the worker gets there: its write-once then leaves this.
	if _, err := e.Store.Create(context.Background(), runs.SlicePath(acc.RunID, 0, 3), []byte("not a slice"), "application/x-protobuf"); err != nil {
		t.Fatal(err)
	}
	rep, _ := waitReport(t, e, acc.RunID, 20*time.Second)
	if rep.Coverage == nil || len(rep.Coverage.Corrupt) != 1 || rep.Coverage.Received != 3 {
		t.Fatalf("coverage %+v, want one corrupt slice and 3 received", rep.Coverage)
	}
	if rep.Status != report.StatusIncomplete {
		t.Errorf("status %s, want incomplete", rep.Status)
	}
	if rep.Summary.Intended != 300 {
		t.Errorf("intended %d, want the 3 good slices' 300", rep.Summary.Intended)
	}
}
