package trigger

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// publishReactor makes the pstest server fail Publish requests: fail is
// asked for each (numbered from 1), with the env under test, and returns
// the error to answer, or nil to let the server publish.
type publishReactor struct {
	fail func(call int, e *env) error

	mu    sync.Mutex // the server calls React on its own goroutines
	calls int
	e     *env
}

func (r *publishReactor) React(any) (bool, any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if err := r.fail(r.calls, r.e); err != nil {
		return true, &pubsubpb.PublishResponse{}, err
	}
	return false, nil, nil
}

func (r *publishReactor) setEnv(e *env) {
	r.mu.Lock()
	r.e = e
	r.mu.Unlock()
}

// newEnvOnPstest is a trigger over the in-process store and a pstest
// server of its own, whose Publish requests go through react when not
// nil. With setup, the bus may set the topology up again (as a component
// on the emulators with CICADA_SETUP); without, it is a component on
// Google Cloud, where a missing topic is an error.
func newEnvOnPstest(t *testing.T, cfg Config, setup bool, react *publishReactor) *env {
	t.Helper()
	st, _, closeSt, err := store.NewInProcess("cicada-test")
	if err != nil {
		t.Fatalf("in-process store: %v", err)
	}
	closeSt = onceFunc(closeSt)
	t.Cleanup(closeSt)
	var opts []pstest.ServerReactorOption
	if react != nil {
		opts = append(opts, pstest.ServerReactorOption{FuncName: "Publish", Reactor: react})
	}
	srv := pstest.NewServerWithAddress("127.0.0.1:0", opts...)
	t.Cleanup(func() { _ = srv.Close() })
	b, err := bus.NewPubSub(t.Context(), bus.LocalProject, bus.EmulatorOptions(srv.Addr)...)
	if err != nil {
		t.Fatalf("pubsub: %v", err)
	}
	closeBus := onceFunc(func() { _ = b.Close() })
	t.Cleanup(closeBus)
	if err := bus.Setup(t.Context(), b); err != nil {
		t.Fatalf("set up pstest: %v", err)
	}
	if setup {
		b.SetupOnNotFound()
	}
	c := &clock{t: t0}
	e := &env{st: st, bus: b, clock: c, closeBus: closeBus, closeSt: closeSt}
	e.h = NewHandler(Deps{Store: st, Bus: b, Config: cfg, Now: c.Now})
	if react != nil {
		react.setEnv(e)
	}
	return e
}

// deleteShardsTopic deletes the shards topic, as an emulator restart
// does.
func (e *env) deleteShardsTopic(t *testing.T) {
	t.Helper()
	name := "projects/" + e.bus.Project() + "/topics/" + bus.ShardsTopic
	if err := e.bus.Client().TopicAdminClient.DeleteTopic(t.Context(), &pubsubpb.DeleteTopicRequest{Topic: name}); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
}

// runObjects are the objects a stored run of id has, with its
// Idempotency-Key's record, sorted as List sorts them.
func runObjects(id, key string) []string {
	names := []string{runs.ActivePath(id), runs.PlanPath(id), runs.RunPath(id)}
	if key != "" {
		names = append(names, IdempotencyPath(key))
	}
	slices.Sort(names)
	return names
}

