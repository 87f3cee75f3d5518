package bus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cicadaload/cicada/internal/devenv/emulator"
	"github.com/cicadaload/cicada/shared/bus"
)

// newPstestBus is a set-up bus on a pstest server of its own, without
// setup rights (unlike NewInProcess's).
func newPstestBus(t *testing.T) *bus.PubSub {
	t.Helper()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := bus.NewPubSub(ctx, bus.LocalProject, bus.EmulatorOptions(srv.Addr)...)
	if err != nil {
		t.Fatalf("NewPubSub: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := bus.Setup(ctx, p); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return p
}

// deleteSub and deleteTopic remove part of p's topology, as an operator
// or an emulator restart would.
func deleteSub(ctx context.Context, t *testing.T, p *bus.PubSub, id string) {
	t.Helper()
	name := "projects/" + p.Project() + "/subscriptions/" + id
	if err := p.Client().SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: name}); err != nil {
		t.Fatalf("delete subscription %s: %v", id, err)
	}
}

func deleteTopic(ctx context.Context, t *testing.T, p *bus.PubSub, id string) {
	t.Helper()
	name := "projects/" + p.Project() + "/topics/" + id
	if err := p.Client().TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: name}); err != nil {
		t.Fatalf("delete topic %s: %v", id, err)
	}
}

// checkComplete fails the test unless every topic and subscription of
// Setup is there, attached to its topic.
func checkComplete(ctx context.Context, t *testing.T, p *bus.PubSub) {
	t.Helper()
	missing, err := bus.Missing(ctx, p)
	if err != nil {
		t.Fatalf("Missing: %v", err)
	}
	if len(missing) > 0 {
		t.Errorf("missing after the bus set it up again: %v", missing)
	}
}

