# The runs bucket: the pipeline's only state (runs/<id>/..., see
# docs/bucket-layout.md) and the trigger's Idempotency-Key records
# (idempotency/).
#
# Nobody gets a bucket-wide role here: each component's file grants its own
# service account object roles on this bucket, limited by IAM Conditions to
# the prefixes it uses (worker.tf, aggregator.tf, trigger.tf). Uniform
# bucket-level access makes IAM the only access control (no object ACLs), and
# IAM Conditions need it.

locals {
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.project}-cicada-runs"
}

resource "google_storage_bucket" "runs" {
  project  = var.project
  name     = local.bucket_name
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.bucket_force_destroy

  # Versioning stays off, on purpose: the pipeline's write-once objects
  # (ifGenerationMatch=0) and generation-matched lease renewals assume that
  # a name has one live generation and that replacing or deleting it leaves
  # nothing behind. With versioning, each lease renewal (every few seconds per
  # shard) and each live.json rewrite would also keep a noncurrent copy.
  versioning {
    enabled = false
  }

  # Soft delete off for the same reason: leases and live.json are rewritten
  # every few seconds, and each replaced generation would be billed for the
  # soft-delete window. Runs are reproducible from their plan; reports worth
  # keeping are copied out (or the retention raised).
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # Old runs go: every object under runs/ is deleted run_retention_days after
  # it was written (all objects of a run are written within the run's
  # duration plus the aggregator's grace, so a run disappears as a whole
  # within that window).
  lifecycle_rule {
    condition {
      age            = var.run_retention_days
      matches_prefix = ["runs/"]
    }
    action {
      type = "Delete"
    }
  }

  # Idempotency-Key records only need to outlive the retries of one post.
  lifecycle_rule {
    condition {
      age            = var.idempotency_retention_days
      matches_prefix = ["idempotency/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

locals {
  # IAM Conditions on the runs bucket. An object's resource name is
  # projects/_/buckets/BUCKET/objects/NAME; objects.list is checked on the
  # bucket itself, with the request's prefix in the objectListPrefix
  # attribute. Every List in the code passes a prefix under runs/ (see
  # shared/aggregate, shared/worker, shared/trigger/status.go).
  bucket_object_prefix = "projects/_/buckets/${google_storage_bucket.runs.name}/objects/"

  runs_prefix_condition = join(" || ", [
    "resource.name.startsWith(\"${local.bucket_object_prefix}runs/\")",
    "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"runs/\")",
  ])
}
