"""Which config keys each Consul release line accepts, and what each release deprecated, with sources.

`consul_keys.KEYS` is the full key tree of Consul 1.14.11 (generated from its `agent/config/config.go` and
`deprecated.go`). The other release lines are described as differences from it, each fact with its source:

- 1.13: `gen_consul_keys.py` run on the 1.13.9 and 1.14.11 module sources (Go module cache,
  github.com/hashicorp/consul@v1.13.9 / @v1.14.11 `agent/config`); the keys below are the ones 1.14 added.
  Checked against the real binaries by `tests/integration/test_validate_differential.py`.
- 1.15 and later: `raft_logstore` ("This was added in Consul v1.15.0", developer.hashicorp.com
  consul/docs/reference/agent/configuration-file/raft); `start_join` / `start_join_wan` / `raft_boltdb` move to
  Consul's `DeprecatedConfig` (hashicorp/consul `agent/config/deprecated.go`, stored commit 090b1af9), which
  then warns "The 'start_join' field is deprecated. Use the 'retry_join' field instead.". Newer release lines
  are not described here (their binaries cannot be run here to check a catalog): validating for them uses the
  1.15 set, and `--unknown-keys warn` keeps a key we do not know from failing the check.

Deprecations present in every release we describe (1.13 and 1.14 `deprecated.go`) warn with their replacement,
in Consul's words. No key of our release range was removed outright; `REMOVED` is there for the first one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Final

from clusterops.validate.consul_keys import KEYS, KeyTree

RELEASES: Final = ("1.13", "1.14", "1.15")
NEWEST: Final = RELEASES[-1]

# dotted key -> (release that added it, its type class or sub-tree); keys missing before that release.
_ADDED_1_14: dict[str, object] = {
    "addresses.grpc_tls": "str",
    "ports.grpc_tls": "int",
    "cloud": None,  # replaced below by the 1.14 sub-tree
    "performance.grpc_keepalive_interval": "str",
    "performance.grpc_keepalive_timeout": "str",
    "xds": None,
}
_RAFT_LOGSTORE: KeyTree = {
    "backend": "str",
    "disable_log_cache": "bool",
    "verification": {"enabled": "bool", "interval": "str"},
    "boltdb": {"no_freelist_sync": "bool"},
    "wal": {"segment_size_mb": "int"},
}

ADDED: Final[dict[str, str]] = {
    **dict.fromkeys(_ADDED_1_14, "1.14"),
    "raft_logstore": "1.15",
}
"""Dotted key -> the release line that added it."""

IGNORED_REMOVED: Final = frozenset({"acl_enforce_version_8"})
"""Removed keys Consul still tolerates with a warning (builder.go, 1.13 and 1.14: "config key %q is deprecated
and should be removed")."""

REMOVED: Final[dict[str, str]] = {}
"""Dotted key -> the release line that removed it (none in 1.13 .. 1.15)."""

_DEPRECATED_ALWAYS: dict[str, str] = {
    "acl_agent_master_token": "acl.tokens.agent_recovery",
    "acl_agent_token": "acl.tokens.agent",
    "acl_token": "acl.tokens.default",
    "acl_master_token": "acl.tokens.initial_management",
    "acl_replication_token": "acl.tokens.replication",
    "enable_acl_replication": "acl.enable_token_replication",
    "acl_datacenter": "primary_datacenter",
    "acl_default_policy": "acl.default_policy",
    "acl_down_policy": "acl.down_policy",
    "acl_ttl": "acl.token_ttl",
    "acl_enable_key_list_policy": "acl.enable_key_list_policy",
    "acl.tokens.agent_master": "acl.tokens.agent_recovery",
    "acl.tokens.master": "acl.tokens.initial_management",
    "ca_file": "tls.defaults.ca_file",
    "ca_path": "tls.defaults.ca_path",
    "cert_file": "tls.defaults.cert_file",
    "key_file": "tls.defaults.key_file",
    "tls_cipher_suites": "tls.defaults.tls_cipher_suites",
    "tls_min_version": "tls.defaults.tls_min_version",
    "verify_incoming": "tls.defaults.verify_incoming",
    "verify_incoming_https": "tls.https.verify_incoming",
    "verify_incoming_rpc": "tls.internal_rpc.verify_incoming",
    "verify_outgoing": "tls.defaults.verify_outgoing",
    "verify_server_hostname": "tls.internal_rpc.verify_server_hostname",
    # builder.go warnings of the same wording for the UI keys
    "ui": "ui_config.enabled",
    "ui_dir": "ui_config.dir",
    "ui_content_path": "ui_config.content_path",
}
_DEPRECATED_1_15: dict[str, str] = {
    "start_join": "retry_join",
    "start_join_wan": "retry_join_wan",
    "raft_boltdb": "raft_logstore.boltdb",
}


@dataclass(frozen=True)
class Deprecation:
    key: str
    replacement: str | None
    since: str

    @property
    def message(self) -> str:
        """Consul's own warning (`deprecationWarning` in deprecated.go)."""
        if self.replacement is None:
            return f"The '{self.key}' field is deprecated and will be ignored."
        return f"The '{self.key}' field is deprecated. Use the '{self.replacement}' field instead."


def parse_release(version: str) -> str:
    """'1.14.11' / '1.14' / 'v1.14.3' -> '1.14'; ValueError naming the known lines otherwise."""
    v = version.strip().lstrip("v")
    parts = v.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"not a Consul version: {version!r} (e.g. 1.14.11)")
    line = f"{int(parts[0])}.{int(parts[1])}"
    if line in RELEASES:
        return line
    major, minor = int(parts[0]), int(parts[1])
    if (major, minor) < (1, 13):
        raise ValueError(f"Consul {version} is older than the oldest release line we know ({RELEASES[0]})")
    return NEWEST  # newer than we know: the newest key set; unknown keys may be downgraded with --unknown-keys


