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
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
src=${SRC_DIR:-$here/deploy/k8s}
out=${OUT_DIR:-$here/dist/k8s}

missing=()
for v in IMAGE TAG PROJECT_ID BUCKET WORKER_GSA AGGREGATOR_GSA; do
	if [ -z "${!v:-}" ]; then missing+=("$v"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "render-k8s: missing ${missing[*]}" >&2
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

rm -rf "$out"
mkdir -p "$out"
# Only the YAML and env files: tests and docs stay behind.
cp "$src"/*.yaml "$src"/*.env "$out"/
printf 'PROJECT_ID=%s\nBUCKET=%s\nWORKER_GSA=%s\nAGGREGATOR_GSA=%s\n' \
	"$PROJECT_ID" "$BUCKET" "$WORKER_GSA" "$AGGREGATOR_GSA" >"$out/params.env"
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
