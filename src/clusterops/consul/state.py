"""`ClusterState`: one immutable snapshot of a Consul server cluster, and pure math over it.

The snapshot is read once (concurrently) from the real endpoints by `read_cluster_state`; every
decision (status table, health findings, gates, upgrade plans) is a pure function of it, so it is
unit-tested from JSON without a server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clusterops.durations import parse_duration
from clusterops.errors import AuthError, ClusterOpsError

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient

UNKNOWN_NODE = "(unknown)"


def quorum_size(voters: int) -> int:
    """Raft quorum: a majority of the voters in the configuration (dead-but-unremoved ones count)."""
    return voters // 2 + 1 if voters > 0 else 0


def failure_tolerance(voters: int, healthy_voters: int | None = None) -> int:
    """How many more voters may fail before quorum is lost.

    With `healthy_voters` given, this is what the cluster can still lose now (autopilot's
    definition); without it, what a fully healthy cluster of that size could lose.
    """
    healthy = voters if healthy_voters is None else healthy_voters
    return max(0, healthy - quorum_size(voters))


@dataclass(frozen=True)
class RaftPeer:
    id: str
    node: str
    address: str
    leader: bool
    voter: bool


@dataclass(frozen=True)
class Member:
    name: str
    addr: str
    port: int
    status: str  # alive, failed, left, leaving
    is_server: bool
    version: str


@dataclass(frozen=True)
class ServerHealth:
    id: str
    name: str
    address: str
    serf_status: str
    version: str
    leader: bool
    voter: bool
    healthy: bool
    last_contact: float | None  # seconds
    last_term: int
    last_index: int
    stable_since: datetime | None


@dataclass(frozen=True)
class AutopilotConfig:
    cleanup_dead_servers: bool = True
    last_contact_threshold: float = 0.2
    max_trailing_logs: int = 250
    min_quorum: int = 0
    server_stabilization_time: float = 10.0


@dataclass(frozen=True)
class ClusterState:
    """Everything the health rules and gates need, observed at one moment."""

    observed_at: datetime
    agent: str
    leader_addr: str
    raft: tuple[RaftPeer, ...]
    members: tuple[Member, ...]
    health: tuple[ServerHealth, ...] = ()
    autopilot_healthy: bool | None = None
    autopilot_failure_tolerance: int | None = None
    autopilot: AutopilotConfig | None = None
    raft_index: int = 0
    peers: tuple[str, ...] | None = None  # /v1/status/peers: this agent's own raft view
    autopilot_status: dict[str, str] = field(default_factory=dict)  # raft ID -> leader|voter|non-voter|staging
    unavailable: tuple[str, ...] = field(default=())  # endpoints that could not be read

    # -- derived views ------------------------------------------------------------------------

    @property
    def voters(self) -> list[RaftPeer]:
        return [p for p in self.raft if p.voter]

    @property
    def leader(self) -> RaftPeer | None:
        for p in self.raft:
            if p.leader:
                return p
        for p in self.raft:
            if self.leader_addr and p.address == self.leader_addr:
                return p
        return None

    @property
    def leader_term(self) -> tuple[str, int] | None:
        """(raft ID, term) of the leader: changes when another server wins, or the same one is
        elected again in a new term."""
        leader = self.leader
        if leader is None:
            return None
        h = self.health_of(leader)
        return (leader.id, h.last_term if h else 0)

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.voters))

    def member(self, name: str) -> Member | None:
        for m in self.members:
            if m.name == name:
                return m
        return None

    def health_of(self, peer: RaftPeer) -> ServerHealth | None:
        for h in self.health:
            if h.id == peer.id:
                return h
        return None

    def serf_status(self, peer: RaftPeer) -> str:
        """alive, failed, left, leaving, or `unknown` when no serf member carries the peer."""
        if peer.node == UNKNOWN_NODE:
            return "unknown"
        member = self.member(peer.node)
        return member.status if member else "unknown"

    def voter_is_healthy(self, peer: RaftPeer) -> bool:
        h = self.health_of(peer)
        if h is not None:
            return h.healthy
        return self.serf_status(peer) == "alive"

    @property
    def healthy_voters(self) -> list[RaftPeer]:
        return [p for p in self.voters if self.voter_is_healthy(p)]

    @property
    def failure_tolerance(self) -> int:
        """Our own figure: healthy voters minus the quorum of all configured voters."""
        return failure_tolerance(len(self.voters), len(self.healthy_voters))

    @property
    def leader_last_index(self) -> int:
        leader = self.leader
        h = self.health_of(leader) if leader else None
        return h.last_index if h else 0

    def index_lag(self, peer: RaftPeer) -> int | None:
        h = self.health_of(peer)
        if h is None or not self.leader:
            return None
        return max(0, self.leader_last_index - h.last_index)

    def is_stable(self, peer: RaftPeer) -> bool:
        """Healthy for at least the server stabilization time (autopilot's IsStable)."""
        h = self.health_of(peer)
        if h is None or not h.healthy or h.stable_since is None:
            return False
        need = (self.autopilot or AutopilotConfig()).server_stabilization_time
        return (self.observed_at - h.stable_since).total_seconds() >= need

    def version_of(self, peer: RaftPeer) -> str:
        h = self.health_of(peer)
        if h is not None and h.version:
            return h.version
        m = self.member(peer.node)
        return m.version if m else ""

    @property
    def servers(self) -> list[Member]:
        return [m for m in self.members if m.is_server]


# -- building a snapshot from API JSON (pure) --------------------------------------------------


def _member_version(tags: Mapping[str, str]) -> str:
    build = tags.get("build", "")
    return build.split(":", 1)[0].split("+", 1)[0]


_SERF_STATUS = {0: "none", 1: "alive", 2: "leaving", 3: "left", 4: "failed"}


def _parse_time(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    value = text.replace("Z", "+00:00")
    if "." in value:  # Go emits nanoseconds; Python takes at most microseconds
        head, _, tail = value.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits) :]
        value = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def state_from_api(
    *,
    agent: str,
    leader: str,
    raft_configuration: Mapping[str, Any],
    members: list[Mapping[str, Any]],
    autopilot_health: Mapping[str, Any] | None = None,
    autopilot_configuration: Mapping[str, Any] | None = None,
    autopilot_state: Mapping[str, Any] | None = None,
    peers: list[str] | None = None,
    observed_at: datetime | None = None,
    unavailable: tuple[str, ...] = (),
) -> ClusterState:
    """Build a ClusterState from the JSON bodies of the Consul endpoints."""
    raft = tuple(
        RaftPeer(
            id=str(p.get("ID", "")),
            node=str(p.get("Node", "")),
            address=str(p.get("Address", "")),
            leader=bool(p.get("Leader")),
            voter=bool(p.get("Voter")),
        )
        for p in raft_configuration.get("Servers") or []
    )
    mems = tuple(
        Member(
            name=str(m.get("Name", "")),
            addr=str(m.get("Addr", "")),
            port=int(m.get("Port", 0) or 0),
            status=_SERF_STATUS.get(int(m.get("Status", 0) or 0), "none"),
            is_server=(m.get("Tags") or {}).get("role") == "consul",
            version=_member_version(m.get("Tags") or {}),
        )
        for m in members
    )
    health: tuple[ServerHealth, ...] = ()
    if autopilot_health:
        health = tuple(
            ServerHealth(
                id=str(s.get("ID", "")),
                name=str(s.get("Name", "")),
                address=str(s.get("Address", "")),
                serf_status=str(s.get("SerfStatus", "")),
                version=str(s.get("Version", "")),
                leader=bool(s.get("Leader")),
                voter=bool(s.get("Voter")),
                healthy=bool(s.get("Healthy")),
                last_contact=parse_duration(s["LastContact"]) if s.get("LastContact") else None,
                last_term=int(s.get("LastTerm", 0) or 0),
                last_index=int(s.get("LastIndex", 0) or 0),
                stable_since=_parse_time(s.get("StableSince")),
            )
            for s in autopilot_health.get("Servers") or []
        )
    config = None
    if autopilot_configuration:
        c = autopilot_configuration
        config = AutopilotConfig(
            cleanup_dead_servers=bool(c.get("CleanupDeadServers", True)),
            last_contact_threshold=parse_duration(str(c.get("LastContactThreshold") or "200ms")),
            max_trailing_logs=int(c.get("MaxTrailingLogs", 250) or 0),
            min_quorum=int(c.get("MinQuorum", 0) or 0),
            server_stabilization_time=parse_duration(str(c.get("ServerStabilizationTime") or "10s")),
        )
    return ClusterState(
        observed_at=observed_at or datetime.now(UTC),
        agent=agent,
        leader_addr=leader,
        raft=raft,
        members=mems,
        health=health,
        autopilot_healthy=bool(autopilot_health["Healthy"]) if autopilot_health else None,
        autopilot_failure_tolerance=int(autopilot_health.get("FailureTolerance", 0)) if autopilot_health else None,
        autopilot=config,
        raft_index=int(raft_configuration.get("Index", 0) or 0),
        peers=tuple(str(p) for p in peers) if peers is not None else None,
        autopilot_status={
            str(sid): str(srv.get("Status", ""))
            for sid, srv in ((autopilot_state or {}).get("Servers") or {}).items()
            if isinstance(srv, Mapping)
        },
        unavailable=unavailable,
    )


