# Corpora (a plan's data.uri, gs://BUCKET/OBJECT) live in buckets of their
# own, not in the runs bucket, whose versioning stays off. The trigger reads
# a corpus object's attributes to pin its generation; each worker reads that
# generation. A bucket named here needs Object Versioning on, so that the
# generation a run pinned stays readable when the object is overwritten
# mid-run (docs/corpora.md); Terraform does not own these buckets, so it
# only grants read access on them.

variable "corpus_buckets" {
  description = "Buckets holding corpora that plans name in data.uri (gs://BUCKET/OBJECT); the trigger and the workers get read access to their objects. Turn Object Versioning on in each (docs/corpora.md). Empty: plans can only use inline texts."
  type        = list(string)
  default     = []
}

variable "max_corpus_bytes" {
  description = "Largest corpus object a plan's data.uri may name, in bytes (CICADA_TRIGGER_MAX_CORPUS_BYTES, and the workers'); 0 = no limit. Each shard holds its corpus in memory (docs/corpora.md)."
  type        = number
  default     = 268435456

  validation {
    condition     = var.max_corpus_bytes >= 0 && floor(var.max_corpus_bytes) == var.max_corpus_bytes
    error_message = "max_corpus_bytes must be a whole number of bytes, 0 or more."
  }
}

resource "google_storage_bucket_iam_member" "trigger_corpora_read" {
  for_each = toset(var.corpus_buckets)

  bucket = each.value
  role   = "roles/storage.objectViewer"
  member = google_service_account.trigger.member
}

resource "google_storage_bucket_iam_member" "worker_corpora_read" {
  for_each = toset(var.corpus_buckets)

  bucket = each.value
  role   = "roles/storage.objectViewer"
  member = google_service_account.worker.member
}
