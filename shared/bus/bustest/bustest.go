// Package bustest is the conformance suite of bus.Bus: one set of tests run
// against every backend (pstest in process, the Pub/Sub emulator), so that
// code tested on one can rely on the other.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/bus"
)

// Timings of the suite. Deadlines are short to keep it fast; the waits are
// generous because the emulator checks deadlines on its own clock and the
// machine may be loaded under -race.
const (
	shortDeadline = 2 * time.Second  // a deadline the test waits out
	longDeadline  = 60 * time.Second // a deadline that must not pass in a test
	redeliverWait = 20 * time.Second // bound for a redelivery to come
	quietWait     = 4 * time.Second  // how long "nothing comes" is watched (> shortDeadline)
)

// Run runs the suite. newBus returns a new bus on which the topics and
// subscriptions of package bus exist and are empty, isolated from the buses
// of other calls (the subtests run in parallel), and registers its cleanup
// with t.Cleanup; Close may then be called a second time.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b bus.Bus)
	}{
		{"PublishThenPull", testPublishThenPull},
		{"PullTakesOne", testPullTakesOne},
		{"DeadlineRedelivers", testDeadlineRedelivers},
		{"NackRedeliversAtOnce", testNackRedelivers},
		{"AckStopsRedelivery", testAckStops},
		{"ExtendKeepsMessage", testExtendKeeps},
		{"PullHonoursContext", testPullContext},
		{"ConcurrentPublishers", testConcurrent},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newBus(t))
		})
	}
}

// testCtx bounds every call of a test, so that a hung backend fails the
// test instead of the whole run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func publish(ctx context.Context, t *testing.T, b bus.Bus, topic string, data string, attrs map[string]string) string {
	t.Helper()
	id, err := b.Publish(ctx, topic, []byte(data), attrs)
	if err != nil {
		t.Fatalf("Publish(%s, %q): %v", topic, data, err)
	}
	if id == "" {
		t.Fatalf("Publish(%s, %q) returned an empty id", topic, data)
	}
	return id
}

// pull takes one message within wait, failing the test otherwise.
func pull(ctx context.Context, t *testing.T, b bus.Bus, sub string, deadline, wait time.Duration) bus.Message {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := b.Pull(pctx, sub, deadline)
	if err != nil {
		t.Fatalf("Pull(%s, %v) within %v: %v", sub, deadline, wait, err)
	}
	if m == nil {
		t.Fatalf("Pull(%s, %v) returned a nil message and no error", sub, deadline)
	}
	return m
}

// expectNone fails the test if a message can be pulled from sub within
// wait. A message it takes anyway is nacked so as not to hide it.
func expectNone(ctx context.Context, t *testing.T, b bus.Bus, sub string, wait time.Duration) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := b.Pull(pctx, sub, longDeadline)
	if err == nil {
		_ = m.Nack(ctx)
		t.Fatalf("Pull(%s) got message %s (%q, attempt %d), want none within %v", sub, m.ID(), m.Data(), m.DeliveryAttempt(), wait)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pull(%s) on an empty subscription: got error %v, want context.DeadlineExceeded", sub, err)
	}
}

func ack(ctx context.Context, t *testing.T, m bus.Message) {
	t.Helper()
	if err := m.Ack(ctx); err != nil {
		t.Fatalf("Ack(%s): %v", m.ID(), err)
	}
}

// checkAttemptGrew checks DeliveryAttempt across two deliveries of one
// message: unknown (0) on both, or counting up.
func checkAttemptGrew(t *testing.T, first, again bus.Message) {
	t.Helper()
	a, b := first.DeliveryAttempt(), again.DeliveryAttempt()
	if a == 0 && b == 0 {
		return
	}
	if a < 1 || b <= a {
		t.Errorf("DeliveryAttempt of first delivery %d, of redelivery %d: want 0 and 0, or 1 <= first < redelivery", a, b)
	}
}

