# The worker (jobs/worker on GKE, deploy/k8s): pulls shard work, drives the
# load, writes leases, slices and done markers, publishes events.
#
# Its Google service account is reached from the Kubernetes service account
# k8s_namespace/worker_ksa through Workload Identity. Grants, all on single
# resources:
# - objects under runs/ of the runs bucket, roles/storage.objectUser. The
#   worker creates objects only if absent (slices, done markers, a new
#   lease) and renews its lease by replacing it at a known generation. Cloud
#   Storage counts a replacement as a delete of the old generation, so
#   objectCreator + objectViewer (+ legacyBucketReader) would fail the first
#   renewal with 403. objectUser is the smallest predefined role with
#   objects.delete; unlike objectAdmin it cannot change IAM on objects. The
#   condition keeps the worker out of idempotency/.
# - subscriber on the shards subscription (pull, ack, extend, nack);
# - publisher on the events topic.

resource "google_service_account" "worker" {
  project      = var.project
  account_id   = "${var.name_prefix}-worker"
  display_name = "cicada worker"
  description  = "Worker pods (Workload Identity): shard leases and slices under runs/, pulls shard work, publishes events."
}

resource "google_service_account_iam_member" "worker_workload_identity" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${var.k8s_namespace}/${var.worker_ksa}]"

  # The workload pool exists once the cluster does.
  depends_on = [google_container_cluster.main]
}

resource "google_storage_bucket_iam_member" "worker_runs" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.worker.member

  condition {
    title       = "runs-only"
    description = "Only objects under runs/"
    expression  = local.runs_prefix_condition
  }
}

resource "google_pubsub_subscription_iam_member" "worker_shards" {
  project      = var.project
  subscription = google_pubsub_subscription.shards_workers.name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.worker.member
}

resource "google_pubsub_topic_iam_member" "worker_events" {
  project = var.project
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.worker.member
}
