package bus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// LocalProject is the project id of local runs: the in-process server and
// the emulator of the development environment (internal/devenv/emulator).
const LocalProject = "cicada-local"

// MaxAckDeadline is the longest ack deadline Pub/Sub accepts, for Pull and
// Message.Extend alike.
const MaxAckDeadline = 600 * time.Second

const (
	// Pull polls with ReturnImmediately and backs off between empty answers
	// from pullBackoffMin, doubling up to pullBackoffMax: a message waits at
	// most pullBackoffMax plus one round trip, and an idle worker costs a
	// few requests a second.
	pullBackoffMin = 50 * time.Millisecond
	pullBackoffMax = 200 * time.Millisecond
	// pullRPCTimeout bounds one Pull, ModifyAckDeadline or set-up made on
	// behalf of Pull, whatever the caller's context: a Pull that returns at
	// once needs milliseconds, and one stuck on a connection to a server
	// that restarted must give way to a new one soon.
	pullRPCTimeout = 5 * time.Second
	// pullCancelGrace is how long a Pull request already sent may run on
	// after the caller's context ends before it is cut off.
	pullCancelGrace = time.Second
)

var errClosed = errors.New("bus closed")

// PubSub is the Bus on Google Cloud Pub/Sub, the emulator or pstest, through
// cloud.google.com/go/pubsub/v2.
//
// Publish goes through one cached Publisher per topic (batching, retries by
// the library). Pull is a unary Pull of one message in a loop rather than
// the streaming Subscriber.Receive: neither the emulator nor pstest enforces
// streaming-pull flow control, so Receive would let one worker hoard shards.
//
// A topic or subscription that is missing is an error (NotFound), unless
// SetupOnNotFound was called: then Publish and Pull set the topology up
// again and try once more.
type PubSub struct {
	client  *pubsub.Client
	project string

	// setupOnNotFound: this component may set the topology up (see
	// SetupOnNotFound).
	setupOnNotFound atomic.Bool
	// setupMu serialises the Setups made on NotFound; setups counts them,
	// so that callers that failed together set up only once.
	setupMu sync.Mutex
	setups  atomic.Uint64

	// pulling is closed once the server first answered a Pull.
	pulling     chan struct{}
	pullingOnce sync.Once

	mu         sync.Mutex
	publishers map[string]*pubsub.Publisher
	closed     bool
}

var _ Bus = (*PubSub)(nil)

// NewPubSub connects to Pub/Sub in project. PUBSUB_EMULATOR_HOST is honoured
// by the library; EmulatorOptions does the same for an address known only at
// run time.
func NewPubSub(ctx context.Context, project string, opts ...option.ClientOption) (*PubSub, error) {
	if os.Getenv(EmulatorHostEnv) != "" {
		opts = append([]option.ClientOption{emulatorReconnect}, opts...)
	}
	c, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub client for project %q: %w", project, err)
	}
	return &PubSub{client: c, project: project, publishers: map[string]*pubsub.Publisher{}, pulling: make(chan struct{})}, nil
}

// EmulatorHostEnv is the variable that points the library at an emulator.
const EmulatorHostEnv = "PUBSUB_EMULATOR_HOST"

// emulatorReconnect caps gRPC's reconnection backoff (120 s by default)
// at a second for an emulator on this machine: after an emulator restart
// the client is back within a second of the server, not minutes later.
var emulatorReconnect = option.WithGRPCDialOption(grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 5 * time.Second,
}))

// EmulatorOptions are the client options to reach an emulator or pstest
// at addr ("host:port"): plain gRPC, no credentials. The library applies
// the same when PUBSUB_EMULATOR_HOST is set; these let a process talk to an
// emulator without touching its environment.
func EmulatorOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithoutAuthentication(),
		option.WithTelemetryDisabled(),
		emulatorReconnect,
	}
}

// SetupOnNotFound lets p set the topology up: when Publish or Pull finds a
// topic or subscription missing (after an emulator restart, which loses
// them all), it runs Setup and tries once more. For a component with
// setup rights on an emulator or pstest (CICADA_SETUP); on Google Cloud,
// where Terraform owns the topology, a missing topic stays an error for
// the caller.
func (p *PubSub) SetupOnNotFound() { p.setupOnNotFound.Store(true) }

// Pulling is closed once the server first answered a Pull of p, with a
// message or none: the component has reached its subscription and is
// taking work.
func (p *PubSub) Pulling() <-chan struct{} { return p.pulling }

