"""The upgrade plan: ordered steps with quorum projections, and the pre-flight refusals.

Pure: a function of one ClusterState, the inventory and the options. Followers go first in a
stable (name) order, the leader last; servers already on the target are skipped, so a re-run is
idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterops.consul.checks import check_cluster, stale_peers
from clusterops.consul.inventory import Inventory
from clusterops.consul.state import ClusterState, failure_tolerance
from clusterops.errors import UsageError
from clusterops.findings import Finding, Rule, Severity, catalog

NO_LEADER = Rule("UP001", Severity.ERROR, "no leader", "restore a leader before upgrading (clusterops consul check)")
LOW_FT = Rule(
    "UP002", Severity.ERROR, "failure tolerance below the minimum",
    "bring every server back to healthy first; an upgrade takes one server down at a time",
)  # fmt: skip
STALE = Rule("UP003", Severity.ERROR, "stale raft peers", "clusterops consul remove-stale-peers --apply")
UNHEALTHY = Rule("UP004", Severity.ERROR, "autopilot unhealthy", "clusterops consul check shows why")
MISMATCH = Rule(
    "UP005", Severity.ERROR, "servers do not match the inventory",
    "make the inventory list exactly the cluster's raft voters (clusterops consul status)",
)  # fmt: skip
JUMP = Rule(
    "UP006", Severity.ERROR, "version jump not allowed",
    "upgrade in smaller steps (read Consul's upgrade-specific notes), or raise --max-minor-jump",
)  # fmt: skip
UNREADABLE_VERSION = Rule(
    "UP007", Severity.ERROR, "server version unknown", "check the server answers and reports its version"
)

RULES = catalog([NO_LEADER, LOW_FT, STALE, UNHEALTHY, MISMATCH, JUMP, UNREADABLE_VERSION])


def parse_version(text: str) -> tuple[int, ...]:
    core = text.strip().lstrip("v").split("-", 1)[0].split("+", 1)[0]
    try:
        return tuple(int(p) for p in core.split("."))
    except ValueError:
        raise UsageError(f"{text!r} is not a version like 1.14.11") from None


@dataclass(frozen=True)
class QuorumView:
    servers_up: int
    voters: int
    quorum: int
    failure_tolerance: int

    def __str__(self) -> str:
        return f"up {self.servers_up}, voters {self.voters}, quorum {self.quorum}, FT {self.failure_tolerance}"


@dataclass(frozen=True)
class Step:
    server: str
    address: str
    role: str  # follower or leader
    from_version: str
    to_version: str
    action: str  # upgrade or skip
    before: QuorumView
    during: QuorumView
    after: QuorumView


@dataclass(frozen=True)
class Plan:
    target: str
    steps: tuple[Step, ...]
    refusals: tuple[Finding, ...]
    leader: str
    baseline_failure_tolerance: int
    voters: int

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def todo(self) -> list[Step]:
        return [s for s in self.steps if s.action == "upgrade"]


def plan_upgrade(
    state: ClusterState,
    inventory: Inventory,
    target: str,
    *,
    min_failure_tolerance: int = 1,
    max_minor_jump: int = 2,
    allow_downgrade: bool = False,
) -> Plan:
    want = parse_version(target)
    refusals: list[Finding] = []
    leader = state.leader
    if leader is None:
        refusals.append(Finding.of(NO_LEADER, "cluster", "no leader is elected"))
    stale = stale_peers(state)
    if stale:
        names = ", ".join(f"{s.peer.node} ({s.reason})" for s in stale)
        remedies = "; ".join(f.remedy for f in check_cluster(state) if f.rule_id in ("CH002", "CH003"))
        refusals.append(Finding.of(STALE, "cluster", f"stale or dead raft peers: {names}", remedy=remedies or None))
    if state.failure_tolerance < min_failure_tolerance:
        msg = (f"failure tolerance is {state.failure_tolerance}, the minimum is {min_failure_tolerance}: "
               "taking one server down could lose quorum")  # fmt: skip
        refusals.append(Finding.of(LOW_FT, "cluster", msg))
    if state.autopilot_healthy is False:
        bad = ", ".join(h.name for h in state.health if not h.healthy) or "see autopilot state"
        refusals.append(Finding.of(UNHEALTHY, "cluster", f"autopilot reports Healthy=false ({bad})"))

    voters = {p.node for p in state.voters}
    listed = set(inventory.names)
    if voters != listed:
        parts = []
        if voters - listed:
            parts.append(f"voters not in the inventory: {', '.join(sorted(voters - listed))}")
        if listed - voters:
            parts.append(f"inventory servers that are not voters: {', '.join(sorted(listed - voters))}")
        refusals.append(Finding.of(MISMATCH, inventory.path, "; ".join(parts)))

    n_voters = len(state.voters)
    quorum = state.quorum
    healthy = len(state.healthy_voters)
    up = sum(1 for m in state.servers if m.status == "alive")
    before = QuorumView(up, n_voters, quorum, failure_tolerance(n_voters, healthy))
    during = QuorumView(max(0, up - 1), n_voters, quorum, failure_tolerance(n_voters, max(0, healthy - 1)))

    steps: list[Step] = []
    peers = {p.node: p for p in state.raft}
    followers = sorted(n for n in inventory.names if not (leader and n == leader.node))
    order = followers + ([leader.node] if leader and leader.node in listed else [])
    for name in order:
        srv = inventory.server(name)
        assert srv is not None
        peer = peers.get(name)
        current = state.version_of(peer) if peer else (m.version if (m := state.member(name)) else "")
        if not current:
            refusals.append(Finding.of(UNREADABLE_VERSION, name, f"{name} reports no version"))
            continue
        have = parse_version(current)
        action = "skip" if have == want else "upgrade"
        if have > want and not allow_downgrade:
            refusals.append(
                Finding.of(JUMP, name, f"{name} runs {current}, newer than the target {target}: a downgrade")
            )
        elif have[:1] != want[:1] or abs(want[1] - have[1]) > max_minor_jump:
            refusals.append(
                Finding.of(JUMP, name, f"{current} -> {target} crosses more than {max_minor_jump} minor versions")
            )
        role = "leader" if leader and name == leader.node else "follower"
        steps.append(
            Step(
                server=name,
                address=srv.address,
                role=role,
                from_version=current,
                to_version=target,
                action=action,
                before=before,
                during=during if action == "upgrade" else before,
                after=before,
            )
        )
    return Plan(
        target=target,
        steps=tuple(steps),
        refusals=tuple(refusals),
        leader=leader.node if leader else "",
        baseline_failure_tolerance=before.failure_tolerance,
        voters=n_voters,
    )
