# What the worker may use to authenticate to the services under test (a
# plan's target.auth; README "Authenticated targets"). Nothing here is
# granted unless the operator asks for it.
#
# - Each Secret Manager secret named in worker_secret_ids gets
#   roles/secretmanager.secretAccessor for the worker, on that secret alone:
#   the worker reads the value at shard start and can read no other secret.
#   A project-wide secretAccessor would open every secret of the project;
#   policy_test.go refuses one.
# - worker_vertex_ai grants roles/aiplatform.user on the project, so that the
#   worker can call Vertex AI endpoints with its own access token. This one
#   is project-level by nature: the stable API has no IAM on an endpoint (an
#   endpoint's own policy is v1beta1 only, outside the google provider), so
#   an operator who wants it narrower leaves worker_vertex_ai false and sets
#   the endpoint's policy by hand.
# - A Google ID token (Cloud Run, Cloud Functions, IAP) needs no grant here:
#   the worker mints it from its own identity, and the target's owner makes
#   the worker's service account (output service_accounts.worker) an invoker
#   of that service.

resource "google_secret_manager_secret_iam_member" "worker_secrets" {
  for_each = toset(var.worker_secret_ids)

  # A full name (projects/P/secrets/S) carries its project; a short id is
  # one of var.project's secrets.
  project   = startswith(each.value, "projects/") ? null : var.project
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.worker.member
}

resource "google_project_iam_member" "worker_vertex_ai" {
  count = var.worker_vertex_ai ? 1 : 0

  project = var.project
  role    = "roles/aiplatform.user"
  member  = google_service_account.worker.member
}