// setupAgain runs Setup after an operation found part of the topology
// missing, when p may (SetupOnNotFound) and err is NotFound. seen is the
// setup count read before the operation: when another caller has set up
// since, the operation is simply tried again. It reports whether to try
// again, and Setup's error.
func (p *PubSub) setupAgain(ctx context.Context, seen uint64, err error) (bool, error) {
	if !p.setupOnNotFound.Load() || status.Code(err) != codes.NotFound {
		return false, nil
	}
	p.setupMu.Lock()
	defer p.setupMu.Unlock()
	if p.setups.Load() != seen {
		return true, nil
	}
	// Bounded like the Pull it serves: a set-up stuck on a server that is
	// coming back must not hold the puller (it tries again).
	sctx, cancel := p.detached(ctx)
	defer cancel()
	if err := Setup(sctx, p); err != nil {
		return false, err
	}
	p.setups.Add(1)
	return true, nil
}

// Client is the underlying client, for administration beyond Setup.
func (p *PubSub) Client() *pubsub.Client { return p.client }

// Project is the project id the bus works in.
func (p *PubSub) Project() string { return p.project }

func (p *PubSub) topicName(id string) string {
	return "projects/" + p.project + "/topics/" + id
}

func (p *PubSub) subName(id string) string {
	return "projects/" + p.project + "/subscriptions/" + id
}

func (p *PubSub) publisher(topic string) (*pubsub.Publisher, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	pub, ok := p.publishers[topic]
	if !ok {
		pub = p.client.Publisher(topic)
		p.publishers[topic] = pub
	}
	return pub, nil
}

// Publish sends one message to topic (an id such as ShardsTopic) and waits
// until the server has it. A missing topic is set up again and the message
// sent once more, when p may (SetupOnNotFound).
func (p *PubSub) Publish(ctx context.Context, topic string, data []byte, attrs map[string]string) (string, error) {
	pub, err := p.publisher(topic)
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	seen := p.setups.Load()
	if err := p.ensureSubscribed(ctx, topic, seen); err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	// A Message is the library's once published: each attempt has its own.
	id, err := pub.Publish(ctx, &pubsub.Message{Data: data, Attributes: attrs}).Get(ctx)
	if err != nil {
		again, serr := p.setupAgain(ctx, seen, err)
		if serr != nil {
			return "", fmt.Errorf("publish to %s: %w (then set up the topology: %v)", topic, err, serr)
		}
		if again {
			id, err = pub.Publish(ctx, &pubsub.Message{Data: data, Attributes: attrs}).Get(ctx)
		}
	}
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	return id, nil
}

// ensureSubscribed makes sure, for a bus with set-up rights, that topic's
// subscriptions exist before a message is published to it. After an
// emulator restart another component's Setup may have created the topic
// and not yet its subscription: a message published then succeeds and
// reaches nobody (a run's shard would never be driven). On Google Cloud,
// where Terraform owns the topology, nothing is checked.
func (p *PubSub) ensureSubscribed(ctx context.Context, topic string, seen uint64) error {
	if !p.setupOnNotFound.Load() {
		return nil
	}
	sctx, cancel := p.detached(ctx)
	defer cancel()
	ok, err := p.subscribed(sctx, topic)
	if err != nil || ok {
		// A server that cannot answer now is the publish's to find out.
		return nil
	}
	if _, err := p.setupAgain(ctx, seen, status.Error(codes.NotFound, "subscription missing")); err != nil {
		return fmt.Errorf("set up the topology: %w", err)
	}
	return nil
}

// Pull takes one message from sub (an id such as ShardsSub), waiting until
// one is available or ctx ends, and sets its deadline to ackDeadline from now
// (rounded up to whole seconds; 0 keeps the subscription's deadline).
//
// A request already sent is let finish when ctx ends (within
// pullCancelGrace): cut off, it may have leased a message nobody would see
// until the deadline passed. A message that arrives after ctx ended is
// handed back at once, and Pull returns ctx.Err().
//
// A missing subscription is set up again and the wait goes on, when p may
// (SetupOnNotFound); found missing again before the server answered a
// Pull, it is an error.
func (p *PubSub) Pull(ctx context.Context, sub string, ackDeadline time.Duration) (Message, error) {
	secs, err := deadlineSeconds(ackDeadline)
	if err != nil {
		return nil, fmt.Errorf("pull from %s: %w", sub, err)
	}
	name := p.subName(sub)
	backoff := pullBackoffMin
	setUp := false // set up since the server last answered
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.isClosed() {
			return nil, fmt.Errorf("pull from %s: %w", sub, errClosed)
		}
		seen := p.setups.Load()
		rm, err := p.pullOne(ctx, name)
		if err != nil {
			if !setUp {
				again, serr := p.setupAgain(ctx, seen, err)
				if serr != nil {
					return nil, fmt.Errorf("pull from %s: %w (then set up the topology: %v)", sub, err, serr)
				}
				if again {
					setUp = true
					continue
				}
			}
			return nil, fmt.Errorf("pull from %s: %w", sub, err)
		}
		setUp = false
		p.pullingOnce.Do(func() { close(p.pulling) })
		if rm == nil {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			backoff = min(2*backoff, pullBackoffMax)
			continue
		}
		m := &message{p: p, sub: name, ackID: rm.GetAckId(), msg: rm.GetMessage(), attempt: int(rm.GetDeliveryAttempt())}
		if ctx.Err() != nil {
			// The caller is gone: give the message back rather than leave
			// it leased until its deadline.
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pullRPCTimeout)
			_ = m.modack(hctx, 0)
			cancel()
			return nil, ctx.Err()
		}
		if ackDeadline > 0 {
			mctx, cancel := p.detached(ctx)
			err := m.modack(mctx, secs)
			cancel()
			if err != nil {
				// The message comes back after the subscription's deadline.
				return nil, fmt.Errorf("pull from %s: set deadline of message %s: %w", sub, m.ID(), err)
			}
		}
		return m, nil
	}
}

