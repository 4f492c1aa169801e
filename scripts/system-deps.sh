#!/usr/bin/env bash
# Install the Debian packages the integration tests need, when they are missing:
#   openssh-server (sshd, for the ssh upgrade driver) and openssh-client (ssh, ssh-keygen)
#   iproute2 (ip netns, for the address-validation differential tests)
#   nftables (nft, to drop UDP between two lab servers in the preflight tests)
set -euo pipefail
missing=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${missing[*]}; install them (sudo apt-get install -y ${missing[*]}) and re-run" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
