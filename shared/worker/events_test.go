package worker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/runs"
)

// stalledEvents is the in-process bus with its events topic unreachable
// until gate closes, as while Pub/Sub restarts: a publish there waits for
// the gate or its context.
type stalledEvents struct {
	bus.Bus
	gate chan struct{}
}

func (s *stalledEvents) Publish(ctx context.Context, topic string, data []byte, attrs map[string]string) (string, error) {
	if topic == bus.EventsTopic {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return s.Bus.Publish(ctx, topic, data, attrs)
}

// TestEventsDoNotHoldSlices drives a shard while events cannot be
// published: every slice is still written on time (an event is a hint;
// a shard that waited on it once stopped writing slices for a minute
// during a Pub/Sub restart), and the events go out, in order, once the
// bus is back.
func TestEventsDoNotHoldSlices(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dur  time.Duration
	}{
		{"one slice", testSlice},
		{"four slices", 4 * testSlice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			gate := make(chan struct{})
			e.w = New(testConfig(), e.st, &stalledEvents{Bus: e.b, gate: gate}, testLog(t), nil)
			const id = "run-stalled-events"
			start := time.Now().Add(300 * time.Millisecond)
			e.writeRun(t, id, start, tt.dur)
			cancel, done := runWorker(t, e)
			e.publish(t, runs.Encode(runs.ShardWork{RunID: id, Shard: 0, Reason: runs.ReasonStart}))

			n := int(tt.dur / testSlice)
			deadline := start.Add(tt.dur + 2*time.Second)
			for !e.exists(t, runs.DonePath(id, 0)) {
				if time.Now().After(deadline) {
					t.Fatalf("shard not done %v after its end with events stalled; slices written %v",
						time.Since(start.Add(tt.dur)).Round(time.Millisecond), sortedKeys(e.written(t, id)))
				}
				time.Sleep(20 * time.Millisecond)
			}
			want := make([]int, n)
			for k := range want {
				want[k] = k
			}
			if got := sortedKeys(e.written(t, id)); !slices.Equal(got, want) {
				t.Errorf("slices written %v with events stalled, want %v", got, want)
			}

			close(gate)
			evs := e.events(t, n+2, 10*time.Second)
			cancel()
			waitRun(t, done, eventDrain+5*time.Second)
			wantKinds := []string{runs.EventDone, runs.EventLeased}
			for range n {
				wantKinds = append(wantKinds, runs.EventSlice)
			}
			if got := eventKinds(evs); !slices.Equal(got, wantKinds) {
				t.Errorf("events after the bus came back %v, want %v", got, wantKinds)
			}
		})
	}
}
