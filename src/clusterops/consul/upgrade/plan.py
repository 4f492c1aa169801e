"""The upgrade plan: ordered steps with quorum projections, and the pre-flight refusals.

Pure: a function of one ClusterState, the inventory and the options (plus what autopilot says
about Enterprise features, and the identity findings of the pre-flight). Non-voters by design
(read replicas, redundancy-zone standbys) go first, then followers in a stable (name) order, the
leader last; servers already on the target are skipped, so a re-run is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clusterops.consul.autopilot_facts import AutopilotFacts
from clusterops.consul.checks import check_cluster, stale_peers
from clusterops.consul.inventory import Inventory
from clusterops.consul.state import ClusterState, failure_tolerance
from clusterops.consul.version import Version
from clusterops.findings import Finding, Rule, Severity, catalog

NO_LEADER = Rule(
    "UP001",
    Severity.ERROR,
    "no leader",
    "restore a leader before upgrading (clusterops consul check)",
    doc=(
        "An upgrade restarts servers one at a time and waits for a leader after each; without a leader "
        "there is nothing to wait for."
    ),
)
LOW_FT = Rule(
    "UP002", Severity.ERROR, "failure tolerance below the minimum",
    "bring every server back to healthy first; an upgrade takes one server down at a time",
    doc=(
        "Each step takes one server down: with a failure tolerance below the minimum that step could lose"
        " quorum."
    ),
)  # fmt: skip
STALE = Rule(
    "UP003",
    Severity.ERROR,
    "stale raft peers",
    "clusterops consul remove-stale-peers --apply",
    doc=(
        "Dead voters and unknown peers still count toward the quorum: taking a live server down beside "
        "them can lose it."
    ),
)
UNHEALTHY = Rule(
    "UP004",
    Severity.ERROR,
    "autopilot unhealthy",
    "clusterops consul check shows why",
    doc=(
        "Autopilot calls the cluster unhealthy before anything was touched: an upgrade would start from a"
        " degraded cluster."
    ),
)
MISMATCH = Rule(
    "UP005", Severity.ERROR, "servers do not match the inventory",
    "make the inventory list exactly the cluster's raft voters (clusterops consul status)",
    doc=(
        "The inventory must list exactly the raft voters (non-voters by design apart): otherwise some "
        "servers are never upgraded, or a non-member is touched."
    ),
)  # fmt: skip
JUMP = Rule(
    "UP006", Severity.ERROR, "version jump not allowed",
    "upgrade in smaller steps (read Consul's upgrade-specific notes), or raise --max-minor-jump",
    doc=(
        "A downgrade (without --allow-downgrade), or a jump over more minor versions than "
        "--max-minor-jump in one roll."
    ),
)  # fmt: skip
UNREADABLE_VERSION = Rule(
    "UP007",
    Severity.ERROR,
    "server version unknown",
    "check the server answers and reports its version",
    doc=("A server whose version cannot be read cannot be planned (skip or upgrade) nor checked after its step."),
)

MAJOR_JUMP = Rule(
    "UP008", Severity.ERROR, "major version jump",
    "a new major version is its own migration: upgrade to the latest release of the current major first, "
    "read Consul's upgrade notes for the new major, then plan that jump on its own",
    doc="A new major version is a migration of its own, not a step of a rolling upgrade.",
)  # fmt: skip
IDENTITY = Rule(
    "UP009", Severity.ERROR, "inventory address answers as another server",
    "fix the server's address in the inventory: each address must reach the node of that name in this cluster",
    doc=(
        "Every inventory address must answer (agent/self) as the node it names in this cluster: a typo "
        "could stop a server of another cluster, or two servers at once."
    ),
)  # fmt: skip
UPGRADE_MIGRATION = Rule(
    "UP010", Severity.ERROR, "Enterprise upgrade migration is on",
    "consul operator autopilot set-config -disable-upgrade-migration=true before an in-place roll "
    "(restore it afterwards), or upgrade blue/green by adding new-version servers (autopilot's upgrade migration)",
    doc=(
        "With Enterprise upgrade migration on, autopilot keeps new-version servers as non-voters until "
        "they outnumber the old ones, which stalls a one-at-a-time roll (hashicorp/consul#9699)."
    ),
)  # fmt: skip

PERMISSION = Rule(
    "UP011", Severity.ERROR, "the token lacks a permission the run needs",
    "use a management token (the pre-upgrade snapshot needs acl = \"write\"), or --no-snapshot if you took one",
    doc=(
        "The run takes a snapshot first (acl = \"write\", a management token): refused before the lock, not"
        " after the first server."
    ),
)  # fmt: skip

RULES = catalog(
    [NO_LEADER, LOW_FT, STALE, UNHEALTHY, MISMATCH, JUMP, UNREADABLE_VERSION, MAJOR_JUMP, IDENTITY, UPGRADE_MIGRATION,
     PERMISSION]
)  # fmt: skip


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
    role: str  # follower, leader, or a non-voter by design: read-replica, zone-standby
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
    target: str | Version,
    *,
    min_failure_tolerance: int = 1,
    max_minor_jump: int = 2,
    allow_downgrade: bool = False,
    allow_prerelease: bool = False,
    autopilot: AutopilotFacts | None = None,
    preflight: Iterable[Finding] = (),
) -> Plan:
    """`target` as typed is validated here (UsageError before anything else); `preflight` adds the
    refusals of checks that need more than the snapshot (the inventory identity check)."""
    want = target if isinstance(target, Version) else Version.target(target, allow_prerelease=allow_prerelease)
    facts = autopilot or AutopilotFacts()
    refusals: list[Finding] = list(preflight)
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
    if facts.enterprise and facts.disable_upgrade_migration is False:
        refusals.append(
            Finding.of(
                UPGRADE_MIGRATION, "autopilot",
                "autopilot DisableUpgradeMigration=false on Consul Enterprise: during a one-at-a-time roll it "
                "keeps new-version servers as non-voters until they outnumber the old ones, which stalls "
                "elections (hashicorp/consul#9699)",
            )
        )  # fmt: skip

    voters = {p.node for p in state.voters}
    by_design = {n for n in inventory.names if facts.non_voter_by_design(n) and n not in voters}
    listed = set(inventory.names)
    if voters != listed - by_design:
        parts = []
        if voters - listed:
            parts.append(f"voters not in the inventory: {', '.join(sorted(voters - listed))}")
        if listed - by_design - voters:
            parts.append(f"inventory servers that are not voters: {', '.join(sorted(listed - by_design - voters))}")
        refusals.append(Finding.of(MISMATCH, inventory.path, "; ".join(parts)))

    n_voters = len(state.voters)
    quorum = state.quorum
    healthy = len(state.healthy_voters)
    up = sum(1 for m in state.servers if m.status == "alive")
    before = QuorumView(up, n_voters, quorum, failure_tolerance(n_voters, healthy))
    during = QuorumView(max(0, up - 1), n_voters, quorum, failure_tolerance(n_voters, max(0, healthy - 1)))
    # a non-voter down costs no vote: the quorum and failure tolerance stay as they were
    during_non_voter = QuorumView(max(0, up - 1), n_voters, quorum, before.failure_tolerance)

    steps: list[Step] = []
    peers = {p.node: p for p in state.raft}
    followers = sorted(n for n in inventory.names if not (leader and n == leader.node) and n not in by_design)
    order = sorted(by_design) + followers + ([leader.node] if leader and leader.node in listed else [])
    for name in order:
        srv = inventory.server(name)
        assert srv is not None
        peer = peers.get(name)
        current = state.version_of(peer) if peer else (m.version if (m := state.member(name)) else "")
        have = Version.reported(current)
        if have is None:
            why = "reports no version" if not current else f"reports a version that cannot be read: {current!r}"
            refusals.append(Finding.of(UNREADABLE_VERSION, name, f"{name} {why}"))
            continue
        action = "skip" if have == want else "upgrade"
        if have > want and not allow_downgrade:
            refusals.append(Finding.of(JUMP, name, f"{name} runs {current}, newer than the target {want}: a downgrade"))
        elif have.major != want.major:
            refusals.append(
                Finding.of(
                    MAJOR_JUMP,
                    name,
                    f"{name} runs {current}; {want} is a new major version ({have.major}.x -> {want.major}.x)",
                )
            )
        elif abs(want.minor - have.minor) > max_minor_jump:
            refusals.append(
                Finding.of(JUMP, name, f"{current} -> {want} crosses more than {max_minor_jump} minor versions")
            )
        kind = facts.non_voter_by_design(name) if name in by_design else ""
        role = kind or ("leader" if leader and name == leader.node else "follower")
        steps.append(
            Step(
                server=name,
                address=srv.address,
                role=role,
                from_version=str(have),
                to_version=str(want),
                action=action,
                before=before,
                during=before if action == "skip" else (during_non_voter if kind else during),
                after=before,
            )
        )
    return Plan(
        target=str(want),
        steps=tuple(steps),
        refusals=tuple(refusals),
        leader=leader.node if leader else "",
        baseline_failure_tolerance=before.failure_tolerance,
        voters=n_voters,
    )
