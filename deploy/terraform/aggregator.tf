# The aggregator (jobs/aggregator on GKE, deploy/k8s): pulls worker events,
# merges slices into live.json and the final report files, and publishes a
# shard again when its lease went stale (the failure detector).
#
# Its Google service account is reached from the Kubernetes service account
# k8s_namespace/aggregator_ksa through Workload Identity. Grants:
# - objects under runs/, active/ and the runs index (index/, index-slices/,
#   latest/) of the runs bucket: read them all (roles/storage.objectViewer:
#   it lists active/, reads everything of a run, and reads a plan's index
#   for a last-pass baseline), write only its own
#   (roles/storage.objectUser conditioned on names, bucket.tf): live.json
#   and the report files, rewritten in place (a replacement deletes the old
#   generation, hence objectUser rather than objectCreator), the sealed
#   slices, the cancel marker of an abort, the deletion of active-run
#   markers, and the finished run's index rows and pointers. plan.json,
#   run.json and the workers' objects are read-only to it.
# - subscriber on the events subscription;
# - publisher on the shards topic (republished shards).

resource "google_service_account" "aggregator" {
  project      = var.project
  account_id   = "${var.name_prefix}-aggregator"
  display_name = "cicada aggregator"
  description  = "Aggregator pods (Workload Identity): reads runs/, writes live status and reports, pulls events, republishes shards."
}

resource "google_service_account_iam_member" "aggregator_workload_identity" {
  service_account_id = google_service_account.aggregator.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${var.k8s_namespace}/${var.aggregator_ksa}]"

  # The workload pool exists once the cluster does.
  depends_on = [google_container_cluster.main]
}

resource "google_storage_bucket_iam_member" "aggregator_runs_read" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.aggregator.member

  condition {
    title       = "runs-active-and-index-read"
    description = "Read and list objects under runs/, active/ and the runs index"
    expression  = join(" || ", [local.runs_prefix_condition, local.active_prefix_condition, local.index_prefix_condition])
  }
}

resource "google_storage_bucket_iam_member" "aggregator_runs_write" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.aggregator.member

  condition {
    title       = "aggregator-writes"
    description = "Write only live status, report files, sealed slices, an abort's cancel marker, active-run markers and the runs index"
    expression  = local.aggregator_write_condition
  }
}

resource "google_pubsub_subscription_iam_member" "aggregator_events" {
  project      = var.project
  subscription = google_pubsub_subscription.events_aggregator.name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.aggregator.member
}

resource "google_pubsub_topic_iam_member" "aggregator_shards" {
  project = var.project
  topic   = google_pubsub_topic.shards.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.aggregator.member
}
