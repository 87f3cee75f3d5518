# Cloud Build (cloudbuild.yaml): tests, builds and pushes the images, and
# applies deploy/k8s to the cluster. It runs as its own service account
# (gcloud builds submit --service-account=...), not as a default account
# that may hold Editor:
# - push to the registry (writer on that repository only);
# - apply manifests: roles/container.developer, Kubernetes-API access only
#   (no cluster creation or deletion, no IAM). GKE roles are granted on the
#   project, so an IAM Condition on the resource name keeps this one to the
#   cicada cluster: other clusters of the project are out of its reach;
# - write build logs (project-wide by nature; builds run with
#   options.logging CLOUD_LOGGING_ONLY, so no logs bucket is needed);
# - read the sources that gcloud builds submit stages, which the README puts
#   under gs://SOURCE_BUCKET/cloudbuild/ (viewer on that bucket only).
# Terraform, not Cloud Build, deploys the trigger function: a function that
# both changed would be reverted by the next terraform apply.

resource "google_service_account" "build" {
  project      = var.project
  account_id   = "${var.name_prefix}-build"
  display_name = "cicada Cloud Build"
  description  = "Runs cloudbuild.yaml: pushes images to the cicada registry, applies deploy/k8s."
}

resource "google_artifact_registry_repository_iam_member" "build_push" {
  project    = var.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

locals {
  # The cluster as IAM names it.
  cluster_resource_name = "projects/${var.project}/locations/${local.cluster_location}/clusters/${var.name_prefix}"
}

resource "google_project_iam_member" "build_deploy" {
  project = var.project
  role    = "roles/container.developer"
  member  = google_service_account.build.member

  condition {
    title       = "cicada-cluster-only"
    description = "Only the cicada GKE cluster"
    expression = join(" || ", [
      "resource.name == \"${local.cluster_resource_name}\"",
      "resource.name.startsWith(\"${local.cluster_resource_name}/\")",
    ])
  }
}

resource "google_project_iam_member" "build_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_sources" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
