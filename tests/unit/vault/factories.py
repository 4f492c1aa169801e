"""VaultClusterState builders shaped like OpenBao 2.7's API JSON (as the real server answers), for pure tests."""

from __future__ import annotations

from typing import Any

from clusterops.vault.state import (
    NodeHealth,
    NodeTarget,
    VaultClusterState,
    parse_autopilot_config,
    parse_autopilot_servers,
    parse_health,
    parse_raft,
)

DEFAULT_AUTOPILOT_CONFIG = {
    "cleanup_dead_servers": False,
    "dead_server_last_contact_threshold": "24h0m0s",
    "last_contact_threshold": "10s",
    "max_trailing_logs": 1000,
    "min_quorum": 0,
    "server_stabilization_time": "10s",
}


def cluster(
    names: tuple[str, ...] = ("v1", "v2", "v3"),
    *,
    active: str = "v1",
    sealed: tuple[str, ...] = (),
    uninitialized: tuple[str, ...] = (),
    down: tuple[str, ...] = (),
    gone: tuple[str, ...] = (),
    versions: dict[str, str] | None = None,
    non_voters: tuple[str, ...] = (),
    unhealthy: tuple[str, ...] = (),
    autopilot_config: dict[str, Any] | None = None,
    errors: tuple[str, ...] = (),
) -> VaultClusterState:
    """`down`: raft peers whose node does not answer; `gone`: raft peers no known node backs."""
    versions = versions or {}
    ip = {n: f"10.0.0.{i}" for i, n in enumerate(names + gone, start=1)}
    nodes: list[NodeHealth] = []
    for n in names:
        target = NodeTarget(n, f"https://{ip[n]}:8200")
        if n in down:
            nodes.append(NodeHealth(n, target.address, reachable=False, error=f"{target.address} is not answering"))
            continue
        code = 200 if n == active else 429
        body: dict[str, Any] = {"initialized": True, "sealed": False, "standby": n != active}
        if n in sealed:
            code, body = 503, {"initialized": True, "sealed": True, "standby": True}
        if n in uninitialized:
            code, body = 501, {"initialized": False, "sealed": True, "standby": True}
        body["version"] = versions.get(n, "2.7.2")
        nodes.append(parse_health(target, code, body))
    raft = parse_raft(
        {
            "servers": [
                {"node_id": n, "address": f"{ip[n]}:8201", "leader": n == active, "voter": n not in non_voters}
                for n in names + gone
            ]
        }
    )
    bad = set(down) | set(gone) | set(sealed) | set(unhealthy)
    servers = {
        n: {
            "id": n,
            "address": f"{ip[n]}:8201",
            "node_status": "alive",  # OpenBao says alive even for a dead node
            "last_contact": "0s" if n == active else ("25.5s" if n in bad else "120ms"),
            "last_index": 40 if n not in bad else 31,
            "last_term": 3,
            "healthy": n not in bad,
            "status": "leader" if n == active else ("non-voter" if n in non_voters else "voter"),
            "version": versions.get(n, "2.7.2"),
            "node_type": "voter",
        }
        for n in names + gone
    }
    healthy_voters = sum(1 for s in raft if s.voter and s.node_id not in bad)
    voters = sum(1 for s in raft if s.voter)
    return VaultClusterState(
        nodes=tuple(nodes),
        leader_address=f"https://{ip[active]}:8200" if active in names else "",
        raft=raft,
        autopilot_healthy=not bad,
        autopilot_failure_tolerance=max(0, healthy_voters - (voters // 2 + 1)),
        autopilot_leader=active,
        autopilot_servers=parse_autopilot_servers({"servers": servers}),
        autopilot_config=parse_autopilot_config(autopilot_config or DEFAULT_AUTOPILOT_CONFIG),
        errors=errors,
    )
