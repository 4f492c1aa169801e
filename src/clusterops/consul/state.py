"""`ClusterState`: one immutable snapshot of a Consul server cluster, and pure math over it.

The snapshot is read once (concurrently) from the real endpoints by `read_cluster_state`; every
decision (status table, health findings, gates, upgrade plans) is a pure function of it, so it is
unit-tested from JSON without a server.

Two things make a read less than the truth, and both are recorded, never papered over:
- no leader: the consistent reads would wait for one (and fail after Consul's RPC hold timeout),
  so the raft configuration is read with `?stale` from the agent asked (`stale_read`), and the
  autopilot endpoints, which only a leader serves, are left out;
- ACL filtering: Consul drops the serf members a token may not read (node:read) and answers 200.
  A snapshot built from such a list would call every live voter dead, so `read_cluster_state`
  refuses it (AuthError naming node:read) instead of returning it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clusterops.durations import parse_duration
from clusterops.errors import AuthError, ClusterOpsError, ConnectionFailed

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient

UNKNOWN_NODE = "(unknown)"
# How long a check keeps reading while a quorum is alive but no leader is elected yet: Consul's
# election timeout is 1 s x raft_multiplier (5 by default), so an election is normally over by then.
ELECTION_GRACE = 6.0


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
    raft_version: int | None = None  # the `raft_vsn` tag of a server: decides the peers.json format
    node_id: str = ""  # a server's `id` tag: its raft ID
    raft_port: int | None = None  # a server's `port` tag: its raft (server RPC) port


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
    stale_read: bool = False  # no leader: the raft configuration is this agent's own (?stale) copy
    raft_term: int | None = None  # the asked agent's current raft term (agent/self Stats), exact, when readable
    members_filtered: bool = False  # Consul said (header) that ACLs hid some serf members

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
        elected again in a new term. The term is the leader's last log term from autopilot (the
        same whichever agent is asked; it lags an election by autopilot's refresh interval)."""
        leader = self.leader
        if leader is None:
            return None
        h = self.health_of(leader)
        return (leader.id, h.last_term if h else 0)

    @property
    def alive_voters(self) -> list[RaftPeer]:
        """Voters whose serf status is alive, as the agent asked sees them."""
        return sorted((p for p in self.voters if self.serf_status(p) == "alive"), key=lambda p: p.node)

    @property
    def dead_voters(self) -> list[RaftPeer]:
        return sorted((p for p in self.voters if self.serf_status(p) != "alive"), key=lambda p: p.node)

    @property
    def quorum_lost(self) -> bool:
        """No leader and fewer alive voters than a quorum: no election can succeed by waiting."""
        return self.leader is None and bool(self.voters) and len(self.alive_voters) < self.quorum

    def hidden_members(self) -> list[RaftPeer]:
        """Raft peers with a known node name that the members list lacks: what an ACL filter on
        /v1/agent/members hides (serf and the raft configuration name nodes from the same gossip)."""
        names = {m.name for m in self.members}
        return [p for p in self.raft if p.node and p.node != UNKNOWN_NODE and p.node not in names]

    def filtered_reason(self) -> str:
        """Why the members list cannot be trusted (ACL filtering), or "" when it can."""
        hidden = self.hidden_members()
        named = [p for p in self.raft if p.node and p.node != UNKNOWN_NODE]
        if self.members_filtered or (named and not self.members):
            shown = len(named) - len(hidden)
            return (f"/v1/agent/members on {self.agent} was filtered by ACLs: it shows {shown} of the "
                    f"{len(named)} raft servers")  # fmt: skip
        if hidden:
            names = ", ".join(p.node for p in hidden)
            return (f"/v1/agent/members on {self.agent} lacks raft servers {names}: the token may not read "
                    "them (filtered by ACLs)")  # fmt: skip
        return ""

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
    stale_read: bool = False,
    agent_self: Mapping[str, Any] | None = None,
    members_filtered: bool = False,
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
            raft_version=_int_or_none((m.get("Tags") or {}).get("raft_vsn")),
            node_id=str((m.get("Tags") or {}).get("id", "")),
            raft_port=_int_or_none((m.get("Tags") or {}).get("port")),
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
        stale_read=stale_read,
        raft_term=_int_or_none(((agent_self or {}).get("Stats") or {}).get("raft", {}).get("term")),
        members_filtered=members_filtered,
    )


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# -- reading a snapshot (the imperative shell) -------------------------------------------------


