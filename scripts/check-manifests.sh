#!/usr/bin/env bash
# Renders every Kubernetes overlay of deploy/k8s/ with kubectl's built-in kustomize, validates each
# object against the Kubernetes schemas (kubernetes-validate, strict) and scans it with checkov.
# Part of `make test`; skipped with a message where kubectl is missing.
#   VENV=.venv-deploy   where kubernetes-validate and checkov are installed (by the Makefile)
#   K8S_VERSION=1.32    the Kubernetes version whose schemas are used
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv-deploy}
version=${K8S_VERSION:-1.32}
command -v kubectl >/dev/null || { echo "SKIPPED manifests: kubectl not found"; exit 0; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# checkov rules that do not fit a load generator, each with its reason:
#   CKV_K8S_43  image pinned by digest: the image is built locally by `make image`, no registry
#   CKV_K8S_15  imagePullPolicy Always: the same (IfNotPresent uses the node's built image)
#   CKV_K8S_8, CKV_K8S_9  liveness/readiness probes on the agents: an agent serves no port; its
#               liveness is the coordinator's heartbeat check (the coordinator has both probes)
#   CKV_K8S_21  the default namespace: the namespace is chosen at install (kubectl -n, or a
#               kustomize overlay's `namespace:`)
skip=CKV_K8S_43,CKV_K8S_15,CKV_K8S_8,CKV_K8S_9,CKV_K8S_21

fail=0
for overlay in deploy/k8s/overlays/*/; do
  name=$(basename "$overlay")
  file="$out/$name.yaml"
  kubectl kustomize "$overlay" >"$file"
  if ! "$venv/bin/kubernetes-validate" --strict -k "$version" "$file" >"$out/$name.validate" 2>&1; then
    echo "manifests: $name does not validate against Kubernetes $version:"; cat "$out/$name.validate"; fail=1
  fi
  if ! "$venv/bin/checkov" --quiet --compact --skip-download --framework kubernetes --skip-check "$skip" \
      -f "$file" >"$out/$name.checkov" 2>&1; then
    echo "manifests: checkov findings in $name:"; cat "$out/$name.checkov"; fail=1
  fi
  [ "$fail" = 0 ] && echo "manifests: $name ($(grep -c '^kind:' "$file") objects) valid, no checkov findings"
done
exit "$fail"
