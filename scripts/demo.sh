#!/usr/bin/env bash
# The main job on a local lab: start 3 real Consul servers and OpenBao, then show clusterops on them.
# Run through `make demo` (which sets up the venv and the binaries first).
set -euo pipefail
cd "$(dirname "$0")/.."
co() { echo; echo "\$ clusterops $*"; .venv/bin/clusterops "$@"; }

.venv/bin/clusterops lab down >/dev/null 2>&1 || true
co lab up --servers 3 --vault
eval "$(.venv/bin/clusterops lab env)"
co lab status
co lab inventory

echo
echo "The lab is still running. Point your shell at it with:  eval \"\$(.venv/bin/clusterops lab env)\""
echo "Stop it with:  .venv/bin/clusterops lab down"