# -- reading a snapshot (the imperative shell) -------------------------------------------------


def read_cluster_state(client: ConsulClient) -> ClusterState:
    """Read every endpoint concurrently and build one snapshot.

    The raft configuration and members are required; an error reading them (connection,
    permission) propagates. status/peers and the autopilot endpoints are optional: servers
    without them are recorded in `unavailable`, but a permission error still propagates, naming
    the permission. `/v1/operator/autopilot/state` is absent before Consul 1.10 (None).
    """
    optional = {"peers": "status/peers", "health": "autopilot health", "config": "autopilot config",
                "state": "autopilot state"}  # fmt: skip
    with ThreadPoolExecutor(max_workers=7) as pool:
        futures: dict[str, Future[Any]] = {
            "leader": pool.submit(client.leader),
            "peers": pool.submit(client.peers),
            "raft": pool.submit(client.raft_configuration),
            "members": pool.submit(client.members),
            "health": pool.submit(client.autopilot_health),
            "config": pool.submit(client.autopilot_configuration),
            "state": pool.submit(client.autopilot_state),
        }
        results: dict[str, Any] = {}
        unavailable: list[str] = []
        for name, fut in futures.items():
            try:
                results[name] = fut.result()
            except AuthError:
                raise
            except ClusterOpsError:
                if name not in optional:
                    raise
                unavailable.append(optional[name])
                results[name] = None
    return state_from_api(
        agent=client.address,
        leader=str(results["leader"] or ""),
        raft_configuration=results["raft"],
        members=results["members"],
        autopilot_health=results["health"],
        autopilot_configuration=results["config"],
        autopilot_state=results["state"],
        peers=results["peers"],
        unavailable=tuple(unavailable),
    )


def read_cluster_state_or_none(client: ConsulClient) -> ClusterState | None:
    """One snapshot, or None when the cluster cannot answer right now (e.g. mid-election); a
    permission error still raises, since waiting will not fix it."""
    try:
        return read_cluster_state(client)
    except AuthError:
        raise
    except ClusterOpsError:
        return None


def duplicate_values(values: list[str]) -> set[str]:
    return {v for v, n in Counter(values).items() if n > 1 and v}
