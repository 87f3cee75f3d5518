package bus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/emulator"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/bus/bustest"
)

// One emulator serves every test of the package: it takes seconds to
// start. Tests stay apart by working in projects of their own.
var emu struct {
	once sync.Once
	dir  string
	proc *emulator.Proc
	err  error
}

var projects atomic.Int64

func TestMain(m *testing.M) {
	code := m.Run()
	if emu.proc != nil {
		if err := emu.proc.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop pubsub emulator: %v\n", err)
			code = 1
		}
	}
	if emu.dir != "" {
		_ = os.RemoveAll(emu.dir)
	}
	os.Exit(code)
}

// emulatorHost starts the shared emulator on first use and returns its
// address, or skips (fails in CI) when it cannot run.
func emulatorHost(t *testing.T) string {
	t.Helper()
	emu.once.Do(func() {
		emu.dir, emu.err = os.MkdirTemp("", "cicada-bus-emulator-")
		if emu.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		emu.proc, emu.err = emulator.StartPubSub(ctx, emu.dir)
		if emu.err == nil {
			fmt.Fprintf(os.Stderr, "pubsub emulator answered on %s after %v\n", emu.proc.Host, time.Since(start).Round(time.Millisecond))
		}
	})
	emulator.Require(t, emu.err)
	return emu.proc.Host
}

// newEmulatorBus is a set-up bus in a fresh project of the shared emulator.
func newEmulatorBus(t *testing.T) *bus.PubSub {
	t.Helper()
	host := emulatorHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	project := fmt.Sprintf("cicada-test-%d", projects.Add(1))
	p, err := bus.NewPubSub(ctx, project, bus.EmulatorOptions(host)...)
	if err != nil {
		t.Fatalf("NewPubSub: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := bus.Setup(ctx, p); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return p
}

func newInProcessBus(t *testing.T) *bus.PubSub {
	t.Helper()
	p, cleanup, err := bus.NewInProcess(context.Background())
	t.Cleanup(cleanup)
	if err != nil {
		t.Fatalf("NewInProcess: %v", err)
	}
	return p
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name   string
		newBus func(t *testing.T) *bus.PubSub
	}{
		{"pstest", newInProcessBus},
		{"emulator", newEmulatorBus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.name == "emulator" {
				emulatorHost(t) // skip here, not in every subtest
			}
			bustest.Run(t, func(t *testing.T) bus.Bus { return tt.newBus(t) })
		})
	}
}

// TestPubSub covers what the conformance suite leaves to the backend: set-up,
// argument checks and dead lettering.
func TestPubSub(t *testing.T) {
	tests := []struct {
		name   string
		newBus func(t *testing.T) *bus.PubSub
	}{
		{"pstest", newInProcessBus},
		{"emulator", newEmulatorBus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			t.Run("SetupIsIdempotent", func(t *testing.T) {
				t.Parallel()
				p := tt.newBus(t)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for i := range 2 {
					if err := bus.Setup(ctx, p); err != nil {
						t.Fatalf("Setup again (%d): %v", i+1, err)
					}
				}
				// Still one subscription per topic: a message comes once.
				if _, err := p.Publish(ctx, bus.ShardsTopic, []byte("x"), nil); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				m, err := p.Pull(ctx, bus.ShardsSub, time.Minute)
				if err != nil {
					t.Fatalf("Pull: %v", err)
				}
				if err := m.Ack(ctx); err != nil {
					t.Fatalf("Ack: %v", err)
				}
			})
			t.Run("DeadLetter", func(t *testing.T) {
				t.Parallel()
				if tt.name == "emulator" && testing.Short() {
					t.Skip("the emulator's retry backoff makes ten deliveries take about 45 s")
				}
				p := tt.newBus(t)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				id, err := p.Publish(ctx, bus.ShardsTopic, []byte("poison"), map[string]string{"k": "v"})
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
				// Every delivery is nacked: after MaxDeliveryAttempts the
				// message goes to the dead letter topic. The emulator applies
				// the retry policy's backoff (about 30 s over ten nacks),
				// pstest none.
				for i := 1; i <= bus.MaxDeliveryAttempts; i++ {
					pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
					m, err := p.Pull(pctx, bus.ShardsSub, time.Minute)
					pcancel()
					if err != nil {
						t.Fatalf("delivery %d: Pull: %v", i, err)
					}
					if got := m.DeliveryAttempt(); got != i {
						t.Errorf("delivery %d: DeliveryAttempt() = %d, want %d", i, got, i)
					}
					if err := m.Nack(ctx); err != nil {
						t.Fatalf("delivery %d: Nack: %v", i, err)
					}
				}
				// The emulator forwards a dead letter only when the message
				// falls due again on a subscription someone pulls from, as
				// workers do: pull the source, then look for the dead letter.
				var dead bus.Message
				for dead == nil {
					pctx, pcancel := context.WithTimeout(ctx, time.Second)
					m, err := p.Pull(pctx, bus.ShardsSub, time.Minute)
					pcancel()
					if err == nil {
						t.Fatalf("message %s delivered again (attempt %d) after %d attempts", m.ID(), m.DeliveryAttempt(), bus.MaxDeliveryAttempts)
					}
					if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
						t.Fatalf("Pull %s: %v", bus.ShardsSub, err)
					}
					pctx, pcancel = context.WithTimeout(ctx, time.Second)
					dead, err = p.Pull(pctx, bus.DeadSub, time.Minute)
					pcancel()
					if err != nil && (!errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil) {
						t.Fatalf("Pull %s: %v", bus.DeadSub, err)
					}
				}
				if string(dead.Data()) != "poison" || dead.Attributes()["k"] != "v" {
					t.Errorf("dead letter %s = %q %v, want the message %s \"poison\" {k: v}", dead.ID(), dead.Data(), dead.Attributes(), id)
				}
				if err := dead.Ack(ctx); err != nil {
					t.Fatalf("Ack dead letter: %v", err)
				}
			})
			t.Run("BadArguments", func(t *testing.T) {
				t.Parallel()
				p := tt.newBus(t)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := p.Pull(ctx, bus.ShardsSub, -time.Second); err == nil {
					t.Errorf("Pull with a negative deadline succeeded")
				}
				if _, err := p.Pull(ctx, bus.ShardsSub, bus.MaxAckDeadline+time.Second); err == nil {
					t.Errorf("Pull with a deadline over %v succeeded", bus.MaxAckDeadline)
				}
				start := time.Now()
				if _, err := p.Pull(ctx, "cicada-no-such-sub", time.Minute); err == nil || errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Pull from a missing subscription: got %v, want an error at once", err)
				}
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("Pull from a missing subscription took %v, want an error at once", took)
				}
				if _, err := p.Publish(ctx, bus.ShardsTopic, []byte("x"), nil); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				m, err := p.Pull(ctx, bus.ShardsSub, time.Minute)
				if err != nil {
					t.Fatalf("Pull: %v", err)
				}
				for _, d := range []time.Duration{-time.Second, bus.MaxAckDeadline + time.Second} {
					if err := m.Extend(ctx, d); err == nil {
						t.Errorf("Extend(%v) succeeded, want an error", d)
					}
				}
				if err := m.Ack(ctx); err != nil {
					t.Fatalf("Ack: %v", err)
				}
			})
		})
	}
}
