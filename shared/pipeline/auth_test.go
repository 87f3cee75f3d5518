package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/secretmanager"
	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
)

// secretPlanJSON is planJSON with target.auth reading secret name.
func secretPlanJSON(url string, shards int, dur, name string) string {
	return fmt.Sprintf(`{"name": "secret", "target": {"protocol": "http", "url": %q, "body": "{\"text\": {{json .Text}}}",
			"auth": {"secret": {"name": %q, "header": "X-Api-Key", "format": "{{.}}"}}},
		"data": {"texts": ["the striker scored", "shares fell", "a new chip"]},
		"load": {"model": "open", "stages": [{"duration": %q, "rate": 200}]},
		"slice": "500ms", "shards": %d}`, url, name, dur, shards)
}

// TestEmbeddedSecret runs two plans whose target.auth reads a secret from
// a Secret Manager stand-in: the readable one runs, the denied one fails
// every shard before its first request, with the reason in the report
// and the verdict error.
func TestEmbeddedSecret(t *testing.T) {
	sm, err := secretmanager.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	t.Setenv(credential.EmulatorHostEnv, sm.Addr)
	const (
		readable = "projects/p/secrets/api-key/versions/1"
		denied   = "projects/p/secrets/api-key/versions/2"
	)
	sm.Set(readable, []byte("k3y"))
	sm.Deny(denied)

	e := start(t, 2)
	url := "http://" + e.PredictHTTP + "/v1/predict"
	bad := mustPost(t, e, secretPlanJSON(url, 2, "1s", denied))
	rep, _ := waitReport(t, e, bad.RunID, 20*time.Second)
	want := "target.auth.secret: read secret " + denied + ": PermissionDenied: Permission 'secretmanager.versions.access' denied"
	if rep.Verdict != report.VerdictError || len(rep.VerdictReasons) != 2 || !strings.Contains(rep.VerdictReasons[0], want) {
		t.Errorf("verdict %s %q, want error with two reasons containing %q", rep.Verdict, rep.VerdictReasons, want)
	}
	if rep.Coverage == nil || len(rep.Coverage.Failed) != 2 {
		t.Fatalf("coverage %+v, want both shards failed", rep.Coverage)
	}
	for _, f := range rep.Coverage.Failed {
		if !strings.Contains(f.Reason, want) {
			t.Errorf("shard %d failed with %q, want %q", f.Shard, f.Reason, want)
		}
	}
	if rep.Summary.Sent != 0 || e.Predict.Requests() != 0 {
		t.Errorf("sent %d, the target got %d; want nothing sent", rep.Summary.Sent, e.Predict.Requests())
	}
	if names, _ := e.Store.List(context.Background(), runs.SlicePrefix(bad.RunID)); len(names) != 0 {
		t.Errorf("a failed shard wrote slices: %v", names)
	}

	good := mustPost(t, e, secretPlanJSON(url, 2, "1s", readable))
	rep, _ = waitReport(t, e, good.RunID, 20*time.Second)
	if rep.Summary.Completed != 200 || rep.Summary.Errors != 0 || (rep.Coverage != nil && len(rep.Coverage.Failed) != 0) {
		t.Errorf("completed %d errors %d coverage %+v; want 200 and no failed shard", rep.Summary.Completed, rep.Summary.Errors, rep.Coverage)
	}
	// Each shard read the secret once, at its start.
	if n := sm.Accesses(readable); n != 2 {
		t.Errorf("secret read %d times, want 2 (one per shard)", n)
	}
}
