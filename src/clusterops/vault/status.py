"""What `clusterops vault status` shows: one row per node and raft peer, and a summary, as data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from clusterops.vault.checks import dead_voters
from clusterops.vault.state import VaultClusterState


@dataclass(frozen=True)
class NodeRow:
    name: str
    address: str
    role: str
    version: str
    raft_id: str
    voter: bool | None
    healthy: bool | None
    last_contact: float | None
    last_index: int | None
    index_lag: int | None


@dataclass(frozen=True)
class Summary:
    active: str
    voters: int
    quorum: int
    failure_tolerance: int
    autopilot_failure_tolerance: int | None
    healthy: bool
    dead: tuple[str, ...]


def node_rows(state: VaultClusterState) -> list[NodeRow]:
    leader_index = max((s.last_index for s in state.autopilot_servers), default=0)
    rows: list[NodeRow] = []
    seen: set[str] = set()
    for n in state.nodes:
        peer = next((s for s in state.raft if state.node_for(s) == n), None)
        ap = state.autopilot(peer.node_id) if peer else None
        if peer:
            seen.add(peer.node_id)
        rows.append(
            NodeRow(
                name=n.name,
                address=n.address,
                role=n.role,
                version=n.version or (ap.version if ap else ""),
                raft_id=peer.node_id if peer else "",
                voter=peer.voter if peer else None,
                healthy=ap.healthy if ap else None,
                last_contact=ap.last_contact if ap else None,
                last_index=ap.last_index if ap else None,
                index_lag=(leader_index - ap.last_index) if ap else None,
            )
        )
    for s in state.raft:
        if s.node_id in seen:
            continue
        ap = state.autopilot(s.node_id)
        rows.append(
            NodeRow(
                name="(unknown)",
                address=s.address,
                role="raft peer only",
                version=ap.version if ap else "",
                raft_id=s.node_id,
                voter=s.voter,
                healthy=ap.healthy if ap else None,
                last_contact=ap.last_contact if ap else None,
                last_index=ap.last_index if ap else None,
                index_lag=(leader_index - ap.last_index) if ap else None,
            )
        )
    return rows


def summarize(state: VaultClusterState) -> Summary:
    active = state.active
    return Summary(
        active=active.name if active else "",
        voters=len(state.voters),
        quorum=state.quorum,
        failure_tolerance=state.failure_tolerance,
        autopilot_failure_tolerance=state.autopilot_failure_tolerance,
        healthy=bool(state.autopilot_healthy) and active is not None and all(n.unsealed for n in state.nodes),
        dead=tuple(d.server.node_id for d in dead_voters(state)),
    )


def status_document(state: VaultClusterState) -> dict[str, Any]:
    cfg = state.autopilot_config
    return {
        "summary": asdict(summarize(state)),
        "nodes": [asdict(r) for r in node_rows(state)],
        "autopilot_configuration": asdict(cfg) if cfg else None,
        "errors": list(state.errors),
    }
