package bus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	// SubAckDeadline is the subscriptions' ack deadline, the one a message
	// keeps when Pull is given none.
	SubAckDeadline = 60 * time.Second
	// MaxDeliveryAttempts is how often a message is delivered before it goes
	// to DeadTopic: a shard that crashed every worker ten times is a bug to
	// look at, not work to retry.
	MaxDeliveryAttempts = 10
	// RetryMinBackoff and RetryMaxBackoff bound the delay before a nacked or
	// expired message is delivered again.
	RetryMinBackoff = time.Second
	RetryMaxBackoff = 60 * time.Second
)

// Setup creates the topics (ShardsTopic, EventsTopic, DeadTopic) and the
// subscriptions (ShardsSub, EventsSub with a dead letter policy to DeadTopic
// and a retry policy, and DeadSub on DeadTopic to inspect dead letters).
//
// It is idempotent: what exists already is kept as it is, even if its
// settings differ (Setup does not update). The one exception is a
// subscription left detached by the deletion of its topic (Pub/Sub then
// names its topic "_deleted-topic_" and it receives nothing): such a
// subscription is deleted and created again, whoever created the topic
// again.
//
// On Google Cloud, dead lettering also needs the Pub/Sub service account
// (service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com) to be a
// publisher on DeadTopic and a subscriber on ShardsSub and EventsSub;
// granting that is Terraform's job, not Setup's. The emulator and pstest
// check no IAM.
//
// Each topic's subscriptions are created right after it: a message
// published to a topic that has no subscription yet is lost, so the time
// a topic stands alone is kept as short as the server allows (and
// publishers with set-up rights check before they publish, see
// PubSub.Publish).
func Setup(ctx context.Context, p *PubSub) error {
	for _, id := range topics {
		topic := p.topicName(id)
		_, err := p.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("set up topic %s in project %s: %w", id, p.project, err)
		}
		for _, s := range p.subscriptionsOf(topic) {
			err := p.createSubscription(ctx, s)
			if status.Code(err) == codes.AlreadyExists {
				err = p.reattach(ctx, s)
			}
			if err != nil && status.Code(err) != codes.AlreadyExists {
				return fmt.Errorf("set up subscription %s in project %s: %w", s.GetName(), p.project, err)
			}
		}
	}
	return nil
}

// subscribed reports whether every subscription Setup makes on topic (an
// id) exists and is attached to it.
func (p *PubSub) subscribed(ctx context.Context, topic string) (bool, error) {
	for _, s := range p.subscriptionsOf(p.topicName(topic)) {
		if wrong, err := p.attached(ctx, s); err != nil || wrong != "" {
			return false, err
		}
	}
	return true, nil
}

// topics are the topic ids Setup creates, the dead letter topic first
// (the others' subscriptions name it as their dead letter topic).
var topics = []string{DeadTopic, ShardsTopic, EventsTopic}

// subscriptions are the subscriptions Setup creates, in p's project.
func (p *PubSub) subscriptions() []*pubsubpb.Subscription {
	dead := &pubsubpb.DeadLetterPolicy{
		DeadLetterTopic:     p.topicName(DeadTopic),
		MaxDeliveryAttempts: MaxDeliveryAttempts,
	}
	retry := &pubsubpb.RetryPolicy{
		MinimumBackoff: durationpb.New(RetryMinBackoff),
		MaximumBackoff: durationpb.New(RetryMaxBackoff),
	}
	subs := []*pubsubpb.Subscription{
		{Name: p.subName(ShardsSub), Topic: p.topicName(ShardsTopic), DeadLetterPolicy: dead, RetryPolicy: retry},
		{Name: p.subName(EventsSub), Topic: p.topicName(EventsTopic), DeadLetterPolicy: dead, RetryPolicy: retry},
		{Name: p.subName(DeadSub), Topic: p.topicName(DeadTopic)},
	}
	for _, s := range subs {
		s.AckDeadlineSeconds = int32(SubAckDeadline / time.Second)
	}
	return subs
}

// subscriptionsOf are the subscriptions Setup creates on topic (a full
// topic name).
func (p *PubSub) subscriptionsOf(topic string) []*pubsubpb.Subscription {
	var out []*pubsubpb.Subscription
	for _, s := range p.subscriptions() {
		if s.GetTopic() == topic {
			out = append(out, s)
		}
	}
	return out
}

func (p *PubSub) createSubscription(ctx context.Context, s *pubsubpb.Subscription) error {
	_, err := p.client.SubscriptionAdminClient.CreateSubscription(ctx, s)
	return err
}

// reattach creates s again when the subscription of that name is on
// another topic than s's: detached by its topic's deletion. One on s's
// topic (another component's Setup was quicker) is kept.
func (p *PubSub) reattach(ctx context.Context, s *pubsubpb.Subscription) error {
	got, err := p.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: s.GetName()})
	if err != nil {
		return err
	}
	if got.GetTopic() == s.GetTopic() {
		return nil
	}
	err = p.client.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: s.GetName()})
	if err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("delete subscription detached from its topic (now %q): %w", got.GetTopic(), err)
	}
	return p.createSubscription(ctx, s)
}

// Missing lists the topics and subscriptions of Setup that do not exist
// in p's project (their ids), or fails when it cannot tell. Empty means
// the topology is in place; the settings are not compared.
func Missing(ctx context.Context, p *PubSub) ([]string, error) {
	var missing []string
	for _, id := range topics {
		_, err := p.client.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: p.topicName(id)})
		switch {
		case status.Code(err) == codes.NotFound:
			missing = append(missing, "topic "+id)
		case err != nil:
			return nil, fmt.Errorf("look up topic %s in project %s: %w", id, p.project, err)
		}
	}
	for _, s := range p.subscriptions() {
		wrong, err := p.attached(ctx, s)
		if err != nil {
			return nil, err
		}
		if wrong != "" {
			missing = append(missing, wrong)
		}
	}
	return missing, nil
}

// attached looks subscription s up: "" when it exists on its topic, else
// what is wrong with it.
func (p *PubSub) attached(ctx context.Context, s *pubsubpb.Subscription) (string, error) {
	got, err := p.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: s.GetName()})
	switch {
	case status.Code(err) == codes.NotFound:
		return "subscription " + lastSegment(s.GetName()), nil
	case err != nil:
		return "", fmt.Errorf("look up subscription %s in project %s: %w", s.GetName(), p.project, err)
	case got.GetTopic() != s.GetTopic():
		return fmt.Sprintf("subscription %s (on %q)", lastSegment(s.GetName()), got.GetTopic()), nil
	}
	return "", nil
}

// lastSegment is the id at the end of a resource name.
func lastSegment(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}
