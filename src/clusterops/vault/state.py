"""One snapshot of a Vault / OpenBao raft cluster, read concurrently, and the pure math over it.

`read_vault_state` asks every node for `sys/health` (its status code is its role) and the active
node for `sys/leader`, the raft configuration and autopilot's state and configuration, all at
once through one session. What could not be read is recorded in `errors` rather than raised, so
the checks can say what is missing; only "no node answers at all" is the caller's error.

Field names as OpenBao 2.6/2.7 answer them (checked on the real servers): autopilot `servers{id}`
with `status` (leader, voter, non-voter), `healthy`, `last_contact` ("588.6ms"), `last_index`,
`version`, `node_type`; `node_status` stays "alive" for a dead node (there is no serf), so
liveness comes from `healthy`, `last_contact` and whether the node answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from clusterops.durations import parse_duration
from clusterops.errors import ClusterOpsError, ConnectionFailed, UsageError
from clusterops.vault.client import HEALTH_CODES, RaftClient


@dataclass(frozen=True)
class NodeTarget:
    """A node to ask: a name (the raft node_id where known) and its API address."""

    name: str
    address: str


@dataclass(frozen=True)
class NodeHealth:
    name: str
    address: str
    reachable: bool
    code: int | None = None
    initialized: bool | None = None
    sealed: bool | None = None
    standby: bool | None = None
    version: str = ""
    cluster_id: str = ""
    error: str = ""

    @property
    def role(self) -> str:
        if not self.reachable:
            return "unreachable"
        return HEALTH_CODES.get(self.code or 0, f"http {self.code}")

    @property
    def unsealed(self) -> bool:
        return self.reachable and self.sealed is False and self.initialized is True


@dataclass(frozen=True)
class RaftServer:
    node_id: str
    address: str
    leader: bool
    voter: bool


@dataclass(frozen=True)
class AutopilotServer:
    id: str
    address: str
    status: str
    healthy: bool
    last_contact: float | None
    last_index: int
    last_term: int
    version: str
    node_type: str


@dataclass(frozen=True)
class AutopilotConfig:
    cleanup_dead_servers: bool
    dead_server_last_contact_threshold: float
    last_contact_threshold: float
    max_trailing_logs: int
    min_quorum: int
    server_stabilization_time: float


@dataclass(frozen=True)
class VaultClusterState:
    nodes: tuple[NodeHealth, ...]
    leader_address: str = ""
    raft: tuple[RaftServer, ...] = ()
    autopilot_healthy: bool | None = None
    autopilot_failure_tolerance: int | None = None
    autopilot_leader: str = ""
    autopilot_servers: tuple[AutopilotServer, ...] = ()
    autopilot_config: AutopilotConfig | None = None
    errors: tuple[str, ...] = field(default=())

    @property
    def active(self) -> NodeHealth | None:
        return next((n for n in self.nodes if n.code == 200), None)

    @property
    def voters(self) -> list[RaftServer]:
        return [s for s in self.raft if s.voter]

    @property
    def non_voters(self) -> list[RaftServer]:
        return [s for s in self.raft if not s.voter]

    @property
    def quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def autopilot(self, node_id: str) -> AutopilotServer | None:
        return next((s for s in self.autopilot_servers if s.id == node_id), None)

    def node_for(self, server: RaftServer) -> NodeHealth | None:
        """The node whose API host is the raft peer's cluster host (or whose name is its node_id)."""
        host = server.address.rpartition(":")[0].strip("[]")
        for n in self.nodes:
            if n.name == server.node_id:
                return n
        for n in self.nodes:
            if urlsplit(n.address).hostname == host:
                return n
        return None

    def healthy_voters(self) -> list[RaftServer]:
        """Voters autopilot calls healthy (or, without autopilot, whose node answers unsealed)."""
        out = []
        for s in self.voters:
            ap = self.autopilot(s.node_id)
            if ap is not None:
                if ap.healthy:
                    out.append(s)
                continue
            node = self.node_for(s)
            if node is not None and node.unsealed:
                out.append(s)
        return out

    @property
    def failure_tolerance(self) -> int:
        """How many more voters may fail before quorum is lost, counting only healthy voters."""
        return max(0, len(self.healthy_voters()) - self.quorum)


