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
  # attribute. Every List in the code passes a prefix under runs/, active/
  # or the runs index (see shared/aggregate, shared/worker, shared/trigger,
  # shared/index).
  #
  # Reading and writing are separate grants. A component reads every object
  # of the prefixes it uses (roles/storage.objectViewer), and writes only
  # the objects it writes (roles/storage.objectUser, conditioned on their
  # names; docs/bucket-layout.md says who writes what). So the worker and
  # the aggregator, which run whatever plan they are handed, cannot write
  # plan.json or run.json: only the trigger, which checks a plan before it
  # stores it, can. One bucket and name conditions rather than a bucket per
  # writer: the layout, the listings and `cicada aggregate` stay one bucket,
  # and a condition is checked on every request, writes by generation
  # included. The conditions use startsWith, endsWith and extract only
  # (policy_test.go evaluates them on the names each component writes and
  # must not write).
  bucket_object_prefix = "projects/_/buckets/${google_storage_bucket.runs.name}/objects/"

  # Objects under runs/, and listings of a prefix under it.
  runs_prefix_condition = join(" || ", [
    "resource.name.startsWith(\"${local.bucket_object_prefix}runs/\")",
    "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"runs/\")",
  ])

  # The active-run markers (active/<id>), and listings of them.
  active_prefix_condition = join(" || ", [
    "resource.name.startsWith(\"${local.bucket_object_prefix}active/\")",
    "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"active/\")",
  ])

  # The runs index (shared/index, docs/history.md): rows under index/ and
  # index-slices/, each plan's pointers under latest/, and listings of them.
  index_prefix_condition = join(" || ", concat(
    [for p in ["index/", "index-slices/", "latest/"] : "resource.name.startsWith(\"${local.bucket_object_prefix}${p}\")"],
    [for p in ["index/", "index-slices/", "latest/"] : "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"${p}\")"],
  ))

  # What a worker writes of runs/<id>/: its lease, its slices, its shard's
  # done or failed marker. Not plan.json, run.json, cancel or the report.
  worker_write_condition = join(" || ", [
    for dir in ["leases", "slices", "shards"] :
    "resource.name.extract(\"${local.bucket_object_prefix}runs/{run}/${dir}/\") != \"\""
  ])

  # What the aggregator writes: live.json and the report files, the sealed
  # slices, the cancel marker of an abort (runs/<id>/...), the deletion of
  # an active-run marker once the report is written, and the run's rows
  # and its plan's pointers in the runs index.
  aggregator_write_condition = join(" || ", concat(
    [
      for file in ["live.json", "report.json", "summary.txt", "report.html", "report.csv", "junit.xml", "histogram.hdr", "cancel"] :
      "(resource.name.startsWith(\"${local.bucket_object_prefix}runs/\") && resource.name.endsWith(\"/${file}\"))"
    ],
    [
      "resource.name.extract(\"${local.bucket_object_prefix}runs/{run}/merged/\") != \"\"",
      "resource.name.startsWith(\"${local.bucket_object_prefix}active/\")",
    ],
    [
      for p in ["index/", "index-slices/", "latest/"] :
      "resource.name.startsWith(\"${local.bucket_object_prefix}${p}\")"
    ],
  ))
}