func testPublishThenPull(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	tests := []struct {
		name       string
		topic, sub string
		data       string
		attrs      map[string]string
	}{
		{"shard with attributes", bus.ShardsTopic, bus.ShardsSub, `{"run_id":"r1","shard":0}`, map[string]string{"run_id": "r1", "shard": "0"}},
		{"event without attributes", bus.EventsTopic, bus.EventsSub, `{"kind":"done"}`, nil},
		{"binary data", bus.ShardsTopic, bus.ShardsSub, "\x00\xff\x01 binary", map[string]string{"k": ""}},
		{"attributes only", bus.EventsTopic, bus.EventsSub, "", map[string]string{"only": "attrs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := publish(ctx, t, b, tt.topic, tt.data, tt.attrs)
			m := pull(ctx, t, b, tt.sub, longDeadline, redeliverWait)
			if got := m.ID(); got != id {
				t.Errorf("ID() = %q, want the published id %q", got, id)
			}
			if got := string(m.Data()); got != tt.data {
				t.Errorf("Data() = %q, want %q", got, tt.data)
			}
			// nil and empty are the same set of attributes.
			if got := m.Attributes(); len(got) != len(tt.attrs) || (len(got) > 0 && !maps.Equal(got, tt.attrs)) {
				t.Errorf("Attributes() = %v, want %v", got, tt.attrs)
			}
			if got := m.DeliveryAttempt(); got != 0 && got != 1 {
				t.Errorf("DeliveryAttempt() = %d on the first delivery, want 1 (or 0: unknown)", got)
			}
			ack(ctx, t, m)
		})
	}
	// Each topic's messages went to its own subscription only.
	expectNone(ctx, t, b, bus.ShardsSub, time.Second)
	expectNone(ctx, t, b, bus.EventsSub, time.Second)
}

func testPullTakesOne(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	published := map[string]bool{}
	for i := range 3 {
		published[publish(ctx, t, b, bus.ShardsTopic, fmt.Sprintf("shard %d", i), nil)] = true
	}
	// Two workers pull once each, at the same time, and keep their message.
	var (
		wg   sync.WaitGroup
		got  [2]bus.Message
		errs [2]error
	)
	for i := range got {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, redeliverWait)
			defer cancel()
			got[i], errs[i] = b.Pull(pctx, bus.ShardsSub, longDeadline)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("puller %d: Pull: %v", i, err)
		}
	}
	if got[0].ID() == got[1].ID() {
		t.Fatalf("both pullers got message %s, want distinct messages", got[0].ID())
	}
	// Exactly one is left for a third worker.
	third := pull(ctx, t, b, bus.ShardsSub, longDeadline, redeliverWait)
	seen := map[string]bool{}
	for _, m := range []bus.Message{got[0], got[1], third} {
		if !published[m.ID()] {
			t.Errorf("pulled message %s that was not published", m.ID())
		}
		if seen[m.ID()] {
			t.Errorf("message %s pulled twice while leased", m.ID())
		}
		seen[m.ID()] = true
	}
	expectNone(ctx, t, b, bus.ShardsSub, time.Second)
	for _, m := range []bus.Message{got[0], got[1], third} {
		ack(ctx, t, m)
	}
}

func testDeadlineRedelivers(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	id := publish(ctx, t, b, bus.ShardsTopic, "left to expire", nil)
	first := pull(ctx, t, b, bus.ShardsSub, shortDeadline, redeliverWait)
	leased := time.Now()
	again := pull(ctx, t, b, bus.ShardsSub, longDeadline, redeliverWait)
	waited := time.Since(leased)
	if again.ID() != id {
		t.Fatalf("redelivered message %s, want %s", again.ID(), id)
	}
	// Redelivered because the deadline passed, not before.
	if waited < shortDeadline-500*time.Millisecond {
		t.Errorf("redelivered after %v, before the %v deadline passed", waited, shortDeadline)
	}
	checkAttemptGrew(t, first, again)
	ack(ctx, t, again)
}

func testNackRedelivers(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	id := publish(ctx, t, b, bus.ShardsTopic, "nacked", nil)
	first := pull(ctx, t, b, bus.ShardsSub, longDeadline, redeliverWait)
	nacked := time.Now()
	if err := first.Nack(ctx); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	// Well before longDeadline: only the Nack can have freed it (a retry
	// policy may still hold it back for its minimum backoff).
	again := pull(ctx, t, b, bus.ShardsSub, longDeadline, 10*time.Second)
	if again.ID() != id {
		t.Fatalf("after Nack got message %s, want %s", again.ID(), id)
	}
	t.Logf("redelivered %v after Nack", time.Since(nacked).Round(time.Millisecond))
	checkAttemptGrew(t, first, again)
	ack(ctx, t, again)
}

func testAckStops(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	publish(ctx, t, b, bus.ShardsTopic, "acked", nil)
	m := pull(ctx, t, b, bus.ShardsSub, shortDeadline, redeliverWait)
	ack(ctx, t, m)
	expectNone(ctx, t, b, bus.ShardsSub, quietWait)
}

