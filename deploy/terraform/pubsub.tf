# Pub/Sub: the shards topic (work for workers), the events topic (worker
# events for the aggregator) and the dead-letter topic. The ids are the
# constants of shared/bus (bus.ShardsTopic, ...), which the binaries use as
# they are; the settings mirror bus.Setup, which creates the same on the
# emulators (ack deadline 60 s, 10 deliveries, backoff 1 s to 60 s).
#
# Publishers and subscribers are granted on these topics and subscriptions
# only, in each component's file. Dead lettering needs the Pub/Sub service
# agent to publish to the dead-letter topic and to subscribe to (ack on) the
# source subscriptions; those grants are here.

locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # A message nobody acked within a day belongs to a run that is long over.
  message_retention = "86400s"
  # Dead letters are kept a week, to be read with
  # gcloud pubsub subscriptions pull cicada-dead-letter-inspect.
  dead_letter_retention = "604800s"
}

resource "google_pubsub_topic" "shards" {
  project = var.project
  name    = "cicada-shards"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "events" {
  project = var.project
  name    = "cicada-events"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead_letter" {
  project = var.project
  name    = "cicada-dead-letter"

  depends_on = [google_project_service.enabled]
}

# Workers pull shard work here. A shard that crashed every worker
# max_delivery_attempts times is a bug to look at, not work to retry.
resource "google_pubsub_subscription" "shards_workers" {
  project = var.project
  name    = "cicada-shards-workers"
  topic   = google_pubsub_topic.shards.id

  ack_deadline_seconds       = 60
  message_retention_duration = local.message_retention

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "1s"
    maximum_backoff = "60s"
  }

  # Never delete the subscription for inactivity (the default is 31 days):
  # a project that runs nothing for a month must still work.
  expiration_policy {
    ttl = ""
  }
}

# The aggregator pulls worker events here.
resource "google_pubsub_subscription" "events_aggregator" {
  project = var.project
  name    = "cicada-events-aggregator"
  topic   = google_pubsub_topic.events.id

  ack_deadline_seconds       = 60
  message_retention_duration = local.message_retention

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "1s"
    maximum_backoff = "60s"
  }

  expiration_policy {
    ttl = ""
  }
}

# Dead letters wait here for a human. It has no dead-letter policy of its
# own (a dead letter of a dead letter has nowhere to go); policy_test.go
# exempts it by name.
resource "google_pubsub_subscription" "dead_letter_inspect" {
  project = var.project
  name    = "cicada-dead-letter-inspect"
  topic   = google_pubsub_topic.dead_letter.id

  ack_deadline_seconds       = 60
  message_retention_duration = local.dead_letter_retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

# The Pub/Sub service agent forwards undeliverable messages: it publishes to
# the dead-letter topic and acks them on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_source" {
  for_each = {
    shards = google_pubsub_subscription.shards_workers.name
    events = google_pubsub_subscription.events_aggregator.name
  }

  project      = var.project
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