// roundTrip publishes one message to ShardsTopic and pulls it from
// ShardsSub within wait.
func roundTrip(ctx context.Context, t *testing.T, b bus.Bus, data string, wait time.Duration) {
	t.Helper()
	id, err := b.Publish(ctx, bus.ShardsTopic, []byte(data), nil)
	if err != nil {
		t.Fatalf("Publish(%q): %v", data, err)
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := b.Pull(pctx, bus.ShardsSub, time.Minute)
	if err != nil {
		t.Fatalf("Pull after Publish(%q): %v", data, err)
	}
	if m.ID() != id || string(m.Data()) != data {
		t.Errorf("pulled %s %q, want %s %q", m.ID(), m.Data(), id, data)
	}
	if err := m.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

// TestSetupOnNotFound deletes parts of the topology under a bus: one
// allowed to set up (SetupOnNotFound) sets it up again and carries on;
// one without that right returns NotFound to its caller.
func TestSetupOnNotFound(t *testing.T) {
	backends := []struct {
		name   string
		newBus func(t *testing.T) *bus.PubSub
	}{
		{"pstest", newPstestBus},
		{"emulator", newEmulatorBus},
	}
	tests := []struct {
		name string
		// break removes part of the topology; then use checks the bus.
		breakIt func(ctx context.Context, t *testing.T, p *bus.PubSub)
		use     func(ctx context.Context, t *testing.T, p *bus.PubSub)
		setup   bool
	}{
		{
			name:    "subscription deleted: Pull sets it up again",
			breakIt: func(ctx context.Context, t *testing.T, p *bus.PubSub) { deleteSub(ctx, t, p, bus.ShardsSub) },
			use: func(ctx context.Context, t *testing.T, p *bus.PubSub) {
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				if m, err := p.Pull(pctx, bus.ShardsSub, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Pull from the deleted subscription = %v, %v; want to wait (set up again, empty)", m, err)
				}
				checkComplete(ctx, t, p)
				roundTrip(ctx, t, p, "after the subscription came back", 10*time.Second)
			},
			setup: true,
		},
		{
			// After an emulator restart, another component's Setup may
			// have made the topic and not yet its subscription: a message
			// published then would reach nobody.
			name:    "topic without its subscription: Publish sets it up first, nothing lost",
			breakIt: func(ctx context.Context, t *testing.T, p *bus.PubSub) { deleteSub(ctx, t, p, bus.ShardsSub) },
			use: func(ctx context.Context, t *testing.T, p *bus.PubSub) {
				roundTrip(ctx, t, p, "published before any Pull", 10*time.Second)
				checkComplete(ctx, t, p)
			},
			setup: true,
		},
		{
			name:    "topic deleted: Publish sets it up again, its subscription reattached",
			breakIt: func(ctx context.Context, t *testing.T, p *bus.PubSub) { deleteTopic(ctx, t, p, bus.ShardsTopic) },
			use: func(ctx context.Context, t *testing.T, p *bus.PubSub) {
				roundTrip(ctx, t, p, "after the topic came back", 10*time.Second)
				checkComplete(ctx, t, p)
			},
			setup: true,
		},
		{
			name: "everything deleted, concurrent publishers and pullers",
			breakIt: func(ctx context.Context, t *testing.T, p *bus.PubSub) {
				for _, s := range []string{bus.ShardsSub, bus.EventsSub, bus.DeadSub} {
					deleteSub(ctx, t, p, s)
				}
				for _, topic := range []string{bus.ShardsTopic, bus.EventsTopic, bus.DeadTopic} {
					deleteTopic(ctx, t, p, topic)
				}
			},
			use: func(ctx context.Context, t *testing.T, p *bus.PubSub) {
				// The pullers set up first (a publish before the
				// subscription exists would be lost), then every message
				// published comes through once.
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						pctx, cancel := context.WithTimeout(ctx, time.Second)
						defer cancel()
						if _, err := p.Pull(pctx, bus.EventsSub, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("Pull from the deleted subscription: %v, want to wait (set up again, empty)", err)
						}
					})
				}
				wg.Wait()
				checkComplete(ctx, t, p)
				const n = 8
				for i := range n {
					wg.Go(func() {
						if _, err := p.Publish(ctx, bus.EventsTopic, fmt.Appendf(nil, "event %d", i), nil); err != nil {
							t.Errorf("Publish %d: %v", i, err)
						}
					})
				}
				wg.Wait()
				var got []string
				for len(got) < n && !t.Failed() {
					pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					m, err := p.Pull(pctx, bus.EventsSub, time.Minute)
					cancel()
					if err != nil {
						t.Fatalf("Pull after %d of %d events: %v", len(got), n, err)
					}
					got = append(got, string(m.Data()))
					_ = m.Ack(ctx)
				}
				slices.Sort(got)
				if len(slices.Compact(got)) != n {
					t.Errorf("pulled %v, want %d distinct events", got, n)
				}
			},
			setup: true,
		},
		{
			name: "without setup rights: NotFound is the caller's",
			breakIt: func(ctx context.Context, t *testing.T, p *bus.PubSub) {
				deleteSub(ctx, t, p, bus.ShardsSub)
				deleteTopic(ctx, t, p, bus.EventsTopic)
			},
			use: func(ctx context.Context, t *testing.T, p *bus.PubSub) {
				start := time.Now()
				_, err := p.Pull(ctx, bus.ShardsSub, time.Minute)
				if status.Code(err) != codes.NotFound {
					t.Errorf("Pull from a deleted subscription: %v, want NotFound", err)
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Errorf("Pull from a deleted subscription took %v, want an error at once", took)
				}
				if _, err := p.Publish(ctx, bus.EventsTopic, []byte("x"), nil); status.Code(err) != codes.NotFound {
					t.Errorf("Publish to a deleted topic: %v, want NotFound", err)
				}
				missing, err := bus.Missing(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				want := []string{"topic " + bus.EventsTopic, "subscription " + bus.ShardsSub}
				// The events subscription is detached, or gone with its
				// topic: either way it is reported.
				if len(missing) < 2 || !slices.Equal(missing[:2], want) || len(missing) > 3 {
					t.Errorf("Missing = %q, want %q and the detached %s", missing, want, bus.EventsSub)
				}
			},
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			if b.name == "emulator" {
				emulatorHost(t)
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					p := b.newBus(t)
					if tt.setup {
						p.SetupOnNotFound()
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					tt.breakIt(ctx, t, p)
					tt.use(ctx, t, p)
				})
			}
		})
	}
}

