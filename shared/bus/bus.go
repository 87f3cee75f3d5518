// Package bus is cicada's message bus: Pub/Sub topics for shard work and
// worker events, through cloud.google.com/go/pubsub/v2 against Google Cloud,
// the Pub/Sub emulator, or the in-process pstest server.
package bus

import (
	"context"
	"time"
)

// Topic and subscription ids every deployment uses.
const (
	ShardsTopic = "cicada-shards"
	ShardsSub   = "cicada-shards-workers"
	EventsTopic = "cicada-events"
	EventsSub   = "cicada-events-aggregator"
	DeadTopic   = "cicada-dead-letter"
	DeadSub     = "cicada-dead-letter-inspect"
)

// Message is one delivered message. Exactly one of Ack or Nack should be
// called; Extend may be called any number of times before.
type Message interface {
	ID() string
	Data() []byte
	Attributes() map[string]string
	// DeliveryAttempt counts deliveries when the subscription has a dead
	// letter policy (1 on the first); 0 when unknown.
	DeliveryAttempt() int
	// Extend pushes the ack deadline d from now.
	Extend(ctx context.Context, d time.Duration) error
	Ack(ctx context.Context) error
	// Nack makes the message available again at once.
	Nack(ctx context.Context) error
}

// Bus publishes and pulls.
//
// Safe for concurrent use. Publish returns once the server has the message
// (its id), so a caller that then acks its own input has handed the work on
// durably. Pull takes at most one message: neither the emulator nor pstest
// enforces streaming-pull flow control, so a worker takes exactly as much
// work as it can drive by pulling one message at a time. Delivery is at
// least once: a message may come again, even while its first copy is being
// worked on.
type Bus interface {
	Publish(ctx context.Context, topic string, data []byte, attrs map[string]string) (id string, err error)
	// Pull waits until a message is available on sub or ctx ends
	// (ctx.Err() then). ackDeadline is the message's initial deadline.
	Pull(ctx context.Context, sub string, ackDeadline time.Duration) (Message, error)
	Close() error
}
