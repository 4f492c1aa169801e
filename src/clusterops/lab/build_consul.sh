#!/usr/bin/env bash
# Build one MPL-licensed Consul release from the Go module proxy and cache the binary by version.
#
#   build_consul.sh VERSION [CACHE_DIR]
#
# VERSION is 1.13.x or 1.14.x (the last MPL lines that need neither of the non-open-source nested
# modules envoyextensions and troubleshoot). The binary lands in CACHE_DIR/VERSION/consul
# (default CACHE_DIR: ${CLUSTEROPS_CACHE_DIR:-$HOME/.cache/clusterops}/bin/consul).
#
# `go install github.com/hashicorp/consul@vX` is refused because consul's go.mod has replace
# directives, so we build through a throwaway wrapper module that requires the release, copies its
# exclude lines and pins the nested api/sdk/proto-public modules to what the release requires.
set -euo pipefail

version="${1:?usage: build_consul.sh VERSION [CACHE_DIR]}"
version="${version#v}"
cache_dir="${2:-${CLUSTEROPS_CACHE_DIR:-$HOME/.cache/clusterops}/bin/consul}"
forbidden_re='github.com/hashicorp/consul/(envoyextensions|troubleshoot)'

case "$version" in
  1.13.*|1.14.*) ;;
  *) echo "build_consul.sh: refusing $version: only the MPL-licensed 1.13.x and 1.14.x lines are built" >&2; exit 2 ;;
esac
command -v go >/dev/null || { echo "build_consul.sh: the 'go' tool is not on PATH (Go >= 1.21 needed)" >&2; exit 2; }

out="$cache_dir/$version/consul"
if [ -x "$out" ]; then echo "$out"; exit 0; fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
work="$(mktemp -d "${TMPDIR:-/tmp}/clusterops-consul-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

log() { echo "build_consul.sh: $*" >&2; }

log "fetching github.com/hashicorp/consul v$version from the Go module proxy"
go mod init clusterops.local/consulbuild >/dev/null 2>&1
moddir="$(go mod download -json "github.com/hashicorp/consul@v$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$moddir" ] || { log "could not download github.com/hashicorp/consul@v$version"; exit 1; }

if ! head -n 5 "$moddir/LICENSE" | grep -q 'Mozilla Public License'; then
  log "refusing v$version: its LICENSE is not the Mozilla Public License"; exit 1
fi
if grep -Eq "$forbidden_re" "$moddir/go.mod"; then
  log "refusing v$version: its go.mod needs a forbidden nested module ($forbidden_re)"; exit 1
fi

# The wrapper: require the release and the nested modules at the versions it requires, and copy
# its exclude lines (excludes and replaces of a dependency are ignored by Go).
{
  echo "module clusterops.local/consulbuild"
  echo
  echo "go 1.21"
  echo
  echo "godebug default=go1.20"
  echo
  echo "require github.com/hashicorp/consul v$version"
  awk '/^exclude[[:space:]]*\(/{inblk=1; print; next} inblk{print; if ($0 ~ /^\)/) inblk=0; next} /^exclude /{print}' "$moddir/go.mod"
  # keep the non-local replaces of the release (e.g. launchpad.net/gocheck)
  grep -E '^replace ' "$moddir/go.mod" | grep -v '=> \./' || true
} > go.mod
for nested in api sdk proto-public; do
  want="$(grep -E "^[[:space:]]+github.com/hashicorp/consul/$nested v" "$moddir/go.mod" | awk '{print $2}' | head -n1)"
  [ -n "$want" ] && echo "require github.com/hashicorp/consul/$nested $want" >> go.mod
done
echo 'package main' > tools.go
echo 'import _ "github.com/hashicorp/consul"' >> tools.go

log "resolving dependencies"
go mod tidy >/dev/null 2>&1 || go get "github.com/hashicorp/consul@v$version" >/dev/null
log "building with CGO_ENABLED=0 (this takes a few minutes on 2 cores)"
mkdir -p "$cache_dir/$version"
go build -trimpath -ldflags "-X github.com/hashicorp/consul/version.GitCommit=clusterops -X github.com/hashicorp/consul/version.VersionPrerelease=" \
  -o "$out.tmp" github.com/hashicorp/consul

if go version -m "$out.tmp" | grep -Eq "$forbidden_re"; then
  rm -f "$out.tmp"; log "refusing v$version: the built binary links a forbidden module"; exit 1
fi
reported="$("$out.tmp" version)"
case "$reported" in
  "Consul v$version"*) ;;
  *) log "the built binary does not report v$version:"; echo "$reported" >&2; rm -f "$out.tmp"; exit 1 ;;
esac
mv "$out.tmp" "$out"
log "built $out"
echo "$out"
