package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	stdslices "slices"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/worker"
)

// TestEmbeddedPresets runs every preset over REST and gRPC through the
// whole pipeline against the sample service (server reflection off), with
// a labelled corpus read from the bucket, batches of 4 and every
// prediction checked. It asserts that the service saw the published wire
// shape (its own strict decoding refused nothing; model, tensor name,
// datatype, shape and batch size as the spec gives them) and that the
// report's accuracy is the classifier's accuracy on the texts, within
// sampling error.
func TestEmbeddedPresets(t *testing.T) {
	t.Parallel()
	e, stop, err := StartEmbedded(context.Background(), Options{
		Workers:      2,
		Worker:       worker.Config{Capacity: 4, LeaseTTL: 10 * time.Second, RenewEvery: 500 * time.Millisecond},
		Aggregator:   aggregate.Config{Grace: 10 * time.Second, Sweep: 300 * time.Millisecond, LiveEvery: 200 * time.Millisecond, PickupGrace: 2 * time.Second, Republish: time.Second},
		Trigger:      trigger.Config{Rules: policy.Rules{AllowedTargets: []string{"127.0.0.1"}}, LeadTime: time.Second, MaxBody: 1 << 20},
		ServePredict: true,
		Predict:      predict.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", DisableReflection: true},
		Log:          testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	// The held-out split as JSONL records, and what the classifier gets
	// right on it: the accuracy every run must report.
	_, held := predict.Split(predict.GenerateCorpus())
	model := predict.Default()
	var corpus bytes.Buffer
	right := 0
	for _, ex := range held {
		label := predict.CorpusLabels[ex.Label]
		line, _ := json.Marshal(map[string]string{"text": ex.Text, "label": label})
		corpus.Write(append(line, '\n'))
		if _, got := model.Predict(ex.Text); got == label {
			right++
		}
	}
	known := float64(right) / float64(len(held))
	const object = "corpora/labeled.jsonl"
	if _, err := e.Store.Put(context.Background(), object, corpus.Bytes(), "application/x-ndjson"); err != nil {
		t.Fatal(err)
	}
	const batch = 4
	rest, grpc := "http://"+e.PredictHTTP, e.PredictGRPC
	tests := []struct {
		key, protocol, addr, preset, path string
		shape                             predict.WireShape
	}{
		{predict.KServeV1REST, "http", rest, `{"name": "kserve_v1", "model": "textcls"}`, "predictions[*].label",
			predict.WireShape{Model: "textcls", Shape: []int64{batch}, Encoding: "instances"}},
		{predict.OIPv2REST, "http", rest, `{"name": "oip_v2", "model": "textcls", "version": "1"}`, "outputs[0].data[*]",
			predict.WireShape{Model: "textcls", Version: "1", Input: "text", Datatype: "BYTES", Shape: []int64{batch}, Encoding: "data"}},
		{predict.OIPv2GRPC, "grpc", grpc, `{"name": "oip_v2", "model": "textcls"}`, "outputs[0].contents.bytes_contents[*]",
			predict.WireShape{Model: "textcls", Input: "text", Datatype: "BYTES", Shape: []int64{batch}, Encoding: "bytes_contents"}},
		{predict.TFServingREST, "http", rest, `{"name": "tfserving", "model": "textcls"}`, "predictions[*].label",
			predict.WireShape{Model: "textcls", Signature: "serving_default", Shape: []int64{batch}, Encoding: "instances"}},
		{predict.TFServingGRPC, "grpc", grpc, `{"name": "tfserving", "model": "textcls", "version": "1"}`, "outputs.label.string_val[*]",
			predict.WireShape{Model: "textcls", Version: "1", Signature: "serving_default", Input: "text", Datatype: "DT_STRING", Shape: []int64{batch}, Encoding: "string_val"}},
		{predict.VertexREST, "http", rest, `{"name": "vertex", "project": "p", "location": "us-central1", "endpoint": "textcls"}`, "predictions[*].label",
			predict.WireShape{Model: "textcls", Endpoint: "projects/p/locations/us-central1/endpoints/textcls", Shape: []int64{batch}, Encoding: "instances"}},
		{predict.VertexGRPC, "grpc", grpc, `{"name": "vertex", "project": "p", "location": "us-central1", "endpoint": "textcls"}`, "predictions[*].label",
			predict.WireShape{Model: "textcls", Endpoint: "projects/p/locations/us-central1/endpoints/textcls", Shape: []int64{batch}, Encoding: "values"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			// One run at a time: the service's counters are per protocol,
			// and the runs must not slow each other into a saturated
			// generator.
			addr := fmt.Sprintf(`"url": %q`, tt.addr)
			if tt.protocol == "grpc" {
				addr = fmt.Sprintf(`"address": %q`, tt.addr)
			}
			acc := mustPost(t, e, fmt.Sprintf(`{"name": "preset %s", "target": {"protocol": %q, %s, "preset": %s,
				"auth": {"none": true}, "batch": %d, "timeout": "2s", "connections": 2,
				"check": {"path": %q, "equals": "{{.Record.label}}", "count_as": "metric"}},
				"data": {"uri": "gs://%s/%s"},
				"load": {"model": "open", "stages": [{"duration": "2s", "rate": 100}]},
				"slice": "500ms", "shards": 2}`, tt.key, tt.protocol, addr, tt.preset, batch, tt.path, EmbeddedBucket, object))
			rep, _ := waitReport(t, e, acc.RunID, 30*time.Second)
			s := rep.Summary
			if s.Completed == 0 || s.Errors != 0 {
				t.Fatalf("completed %d, errors %d (%v), want every request answered", s.Completed, s.Errors, s.SampleErrors)
			}
			st, ok := e.Predict.Stats().Presets[tt.key]
			if !ok {
				t.Fatalf("the service saw no %s request: %+v", tt.key, e.Predict.Stats().Presets)
			}
			if st.Invalid != 0 || st.Requests != s.Completed {
				t.Errorf("%s: the service counted %d requests, %d refused; the report %d completed", tt.key, st.Requests, st.Invalid, s.Completed)
			}
			if len(st.BatchSizes) != 1 || st.BatchSizes[batch] != st.Requests {
				t.Errorf("%s: batch sizes %v, want every request of %d instances", tt.key, st.BatchSizes, batch)
			}
			if got := st.Last; got == nil || got.Model != tt.shape.Model || got.Version != tt.shape.Version ||
				got.Signature != tt.shape.Signature || got.Endpoint != tt.shape.Endpoint || got.Input != tt.shape.Input ||
				got.Datatype != tt.shape.Datatype || !stdslices.Equal(got.Shape, tt.shape.Shape) || got.Encoding != tt.shape.Encoding {
				t.Errorf("%s: wire shape %+v, want %+v", tt.key, got, tt.shape)
			}
			p := s.Predictions
			if p.Instances != batch*s.Completed || p.Checked != p.Instances {
				t.Errorf("%s: %d instances, %d checked, want %d each", tt.key, p.Instances, p.Checked, batch*s.Completed)
			}
			if p.Accuracy == nil {
				t.Fatalf("%s: no accuracy in the report", tt.key)
			}
			// The texts sent are a sample of the corpus: within four
			// standard errors of the classifier's accuracy on all of it.
			se := math.Sqrt(known * (1 - known) / float64(p.Checked))
			if d := math.Abs(*p.Accuracy - known); d > 4*se+1e-9 {
				t.Errorf("%s: accuracy %.4f, the classifier's is %.4f (%d/%d): off by %.4f, more than 4 standard errors (%.4f)",
					tt.key, *p.Accuracy, known, right, len(held), d, 4*se)
			}
			if p.TextChars == nil || p.TextChars.Max <= 0 {
				t.Errorf("%s: no text length distribution: %+v", tt.key, p.TextChars)
			}
			t.Logf("%s: %d requests × %d, accuracy %.4f (classifier %.4f on %d texts)", tt.key, s.Completed, batch, *p.Accuracy, known, len(held))
		})
	}
}
