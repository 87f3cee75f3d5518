#!/usr/bin/env bash
# render-k8s.sh writes a deployable copy of deploy/k8s into OUT_DIR (default
# dist/k8s): params.env from the environment and an images: block that
# points REGISTRY/cicada at IMAGE. Apply it with `kubectl apply -k OUT_DIR`.
# Cloud Build runs it; deploy/k8s/manifests_test.go runs it too and renders
# the result, so the two cannot drift.
#
#   IMAGE           registry path without tag, e.g. europe-west1-docker.pkg.dev/p/cicada/cicada
#   TAG             image tag, e.g. the commit SHA
#   PROJECT_ID      Google Cloud project of the topics and bucket
#   BUCKET          bucket of the runs
#   WORKER_GSA      e-mail of the worker's Google service account
#   AGGREGATOR_GSA  e-mail of the aggregator's Google service account
#   TARGET_CIDRS    optional: comma-separated address ranges outside the
#                   cluster the workers may send load to (worker-targets.yaml);
#                   empty: only the sample predict service
#   ALLOWED_TARGETS the trigger's allow-list (CICADA_TRIGGER_ALLOWED_TARGETS),
#                   given to the workers as CICADA_WORKER_ALLOWED_TARGETS:
#                   `terraform output -raw allowed_targets`
#   MAX_RATE, MAX_USERS, MAX_SHARDS, MAX_DURATION, MAX_CONNECTIONS,
#   MAX_TOTAL_CONNECTIONS, MAX_IN_FLIGHT, MAX_TIMEOUT, MAX_START_DELAY,
#   MAX_REQUESTS, MAX_RENDERED_BODY, MAX_RENDERED_TOTAL, LITERAL_SECRETS,
#   ALLOW_INSECURE_TLS
#                   optional: the trigger's limits and switches, given to the
#                   workers as CICADA_WORKER_* (MAX_SHARDS as MAX_PLAN_SHARDS);
#                   unset or empty: deploy/k8s/params.env's default, which is
#                   Terraform's
#   SECRET_HEADERS  optional: credential header names (CICADA_SECRET_HEADERS
#                   of the pods; Terraform's secret_headers)
# Terraform's `terraform output -raw cloudbuild_substitutions` gives Cloud
# Build every one of these values as the trigger has them.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
src=${SRC_DIR:-$here/deploy/k8s}
out=${OUT_DIR:-$here/dist/k8s}

missing=()
for v in IMAGE TAG PROJECT_ID BUCKET WORKER_GSA AGGREGATOR_GSA ALLOWED_TARGETS; do
	if [ -z "${!v:-}" ]; then missing+=("$v"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "render-k8s: missing ${missing[*]}" >&2
	exit 2
fi
if [ "${ALLOWED_TARGETS:-}" = ALLOWED_TARGETS ]; then
	echo "render-k8s: ALLOWED_TARGETS is the placeholder; give the trigger's allow-list (terraform output -raw allowed_targets)" >&2
	exit 2
fi
if grep -q '^images:' "$src/kustomization.yaml"; then
	echo "render-k8s: $src/kustomization.yaml already has images:" >&2
	exit 2
fi

# The workers' way out to targets: one ipBlock per range. The whole internet
# is refused here as in Terraform's target_cidrs: name the ranges.
targets=()
IFS=',' read -r -a cidrs <<<"${TARGET_CIDRS:-}"
for c in "${cidrs[@]}"; do
	c=$(echo "$c" | tr -d '[:space:]')
	[ -z "$c" ] && continue
	if ! [[ "$c" =~ ^[0-9a-fA-F.:]+/[0-9]{1,3}$ ]]; then
		echo "render-k8s: TARGET_CIDRS entry \"$c\" is not a CIDR block" >&2
		exit 2
	fi
	if [[ "$c" =~ /0$ ]]; then
		echo "render-k8s: TARGET_CIDRS entry \"$c\" is the whole internet; name the target's ranges" >&2
		exit 2
	fi
	targets+=("$c")
done

# params.env: each key of the base from the environment when set there
# (and not empty), else the base's default. The policy's values are the
# trigger's: checked for their shape here, so that a typo stops the deploy
# rather than the workers.
params=()
while IFS= read -r line; do
	case "$line" in
	'' | '#'*)
		params+=("$line")
		continue
		;;
	esac
	k=${line%%=*}
	v=${line#*=}
	if [ -n "${!k:-}" ]; then
		v=${!k}
	fi
	if [[ "$v" == *$'\n'* || "$v" == *$'\r'* ]]; then
		echo "render-k8s: $k holds a line break" >&2
		exit 2
	fi
	shape=''
	case "$k" in
	MAX_DURATION | MAX_TIMEOUT | MAX_START_DELAY) shape='^(0|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$' ;;
	LITERAL_SECRETS | ALLOW_INSECURE_TLS) shape='^(true|false)$' ;;
	MAX_*) shape='^[0-9]+(\.[0-9]+)?$' ;;
	esac
	if [ -n "$shape" ] && ! [[ "$v" =~ $shape ]]; then
		echo "render-k8s: $k=\"$v\" is not a value it takes" >&2
		exit 2
	fi
	params+=("$k=$v")
done <"$src/params.env"

rm -rf "$out"
mkdir -p "$out"
# Only the YAML and env files: tests and docs stay behind.
cp "$src"/*.yaml "$src"/*.env "$out"/
printf '%s\n' "${params[@]}" >"$out/params.env"
# worker-targets.yaml with those ranges (the base allows none).
if [ ${#targets[@]} -gt 0 ]; then
	{
		sed -n '/^apiVersion:/,$p' "$src/worker-targets.yaml" | sed '/^  egress: \[\]$/d'
		echo "  egress:"
		echo "    - to:"
		for c in "${targets[@]}"; do
			printf '        - ipBlock:\n            cidr: %s\n' "$c"
		done
	} >"$out/worker-targets.yaml"
fi
# The same as `kustomize edit set image REGISTRY/cicada=$IMAGE:$TAG`, without
# needing the kustomize binary (kubectl apply -k has no edit).
cat >>"$out/kustomization.yaml" <<YAML
images:
  - name: REGISTRY/cicada
    newName: $IMAGE
    newTag: "$TAG"
YAML
echo "render-k8s: wrote $out"
