#!/usr/bin/env bash
# The main job on a local lab: 3 real Consul servers (1.13.9) and OpenBao, then clusterops on them:
# health, a gate, a rolling upgrade to 1.14.11 (followers first, the leader last), address
# validation of the servers' configs, KV v2 versions with redacted output and a copy (its plan, then
# --apply); then a 3-node OpenBao raft cluster (2.6.2): status, check, validation of its configs and a
# rolling upgrade to 2.7.2.
# Run through `make demo` (which sets up the venv and the binaries first). Takes about 4 minutes (3m54s measured on a shared 2-core machine).
# Everything it starts is stopped on exit; DEMO_KEEP=1 leaves the labs running to explore.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
co() { echo; echo "\$ clusterops $*"; clusterops "$@"; }
work="$(mktemp -d)"
cleanup() {
  if [ "${DEMO_KEEP:-0}" != 1 ]; then
    clusterops lab vault down >/dev/null 2>&1 || true
    clusterops lab down >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

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
co kv copy secret/demo secret/demo-copy --all-versions                   # the plan: nothing is written yet
co kv copy secret/demo secret/demo-copy --all-versions --apply --yes     # re-read, then copied with cas

echo; echo "# An OpenBao raft cluster: 3 nodes on 2.6.2, initialised and unsealed by the lab"
co lab vault up --nodes 3 --vault-version 2.6.2
clusterops lab vault inventory > "$work/vault.yaml"
co vault status -i "$work/vault.yaml"
co vault check -i "$work/vault.yaml" || true   # exit 1 would mean findings
co validate vault "$lab_dir"/openbao/v*/config.hcl --target openbao
co vault upgrade -i "$work/vault.yaml" --to 2.7.2
co vault upgrade -i "$work/vault.yaml" --to 2.7.2 --apply --state-dir "$work/vault-state"
co vault status -i "$work/vault.yaml"

echo
if [ "${DEMO_KEEP:-0}" = 1 ]; then
  echo "The labs are still running. Point your shell at them with:  eval \"\$(.venv/bin/clusterops lab env)\""
  echo "Stop them with:  .venv/bin/clusterops lab down"
else
  echo "Stopping the labs (DEMO_KEEP=1 keeps them running)."
fi
