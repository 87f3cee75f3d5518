# Artifact Registry: one Docker repository for every image (the single
# Dockerfile's binaries, pushed by cloudbuild.yaml) and for the trigger
# function's build output (trigger.tf's build_config.docker_repository), so
# that no gcf-artifacts repository appears beside it.
#
# Readers and writers are granted on this repository only, in the files of
# the components that need them: GKE nodes read (gke.tf), the function's
# build writes (trigger.tf), Cloud Build writes (build.tf).

resource "google_artifact_registry_repository" "images" {
  project       = var.project
  location      = var.region
  repository_id = var.registry_repository_id
  format        = "DOCKER"
  description   = "cicada images (worker, aggregator, predict) and the trigger function's build"

  # Untagged images pile up with every push of a tag that moves; a tagged
  # image (a commit) is kept until someone deletes it.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "1209600s" # 14 days
    }
  }

  depends_on = [google_project_service.enabled]
}

locals {
  registry_url = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}
