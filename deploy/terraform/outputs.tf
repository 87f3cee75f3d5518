# What the README's next steps (curl, Cloud Build, kubectl) need.

output "trigger_url" {
  description = "Base URL of the trigger: POST $URL/runs, GET $URL/runs/<id>. Callers send an identity token whose audience is this URL."
  value       = local.trigger_url
}

output "bucket_name" {
  description = "Runs bucket: reports land in gs://BUCKET/runs/<id>/report.json."
  value       = google_storage_bucket.runs.name
}

output "source_bucket_name" {
  description = "Bucket of the function's source zips, and the staging place of gcloud builds submit (gs://BUCKET/cloudbuild)."
  value       = google_storage_bucket.function_source.name
}

output "registry_url" {
  description = "Docker registry of the images: REGION-docker.pkg.dev/PROJECT/REPOSITORY."
  value       = local.registry_url
}

output "image_tag" {
  description = "Tag of the images deploy/k8s is meant to run (var.image_tag)."
  value       = var.image_tag
}

output "cluster_name" {
  description = "Name of the GKE cluster."
  value       = google_container_cluster.main.name
}

output "cluster_location" {
  description = "Region (or zone) of the GKE cluster, for gcloud container clusters get-credentials --location."
  value       = google_container_cluster.main.location
}

output "get_credentials_command" {
  description = "The command that points kubectl at the cluster."
  value       = "gcloud container clusters get-credentials ${google_container_cluster.main.name} --location ${google_container_cluster.main.location} --project ${var.project}"
}

output "service_accounts" {
  description = "Email of each component's service account; deploy/k8s annotates its Kubernetes service accounts with the worker's and the aggregator's (iam.gke.io/gcp-service-account)."
  value = {
    trigger       = google_service_account.trigger.email
    trigger_build = google_service_account.trigger_build.email
    worker        = google_service_account.worker.email
    aggregator    = google_service_account.aggregator.email
    nodes         = google_service_account.nodes.email
    build         = google_service_account.build.email
    scheduler     = local.scheduler_enabled ? google_service_account.scheduler[0].email : null
  }
}

output "build_service_account" {
  description = "Full name of Cloud Build's service account, for gcloud builds submit --service-account."
  value       = google_service_account.build.id
}

output "scheduler_job" {
  description = "Name of the nightly Cloud Scheduler job, or null when no plan is set."
  value       = local.scheduler_enabled ? google_cloud_scheduler_job.nightly[0].name : null
}

output "dead_letter_subscription" {
  description = "Subscription to pull dead letters from: gcloud pubsub subscriptions pull SUB --limit 10."
  value       = google_pubsub_subscription.dead_letter_inspect.name
}

output "target_cidrs" {
  description = "var.target_cidrs as Cloud Build's _TARGET_CIDRS wants them (comma-separated): the ranges the workers' NetworkPolicy lets them load."
  value       = join(",", var.target_cidrs)
}

output "allowed_targets" {
  description = "The allow-list the trigger and the workers hold plans to (comma-separated): allowed_targets and the cluster's services range on cluster_target_ports; Cloud Build's _ALLOWED_TARGETS."
  value       = local.policy.ALLOWED_TARGETS
}

output "cloudbuild_substitutions" {
  description = "Everything cloudbuild.yaml takes from this deployment, for gcloud builds submit --substitutions \"$(terraform output -raw cloudbuild_substitutions);COMMIT_SHA=...\": region, registry, cluster, bucket, service accounts, target ranges and the operator's policy (policy.tf), so that the workers hold plans to the trigger's rules. In gcloud's ^;^ list form: the values hold commas."
  value = "^;^${join(";", concat(
    [
      "_REGION=${var.region}",
      "_REPO=${google_artifact_registry_repository.images.repository_id}",
      "_CLUSTER=${google_container_cluster.main.name}",
      "_CLUSTER_LOCATION=${google_container_cluster.main.location}",
      "_BUCKET=${google_storage_bucket.runs.name}",
      "_WORKER_GSA=${google_service_account.worker.email}",
      "_AGGREGATOR_GSA=${google_service_account.aggregator.email}",
      "_TARGET_CIDRS=${join(",", var.target_cidrs)}",
      "_SECRET_HEADERS=${join(",", var.secret_headers)}",
    ],
    [for k, v in local.policy : "_${k}=${v}"],
  ))}"
}
