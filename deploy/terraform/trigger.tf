# The trigger: functions/trigger as a Cloud Run function (gen2), entry point
# "Trigger". Its source is the folder `make function-source` builds
# (dist/function: a module root without replace directives), zipped and
# uploaded under a name that is the zip's hash, so that new code is a new
# object and so a new deployment.
#
# Service accounts:
# - trigger: what the function runs as. Objects under runs/, active/ and
#   idempotency/ of the runs bucket (it writes plan.json, the active-run
#   marker, run.json, cancel and the Idempotency-Key records, takes stale
#   keys over by generation, deletes what a failed start left, and lists
#   active/ to count the runs going), and publish on the shards topic.
#   Nothing else. It is the only writer of plan.json and run.json.
# - trigger-build (fn-build): what Cloud Build runs as when it builds the
#   function: read the source bucket, push to the registry, write build logs.
#
# Who may call it: invoker_principals (and the scheduler's account), through
# roles/run.invoker on the function's Cloud Run service. Never allUsers:
# every request carries a Google identity token.

locals {
  function_source_dir = startswith(var.function_source_dir, "/") ? var.function_source_dir : "${path.module}/${var.function_source_dir}"

  # The Cloud Run URL of the function (https://NAME-HASH-REGION.a.run.app):
  # the base of /runs and the audience of identity tokens.
  trigger_url = google_cloudfunctions2_function.trigger.service_config[0].uri
}

resource "google_service_account" "trigger" {
  project      = var.project
  account_id   = "${var.name_prefix}-trigger"
  display_name = "cicada trigger function"
  description  = "Runs the trigger: writes run records under runs/ and idempotency/ of the runs bucket, publishes shard work."
}

resource "google_service_account" "trigger_build" {
  project      = var.project
  account_id   = "${var.name_prefix}-fn-build"
  display_name = "cicada trigger function build"
  description  = "Cloud Build identity of the trigger function's build: reads its source, pushes its image."
}

# --- source ------------------------------------------------------------------