// pullOne makes one Pull request of one message; nil when none was ready.
func (p *PubSub) pullOne(ctx context.Context, name string) (*pubsubpb.ReceivedMessage, error) {
	rctx, cancel := p.detached(ctx)
	defer cancel()
	// ReturnImmediately is deprecated because Google Cloud may then answer
	// empty while messages wait; the loop asks again within pullBackoffMax.
	// A server-side wait instead would have to be cut off when ctx ends,
	// and a Pull cut off may lease a message nobody receives.
	resp, err := p.client.SubscriptionAdminClient.Pull(rctx, &pubsubpb.PullRequest{
		Subscription: name,
		MaxMessages:  1,
		//lint:ignore SA1019 deliberate, see above.
		ReturnImmediately: true,
	})
	if err != nil {
		return nil, err
	}
	if len(resp.GetReceivedMessages()) == 0 {
		return nil, nil
	}
	return resp.GetReceivedMessages()[0], nil
}

// detached is a context for a request made on behalf of ctx that outlives
// ctx's end by pullCancelGrace, so that a request in flight is not cut off
// between the server's lease and the client's receipt of a message.
func (p *PubSub) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pullRPCTimeout)
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(pullCancelGrace, cancel) })
	return rctx, func() {
		stop()
		cancel()
	}
}

func (p *PubSub) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close flushes and stops the publishers, then closes the client. Later
// calls do nothing.
func (p *PubSub) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	pubs := p.publishers
	p.publishers = nil
	p.mu.Unlock()
	for _, pub := range pubs {
		pub.Stop() // flushes what is pending
	}
	if err := p.client.Close(); err != nil {
		return fmt.Errorf("close pubsub client: %w", err)
	}
	return nil
}

// deadlineSeconds converts an ack deadline to the whole seconds Pub/Sub
// takes, rounding up so that a deadline is never shorter than asked.
func deadlineSeconds(d time.Duration) (int32, error) {
	if d < 0 || d > MaxAckDeadline {
		return 0, fmt.Errorf("ack deadline %v out of range [0, %v]", d, MaxAckDeadline)
	}
	return int32((d + time.Second - 1) / time.Second), nil
}

// message is a Message received by a unary Pull.
type message struct {
	p       *PubSub
	sub     string // full subscription name
	ackID   string
	msg     *pubsubpb.PubsubMessage
	attempt int
}

func (m *message) ID() string                    { return m.msg.GetMessageId() }
func (m *message) Data() []byte                  { return m.msg.GetData() }
func (m *message) Attributes() map[string]string { return m.msg.GetAttributes() }
func (m *message) DeliveryAttempt() int          { return m.attempt }

func (m *message) Extend(ctx context.Context, d time.Duration) error {
	secs, err := deadlineSeconds(d)
	if err != nil {
		return fmt.Errorf("extend message %s: %w", m.ID(), err)
	}
	if err := m.modack(ctx, secs); err != nil {
		return fmt.Errorf("extend message %s by %v: %w", m.ID(), d, err)
	}
	return nil
}

func (m *message) Ack(ctx context.Context) error {
	err := m.p.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{
		Subscription: m.sub,
		AckIds:       []string{m.ackID},
	})
	if err != nil {
		return fmt.Errorf("ack message %s: %w", m.ID(), err)
	}
	return nil
}

func (m *message) Nack(ctx context.Context) error {
	if err := m.modack(ctx, 0); err != nil {
		return fmt.Errorf("nack message %s: %w", m.ID(), err)
	}
	return nil
}

func (m *message) modack(ctx context.Context, secs int32) error {
	return m.p.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
		Subscription:       m.sub,
		AckIds:             []string{m.ackID},
		AckDeadlineSeconds: secs,
	})
}
