"""`vault preflight`: the host checks of `consul preflight` for Vault/OpenBao raft nodes.

The same probe runs on each node's host (see `hostprobe.py`): the server process's open-file limits and use,
its two listeners - the API (the inventory's address) and the cluster port (from the raft configuration
when a token may read it, otherwise the API port + 1, Vault's convention) - held by it, TCP to every other
node's API and cluster ports, the raft data dir (the lab's; other hosts name none), and clock offsets.
Raft and request forwarding run over TCP only, so there is no UDP probe here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clusterops.consul.inventory import DriverSpec, InventoryServer
from clusterops.consul.upgrade.drivers import render
from clusterops.errors import ClusterOpsError
from clusterops.preflight.rules import Endpoint, Thresholds
from clusterops.preflight.run import PreflightResult, judge, probe_all
from clusterops.vault.inventory import VaultInventory, load_vault_inventory


def _host_port(address: str, default: int) -> tuple[str, int]:
    parts = urlsplit(address)
    return parts.hostname or "", parts.port or default


def cluster_ports(inventory: VaultInventory) -> dict[str, int]:
    """Each node's cluster port from the raft configuration (read through any node that answers, with the
    inventory's token); empty when no token may read it, and the caller uses the API port + 1."""
    from clusterops.settings import VaultSettings
    from clusterops.vault.client import RaftClient

    try:
        settings = VaultSettings.resolve(
            address=inventory.servers[0].address,
            token_file=inventory.setting("token_file"),
            ca_cert=inventory.setting("ca_cert"),
            verify=False if str(inventory.vault.get("tls_skip_verify")).lower() == "true" else None,
        )
    except ClusterOpsError:
        return {}
    with RaftClient(settings) as client:
        for node in inventory.servers:
            try:
                config = client.raft_configuration(node=node.address)
            except ClusterOpsError:
                continue
            ports = {}
            for server in config.get("servers") or []:
                address = str(server.get("address") or "")
                if ":" in address and address.rsplit(":", 1)[1].isdigit():
                    ports[str(server.get("node_id"))] = int(address.rsplit(":", 1)[1])
            return ports
    return {}


def as_server(inventory: VaultInventory, name: str, address: str) -> InventoryServer:
    raw = inventory.drivers.get(name) or {"type": "exec"}
    raw = raw if isinstance(raw, dict) else {"type": str(raw)}
    commands = {str(k): str(v) for k, v in (raw.get("commands") or {}).items()}
    settings = {k: v for k, v in raw.items() if k not in ("type", "commands")}
    host = str(settings.get("host") or urlsplit(address).hostname or "")
    spec = DriverSpec(str(raw.get("type")), settings, commands)
    return InventoryServer(name=name, address=address, host=host, driver=spec)


def _pid_and_data_dir(server: InventoryServer) -> dict[str, Any]:
    spec = server.driver
    if spec.type == "lab":
        from clusterops.lab.openbao_cluster import OpenBaoCluster

        try:
            lab = OpenBaoCluster(str(spec.settings["lab_dir"]))
            pid = lab.state().node(server.name).pid or 0
            return {"pid": pid, "data_dir": str(lab.node_dir(server.name) / "data")}
        except (ClusterOpsError, KeyError, OSError) as err:
            return {"pid_command": f"echo 'lab: {err}' >&2; false"}
    if spec.commands.get("pid"):
        return {"pid_command": render(spec.commands["pid"], server, "")}
    if spec.settings.get("unit"):
        return {"unit": str(spec.settings["unit"])}
    return {}


def vault_preflight(
    inventory_path: str | Path,
    *,
    thresholds: Thresholds | None = None,
    probe_timeout: float = 1.5,
    concurrency: int | None = None,
) -> PreflightResult:
    thresholds = thresholds or Thresholds()
    inventory = load_vault_inventory(inventory_path)
    ports = cluster_ports(inventory)
    servers = [as_server(inventory, n.name, n.address) for n in inventory.servers]
    endpoints: dict[str, tuple[Endpoint, ...]] = {}
    peers: dict[str, tuple[str, list[int]]] = {}
    for node in inventory.servers:
        host, api = _host_port(node.address, 8200)
        cluster = ports.get(node.name, api + 1)
        endpoints[node.name] = (Endpoint("tcp", host, api, "API"), Endpoint("tcp", host, cluster, "cluster"))
        peers[node.name] = (host, [api, cluster])

    def request(server: InventoryServer) -> dict[str, Any]:
        host = peers[server.name][0]
        return {
            **_pid_and_data_dir(server),
            "ports": [{"proto": e.proto, "addr": e.addr, "port": e.port} for e in endpoints[server.name]],
            "source": host if host not in ("", "localhost") else None,
            "targets": [
                {"name": name, "host": h, "tcp": tcp, "udp": []}
                for name, (h, tcp) in peers.items()
                if name != server.name
            ],
            "timeout": probe_timeout,
            **({"unit": str(server.driver.settings["unit"])} if server.driver.settings.get("unit") else {}),
        }

    results, failures, wall = probe_all(servers, request, concurrency=concurrency)
    out = PreflightResult(views=dict(endpoints), results=results, failures=failures, wall=wall)
    judge(out, endpoints, len(servers), thresholds)
    return out
