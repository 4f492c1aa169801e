"""Pure views of a ClusterState: one row per server and a summary, for tables and JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from clusterops.consul.checks import outage_document
from clusterops.consul.state import ClusterState, RaftPeer, failure_tolerance


@dataclass(frozen=True)
class ServerRow:
    node: str
    id: str
    address: str
    role: str  # leader, follower, non-voter, not-in-raft
    voter: bool
    version: str
    serf_status: str
    healthy: bool | None
    stable: bool | None
    last_contact: float | None
    index_lag: int | None


@dataclass(frozen=True)
class Summary:
    leader: str
    voters: int
    quorum: int
    failure_tolerance: int
    autopilot_failure_tolerance: int | None
    healthy: bool
    servers: int

    @property
    def disagreement(self) -> bool:
        return (
            self.autopilot_failure_tolerance is not None and self.autopilot_failure_tolerance != self.failure_tolerance
        )


def _role(state: ClusterState, peer: RaftPeer) -> str:
    if peer.leader:
        return "leader"
    if peer.voter:
        return "follower"
    # autopilot says "staging" for a new server waiting out server_stabilization_time
    return "staging" if state.autopilot_status.get(peer.id) == "staging" else "non-voter"


def server_rows(state: ClusterState) -> list[ServerRow]:
    rows = []
    seen = set()
    for peer in state.raft:
        h = state.health_of(peer)
        seen.add(peer.node)
        rows.append(
            ServerRow(
                node=peer.node,
                id=peer.id,
                address=peer.address,
                role=_role(state, peer),
                voter=peer.voter,
                version=state.version_of(peer),
                serf_status=state.serf_status(peer),
                healthy=h.healthy if h else None,
                stable=state.is_stable(peer) if h else None,
                last_contact=h.last_contact if h else None,
                index_lag=state.index_lag(peer),
            )
        )
    for m in state.servers:
        if m.name not in seen:
            rows.append(
                ServerRow(
                    node=m.name,
                    id="",
                    address=f"{m.addr}:{m.port}",
                    role="not-in-raft",
                    voter=False,
                    version=m.version,
                    serf_status=m.status,
                    healthy=None,
                    stable=None,
                    last_contact=None,
                    index_lag=None,
                )
            )
    return sorted(rows, key=lambda r: r.node)


def summarize(state: ClusterState) -> Summary:
    leader = state.leader
    healthy = bool(leader) and state.failure_tolerance >= failure_tolerance(len(state.voters))
    if state.autopilot_healthy is not None:
        healthy = healthy and state.autopilot_healthy
    return Summary(
        leader=leader.node if leader else "",
        voters=len(state.voters),
        quorum=state.quorum,
        failure_tolerance=state.failure_tolerance if leader else 0,  # without a leader nothing more may fail
        autopilot_failure_tolerance=state.autopilot_failure_tolerance,
        healthy=healthy,
        servers=len(server_rows(state)),
    )


def status_document(state: ClusterState) -> dict[str, Any]:
    """The JSON shape of `clusterops consul status --format json` (stable field names)."""
    summary = summarize(state)
    return {
        "observed_at": state.observed_at.isoformat(),
        "agent": state.agent,
        "summary": {**asdict(summary), "failure_tolerance_disagreement": summary.disagreement},
        "servers": [asdict(r) for r in server_rows(state)],
        "unavailable": list(state.unavailable),
        "stale_read": state.stale_read,
        # no leader: alive and dead voters, and the peers.json of the outage recovery if quorum is lost
        "outage": outage_document(state),
    }
