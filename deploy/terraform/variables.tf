# Inputs of the cicada deployment. Only `project` is required; every other
# variable has a default that gives a working, small, private deployment.

# --- where ---------------------------------------------------------------

variable "project" {
  description = "Google Cloud project id to deploy into (not its number)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a project id: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the bucket, registry, function, scheduler job and (regional) GKE cluster."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "zone" {
  description = "Zone of a zonal Standard cluster (for example europe-west1-b); empty for a regional cluster. Ignored with Autopilot, which is always regional."
  type        = string
  default     = ""

  validation {
    condition     = var.zone == "" || can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone must be empty or look like europe-west1-b."
  }
}

variable "name_prefix" {
  description = "Prefix of the names this module gives (service accounts, cluster, function, scheduler job). Service account ids are PREFIX-worker, PREFIX-aggregator, ... and deploy/k8s expects the default \"cicada\". The Pub/Sub ids are fixed by the code (shared/bus), so one deployment per project."
  type        = string
  default     = "cicada"

  validation {
    # The longest service account id is PREFIX-aggregator (11 more
    # characters), and ids are at most 30 characters long.
    condition     = can(regex("^[a-z][a-z0-9-]{1,17}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3 to 19 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "labels" {
  description = "Extra labels put on every resource that takes labels (the provider's default_labels), beside app=cicada."
  type        = map(string)
  default     = {}
}

# --- bucket --------------------------------------------------------------

variable "bucket_name" {
  description = "Name of the runs bucket (runs/<id>/...). Empty gives PROJECT-cicada-runs. Bucket names are global."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be empty or 3 to 63 lowercase letters, digits, hyphens or underscores (no dots: dotted names need domain verification)."
  }
}

variable "bucket_force_destroy" {
  description = "Whether terraform destroy may delete the runs bucket while it still holds runs. Keep false outside of throw-away projects."
  type        = bool
  default     = false
}

variable "run_retention_days" {
  description = "Objects under runs/ (plans, slices, reports) are deleted this many days after they were written."
  type        = number
  default     = 30

  validation {
    condition     = var.run_retention_days >= 1 && floor(var.run_retention_days) == var.run_retention_days
    error_message = "run_retention_days must be a whole number of days, at least 1."
  }
}

variable "idempotency_retention_days" {
  description = "Objects under idempotency/ (which run an Idempotency-Key started) are deleted this many days after they were written; a key sent again later starts a new run."
  type        = number
  default     = 7

  validation {
    condition     = var.idempotency_retention_days >= 1 && floor(var.idempotency_retention_days) == var.idempotency_retention_days
    error_message = "idempotency_retention_days must be a whole number of days, at least 1."
  }
}

# --- trigger: the operator's limits ----------------------------------------

variable "allowed_targets" {
  description = "Targets a plan may aim at, for the trigger (CICADA_TRIGGER_ALLOWED_TARGETS) and the workers alike (CICADA_WORKER_ALLOWED_TARGETS, through Cloud Build): host (any port), host:port, *.domain (its subdomains), * (any name), an address or CIDR with an optional port (10.0.0.0/8:8501), and refusals written !entry. Name services with their ports: *.svc.cluster.local would name the Kubernetes API server and kube-dns too. The cluster's services range is added on cluster_target_ports (see local.allowed_targets). The default names the sample predict service only."
  type        = list(string)
  default = [
    "cicada-predict.cicada.svc.cluster.local:8501",
    "cicada-predict.cicada.svc.cluster.local:8500",
  ]

  validation {
    # No commas (the list is joined with them), no semicolons (gcloud's
    # list separator in cloudbuild_substitutions), no spaces.
    condition     = length(var.allowed_targets) > 0 && alltrue([for t in var.allowed_targets : can(regex("^!?[A-Za-z0-9*._:/\\[\\]-]+$", t))])
    error_message = "allowed_targets must list at least one target, each a host, host:port, *.domain, *, address or CIDR (optionally :port), optionally after !, without commas, semicolons or spaces."
  }
}

variable "cluster_target_ports" {
  description = "Ports on which plans may aim at the cluster's services (the sample predict service: 8501 HTTP, 8500 gRPC): a service name resolves to an address of the cluster's services range, which the address check refuses unless the allow-list names it (a private range), so that range is added to allowed_targets on each of these ports. Never the whole range on any port: the Kubernetes API server and kube-dns live there. Empty: none."
  type        = list(number)
  default     = [8501, 8500]

  validation {
    condition     = alltrue([for p in var.cluster_target_ports : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "cluster_target_ports must hold port numbers (1..65535)."
  }
}

variable "max_rate" {
  description = "Highest open-model rate in requests per second of a whole plan (CICADA_TRIGGER_MAX_RATE, and the workers'); 0 = no operator limit."
  type        = number
  default     = 10000

  validation {
    condition     = var.max_rate >= 0
    error_message = "max_rate must be 0 or more."
  }
}

variable "max_users" {
  description = "Most closed-model users of a whole plan (CICADA_TRIGGER_MAX_USERS, and the workers'); 0 = no operator limit."
  type        = number
  default     = 10000

  validation {
    condition     = var.max_users >= 0 && floor(var.max_users) == var.max_users
    error_message = "max_users must be a whole number, 0 or more."
  }
}

variable "max_shards" {
  description = "Most shards a plan may ask for (CICADA_TRIGGER_MAX_SHARDS, and the workers' CICADA_WORKER_MAX_PLAN_SHARDS); 0 = no operator limit."
  type        = number
  default     = 100

  validation {
    condition     = var.max_shards >= 0 && floor(var.max_shards) == var.max_shards
    error_message = "max_shards must be a whole number, 0 or more."
  }
}

variable "max_duration" {
  description = "Longest total duration of a plan's stages, as a Go duration such as 30m or 1h (CICADA_TRIGGER_MAX_DURATION, and the workers'); 0 = no operator limit."
  type        = string
  default     = "1h"

  validation {
    condition     = can(regex("^(0|([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+)$", var.max_duration))
    error_message = "max_duration must be a Go duration such as 90s, 30m, 1h30m, or 0."
  }
}

variable "max_connections" {
  description = "Most target.connections per shard (CICADA_TRIGGER_MAX_CONNECTIONS, and the workers'); 0 = no operator limit."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_connections >= 0 && floor(var.max_connections) == var.max_connections
    error_message = "max_connections must be a whole number, 0 or more."
  }
}

variable "max_total_connections" {
  description = "Most target.connections × shards, a plan's connections in all (CICADA_TRIGGER_MAX_TOTAL_CONNECTIONS, and the workers'); 0 = no operator limit."
  type        = number
  default     = 10000

  validation {
    condition     = var.max_total_connections >= 0 && floor(var.max_total_connections) == var.max_total_connections
    error_message = "max_total_connections must be a whole number, 0 or more."
  }
}

variable "max_in_flight" {
  description = "Highest open-model load.max_in_flight per shard (CICADA_TRIGGER_MAX_IN_FLIGHT, and the workers'); 0 = no operator limit."
  type        = number
  default     = 10000

  validation {
    condition     = var.max_in_flight >= 0 && floor(var.max_in_flight) == var.max_in_flight
    error_message = "max_in_flight must be a whole number, 0 or more."
  }
}

variable "max_timeout" {
  description = "Longest target.timeout, as a Go duration (CICADA_TRIGGER_MAX_TIMEOUT, and the workers'); 0 = no operator limit."
  type        = string
  default     = "1m"

  validation {
    condition     = can(regex("^(0|([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+)$", var.max_timeout))
    error_message = "max_timeout must be a Go duration such as 30s or 1m, or 0."
  }
}

variable "max_start_delay" {
  description = "Longest start_delay, as a Go duration (CICADA_TRIGGER_MAX_START_DELAY, and the workers', which also refuse a run that starts further ahead, plus a minute); 0 = no operator limit."
  type        = string
  default     = "15m"

  validation {
    condition     = can(regex("^(0|([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+)$", var.max_start_delay))
    error_message = "max_start_delay must be a Go duration such as 15m or 1h, or 0."
  }
}

variable "max_requests" {
  description = "Most requests an open-model plan's schedule holds in all (CICADA_TRIGGER_MAX_REQUESTS, and the workers'); 0 = no operator limit."
  type        = number
  default     = 36000000

  validation {
    condition     = var.max_requests >= 0 && floor(var.max_requests) == var.max_requests
    error_message = "max_requests must be a whole number, 0 or more."
  }
}

variable "max_rendered_body" {
  description = "Largest body (or gRPC request JSON) a plan's template may render for one text, in bytes (CICADA_TRIGGER_MAX_RENDERED_BODY, and the workers'); 0 = the plan format's bound (16 MiB)."
  type        = number
  default     = 1048576

  validation {
    condition     = var.max_rendered_body >= 0 && floor(var.max_rendered_body) == var.max_rendered_body
    error_message = "max_rendered_body must be a whole number of bytes, 0 or more."
  }
}

variable "max_rendered_total" {
  description = "Largest sum of the bodies a plan's template renders for all its texts, in bytes (CICADA_TRIGGER_MAX_RENDERED_TOTAL, and the workers'); 0 = the plan format's bound (256 MiB)."
  type        = number
  default     = 16777216

  validation {
    condition     = var.max_rendered_total >= 0 && floor(var.max_rendered_total) == var.max_rendered_total
    error_message = "max_rendered_total must be a whole number of bytes, 0 or more."
  }
}

variable "max_body_bytes" {
  description = "Largest plan body the trigger accepts, in bytes (CICADA_TRIGGER_MAX_BODY)."
  type        = number
  default     = 1048576

  validation {
    condition     = var.max_body_bytes >= 1024 && floor(var.max_body_bytes) == var.max_body_bytes
    error_message = "max_body_bytes must be a whole number, at least 1024."
  }
}

variable "max_active_runs" {
  description = "Most runs scheduled or running at once, all callers together (CICADA_TRIGGER_MAX_ACTIVE_RUNS); 0 = no operator limit."
  type        = number
  default     = 20

  validation {
    condition     = var.max_active_runs >= 0 && floor(var.max_active_runs) == var.max_active_runs
    error_message = "max_active_runs must be a whole number, 0 or more."
  }
}

variable "max_active_runs_per_caller" {
  description = "Most runs scheduled or running at once per submitter (CICADA_TRIGGER_MAX_ACTIVE_RUNS_PER_CALLER); 0 = no operator limit."
  type        = number
  default     = 5

  validation {
    condition     = var.max_active_runs_per_caller >= 0 && floor(var.max_active_runs_per_caller) == var.max_active_runs_per_caller
    error_message = "max_active_runs_per_caller must be a whole number, 0 or more."
  }
}

variable "trigger_admins" {
  description = "Principals that may cancel any run and read any run's plan.json, beside the run's submitter (CICADA_TRIGGER_ADMINS): \"user:alice@example.com\" or \"serviceAccount:ci@PROJECT.iam.gserviceaccount.com\". Groups and domains cannot be: an identity token names one principal."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.trigger_admins : can(regex("^(user:|serviceAccount:)?[^\\s:,]+@[^\\s:,]+$", p))])
    error_message = "trigger_admins must be e-mail addresses, optionally prefixed with user: or serviceAccount:."
  }
}

variable "lead_time" {
  description = "Least time between accepting a plan and its start, for workers to pick up their shards (CICADA_TRIGGER_LEAD_TIME), as a Go duration."
  type        = string
  default     = "15s"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.lead_time))
    error_message = "lead_time must be a Go duration such as 15s or 1m."
  }
}