resource "google_storage_bucket" "function_source" {
  project  = var.project
  name     = "${local.bucket_name}-source"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # holds nothing that the repository cannot rebuild

  # Old zips are dead weight once a newer one is deployed. If the deployed
  # one is deleted too, the next plan uploads it again (same name).
  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

data "archive_file" "function" {
  type        = "zip"
  source_dir  = local.function_source_dir
  output_path = "${path.module}/.terraform/cicada-function-source.zip"
}

resource "google_storage_bucket_object" "function_source" {
  bucket = google_storage_bucket.function_source.name
  name   = "trigger/${data.archive_file.function.output_sha256}.zip"
  source = data.archive_file.function.output_path
}

# --- the function --------------------------------------------------------------

resource "google_cloudfunctions2_function" "trigger" {
  project     = var.project
  location    = var.region
  name        = "${var.name_prefix}-trigger"
  description = "cicada trigger: POST /runs, GET /runs/{id}, DELETE /runs/{id}"

  build_config {
    runtime           = var.function_runtime
    entry_point       = "Trigger"
    service_account   = google_service_account.trigger_build.id
    docker_repository = google_artifact_registry_repository.images.id

    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    service_account_email          = google_service_account.trigger.email
    ingress_settings               = var.trigger_ingress
    all_traffic_on_latest_revision = true
    min_instance_count             = 0
    max_instance_count             = var.trigger_max_instances
    available_memory               = "512M"
    timeout_seconds                = 60

    # Names as `go run ./cmd/cicada env` lists them (policy_test.go checks
    # each against the trigger's configuration struct).
    environment_variables = {
      CICADA_TRIGGER_BUCKET  = google_storage_bucket.runs.name
      CICADA_TRIGGER_PROJECT = var.project
      # The operator's policy (policy.tf), which the workers get too.
      CICADA_TRIGGER_ALLOWED_TARGETS       = local.policy.ALLOWED_TARGETS
      CICADA_TRIGGER_MAX_RATE              = local.policy.MAX_RATE
      CICADA_TRIGGER_MAX_USERS             = local.policy.MAX_USERS
      CICADA_TRIGGER_MAX_SHARDS            = local.policy.MAX_SHARDS
      CICADA_TRIGGER_MAX_DURATION          = local.policy.MAX_DURATION
      CICADA_TRIGGER_MAX_CONNECTIONS       = local.policy.MAX_CONNECTIONS
      CICADA_TRIGGER_MAX_TOTAL_CONNECTIONS = local.policy.MAX_TOTAL_CONNECTIONS
      CICADA_TRIGGER_MAX_IN_FLIGHT         = local.policy.MAX_IN_FLIGHT
      CICADA_TRIGGER_MAX_TIMEOUT           = local.policy.MAX_TIMEOUT
      CICADA_TRIGGER_MAX_START_DELAY       = local.policy.MAX_START_DELAY
      CICADA_TRIGGER_MAX_REQUESTS          = local.policy.MAX_REQUESTS
      CICADA_TRIGGER_MAX_RENDERED_BODY     = local.policy.MAX_RENDERED_BODY
      CICADA_TRIGGER_MAX_RENDERED_TOTAL    = local.policy.MAX_RENDERED_TOTAL
      CICADA_TRIGGER_LITERAL_SECRETS       = local.policy.LITERAL_SECRETS
      CICADA_TRIGGER_ALLOW_INSECURE_TLS    = local.policy.ALLOW_INSECURE_TLS
      CICADA_TRIGGER_SECRET_HEADERS        = join(",", var.secret_headers)
      CICADA_TRIGGER_MAX_BODY              = tostring(var.max_body_bytes)
      CICADA_TRIGGER_LEAD_TIME             = var.lead_time
      CICADA_LOG_LEVEL                     = var.log_level
      # Callers: Cloud Run's IAM check verifies every caller's identity
      # token before the function runs (no public invoker, see below), so
      # the function may take the caller from it: runs record who
      # submitted them, and only that principal and trigger_admins may
      # cancel a run or read its plan.
      CICADA_TRIGGER_TRUST_PLATFORM_IDENTITY    = "true"
      CICADA_TRIGGER_ADMINS                     = join(",", var.trigger_admins)
      CICADA_TRIGGER_MAX_ACTIVE_RUNS            = tostring(var.max_active_runs)
      CICADA_TRIGGER_MAX_ACTIVE_RUNS_PER_CALLER = tostring(var.max_active_runs_per_caller)
      # Cloud Run routes a request here only for the function's own URLs
      # (run.app, cloudfunctions.net), which are not known before it
      # exists: the Host check, a defence of a trigger on a laptop against
      # DNS rebinding, has nothing to add here.
      CICADA_TRIGGER_ALLOWED_HOSTS = "*"
    }
  }

  # The build needs its grants before it starts; the function needs its own
  # before its first request.
  depends_on = [
    google_project_service.enabled,
    google_storage_bucket_iam_member.trigger_build_source,
    google_artifact_registry_repository_iam_member.trigger_build_push,
    google_project_iam_member.trigger_build_logs,
    google_storage_bucket_iam_member.trigger_runs,
    google_pubsub_topic_iam_member.trigger_shards,
  ]
}

# --- who may call it -------------------------------------------------------------

# The function's Cloud Run service has the function's name.
resource "google_cloud_run_service_iam_member" "trigger_invokers" {
  for_each = toset(var.invoker_principals)

  project  = var.project
  location = google_cloudfunctions2_function.trigger.location
  service  = google_cloudfunctions2_function.trigger.name
  role     = "roles/run.invoker"
  member   = each.value
}

# --- what it may do ----------------------------------------------------------------

# objectUser, not objectAdmin: create, read, list, replace and delete objects,
# without managing their IAM. Replacing an object by generation (an
# Idempotency-Key record taken over) needs delete, which objectCreator and
# objectViewer lack.
resource "google_storage_bucket_iam_member" "trigger_runs" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.trigger.member

  condition {
    title       = "runs-active-and-idempotency"
    description = "Only objects under runs/, active/ and idempotency/"
    expression = join(" || ", [
      local.runs_prefix_condition,
      local.active_prefix_condition,
      "resource.name.startsWith(\"${local.bucket_object_prefix}idempotency/\")",
    ])
  }
}

resource "google_pubsub_topic_iam_member" "trigger_shards" {
  project = var.project
  topic   = google_pubsub_topic.shards.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.trigger.member
}

# --- what its build may do -----------------------------------------------------------

# GET /runs and GET /plans/<name> read the runs index the aggregator
# writes (docs/history.md): read-only.
resource "google_storage_bucket_iam_member" "trigger_index_read" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.trigger.member

  condition {
    title       = "runs-index-read"
    description = "Read and list the runs index (index/, index-slices/, latest/)"
    expression  = local.index_prefix_condition
  }
}

resource "google_storage_bucket_iam_member" "trigger_build_source" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.trigger_build.member
}

resource "google_artifact_registry_repository_iam_member" "trigger_build_push" {
  project    = var.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.trigger_build.member
}

# Build logs go to Cloud Logging; log writing has no narrower resource than
# the project.
resource "google_project_iam_member" "trigger_build_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = google_service_account.trigger_build.member
}