// TestCreatePublishFailure covers a bus that fails while a run is
// published: before any shard message went out the run is withdrawn and
// the answer is 503 (nothing started, retry); after one went out, or when
// the run cannot be withdrawn, the run stands and the 202 says so in its
// note. A bus allowed to set up the topology publishes through a deleted
// topic.
func TestCreatePublishFailure(t *testing.T) {
	t.Parallel()
	denied := status.Error(codes.PermissionDenied, "publisher role revoked")
	const shards, key = 4, "client-key"
	tests := []struct {
		name  string
		setup bool
		// react fails Publish requests; breakIt breaks the bus before the
		// POST; ctx bounds the request (the store's client retries a
		// closed store until then).
		react   func(call int, e *env) error
		breakIt func(t *testing.T, e *env)
		timeout time.Duration

		code      int
		withdrawn bool   // nothing kept in the bucket
		published int    // shard messages out
		note      string // in the 202's note, "" for none
		error     string // in the 503's error
	}{
		{
			name:      "topic deleted, no setup rights: withdrawn, 503",
			breakIt:   func(t *testing.T, e *env) { e.deleteShardsTopic(t) },
			code:      http.StatusServiceUnavailable,
			withdrawn: true,
			error:     "nothing was started and the run was not kept; retry the request",
		},
		{
			name:      "topic deleted, setup rights: set up again, all published",
			setup:     true,
			breakIt:   func(t *testing.T, e *env) { e.deleteShardsTopic(t) },
			code:      http.StatusAccepted,
			published: shards,
		},
		{
			name: "bus fails after shard 0: the run stands, 202 with a note",
			react: func(call int, _ *env) error {
				if call > 1 {
					return denied
				}
				return nil
			},
			code:      http.StatusAccepted,
			published: 1,
			note:      "1 of 4 shard messages published before the bus failed",
		},
		{
			name: "start time reached while publishing: the run stands",
			react: func(_ int, e *env) error {
				e.clock.Set(t0.Add(time.Minute)) // past the start
				return denied
			},
			code: http.StatusAccepted,
			note: "0 of 4 shard messages published before the bus failed",
		},
		{
			name: "run.json cannot be deleted: the run stands",
			react: func(_ int, e *env) error {
				e.closeSt()
				return denied
			},
			timeout: 2 * time.Second,
			code:    http.StatusAccepted,
			note:    "0 of 4 shard messages published before the bus failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var react *publishReactor
			if tt.react != nil {
				react = &publishReactor{fail: tt.react}
			}
			e := newEnvOnPstest(t, testConfig(), tt.setup, react)
			if tt.breakIt != nil {
				tt.breakIt(t, e)
			}
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/runs", strings.NewReader(planJSON(shards, "")))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, req)
			if w.Code != tt.code {
				t.Fatalf("POST = %d %s, want %d", w.Code, w.Body, tt.code)
			}

			var id string
			if tt.code == http.StatusAccepted {
				acc := decode[Accepted](t, w)
				id = acc.RunID
				if tt.note == "" && acc.Note != "" || !strings.Contains(acc.Note, tt.note) {
					t.Errorf("note %q, want one with %q", acc.Note, tt.note)
				}
				if tt.note != "" && !strings.Contains(acc.Note, "the aggregator publishes every shard nobody has taken at the start time") {
					t.Errorf("note %q does not say who publishes the rest", acc.Note)
				}
			} else if got := decode[errorBody](t, w); !strings.Contains(got.Error, tt.error) {
				t.Errorf("error %q, want one with %q", got.Error, tt.error)
			}

			msgs := e.drain(t, 300*time.Millisecond)
			if len(msgs) != tt.published {
				t.Errorf("%d shard messages out, want %d", len(msgs), tt.published)
			}
			if tt.published == shards {
				checkShards(t, msgs, id, shards)
			}
			if tt.timeout > 0 {
				return // the store is closed
			}
			want := runObjects(id, key)
			if tt.withdrawn {
				want = nil
			}
			if got := e.objects(t); !slices.Equal(got, want) {
				t.Errorf("objects %v, want %v", got, want)
			}
		})
	}
}

// TestCreateRetryAfterWithdrawal: a run withdrawn for a failed bus leaves
// nothing behind, so the client's retry with the same Idempotency-Key
// starts the run afresh once the topic is back.
func TestCreateRetryAfterWithdrawal(t *testing.T) {
	t.Parallel()
	e := newEnvOnPstest(t, testConfig(), false, nil)
	e.deleteShardsTopic(t)
	body := planJSON(3, "")
	if w := e.do(t, http.MethodPost, "/runs", "application/json", body, "Idempotency-Key", "k"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("POST with the topic gone = %d %s, want 503", w.Code, w.Body)
	}
	// The operator's tooling (Terraform, or an emulator component with
	// setup rights) brings the topology back.
	if err := bus.Setup(t.Context(), e.bus); err != nil {
		t.Fatal(err)
	}
	w := e.do(t, http.MethodPost, "/runs", "application/json", body, "Idempotency-Key", "k")
	if w.Code != http.StatusAccepted {
		t.Fatalf("retry = %d %s, want 202 (a new run, not a replay)", w.Code, w.Body)
	}
	acc := decode[Accepted](t, w)
	if acc.Note != "" {
		t.Errorf("note %q on a run fully published", acc.Note)
	}
	checkShards(t, e.drain(t, 300*time.Millisecond), acc.RunID, 3)
	if got, want := e.objects(t), runObjects(acc.RunID, "k"); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	if got := e.get(t, runs.ActivePath(acc.RunID)); string(got) != string(e.get(t, runs.RunPath(acc.RunID))) {
		t.Errorf("active-run marker %s, want run.json's content", got)
	}
}
