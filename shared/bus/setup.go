package bus

import (
	"context"
	"fmt"
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
// settings differ (Setup does not update).
//
// On Google Cloud, dead lettering also needs the Pub/Sub service account
// (service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com) to be a
// publisher on DeadTopic and a subscriber on ShardsSub and EventsSub;
// granting that is Terraform's job, not Setup's. The emulator and pstest
// check no IAM.
func Setup(ctx context.Context, p *PubSub) error {
	for _, id := range []string{DeadTopic, ShardsTopic, EventsTopic} {
		_, err := p.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: p.topicName(id)})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("set up topic %s in project %s: %w", id, p.project, err)
		}
	}
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
		_, err := p.client.SubscriptionAdminClient.CreateSubscription(ctx, s)
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("set up subscription %s in project %s: %w", s.Name, p.project, err)
		}
	}
	return nil
}