variable "log_level" {
  description = "Log level of the trigger (CICADA_LOG_LEVEL): debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "secret_headers" {
  description = "Header names whose values are credentials, besides Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key and X-Goog-Api-Key (CICADA_TRIGGER_SECRET_HEADERS): redacted wherever shown, refused as literals in a plan. The pods get the same list (CICADA_SECRET_HEADERS, through Cloud Build: output cloudbuild_substitutions)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for h in var.secret_headers : can(regex("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", h))])
    error_message = "secret_headers must hold HTTP header names."
  }
}

variable "literal_secrets" {
  description = "Accept plans that carry credentials as written (CICADA_TRIGGER_LITERAL_SECRETS, and the workers'): the values are then stored in plan.json in the runs bucket, though never served or shown. By default such plans are refused in favour of target.auth."
  type        = bool
  default     = false
}

variable "allow_insecure_tls" {
  description = "Accept plans with target.tls.insecure_skip_verify (CICADA_TRIGGER_ALLOW_INSECURE_TLS, and the workers'), whose runs then trust any certificate the target shows. By default such plans are refused in favour of target.tls.ca."
  type        = bool
  default     = false
}

# --- trigger: the function -------------------------------------------------

variable "function_source_dir" {
  description = "Folder of the function's source as `make function-source` builds it (a module root, no replace directives). Relative paths are relative to this directory."
  type        = string
  default     = "../../dist/function"
}