def failure_tolerance(voters: int) -> int:
    return max(0, (voters - 1) // 2)


def _seconds(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return parse_duration(str(value), name="duration")
    except UsageError:
        return None


def parse_health(target: NodeTarget, code: int, body: dict[str, Any]) -> NodeHealth:
    return NodeHealth(
        name=target.name,
        address=target.address,
        reachable=True,
        code=code,
        initialized=body.get("initialized"),
        sealed=body.get("sealed"),
        standby=body.get("standby"),
        version=str(body.get("version") or ""),
        cluster_id=str(body.get("cluster_id") or ""),
    )


def parse_raft(config: dict[str, Any]) -> tuple[RaftServer, ...]:
    return tuple(
        RaftServer(
            node_id=str(s.get("node_id", "")),
            address=str(s.get("address", "")),
            leader=bool(s.get("leader")),
            voter=bool(s.get("voter")),
        )
        for s in config.get("servers") or []
    )


def parse_autopilot_servers(state: dict[str, Any]) -> tuple[AutopilotServer, ...]:
    servers = state.get("servers") or {}
    return tuple(
        AutopilotServer(
            id=str(s.get("id", key)),
            address=str(s.get("address", "")),
            status=str(s.get("status", "")),
            healthy=bool(s.get("healthy")),
            last_contact=_seconds(s.get("last_contact")),
            last_index=int(s.get("last_index") or 0),
            last_term=int(s.get("last_term") or 0),
            version=str(s.get("version") or ""),
            node_type=str(s.get("node_type") or ""),
        )
        for key, s in sorted(servers.items())
    )


def parse_autopilot_config(data: dict[str, Any]) -> AutopilotConfig:
    return AutopilotConfig(
        cleanup_dead_servers=bool(data.get("cleanup_dead_servers")),
        dead_server_last_contact_threshold=_seconds(data.get("dead_server_last_contact_threshold")) or 0.0,
        last_contact_threshold=_seconds(data.get("last_contact_threshold")) or 0.0,
        max_trailing_logs=int(data.get("max_trailing_logs") or 0),
        min_quorum=int(data.get("min_quorum") or 0),
        server_stabilization_time=_seconds(data.get("server_stabilization_time")) or 0.0,
    )


def read_vault_state(client: RaftClient, targets: Sequence[NodeTarget]) -> VaultClusterState:
    """Health from every node and the cluster endpoints from the active one, concurrently."""
    if not targets:
        raise UsageError("no Vault/OpenBao nodes to ask")

    def health(t: NodeTarget) -> NodeHealth:
        try:
            answer = client.health(t.address)
        except ConnectionFailed as err:
            return NodeHealth(t.name, t.address, reachable=False, error=str(err))
        return parse_health(t, answer.code, answer.body)

    with ThreadPoolExecutor(max_workers=min(16, len(targets) + 4)) as pool:
        nodes = tuple(pool.map(health, targets))
        if not any(n.reachable for n in nodes):
            raise ConnectionFailed(
                "no Vault/OpenBao node answers: " + "; ".join(n.error for n in nodes),
                hint="check the addresses (VAULT_ADDR, --address or the inventory) and that the servers run",
            )
        ask = next((n for n in nodes if n.code == 200), None) or next((n for n in nodes if n.unsealed), None)
        if ask is None:
            return VaultClusterState(nodes=nodes, errors=("no unsealed node to read the raft state from",))
        calls = {
            "leader": pool.submit(client.leader, ask.address),
            "raft": pool.submit(client.raft_configuration, ask.address),
            "autopilot state": pool.submit(client.autopilot_state, ask.address),
            "autopilot configuration": pool.submit(client.autopilot_configuration, ask.address),
        }
        results: dict[str, dict[str, Any]] = {}
        errors: list[str] = []
        for what, future in calls.items():
            try:
                results[what] = future.result()
            except ClusterOpsError as err:
                errors.append(f"{what}: {err.message}")
    ap = results.get("autopilot state")
    apc = results.get("autopilot configuration")
    return VaultClusterState(
        nodes=nodes,
        leader_address=str((results.get("leader") or {}).get("leader_address") or ""),
        raft=parse_raft(results["raft"]) if "raft" in results else (),
        autopilot_healthy=bool(ap.get("healthy")) if ap is not None else None,
        autopilot_failure_tolerance=int(ap.get("failure_tolerance") or 0) if ap is not None else None,
        autopilot_leader=str(ap.get("leader") or "") if ap is not None else "",
        autopilot_servers=parse_autopilot_servers(ap) if ap is not None else (),
        autopilot_config=parse_autopilot_config(apc) if apc is not None else None,
        errors=tuple(errors),
    )


def derive_targets(client: RaftClient, entry: str) -> list[NodeTarget]:
    """Without an inventory: the entry node's raft configuration lists the peers' cluster addresses;
    their API address is assumed on the same host, one port below (8201 -> 8200), same scheme."""
    config = client.raft_configuration(entry)
    parts = urlsplit(entry)
    scheme = parts.scheme or "https"
    targets = []
    for s in parse_raft(config):
        host, _, port = s.address.rpartition(":")
        try:
            api_port = int(port) - 1
        except ValueError:
            api_port = 8200
        targets.append(NodeTarget(s.node_id, f"{scheme}://{host}:{api_port}"))
    return targets or [NodeTarget(parts.hostname or entry, entry)]
