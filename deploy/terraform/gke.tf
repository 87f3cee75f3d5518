# The GKE cluster of the workers, the aggregator and the sample predict
# service (deploy/k8s). Autopilot by default; Standard with one worker node
# pool, on Spot VMs by default, when var.autopilot is false. Workload Identity is on either way: pods
# act as the Google service accounts of worker.tf and aggregator.tf, never as
# the nodes.
#
# Service account "nodes": what the nodes themselves run as, for logs,
# metrics and pulling images. roles/container.defaultNodeServiceAccount is
# the least GKE documents for a node (logging, monitoring, metadata), and it
# is project-wide by nature; image pulls are granted on the registry only.

locals {
  cluster_location = var.autopilot || var.zone == "" ? var.region : var.zone
  workload_pool    = "${var.project}.svc.id.goog"
}

resource "google_service_account" "nodes" {
  project      = var.project
  account_id   = "${var.name_prefix}-nodes"
  display_name = "cicada GKE nodes"
  description  = "GKE node identity: logs, metrics, image pulls. Pods use Workload Identity instead."
}

resource "google_project_iam_member" "nodes_default" {
  project = var.project
  role    = "roles/container.defaultNodeServiceAccount"
  member  = google_service_account.nodes.member
}

resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  project    = var.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.nodes.member
}

resource "google_container_cluster" "main" {
  project  = var.project
  name     = var.name_prefix
  location = local.cluster_location

  enable_autopilot    = var.autopilot ? true : null
  deletion_protection = var.deletion_protection

  network    = var.network
  subnetwork = var.subnetwork

  # Standard: the default pool is replaced by google_container_node_pool.workers.
  remove_default_node_pool = var.autopilot ? null : true
  initial_node_count       = var.autopilot ? null : 1

  release_channel {
    channel = var.release_channel
  }

  workload_identity_config {
    workload_pool = local.workload_pool
  }

  # VPC-native (alias IPs), with ranges chosen by GKE.
  ip_allocation_policy {}

  # GKE Dataplane V2, which enforces deploy/k8s's NetworkPolicies (worker
  # egress to the targets and Google APIs only). Autopilot always runs it;
  # Standard needs it said.
  datapath_provider = "ADVANCED_DATAPATH"

  # Managed Service for Prometheus (managed collection): its collectors
  # scrape the aggregator's /metrics (deploy/k8s/podmonitoring.yaml) and
  # write through the nodes' roles/container.defaultNodeServiceAccount.
  monitoring_config {
    managed_prometheus {
      enabled = true
    }
  }

  dynamic "private_cluster_config" {
    for_each = var.private_nodes ? [1] : []
    content {
      enable_private_nodes    = true
      enable_private_endpoint = false # kubectl and Cloud Build still reach the control plane
      master_ipv4_cidr_block  = var.master_ipv4_cidr_block
    }
  }

  # Autopilot: the nodes it creates run as the nodes service account, not as
  # the Compute Engine default account (which often holds Editor).
  dynamic "cluster_autoscaling" {
    for_each = var.autopilot ? [1] : []
    content {
      auto_provisioning_defaults {
        service_account = google_service_account.nodes.email
        oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
      }
    }
  }

  # Standard: even the short-lived default pool runs as the nodes account.
  dynamic "node_config" {
    for_each = var.autopilot ? [] : [1]
    content {
      service_account = google_service_account.nodes.email
      oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    }
  }

  lifecycle {
    # The default pool's node_config only matters until it is removed.
    ignore_changes = [node_config]
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.nodes_default,
  ]
}

resource "google_container_node_pool" "workers" {
  count = var.autopilot ? 0 : 1

  project  = var.project
  name     = "workers"
  cluster  = google_container_cluster.main.id
  location = local.cluster_location

  initial_node_count = var.node_count

  autoscaling {
    min_node_count = var.node_count
    max_node_count = var.max_node_count
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.machine_type
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    # Spot by default: the workers hand their shards over on the
    # preemption notice (var.worker_spot).
    spot = var.worker_spot

    # Pods see the GKE metadata server, so Workload Identity applies and the
    # node's own credentials stay out of reach.
    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot = true
    }

    labels = {
      "cicada-pool" = "workers"
    }
  }

  lifecycle {
    precondition {
      condition     = var.max_node_count >= var.node_count
      error_message = "max_node_count must be at least node_count."
    }
  }
}

# Private nodes (the default) have no external address: Cloud NAT gives the
# workers a way out to targets on the internet (and the nodes to other
# registries); deploy/k8s's NetworkPolicy decides which targets.
resource "google_compute_router" "nat" {
  count = var.private_nodes ? 1 : 0

  project = var.project
  name    = "${var.name_prefix}-nat"
  region  = var.region
  network = var.network

  depends_on = [google_project_service.enabled]
}

resource "google_compute_router_nat" "nat" {
  count = var.private_nodes ? 1 : 0

  project                            = var.project
  name                               = "${var.name_prefix}-nat"
  router                             = google_compute_router.nat[0].name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Google APIs on private.googleapis.com (199.36.153.8/30): the network
# resolves *.googleapis.com there, so that the workers' NetworkPolicy
# (deploy/k8s/networkpolicy.yaml) can allow Google APIs by address without
# allowing the internet. Private nodes reach that range through Private
# Google Access, which GKE turns on for a private cluster's subnet.
resource "google_dns_managed_zone" "googleapis" {
  count = var.google_apis_dns_zone ? 1 : 0

  project     = var.project
  name        = "${var.name_prefix}-googleapis"
  dns_name    = "googleapis.com."
  description = "Google APIs through private.googleapis.com, for the cicada workers' egress policy"
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = "projects/${var.project}/global/networks/${var.network}"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_dns_record_set" "googleapis_private" {
  count = var.google_apis_dns_zone ? 1 : 0

  project      = var.project
  managed_zone = google_dns_managed_zone.googleapis[0].name
  name         = "private.googleapis.com."
  type         = "A"
  ttl          = 300
  rrdatas      = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]
}

resource "google_dns_record_set" "googleapis_all" {
  count = var.google_apis_dns_zone ? 1 : 0

  project      = var.project
  managed_zone = google_dns_managed_zone.googleapis[0].name
  name         = "*.googleapis.com."
  type         = "CNAME"
  ttl          = 300
  rrdatas      = ["private.googleapis.com."]
}