variable "function_runtime" {
  description = "Cloud Run functions runtime id. It must be at least the Go of the source's go.mod (go 1.26 => go126)."
  type        = string
  default     = "go126"

  validation {
    condition     = can(regex("^go[0-9]{3}$", var.function_runtime))
    error_message = "function_runtime must be a Go runtime id such as go126."
  }
}

variable "trigger_ingress" {
  description = "Who may reach the trigger over the network: ALLOW_ALL (the internet, still behind IAM: only invoker_principals get in), ALLOW_INTERNAL_AND_GCLB (the project's VPC and a load balancer) or ALLOW_INTERNAL_ONLY. Cloud Scheduler and a laptop's curl need ALLOW_ALL."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_INTERNAL_ONLY"], var.trigger_ingress)
    error_message = "trigger_ingress must be ALLOW_ALL, ALLOW_INTERNAL_AND_GCLB or ALLOW_INTERNAL_ONLY."
  }
}

variable "trigger_max_instances" {
  description = "Most instances of the trigger function: a bound on what a flood of requests can cost."
  type        = number
  default     = 5

  validation {
    condition     = var.trigger_max_instances >= 1 && var.trigger_max_instances <= 100
    error_message = "trigger_max_instances must be between 1 and 100."
  }
}

variable "invoker_principals" {
  description = "Principals allowed to call the trigger (roles/run.invoker on its service), such as \"user:alice@example.com\", \"group:load-testers@example.com\" or \"serviceAccount:ci@PROJECT.iam.gserviceaccount.com\". The scheduler's own service account is added when a nightly plan is set. Never allUsers or allAuthenticatedUsers."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for p in var.invoker_principals :
      can(regex("^(user|group|serviceAccount|domain):[^\\s]+$|^principal(Set)?://", p)) && !contains(["allUsers", "allAuthenticatedUsers"], p)
    ])
    error_message = "invoker_principals must be user:, group:, serviceAccount:, domain: or principal:// members; allUsers and allAuthenticatedUsers are refused."
  }
}

