# The Google APIs cicada uses, enabled by Terraform. Two must be on before the
# first apply, because Terraform needs them to enable the others and to read
# the project's number: serviceusage.googleapis.com and
# cloudresourcemanager.googleapis.com (the README enables them with gcloud).
#
# disable_on_destroy is false: other things in the project may use the same
# APIs, and turning an API off is not this module's decision.

locals {
  services = toset([
    "artifactregistry.googleapis.com", # images and the function's build output
    "bigquery.googleapis.com",         # external tables over the runs index (bigquery.tf)
    "cloudbuild.googleapis.com",       # the function's build, and cloudbuild.yaml
    "cloudfunctions.googleapis.com",   # the trigger (Cloud Run functions)
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com", # nightly runs
    "compute.googleapis.com",        # GKE nodes, Cloud NAT
    "container.googleapis.com",      # GKE
    "dns.googleapis.com",            # googleapis.com on private.googleapis.com (gke.tf)
    "iam.googleapis.com",            # service accounts
    "iamcredentials.googleapis.com", # Workload Identity, OIDC tokens
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com", # shards and events
    "run.googleapis.com",    # the function's service
    "serviceusage.googleapis.com",
    "storage.googleapis.com", # the runs bucket
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.services

  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

# The project's number names the Google-managed service agents (the Pub/Sub
# service agent of pubsub.tf).
data "google_project" "this" {
  project_id = var.project
}