def read_cluster_state(client: ConsulClient) -> ClusterState:
    """Read every endpoint concurrently and build one snapshot.

    The leader is asked first (a local answer). With a leader, the raft configuration is the
    leader's; without one, or when the consistent read finds none after all (mid-election), it
    is this agent's own copy read with `?stale`, and the autopilot endpoints (a leader's) are
    left out. The raft configuration and members are required; an error reading them
    (connection, permission) propagates. A members list filtered by ACLs raises AuthError naming
    node:read. status/peers, agent/self and the autopilot endpoints are optional: what could not
    be read is recorded in `unavailable`, but a permission error on autopilot still propagates.
    `/v1/operator/autopilot/state` is absent before Consul 1.10 (None).
    """
    state = _read_leader_or_stale(client)
    reason = state.filtered_reason()
    if reason and not state.members_filtered and state.members:
        # A partial list without Consul's header. Consul marks a filtered answer for every token but
        # the anonymous one, so with a token this is gossip that has not converged (a server added
        # a moment ago): judge it. Anonymous: look once more, after gossip had time to converge.
        if client.settings.token:
            reason = ""
        else:
            time.sleep(0.5)
            state = _read_leader_or_stale(client)
            reason = state.filtered_reason()
    if reason:
        raise AuthError(
            f"{reason}; a check from it would call live servers dead (needs node:read on every server node)",
            hint='give the token node:read, e.g. node_prefix "" { policy = "read" }; '
            "nothing was judged from the filtered list",
        )
    return state


def _read_leader_or_stale(client: ConsulClient) -> ClusterState:
    leader = client.leader()
    state = _read_all(client, leader) if leader else None
    if isinstance(state, ClusterState):
        return state
    # no leader, or the one this agent names could not be reached (an election; or server RPC
    # failing, e.g. TLS between servers: Consul's text is kept in `unavailable`)
    stale = _read_all(client, "", why=state)
    if not isinstance(stale, ClusterState):  # a stale read does not need a leader; Consul said otherwise
        raise ConnectionFailed(f"Consul at {client.address}: no leader, and the stale raft configuration failed")
    return stale


def _read_all(client: ConsulClient, leader: str, *, why: str | None = None) -> ClusterState | str:
    """One concurrent read. With `leader` "" the no-leader shape (stale raft configuration, no
    autopilot; `why` the consistent read's failure, if one was tried). Consul's NoLeader text
    when a consistent read found no leader after all (the caller then reads stale)."""
    from clusterops.consul.client import NoLeader

    stale = not leader
    optional = {"peers": "status/peers", "self": "agent/self (raft term)", "health": "autopilot health",
                "config": "autopilot config", "state": "autopilot state"}  # fmt: skip
    calls: dict[str, Any] = {
        "peers": client.peers,
        "raft": lambda: client.raft_configuration(stale=stale),
        "members": client.members_read,
        "self": client.agent_self,
    }
    if not stale:
        calls |= {"health": client.autopilot_health, "config": client.autopilot_configuration,
                  "state": client.autopilot_state}  # fmt: skip
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures: dict[str, Future[Any]] = {name: pool.submit(fn) for name, fn in calls.items()}
        results: dict[str, Any] = {}
        unavailable: list[str] = []
        no_leader = ""
        for name, fut in futures.items():
            try:
                results[name] = fut.result()
            except AuthError:
                if name == "self":  # optional and only for the exact term: agent:read is not required
                    unavailable.append(optional[name])
                    results[name] = None
                    continue
                raise
            except NoLeader:
                if name == "raft":
                    no_leader = str(fut.exception()).splitlines()[0]
                    continue
                if name not in optional:
                    raise
                unavailable.append(optional[name])
                results[name] = None
            except ClusterOpsError:
                if name not in optional:
                    raise
                unavailable.append(optional[name])
                results[name] = None
    if no_leader:
        return no_leader
    if stale:
        unavailable += ["autopilot (only a leader serves it)"]
        if why:
            unavailable.insert(0, f"the leader's raft configuration ({why})")
    members = results["members"]
    return state_from_api(
        agent=client.address,
        leader=leader,
        raft_configuration=results["raft"],
        members=members.members,
        members_filtered=members.filtered,
        autopilot_health=results.get("health"),
        autopilot_configuration=results.get("config"),
        autopilot_state=results.get("state"),
        agent_self=results["self"],
        peers=results["peers"],
        unavailable=tuple(unavailable),
        stale_read=stale,
    )


def read_settled_state(
    client: ConsulClient,
    *,
    grace: float = ELECTION_GRACE,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ClusterState:
    """A snapshot to judge from. With no leader but a quorum of voters alive (an election under
    way: mid-election Consul answers "No cluster leader" or "rpc error getting client"), read again
    for up to `grace` seconds; the last snapshot is returned either way. A lost quorum is returned
    at once: waiting cannot elect a leader."""
    end = clock() + grace
    state = read_cluster_state(client)
    while state.leader is None and not state.quorum_lost and clock() + interval <= end:
        sleep(interval)
        state = read_cluster_state(client)
    return state


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