# --- registry and images -----------------------------------------------------

variable "registry_repository_id" {
  description = "Id of the Artifact Registry Docker repository for the images (and the function's build)."
  type        = string
  default     = "cicada"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.registry_repository_id))
    error_message = "registry_repository_id must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "image_tag" {
  description = "Tag of the images deploy/k8s runs (Cloud Build tags them with the commit); only reported in the outputs, Terraform does not apply the manifests."
  type        = string
  default     = "latest"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag."
  }
}

# --- GKE ---------------------------------------------------------------------

variable "autopilot" {
  description = "GKE Autopilot (true: nodes follow the pods' requests) or Standard with a worker node pool (false)."
  type        = bool
  default     = true
}

variable "release_channel" {
  description = "GKE release channel: RAPID, REGULAR, STABLE or EXTENDED."
  type        = string
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE", "EXTENDED"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR, STABLE or EXTENDED."
  }
}

variable "node_count" {
  description = "Standard only: worker nodes per zone at creation, and the node pool's autoscaling minimum."
  type        = number
  default     = 1

  validation {
    condition     = var.node_count >= 0 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number, 0 or more."
  }
}

variable "max_node_count" {
  description = "Standard only: most worker nodes per zone the node pool's autoscaler may add."
  type        = number
  default     = 5

  validation {
    condition     = var.max_node_count >= 1 && floor(var.max_node_count) == var.max_node_count
    error_message = "max_node_count must be a whole number, at least 1."
  }
}

variable "worker_spot" {
  description = "Standard only: the worker node pool runs on Spot VMs (about a third of the price). A preemption is a SIGTERM with 15 s to go: each worker hands its shards over at a slice boundary and they go on elsewhere (docs/architecture.md). The aggregator and the sample predict service share the pool; both are stateless and restart elsewhere. On Autopilot the worker pods ask for Spot capacity themselves (deploy/k8s/worker.yaml)."
  type        = bool
  default     = true
}

variable "machine_type" {
  description = "Standard only: machine type of the worker nodes. Load generation wants CPUs more than memory."
  type        = string
  default     = "e2-standard-4"
}

variable "private_nodes" {
  description = "Give nodes internal addresses only (the default). A Cloud NAT is then created so that workers can still reach targets on the internet, as far as deploy/k8s's NetworkPolicy lets them. false gives nodes public addresses."
  type        = bool
  default     = true
}

variable "google_apis_dns_zone" {
  description = "Create a private Cloud DNS zone that resolves *.googleapis.com to private.googleapis.com (199.36.153.8/30) in the network, which the workers' NetworkPolicy allows instead of the internet. false when the network already has such a zone (private.googleapis.com or restricted.googleapis.com)."
  type        = bool
  default     = true
}

