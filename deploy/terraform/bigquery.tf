# BigQuery over the runs index, without a client in the pipeline: the
# aggregator writes one row per finished run under index/ and one row per
# slice under index-slices/ of the runs bucket, as newline-delimited JSON
# (shared/index, docs/history.md), and these external tables read them in
# place at query time. Their schemas are the repository's files
# shared/index/schema/*.json, which a Go test holds every written row to;
# unknown fields are not ignored, so a row that drifted from its schema
# fails the query instead of silently losing a column.
#
# The dataset is in the bucket's region (external tables over Cloud Storage
# must be) and has no access block: BigQuery's defaults give the project's
# owners, editors and viewers their dataset roles, and nobody outside the
# project. Querying the tables also needs read access to index/ and
# index-slices/ of the bucket, which this module grants to no one besides
# the project's owners (docs/history.md).

locals {
  # Dataset ids take letters, digits and underscores.
  bigquery_dataset = "${replace(var.name_prefix, "-", "_")}_history"
}

resource "google_bigquery_dataset" "history" {
  project       = var.project
  dataset_id    = local.bigquery_dataset
  friendly_name = "cicada runs history"
  description   = "External tables over the runs index of gs://${google_storage_bucket.runs.name}: runs (one row per finished run) and slices (one row per slice)."
  location      = var.region

  # The tables are external: destroying the dataset deletes no data.
  delete_contents_on_destroy = true

  depends_on = [google_project_service.enabled]
}

resource "google_bigquery_table" "runs" {
  project     = var.project
  dataset_id  = google_bigquery_dataset.history.dataset_id
  table_id    = "runs"
  description = "One row per finished run (index/<plan>/<run id>.json)."

  # External: dropping the table drops no data.
  deletion_protection = false

  external_data_configuration {
    source_format         = "NEWLINE_DELIMITED_JSON"
    autodetect            = false
    ignore_unknown_values = false
    source_uris           = ["gs://${google_storage_bucket.runs.name}/index/*"]
    # Without a connection_id, an external table's schema goes here, not
    # at the table's top level.
    schema = file("${path.module}/../../shared/index/schema/runs.json")
  }
}

resource "google_bigquery_table" "slices" {
  project     = var.project
  dataset_id  = google_bigquery_dataset.history.dataset_id
  table_id    = "slices"
  description = "One row per slice of each finished run (index-slices/<plan>/<run id>.ndjson)."

  deletion_protection = false

  external_data_configuration {
    source_format         = "NEWLINE_DELIMITED_JSON"
    autodetect            = false
    ignore_unknown_values = false
    source_uris           = ["gs://${google_storage_bucket.runs.name}/index-slices/*"]
    schema                = file("${path.module}/../../shared/index/schema/slices.json")
  }
}

output "bigquery_tables" {
  description = "Full names of the BigQuery external tables over the runs index: runs (a row per run) and slices (a row per slice)."
  value = {
    runs   = "${var.project}.${google_bigquery_dataset.history.dataset_id}.${google_bigquery_table.runs.table_id}"
    slices = "${var.project}.${google_bigquery_dataset.history.dataset_id}.${google_bigquery_table.slices.table_id}"
  }
}

output "bigquery_example_query" {
  description = "A trend query over the runs table: bq query --use_legacy_sql=false \"$(terraform output -raw bigquery_example_query)\"."
  value       = "SELECT plan, DATE(start) AS day, p99_ms FROM `${var.project}.${google_bigquery_dataset.history.dataset_id}.${google_bigquery_table.runs.table_id}` ORDER BY start DESC"
}
