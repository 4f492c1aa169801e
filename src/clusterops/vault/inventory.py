"""The inventory of a Vault / OpenBao raft cluster: which nodes to ask, and how to authenticate.

    cluster: prod-vault
    vault:                                 # optional; all keys optional
      token_file: /etc/clusterops/vault.token
      unseal_key_file: /etc/clusterops/unseal.keys   # Shamir keys, for restarts (mode 0600)
      ca_cert: /etc/vault/ca.pem
      tls_skip_verify: false
    servers:
      - name: vault-1                      # the raft node_id
        address: https://10.0.0.1:8200     # the node's api_addr
        driver: {type: lab, lab_dir: ...}  # for upgrades; read-only commands ignore it

`clusterops lab inventory` writes this for the lab's raft cluster. Tokens do not belong here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterops.errors import UsageError
from clusterops.settings import normalize_vault_address
from clusterops.vault.state import NodeTarget
from clusterops.yamlsource import Locator, load_yaml

VAULT_KEYS = (
    "token_file", "unseal_key_file", "ca_cert", "ca_path", "client_cert", "client_key", "tls_skip_verify", "lock_path",
)  # fmt: skip


@dataclass(frozen=True)
class VaultInventory:
    path: str
    cluster: str
    servers: tuple[NodeTarget, ...]
    vault: dict[str, Any] = field(default_factory=dict)
    drivers: dict[str, Any] = field(default_factory=dict)

    def setting(self, key: str) -> str | None:
        value = self.vault.get(key)
        if value is None:
            return None
        return str(Path(str(value)).expanduser()) if key.endswith(("_file", "_cert", "_key", "_path")) else str(value)


def parse_vault_inventory(data: Any, loc: Locator) -> VaultInventory:
    if not isinstance(data, dict):
        raise loc.error((), "an inventory is a mapping with a `servers` list")
    unknown = set(data) - {"cluster", "vault", "drivers", "servers"}
    if unknown:
        raise loc.error((sorted(unknown)[0],), "unknown key (expected cluster, vault, drivers, servers)")
    vault = data.get("vault") or {}
    if not isinstance(vault, dict):
        raise loc.error(("vault",), "must be a mapping of connection settings")
    if "token" in vault:
        raise loc.error(("vault", "token"), "tokens do not belong in an inventory; use token_file or VAULT_TOKEN")
    for key in vault:
        if key not in VAULT_KEYS:
            raise loc.error(("vault", key), f"unknown setting; use {', '.join(VAULT_KEYS)}")
    raw_servers = data.get("servers")
    if not isinstance(raw_servers, list) or not raw_servers:
        raise loc.error(("servers",), "must be a non-empty list of nodes")
    servers: list[NodeTarget] = []
    drivers: dict[str, Any] = {}
    for i, raw in enumerate(raw_servers):
        keys: tuple[str | int, ...] = ("servers", i)
        if not isinstance(raw, dict):
            raise loc.error(keys, "each node is a mapping with name and address")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise loc.error((*keys, "name"), "missing or empty (the raft node_id)")
        if name in {s.name for s in servers}:
            raise loc.error((*keys, "name"), f"duplicate node name {name!r}")
        address = raw.get("address")
        if not isinstance(address, str):
            raise loc.error((*keys, "address"), "missing (the node's api_addr, e.g. https://10.0.0.1:8200)")
        try:
            address = normalize_vault_address(address)
        except UsageError as err:
            raise loc.error((*keys, "address"), err.message) from None
        servers.append(NodeTarget(name, address))
        if raw.get("driver") is not None:
            drivers[name] = raw["driver"]
    return VaultInventory(loc.path, str(data.get("cluster") or ""), tuple(servers), vault, drivers)


def load_vault_inventory(path: str | Path) -> VaultInventory:
    data, loc = load_yaml(path)
    return parse_vault_inventory(data, loc)
