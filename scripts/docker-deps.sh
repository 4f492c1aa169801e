#!/usr/bin/env bash
# What the compose tests need, installed or built when missing (idempotent; a warm cache makes it a no-op):
#   - Debian's docker.io (dockerd, containerd, runc) and busybox-static (the shell and wget of the stand-in images);
#   - Docker Compose v2, built from the Go module proxy and cached by version under
#     ${CLUSTEROPS_CACHE_DIR:-~/.cache/clusterops}/bin/docker-compose/VERSION/docker-compose.
# Prints the path of the docker-compose binary. Nothing here starts a daemon: tests/integration/docker_engine.py
# starts a private dockerd for the test session and always stops it.
#
# `go install github.com/docker/compose/v2/cmd@vX` is refused because compose's go.mod has exclude directives,
# so the module is downloaded, copied out of the read-only module cache and built in the copy.
set -euo pipefail
compose_version="${COMPOSE_VERSION:-2.40.3}"
cache="${CLUSTEROPS_CACHE_DIR:-$HOME/.cache/clusterops}/bin/docker-compose/$compose_version"
log() { echo "docker-deps.sh: $*" >&2; }

missing=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || missing+=(busybox-static)
command -v file >/dev/null 2>&1 || missing+=(file)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing ${missing[*]}; install them (sudo apt-get install -y ${missing[*]}) and re-run"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

out="$cache/docker-compose"
if [ -x "$out" ]; then echo "$out"; exit 0; fi
command -v go >/dev/null || { log "the 'go' tool is not on PATH (Go >= 1.24 needed to build Compose)"; exit 2; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
work="$(mktemp -d "${TMPDIR:-/tmp}/clusterops-compose-build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
log "fetching github.com/docker/compose/v2 v$compose_version from the Go module proxy"
moddir="$(cd "$work" && go mod download -json "github.com/docker/compose/v2@v$compose_version" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$moddir" ] || { log "could not download github.com/docker/compose/v2@v$compose_version"; exit 1; }
cp -r "$moddir" "$work/src"
chmod -R u+w "$work/src"
log "building docker-compose with CGO_ENABLED=0 (about 7 minutes on 2 cores, once)"
(cd "$work/src" && go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=v$compose_version" \
  -o "$work/docker-compose" ./cmd)
"$work/docker-compose" version >/dev/null
mkdir -p "$cache"
mv "$work/docker-compose" "$out.tmp" && mv "$out.tmp" "$out"
log "built $out"
echo "$out"