// TestEmulatorRestart restarts the Pub/Sub emulator under two buses, as
// a crash or redeployment of the emulator would: a component with setup
// rights and one without (a worker). Both reconnect; the first sets the
// lost topology up again on its next Publish or Pull, and the other's Pull
// answers NotFound until then, and works after.
func TestEmulatorRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts an emulator of its own")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	emu, err := emulator.StartPubSub(ctx, dir)
	emulator.Require(t, err)
	t.Cleanup(func() {
		if err := emu.Stop(); err != nil {
			t.Errorf("stop emulator: %v", err)
		}
	})
	connect := func() *bus.PubSub {
		p, err := bus.NewPubSub(ctx, bus.LocalProject, bus.EmulatorOptions(emu.Host)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	owner, worker := connect(), connect()
	if err := bus.Setup(ctx, owner); err != nil {
		t.Fatal(err)
	}
	owner.SetupOnNotFound()
	roundTrip(ctx, t, owner, "before the restart", 10*time.Second)

	restarted := time.Now()
	if err := emu.Restart(ctx); err != nil {
		if b, rerr := os.ReadFile(emu.LogPath); rerr == nil {
			t.Logf("emulator log:\n%s", b)
		}
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("emulator stopped and answering again on %s after %v", emu.Host, back.Sub(restarted).Round(time.Millisecond))
	missing, err := bus.Missing(ctx, owner)
	if err != nil {
		t.Fatalf("Missing after the restart: %v", err)
	}
	t.Logf("after the restart the emulator lacks %v", missing)

	// The worker, without setup rights, is told, at once each time.
	pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = worker.Pull(pctx, bus.ShardsSub, time.Minute)
	pcancel()
	if len(missing) > 0 && status.Code(err) != codes.NotFound {
		t.Errorf("worker's Pull before the topology is back: %v, want NotFound", err)
	}

	// The owner's Publish sets the topology up again and goes through.
	id, err := owner.Publish(ctx, bus.EventsTopic, []byte("event after the restart"), nil)
	if err != nil {
		t.Fatalf("owner's Publish after the restart: %v", err)
	}
	healed := time.Now()
	t.Logf("owner's first Publish went through %v after the emulator answered", healed.Sub(back).Round(time.Millisecond))
	if d := healed.Sub(back); d > 10*time.Second {
		t.Errorf("owner's first Publish took %v after the emulator was back, want within 10s", d)
	}
	checkComplete(ctx, t, owner)
	pctx, pcancel = context.WithTimeout(ctx, 15*time.Second)
	m, err := owner.Pull(pctx, bus.EventsSub, time.Minute)
	pcancel()
	if err != nil || m.ID() != id {
		t.Fatalf("owner's Pull after the restart: %v, %v; want message %s", m, err, id)
	}
	if err := m.Ack(ctx); err != nil {
		t.Errorf("Ack: %v", err)
	}

	// Messages flow again from the owner to the worker.
	id, err = owner.Publish(ctx, bus.ShardsTopic, []byte("shard after the restart"), nil)
	if err != nil {
		t.Fatalf("owner's Publish after the restart: %v", err)
	}
	pctx, pcancel = context.WithTimeout(ctx, 15*time.Second)
	m, err = worker.Pull(pctx, bus.ShardsSub, time.Minute)
	pcancel()
	if err != nil {
		t.Fatalf("worker's Pull after the topology is back: %v", err)
	}
	if m.ID() != id {
		t.Errorf("worker pulled %s, want %s", m.ID(), id)
	}
	if err := m.Ack(ctx); err != nil {
		t.Errorf("Ack: %v", err)
	}
}