variable "target_cidrs" {
  description = "Address ranges outside the cluster the workers may send load to (deploy/k8s's NetworkPolicy, through Cloud Build's _TARGET_CIDRS); the plan's target must also be in allowed_targets. Empty: only the sample predict service in the cluster."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.target_cidrs : can(cidrhost(c, 0)) && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "target_cidrs must be CIDR blocks, and not the whole internet (0.0.0.0/0 or ::/0)."
  }
}

variable "master_ipv4_cidr_block" {
  description = "With private_nodes: the /28 range of the control plane's private endpoint; it must not overlap the network."
  type        = string
  default     = "172.16.0.32/28"

  validation {
    condition     = can(cidrhost(var.master_ipv4_cidr_block, 0)) && endswith(var.master_ipv4_cidr_block, "/28")
    error_message = "master_ipv4_cidr_block must be a /28 CIDR block."
  }
}

variable "network" {
  description = "VPC network of the cluster (and of the Cloud NAT with private_nodes)."
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Subnetwork of the cluster in var.region."
  type        = string
  default     = "default"
}

variable "deletion_protection" {
  description = "Whether Terraform refuses to destroy the GKE cluster. Set false before a terraform destroy."
  type        = bool
  default     = true
}

variable "k8s_namespace" {
  description = "Kubernetes namespace of the worker and aggregator service accounts in deploy/k8s."
  type        = string
  default     = "cicada"
}

variable "worker_ksa" {
  description = "Kubernetes service account of the worker pods (deploy/k8s), bound to the worker's Google service account through Workload Identity."
  type        = string
  default     = "cicada-worker"
}

variable "aggregator_ksa" {
  description = "Kubernetes service account of the aggregator pods (deploy/k8s), bound to the aggregator's Google service account through Workload Identity."
  type        = string
  default     = "cicada-aggregator"
}

# --- worker: credentials for the targets (worker_access.tf) ------------------

variable "worker_secret_ids" {
  description = "Secret Manager secrets the worker may read for a plan's target.auth.secret, each granted roles/secretmanager.secretAccessor on that secret alone: a secret id of var.project (\"predict-api-key\") or a full name (\"projects/P/secrets/S\"). The secrets must exist."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.worker_secret_ids : can(regex("^([A-Za-z0-9_-]{1,255}|projects/[^/]+/secrets/[A-Za-z0-9_-]{1,255})$", s))])
    error_message = "worker_secret_ids must hold secret ids (letters, digits, - and _) or full names projects/P/secrets/S, without a version."
  }
}

variable "worker_vertex_ai" {
  description = "Grant the worker roles/aiplatform.user on var.project, to load test Vertex AI endpoints with its own access token (target.auth.google_access_token). Project-wide by nature: Vertex AI has no endpoint-level IAM in the stable API."
  type        = bool
  default     = false
}

# --- Pub/Sub -----------------------------------------------------------------

variable "max_delivery_attempts" {
  description = "Deliveries of a shard or event message before it goes to the dead-letter topic (shared/bus uses 10 on the emulators)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub's bounds)."
  }
}

# --- nightly runs ------------------------------------------------------------

variable "scheduler_plan" {
  description = "Plan (YAML or JSON text) that Cloud Scheduler posts to the trigger on scheduler_cron. Empty (with scheduler_plan_file empty too) creates no job."
  type        = string
  default     = ""
}

variable "scheduler_plan_file" {
  description = "Path of a plan file to post nightly instead of scheduler_plan (relative paths are relative to this directory). The Content-Type follows its extension."
  type        = string
  default     = ""
}

variable "scheduler_cron" {
  description = "When the nightly plan is posted, in unix-cron format, in scheduler_time_zone."
  type        = string
  default     = "0 2 * * *"

  validation {
    condition     = length(split(" ", trimspace(var.scheduler_cron))) == 5
    error_message = "scheduler_cron must have five fields, such as \"0 2 * * *\"."
  }
}

variable "scheduler_time_zone" {
  description = "Time zone of scheduler_cron (tz database name)."
  type        = string
  default     = "Etc/UTC"
}

variable "scheduler_retry_count" {
  description = "How often Cloud Scheduler retries a failed post. Safe: the trigger keys a scheduled post on the job name and schedule time Cloud Scheduler sends, so a retry returns the run the first post started."
  type        = number
  default     = 3

  validation {
    condition     = var.scheduler_retry_count >= 0 && var.scheduler_retry_count <= 5
    error_message = "scheduler_retry_count must be between 0 and 5."
  }
}
