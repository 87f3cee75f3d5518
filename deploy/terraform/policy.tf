# The operator's policy, one value each, held by the trigger and by every
# worker alike: the trigger checks each plan before it accepts it
# (CICADA_TRIGGER_<KEY>, trigger.tf); each worker checks it again before it
# runs it (CICADA_WORKER_<KEY>; MAX_SHARDS is its MAX_PLAN_SHARDS), since
# anyone who can write the runs bucket can write a plan. The workers get
# these values through Cloud Build (output cloudbuild_substitutions: the
# _<KEY> substitutions, scripts/render-k8s.sh, deploy/k8s/params.env), so
# that both hold plans to the same rules; policy_test.go checks the chain
# and that each default here is deploy/k8s/params.env's.

locals {
  # The services range of the cluster: a Service's name resolves to an
  # address in it, private unless GKE chose otherwise, which the dial check
  # refuses unless the allow-list names it as a CIDR. Named on
  # cluster_target_ports only: the Kubernetes API server (443) and kube-dns
  # (53) share the range.
  cluster_services_cidr = google_container_cluster.main.ip_allocation_policy[0].services_ipv4_cidr_block

  allowed_targets = concat(
    var.allowed_targets,
    [for p in var.cluster_target_ports : "${local.cluster_services_cidr}:${p}"],
  )

  policy = {
    ALLOWED_TARGETS       = join(",", local.allowed_targets)
    MAX_RATE              = tostring(var.max_rate)
    MAX_USERS             = tostring(var.max_users)
    MAX_SHARDS            = tostring(var.max_shards)
    MAX_DURATION          = var.max_duration
    MAX_CONNECTIONS       = tostring(var.max_connections)
    MAX_TOTAL_CONNECTIONS = tostring(var.max_total_connections)
    MAX_IN_FLIGHT         = tostring(var.max_in_flight)
    MAX_TIMEOUT           = var.max_timeout
    MAX_START_DELAY       = var.max_start_delay
    MAX_REQUESTS          = tostring(var.max_requests)
    MAX_RENDERED_BODY     = tostring(var.max_rendered_body)
    MAX_RENDERED_TOTAL    = tostring(var.max_rendered_total)
    LITERAL_SECRETS       = tostring(var.literal_secrets)
    ALLOW_INSECURE_TLS    = tostring(var.allow_insecure_tls)
  }
}
