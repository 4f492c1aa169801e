"""Health rules over a VaultClusterState: the catalog and the pure check that yields findings.

Rule ids are stable and never reused. Remedies name the exact command (`bao operator raft ...`; the
`vault` CLI takes the same arguments).
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterops.findings import Finding, Rule, Severity, catalog
from clusterops.vault.state import RaftServer, VaultClusterState, failure_tolerance

NO_ACTIVE = Rule(
    "VH001",
    Severity.ERROR,
    "no active node",
    "unseal the nodes (bao operator unseal) and check `bao operator raft list-peers`; if quorum is lost "
    "for good, follow the raft outage recovery guide (peers.json)",
    doc="No node answers sys/health as the active node (200): the cluster serves no requests.",
)
SEALED = Rule(
    "VH002",
    Severity.ERROR,
    "node is sealed",
    "unseal {node}: bao operator unseal (with the key shares), or check its auto-unseal (seal stanza)",
    doc="A sealed node (sys/health 503) serves nothing and cannot take over as active.",
)
UNINITIALIZED = Rule(
    "VH003",
    Severity.ERROR,
    "node is not initialised (not part of the cluster)",
    "check {node}'s retry_join / leader_api_addr and unseal it so it completes the join",
    doc="A node that is not initialised (sys/health 501) has not joined the raft cluster.",
)
DEAD_VOTER = Rule(
    "VH004",
    Severity.ERROR,
    "raft voter is dead or its node is gone",
    "if {node} is gone for good: bao operator raft remove-peer {node} (or clusterops vault remove-stale-peers "
    "--apply); if it is restarting, start and unseal it",
    doc=(
        "A raft peer that autopilot calls unhealthy and whose node does not answer (or that no known node"
        " backs) still counts toward the quorum."
    ),
)
LOW_FAILURE_TOLERANCE = Rule(
    "VH005",
    Severity.ERROR,
    "failure tolerance below the minimum",
    "bring failed nodes back (start, unseal) or remove dead voters before touching any node",
    doc=(
        "Failure tolerance is how many voters may fail before quorum is lost (healthy voters minus "
        "quorum); below the minimum, touching a node risks an outage."
    ),
)
EVEN_VOTERS = Rule(
    "VH006",
    Severity.WARNING,
    "even number of voters",
    "run an odd number of voters: an even count adds load without adding failure tolerance",
    doc="Quorum is n/2 + 1: an even number of voters tolerates no more failures than one voter fewer.",
)
CLEANUP_OFF = Rule(
    "VH007",
    Severity.WARNING,
    "autopilot dead-server cleanup is off while dead voters exist",
    "remove the dead voters (bao operator raft remove-peer ID), or let autopilot do it: "
    "bao operator raft autopilot set-config -cleanup-dead-servers=true -min-quorum={min_quorum} "
    "-dead-server-last-contact-threshold=10m",
    doc=(
        "OpenBao's default is cleanup_dead_servers = false: dead voters stay in raft and count toward the"
        " quorum until removed."
    ),
)
VERSION_SKEW = Rule(
    "VH008",
    Severity.WARNING,
    "nodes run different versions",
    "finish the rolling upgrade (standbys first, the active node last) or roll back",
    doc=(
        "Nodes on different versions: normal during a rolling upgrade (standbys first), a hazard when it "
        "is left half done."
    ),
)
STANDBY_OLDER = Rule(
    "VH009",
    Severity.ERROR,
    "a standby runs an older version than the active node",
    "upgrade {node} before anything else: a failover to it would move the cluster to an older version",
    doc=("A standby older than the active node: a failover to it would move the cluster back to an older version."),
)
NON_VOTER = Rule(
    "VH010",
    Severity.WARNING,
    "raft peer is not a voter",
    "wait for autopilot to promote it after server_stabilization_time; if it stays a non-voter, check it "
    "(bao operator raft autopilot state) or promote it (bao operator raft promote {node})",
    doc=(
        "Autopilot promotes a new node to voter after server_stabilization_time; one that stays a "
        "non-voter adds no failure tolerance."
    ),
)
AUTOPILOT_UNHEALTHY = Rule(
    "VH011",
    Severity.ERROR,
    "autopilot reports the cluster unhealthy",
    "see the unhealthy nodes; `bao operator raft autopilot state` has details",
    doc="Autopilot's own verdict over all raft nodes; the nodes it calls unhealthy follow as VH012.",
)
NODE_UNHEALTHY = Rule(
    "VH012",
    Severity.WARNING,
    "node unhealthy by autopilot's criteria",
    "check {node}'s logs and its connectivity to the active node on the cluster port (8201)",
    doc=(
        "A node autopilot calls unhealthy (last contact, log index) that is neither dead nor sealed: it "
        "lags the active node."
    ),
)
UNREACHABLE = Rule(
    "VH013",
    Severity.ERROR,
    "node does not answer",
    "check that {node} runs and listens on its api_addr; a node replaced for good must be removed from raft",
    doc=(
        "A node that does not answer on its address and is not a dead raft voter: stopped, unreachable, "
        "or replaced and never removed."
    ),
)
NOT_IN_RAFT = Rule(
    "VH014",
    Severity.WARNING,
    "node answers but is not a raft peer",
    "check {node}'s retry_join and logs; a node removed from raft must wipe its data dir before rejoining",
    doc=("A node that answers but whose address no raft peer has: it did not join (retry_join) or was removed."),
)
FEW_VOTERS = Rule(
    "VH015",
    Severity.WARNING,
    "fewer than 3 voters: no failure tolerance",
    "run 3 or 5 voters in production",
    doc="With one or two voters, losing any voter loses quorum.",
)
PARTIAL_READ = Rule(
    "VH016",
    Severity.ERROR,
    "the raft state could not be read",
    "use a token that may read sys/storage/raft/* (e.g. a policy with read on sys/storage/raft/*)",
    doc=(
        "The raft configuration or autopilot state could not be read (the token needs read on "
        "sys/storage/raft/*): the raft checks were skipped."
    ),
)

RULES = catalog(
    [NO_ACTIVE, SEALED, UNINITIALIZED, DEAD_VOTER, LOW_FAILURE_TOLERANCE, EVEN_VOTERS, CLEANUP_OFF,
     VERSION_SKEW, STANDBY_OLDER, NON_VOTER, AUTOPILOT_UNHEALTHY, NODE_UNHEALTHY, UNREACHABLE, NOT_IN_RAFT,
     FEW_VOTERS, PARTIAL_READ]
)  # fmt: skip


def version_key(text: str) -> tuple[int, ...] | None:
    core = text.strip().lstrip("v").split("-", 1)[0].split("+", 1)[0]
    try:
        return tuple(int(p) for p in core.split("."))
    except ValueError:
        return None


@dataclass(frozen=True)
class DeadVoter:
    server: RaftServer
    reason: str


def dead_voters(state: VaultClusterState) -> list[DeadVoter]:
    """Raft peers (not the leader) that autopilot calls unhealthy and whose node does not answer
    unsealed (or that no known node backs at all: its machine was replaced)."""
    out = []
    for s in state.raft:
        if s.leader:
            continue
        ap = state.autopilot(s.node_id)
        if ap is not None and ap.healthy:
            continue
        node = state.node_for(s)
        if node is None:
            out.append(DeadVoter(s, "no known node has its address (replaced or gone)"))
        elif not node.reachable:
            out.append(DeadVoter(s, f"its node {node.address} does not answer"))
    return out


def _remedy(rule: Rule, **values: object) -> str:
    return rule.remedy.format(**values)


def check_cluster(state: VaultClusterState, *, min_failure_tolerance: int = 1) -> list[Finding]:
    out: list[Finding] = []
    active = state.active
    if active is None:
        out.append(Finding.of(NO_ACTIVE, "cluster", "no node answers sys/health as the active node (200)"))
    for n in state.nodes:
        if not n.reachable:
            continue
        if n.initialized is False:
            out.append(
                Finding.of(
                    UNINITIALIZED,
                    n.name,
                    f"{n.address} answers 501: not initialised",
                    remedy=_remedy(UNINITIALIZED, node=n.name),
                )
            )
        elif n.sealed:
            out.append(
                Finding.of(SEALED, n.name, f"{n.address} answers 503: sealed", remedy=_remedy(SEALED, node=n.name))
            )
    if state.errors:
        for err in state.errors:
            out.append(Finding.of(PARTIAL_READ, "cluster", err))
    if not state.raft:
        return out

    dead = dead_voters(state)
    dead_ids = {d.server.node_id for d in dead}
    for d in dead:
        ap = state.autopilot(d.server.node_id)
        contact = f", last contact {ap.last_contact:.0f}s ago" if ap and ap.last_contact is not None else ""
        kind = "voter" if d.server.voter else "non-voter"
        out.append(
            Finding.of(
                DEAD_VOTER,
                d.server.node_id,
                f"raft {kind} {d.server.node_id} ({d.server.address}) is dead: {d.reason}{contact}",
                remedy=_remedy(DEAD_VOTER, node=d.server.node_id),
            )
        )
    peers_hosts = {s.node_id for s in state.raft}
    for n in state.nodes:
        backed = any(state.node_for(s) == n for s in state.raft)
        if not n.reachable:
            if not any(state.node_for(s) == n and s.node_id in dead_ids for s in state.raft):
                out.append(
                    Finding.of(
                        UNREACHABLE,
                        n.name,
                        n.error or f"{n.address} does not answer",
                        remedy=_remedy(UNREACHABLE, node=n.name),
                    )
                )
        elif not backed and n.name not in peers_hosts and n.initialized:
            out.append(
                Finding.of(
                    NOT_IN_RAFT,
                    n.name,
                    f"{n.address} answers but no raft peer has its address",
                    remedy=_remedy(NOT_IN_RAFT, node=n.name),
                )
            )

    voters = state.voters
    ft = state.failure_tolerance
    if ft < min_failure_tolerance:
        healthy = len(state.healthy_voters())
        out.append(
            Finding.of(
                LOW_FAILURE_TOLERANCE,
                "cluster",
                f"failure tolerance {ft} < {min_failure_tolerance}: {healthy} healthy of {len(voters)} voters, "
                f"quorum {state.quorum}",
            )
        )
    if len(voters) % 2 == 0 and voters:
        out.append(
            Finding.of(
                EVEN_VOTERS,
                "cluster",
                f"{len(voters)} voters: failure tolerance {failure_tolerance(len(voters))}, the same as with "
                f"{len(voters) - 1}",
            )
        )
    if len(voters) < 3:
        out.append(Finding.of(FEW_VOTERS, "cluster", f"{len(voters)} voter(s)"))
    cfg = state.autopilot_config
    dead_voter_ids = [d.server.node_id for d in dead if d.server.voter]
    if cfg is not None and dead_voter_ids and not cfg.cleanup_dead_servers:
        out.append(
            Finding.of(
                CLEANUP_OFF,
                "cluster",
                f"dead voter(s) {', '.join(dead_voter_ids)} and cleanup_dead_servers=false (the server's "
                f"setting; dead_server_last_contact_threshold {cfg.dead_server_last_contact_threshold:g}s, "
                f"min_quorum {cfg.min_quorum})",
                remedy=_remedy(CLEANUP_OFF, min_quorum=max(3, len(voters) - len(dead_voter_ids))),
            )
        )
    for s in state.non_voters:
        if s.node_id in dead_ids:
            continue
        out.append(
            Finding.of(
                NON_VOTER,
                s.node_id,
                f"{s.node_id} ({s.address}) is a non-voter",
                remedy=_remedy(NON_VOTER, node=s.node_id),
            )
        )
    if state.autopilot_healthy is False:
        bad = [s.id for s in state.autopilot_servers if not s.healthy]
        out.append(
            Finding.of(
                AUTOPILOT_UNHEALTHY, "cluster", f"autopilot: unhealthy node(s) {', '.join(bad) or '(none listed)'}"
            )
        )
    for ap_server in state.autopilot_servers:
        if not ap_server.healthy and ap_server.id not in dead_ids:
            node = next((n for n in state.nodes if n.name == ap_server.id), None)
            if node is not None and node.sealed:
                continue  # reported as sealed
            contact = "" if ap_server.last_contact is None else f", last contact {ap_server.last_contact:.1f}s ago"
            out.append(
                Finding.of(
                    NODE_UNHEALTHY,
                    ap_server.id,
                    f"autopilot calls {ap_server.id} unhealthy (status {ap_server.status}, "
                    f"last index {ap_server.last_index}{contact})",
                    remedy=_remedy(NODE_UNHEALTHY, node=ap_server.id),
                )
            )

    out.extend(_version_findings(state))
    return out


def _version_findings(state: VaultClusterState) -> list[Finding]:
    out: list[Finding] = []
    versions: dict[str, str] = {}
    for n in state.nodes:
        if n.reachable and n.version:
            versions[n.name] = n.version
    for ap in state.autopilot_servers:
        if ap.version and ap.id not in versions and ap.healthy:
            versions[ap.id] = ap.version
    distinct = sorted(set(versions.values()), key=lambda v: version_key(v) or ())
    if len(distinct) > 1:
        detail = ", ".join(f"{name} {v}" for name, v in sorted(versions.items()))
        out.append(Finding.of(VERSION_SKEW, "cluster", f"{len(distinct)} versions: {detail}"))
    active = state.active
    active_key = version_key(active.version) if active else None
    if active is not None and active_key is not None:
        for n in state.nodes:
            key = version_key(n.version) if n.unsealed and n is not active else None
            if key is not None and key < active_key:
                out.append(
                    Finding.of(
                        STANDBY_OLDER,
                        n.name,
                        f"{n.name} runs {n.version}, older than the active node {active.name} ({active.version})",
                        remedy=_remedy(STANDBY_OLDER, node=n.name),
                    )
                )
    return out
