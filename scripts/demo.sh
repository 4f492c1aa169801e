#!/usr/bin/env bash
# The main job on a local lab: 3 real Consul servers (1.13.9) and OpenBao, then clusterops on them:
# health, a gate, a rolling upgrade to 1.14.11 (followers first, the leader last), address
# validation of the servers' configs, and KV v2 versions with redacted output.
# Run through `make demo` (which sets up the venv and the binaries first). Takes about 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
co() { echo; echo "\$ clusterops $*"; clusterops "$@"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

clusterops lab down >/dev/null 2>&1 || true
co lab up --servers 3 --vault
eval "$(clusterops lab env)"
lab_dir="$(clusterops lab status --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])')"

co consul status
co consul check || true   # exit 1 would mean findings at or above error
co consul gate --stable-window 2s --timeout 1m

clusterops lab inventory > "$work/inventory.yaml"
co consul upgrade --inventory "$work/inventory.yaml" --to 1.14.11
co consul upgrade --inventory "$work/inventory.yaml" --to 1.14.11 --apply --state-dir "$work/state"
co consul status

co validate consul "$lab_dir/s1/config.hcl" "$lab_dir/s2/config.hcl" "$lab_dir/s3/config.hcl" --live || true

echo; echo "\$ printf 'hunter2' | clusterops kv put secret/demo/app user=app password=-"
printf 'hunter2' | clusterops kv put secret/demo/app user=app password=-
echo; echo "\$ printf 'correct-horse' | clusterops kv patch secret/demo/app password=-"
printf 'correct-horse' | clusterops kv patch secret/demo/app password=-
co kv get secret/demo/app
co kv history secret/demo/app
co kv diff secret/demo/app --from 1 --to 2

echo
echo "The lab is still running. Point your shell at it with:  eval \"\$(.venv/bin/clusterops lab env)\""
echo "Stop it with:  .venv/bin/clusterops lab down"
