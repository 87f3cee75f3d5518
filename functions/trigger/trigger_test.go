package trigger

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/trigger"
)

const testPlan = `{"name": "function test", "target": {"protocol": "http", "url": "http://127.0.0.1:8501/v1/predict"},
 "data": {"texts": ["a"]}, "load": {"model": "open", "stages": [{"duration": "1s", "rate": 2}]}, "shards": 2}`

// TestServe drives the registered function the way the framework does,
// against fake-gcs-server and pstest reached through the standard emulator
// variables: first without a bucket (500, and not cached), then configured.
// It sets environment variables and the package's cached handler, so it
// runs alone.
func TestServe(t *testing.T) {
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Host: "127.0.0.1", Scheme: "http", Writer: io.Discard})
	if err != nil {
		t.Fatalf("fake-gcs-server: %v", err)
	}
	t.Cleanup(gcs.Stop)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "runs-bucket"})
	ps := pstest.NewServerWithAddress("127.0.0.1:0")
	t.Cleanup(func() { _ = ps.Close() })

	ctx := context.Background()
	admin, err := bus.NewPubSub(ctx, "fn-test", bus.EmulatorOptions(ps.Addr)...)
	if err != nil {
		t.Fatalf("pubsub admin: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := bus.Setup(ctx, admin); err != nil {
		t.Fatalf("set up topics: %v", err)
	}

	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcs.URL(), "http://"))
	t.Setenv("PUBSUB_EMULATOR_HOST", ps.Addr)
	t.Setenv("CICADA_TRIGGER_PROJECT", "fn-test")
	t.Setenv("CICADA_TRIGGER_LEAD_TIME", "1m")
	t.Setenv("CICADA_TRIGGER_BUCKET", "")
	// httptest's requests come to example.com, with no listener.
	t.Setenv("CICADA_TRIGGER_ALLOWED_HOSTS", "example.com")
	// As deployed: the caller is the one Cloud Run verified.
	t.Setenv("CICADA_TRIGGER_TRUST_PLATFORM_IDENTITY", "true")
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"email": "ci@proj.iam.gserviceaccount.com", "email_verified": true}`))
	token := "e30." + claims + ".c2ln"

	post := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/runs", strings.NewReader(testPlan))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		Serve(w, req)
		return w
	}
	if w := post(); w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "CICADA_TRIGGER_BUCKET") {
		t.Fatalf("POST without a bucket = %d %s, want 500 naming CICADA_TRIGGER_BUCKET", w.Code, w.Body)
	}

	t.Setenv("CICADA_TRIGGER_BUCKET", "runs-bucket")
	w := post()
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", w.Code, w.Body)
	}
	var got trigger.Accepted
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("answer %s: %v", w.Body, err)
	}
	if obj, err := gcs.GetObject("runs-bucket", runs.RunPath(got.RunID)); err != nil {
		t.Errorf("run.json of %s not in the bucket: %v", got.RunID, err)
	} else if run, err := runs.DecodeRun(obj.Content); err != nil || run.SubmittedBy != "ci@proj.iam.gserviceaccount.com" {
		t.Errorf("run.json submitted_by %q (%v), want the token's e-mail", run.SubmittedBy, err)
	}
	shards := map[string]bool{}
	for range 2 {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := admin.Pull(pctx, bus.ShardsSub, 10*time.Second)
		cancel()
		if err != nil {
			t.Fatalf("pull shard message: %v", err)
		}
		if m.Attributes()["run_id"] != got.RunID {
			t.Errorf("message for run %q, want %s", m.Attributes()["run_id"], got.RunID)
		}
		shards[m.Attributes()["shard"]] = true
		_ = m.Ack(ctx)
	}
	if !shards["0"] || !shards["1"] {
		t.Errorf("shards published = %v, want 0 and 1", shards)
	}

	// The status comes back through the same, now cached, handler.
	req := httptest.NewRequest(http.MethodGet, "/runs/"+got.RunID, nil)
	sw := httptest.NewRecorder()
	Serve(sw, req)
	if sw.Code != http.StatusOK || !strings.Contains(sw.Body.String(), `"phase": "scheduled"`) {
		t.Errorf("GET = %d %s, want 200 scheduled", sw.Code, sw.Body)
	}
}
