# Terraform and provider versions. Only the google and archive providers are
# used: the archive provider zips the function's source folder (dist/function,
# built by `make function-source`) so that a change of code is a change of the
# uploaded object's name, and so a new deployment of the function.
terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region

  default_labels = merge({ app = "cicada" }, var.labels)
}
