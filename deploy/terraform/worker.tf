# The worker (jobs/worker on GKE, deploy/k8s): pulls shard work, drives the
# load, writes leases, slices and done markers, publishes events.
#
# Its Google service account is reached from the Kubernetes service account
# k8s_namespace/worker_ksa through Workload Identity. Grants, all on single
# resources:
# - objects under runs/ of the runs bucket: read them all
#   (roles/storage.objectViewer), write only its own (roles/storage.objectUser
#   conditioned on leases/, slices/ and shards/ of a run; bucket.tf). The
#   worker creates objects only if absent (slices, done markers, a new
#   lease) and renews its lease by replacing it at a known generation. Cloud
#   Storage counts a replacement as a delete of the old generation, so
#   objectCreator would fail the first renewal with 403. objectUser is the
#   smallest predefined role with objects.delete; unlike objectAdmin it
#   cannot change IAM on objects. plan.json and run.json are read-only to
#   it: a worker that is handed a plan cannot write one. Nothing outside
#   runs/ (idempotency/, active/).
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

resource "google_storage_bucket_iam_member" "worker_runs_read" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.worker.member

  condition {
    title       = "runs-read"
    description = "Read and list objects under runs/"
    expression  = local.runs_prefix_condition
  }
}

resource "google_storage_bucket_iam_member" "worker_runs_write" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.worker.member

  condition {
    title       = "worker-writes"
    description = "Write only leases, slices and shard markers of a run"
    expression  = local.worker_write_condition
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