def _order(line: str) -> tuple[int, int]:
    a, b = line.split(".")
    return int(a), int(b)


def _drop(tree: KeyTree, dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    node: KeyTree = tree
    for p in parents:
        sub = node.get(p)
        if not isinstance(sub, dict):
            return
        node = sub
    node.pop(leaf, None)


@cache
def keys_for(line: str) -> KeyTree:
    """The key tree Consul `line` decodes (read-only: shared between calls)."""
    tree = copy.deepcopy(KEYS)
    tree["raft_logstore"] = copy.deepcopy(_RAFT_LOGSTORE)
    tree["raft_boltdb"] = {"no_freelist_sync": "bool"}  # consul.RaftBoltDBConfig, outside config.go
    for key, added in ADDED.items():
        if _order(line) < _order(added):
            _drop(tree, key)
    for key, removed in REMOVED.items():
        if _order(line) >= _order(removed):
            _drop(tree, key)
    return tree


def deprecations_for(line: str) -> dict[str, Deprecation]:
    out = {k: Deprecation(k, v, "1.13") for k, v in _DEPRECATED_ALWAYS.items()}
    out["tls_prefer_server_cipher_suites"] = Deprecation("tls_prefer_server_cipher_suites", None, "1.13")
    if _order(line) >= (1, 15):
        out.update({k: Deprecation(k, v, "1.15") for k, v in _DEPRECATED_1_15.items()})
    return out


def why_unknown(dotted: str, line: str) -> str | None:
    """Why a key Consul `line` refuses is known at all: added later / removed earlier, or None."""
    for key, added in ADDED.items():
        if (dotted == key or dotted.startswith(key + ".")) and _order(line) < _order(added):
            return f"added in Consul {added}; the target is Consul {line}"
    for key, removed in REMOVED.items():
        if (dotted == key or dotted.startswith(key + ".")) and _order(line) >= _order(removed):
            return f"removed in Consul {removed}; the target is Consul {line}"
    return None


__all__ = [
    "ADDED",
    "IGNORED_REMOVED",
    "NEWEST",
    "RELEASES",
    "REMOVED",
    "Deprecation",
    "deprecations_for",
    "keys_for",
    "parse_release",
    "why_unknown",
]
