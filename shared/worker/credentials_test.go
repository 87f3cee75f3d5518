package worker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/secretmanager"
	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
)

// TestShardCredential drives shards whose target.auth reads a secret from
// a Secret Manager stand-in: a readable secret goes on every request; a
// denied one fails the shard before its first request, with the reason in
// its failed marker; a shard already failed is left alone.
func TestShardCredential(t *testing.T) {
	sm, err := secretmanager.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	t.Setenv(credential.EmulatorHostEnv, sm.Addr)
	const (
		readable = "projects/p/secrets/key/versions/1"
		denied   = "projects/p/secrets/key/versions/2"
	)
	sm.Set(readable, []byte("k3y"))
	sm.Deny(denied)

	for _, tt := range []struct {
		name         string
		secret       string
		failedBefore bool
		wantEvents   []string
		wantKeys     int // requests with the key
		wantReason   string
	}{
		{name: "readable", secret: readable, wantEvents: []string{runs.EventDone, runs.EventLeased, runs.EventSlice, runs.EventSlice}, wantKeys: testRate}, // 1 s at testRate
		{name: "denied", secret: denied, wantEvents: []string{runs.EventFailed, runs.EventLeased},
			wantReason: "target.auth.secret: read secret " + denied + ": PermissionDenied"},
		{name: "failed before", secret: readable, failedBefore: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var (
				mu   sync.Mutex
				keys = map[string]int{}
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				keys[r.Header.Get("X-Api-Key")]++
				mu.Unlock()
			}))
			t.Cleanup(srv.Close)
			const id = "run-auth"
			e.url = srv.URL
			e.writeRunWith(t, id, time.Now().Add(500*time.Millisecond), time.Second, func(p *plan.Plan) {
				p.Target.Auth = &plan.Auth{Secret: &plan.SecretAuth{Name: tt.secret, Header: "X-Api-Key", Format: "{{.}}"}}
			})
			if tt.failedBefore {
				e.put(t, runs.FailedPath(id, 0), runs.Encode(runs.ShardFailure{Reason: "earlier"}))
			}
			e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: "start"}))
			e.handle(t, context.Background(), e.pullWork(t), 10*time.Second)

			within := 2 * time.Second
			if len(tt.wantEvents) == 0 {
				within = quiet
			}
			if got := eventKinds(e.events(t, max(len(tt.wantEvents), 1), within)); !slices.Equal(got, tt.wantEvents) {
				t.Errorf("events %v, want %v", got, tt.wantEvents)
			}
			mu.Lock()
			if got := keys["k3y"]; got != tt.wantKeys || len(keys) > 1 || (tt.wantKeys == 0 && len(keys) != 0) {
				t.Errorf("target got %v (X-Api-Key: count), want %d × k3y", keys, tt.wantKeys)
			}
			mu.Unlock()
			if tt.wantReason != "" {
				obj, err := e.st.Get(context.Background(), runs.FailedPath(id, 0))
				if err != nil {
					t.Fatalf("failed marker: %v", err)
				}
				var f runs.ShardFailure
				if err := json.Unmarshal(obj.Data, &f); err != nil || f.Worker != workerID || !strings.Contains(f.Reason, tt.wantReason) || strings.Contains(f.Reason, "k3y") {
					t.Errorf("failed marker %s (%v), want worker %s and a reason containing %q", obj.Data, err, workerID, tt.wantReason)
				}
				if e.exists(t, runs.DonePath(id, 0)) || len(e.written(t, id)) != 0 {
					t.Error("a failed shard wrote its done marker or slices")
				}
				if rec, err := lease.Read(context.Background(), e.st, runs.LeasePath(id, 0)); err != nil || !rec.Released {
					t.Errorf("lease %+v (err %v), want released", rec, err)
				}
			}
			if got := e.redelivered(t, quiet); got != nil {
				t.Errorf("message %s came back: want it acked", got)
			}
		})
	}
}

// writeRunWith is writeRun with change applied to the plan before it is
// stored.
func (e *env) writeRunWith(t *testing.T, id string, startAt time.Time, dur time.Duration, change func(*plan.Plan)) *plan.Plan {
	t.Helper()
	p := &plan.Plan{
		Name:   "worker-test",
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: e.url},
		Data:   plan.Data{Texts: []string{"hello"}},
		Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(dur), Rate: testRate}}},
		Slice:  plan.Duration(testSlice),
		Shards: 1,
	}
	change(p)
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		t.Fatalf("test plan: %v", err)
	}
	e.put(t, runs.PlanPath(id), runs.Encode(p))
	e.put(t, runs.RunPath(id), runs.Encode(runs.Run{
		ID: id, PlanName: p.Name, Shards: p.Shards, Created: time.Now(), StartAt: startAt, End: startAt.Add(p.Duration()),
	}))
	return p
}