func testExtendKeeps(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	id := publish(ctx, t, b, bus.ShardsTopic, "extended", nil)
	m := pull(ctx, t, b, bus.ShardsSub, shortDeadline, redeliverWait)
	if err := m.Extend(ctx, 30*time.Second); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	expectNone(ctx, t, b, bus.ShardsSub, quietWait)
	// Extended again, still the holder's: Ack works and it stays gone.
	if err := m.Extend(ctx, 30*time.Second); err != nil {
		t.Fatalf("second Extend of %s: %v", id, err)
	}
	ack(ctx, t, m)
	expectNone(ctx, t, b, bus.ShardsSub, time.Second)
}

func testPullContext(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	tests := []struct {
		name string
		// ctx makes the context of Pull; Pull must give up within bound.
		ctx   func() (context.Context, context.CancelFunc)
		want  error
		bound time.Duration
	}{
		{"cancelled before", func() (context.Context, context.CancelFunc) {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c, cancel
		}, context.Canceled, 500 * time.Millisecond},
		{"cancelled while waiting", func() (context.Context, context.CancelFunc) {
			c, cancel := context.WithCancel(ctx)
			time.AfterFunc(300*time.Millisecond, cancel)
			return c, cancel
		}, context.Canceled, 1500 * time.Millisecond},
		{"deadline while waiting", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 300*time.Millisecond)
		}, context.DeadlineExceeded, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			m, err := b.Pull(pctx, bus.EventsSub, longDeadline)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("Pull on an empty subscription returned message %s", m.ID())
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Pull error = %v, want %v", err, tt.want)
			}
			if took > tt.bound {
				t.Errorf("Pull returned %v after it was called, want within %v", took, tt.bound)
			}
		})
	}
	// The abandoned Pulls left the subscription usable and took nothing.
	id := publish(ctx, t, b, bus.EventsTopic, "after cancellations", nil)
	m := pull(ctx, t, b, bus.EventsSub, longDeadline, redeliverWait)
	if m.ID() != id {
		t.Errorf("after cancelled Pulls got message %s, want %s", m.ID(), id)
	}
	ack(ctx, t, m)
}

func testConcurrent(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	const publishers, each = 8, 10
	var (
		mu  sync.Mutex
		ids = map[string]string{} // id -> data
		wg  sync.WaitGroup
	)
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				data := fmt.Sprintf("publisher %d message %d", p, i)
				id, err := b.Publish(ctx, bus.ShardsTopic, []byte(data), map[string]string{"p": fmt.Sprint(p)})
				if err != nil {
					t.Errorf("Publish(%q): %v", data, err)
					return
				}
				mu.Lock()
				if prev, dup := ids[id]; dup {
					t.Errorf("Publish(%q) returned id %s already given to %q", data, id, prev)
				}
				ids[id] = data
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(ids) != publishers*each {
		t.Fatalf("got %d distinct ids, want %d", len(ids), publishers*each)
	}
	// Two pullers drain the subscription concurrently.
	got := map[string]string{}
	for range 2 {
		wg.Go(func() {
			for {
				if ctx.Err() != nil {
					t.Errorf("draining the subscription: %v", ctx.Err())
					return
				}
				mu.Lock()
				done := len(got) == len(ids)
				mu.Unlock()
				if done {
					return
				}
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				m, err := b.Pull(pctx, bus.ShardsSub, longDeadline)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					continue // the other puller may hold the last ones
				}
				if err != nil {
					t.Errorf("Pull: %v", err)
					return
				}
				mu.Lock()
				got[m.ID()] = string(m.Data())
				mu.Unlock()
				if err := m.Ack(ctx); err != nil {
					t.Errorf("Ack(%s): %v", m.ID(), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if !maps.Equal(got, ids) {
		t.Errorf("pulled %d messages, want the %d published (id -> data differ)", len(got), len(ids))
	}
}

func testClose(t *testing.T, b bus.Bus) {
	ctx := testCtx(t)
	publish(ctx, t, b, bus.EventsTopic, "before close", nil)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := b.Publish(ctx, bus.EventsTopic, []byte("after close"), nil); err == nil {
		t.Errorf("Publish after Close succeeded, want an error")
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.Pull(pctx, bus.EventsSub, longDeadline); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Pull after Close: got %v, want an error at once", err)
	}
}
