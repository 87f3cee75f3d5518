package worker

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/runs"
)

const (
	// eventQueue is how many events may wait for the bus: minutes of a
	// busy worker's slices, while the bus is away.
	eventQueue = 1024
	// eventTimeout bounds one event's publication: an event is a hint (the
	// aggregator sweeps the bucket anyway), not worth holding later ones.
	eventTimeout = 5 * time.Second
	// eventDrain bounds how long a stopping worker waits for its queue.
	eventDrain = 10 * time.Second
)

// eventSender publishes a worker's events in order, off the shard's path:
// a slice's event must never hold the next slice back. While Pub/Sub is
// restarting the library retries a publish for up to a minute; a shard
// that published inline stopped writing its slices meanwhile.
type eventSender struct {
	b   bus.Bus
	log *zap.Logger

	once    sync.Once
	q       chan queued
	done    chan struct{}
	mu      sync.Mutex // guards closed against sends on a closed q
	closed  bool
	dropped int
}

type queued struct {
	ev  runs.Event
	log *zap.Logger
}

func newEventSender(b bus.Bus, log *zap.Logger) *eventSender {
	return &eventSender{b: b, log: log, q: make(chan queued, eventQueue), done: make(chan struct{})}
}

// send queues ev; a full queue drops it, with a warning. After close (a
// worker used again once its Run returned), ev is published at once.
func (s *eventSender) send(ev runs.Event, log *zap.Logger) {
	s.once.Do(func() { go s.loop() })
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.publish(queued{ev, log})
		return
	}
	defer s.mu.Unlock()
	select {
	case s.q <- queued{ev, log}:
	default:
		s.dropped++
		log.Warn("event dropped: the bus is behind", zap.String("type", ev.Type), zap.Int("dropped", s.dropped))
	}
}

func (s *eventSender) loop() {
	defer close(s.done)
	for e := range s.q {
		s.publish(e)
	}
}

func (s *eventSender) publish(e queued) {
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if _, err := s.b.Publish(ctx, bus.EventsTopic, runs.Encode(e.ev), map[string]string{"run_id": e.ev.RunID, "type": e.ev.Type}); err != nil {
		// Events only hurry the aggregator along; it sweeps the bucket anyway.
		e.log.Warn("publish event", zap.String("type", e.ev.Type), zap.Error(err))
	}
}

// close stops taking events and waits, at most eventDrain, for those
// queued to be published.
func (s *eventSender) close() {
	s.once.Do(func() { go s.loop() })
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.q)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(eventDrain):
		s.log.Warn("stopped with events unpublished", zap.Int("queued", len(s.q)))
	}
}
