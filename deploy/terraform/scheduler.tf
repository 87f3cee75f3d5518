# Nightly runs: Cloud Scheduler posts a stored plan (scheduler_plan, or the
# file scheduler_plan_file) to the trigger's POST /runs on scheduler_cron,
# with an OIDC identity token of its own service account, which is made an
# invoker of the trigger. Nothing is created while no plan is set.
#
# Idempotency: Terraform can only give the job fixed headers, and a fixed
# Idempotency-Key would hand back the first night's run every night after.
# So the job sends none; Cloud Scheduler adds X-CloudScheduler-JobName and
# X-CloudScheduler-ScheduleTime (the same on every retry of one night), and
# the trigger takes that pair as the key. A retry of a post that did start a
# run returns that run, so retries are on.

locals {
  scheduler_plan = (
    var.scheduler_plan != "" ? var.scheduler_plan :
    var.scheduler_plan_file != "" ? file(startswith(var.scheduler_plan_file, "/") ? var.scheduler_plan_file : "${path.module}/${var.scheduler_plan_file}") :
    ""
  )
  scheduler_enabled = local.scheduler_plan != ""

  # JSON when the file says so or the text starts like JSON; YAML otherwise
  # (the trigger parses both and sniffs when the type is unknown).
  scheduler_content_type = (
    endswith(lower(var.scheduler_plan_file), ".json") || startswith(trimspace(local.scheduler_plan), "{")
    ? "application/json" : "application/yaml"
  )
}

resource "google_service_account" "scheduler" {
  count = local.scheduler_enabled ? 1 : 0

  project      = var.project
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "cicada nightly scheduler"
  description  = "Identity of the nightly Cloud Scheduler job: may invoke the trigger, nothing else."
}

resource "google_cloud_run_service_iam_member" "scheduler_invoker" {
  count = local.scheduler_enabled ? 1 : 0

  project  = var.project
  location = google_cloudfunctions2_function.trigger.location
  service  = google_cloudfunctions2_function.trigger.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler[0].member
}

resource "google_cloud_scheduler_job" "nightly" {
  count = local.scheduler_enabled ? 1 : 0

  project          = var.project
  region           = var.region
  name             = "${var.name_prefix}-nightly"
  description      = "Posts the stored cicada plan to the trigger"
  schedule         = var.scheduler_cron
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "60s"

  retry_config {
    retry_count          = var.scheduler_retry_count
    min_backoff_duration = "30s"
  }

  http_target {
    http_method = "POST"
    uri         = "${local.trigger_url}/runs"
    body        = base64encode(local.scheduler_plan)
    headers = {
      "Content-Type" = local.scheduler_content_type
    }

    oidc_token {
      service_account_email = google_service_account.scheduler[0].email
      audience              = local.trigger_url
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_cloud_run_service_iam_member.scheduler_invoker,
  ]

  lifecycle {
    precondition {
      condition     = var.scheduler_plan == "" || var.scheduler_plan_file == ""
      error_message = "Set scheduler_plan or scheduler_plan_file, not both."
    }
    precondition {
      condition     = var.trigger_ingress == "ALLOW_ALL"
      error_message = "Cloud Scheduler reaches the trigger from outside the VPC: a nightly plan needs trigger_ingress = ALLOW_ALL."
    }
  }
}
