"""Health rules over a ClusterState: the catalog and the pure check that yields findings.

Rule ids are stable and never reused. Remedies name the exact command to run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from clusterops.consul.state import UNKNOWN_NODE, ClusterState, RaftPeer, duplicate_values
from clusterops.findings import Finding, Rule, Severity, catalog

NO_LEADER = Rule(
    "CH001",
    Severity.ERROR,
    "no leader",
    "a quorum of voters is alive, so an election should succeed: check each server's log and that the servers "
    "reach each other on port 8300 (`consul operator raft list-peers -stale` on each)",
    doc=(
        "Raft needs a leader to commit writes: without one, KV, catalog and session writes fail. Reported"
        " while enough voters are alive to elect one (CH019 when they are not)."
    ),
)
UNKNOWN_PEER = Rule(
    "CH002",
    Severity.ERROR,
    "raft peer unknown to Consul (stale peer)",
    "consul operator raft remove-peer -id={id}",
    doc=(
        "A raft peer whose node Consul no longer knows (node '(unknown)') still counts toward the quorum:"
        " what a server replaced without `consul leave` leaves behind."
    ),
)
DEAD_VOTER = Rule(
    "CH003",
    Severity.ERROR,
    "raft voter is not an alive serf member",
    "if {node} is gone for good: consul force-leave {node} (then, if it stays a peer: "
    "consul operator raft remove-peer -id={id}); if it is restarting, wait for it",
    doc=(
        "A voter that is not an alive serf member still counts toward the quorum while it cannot vote: "
        "each one lowers the failure tolerance until it is back or removed."
    ),
)
DUPLICATE_ID = Rule(
    "CH004",
    Severity.ERROR,
    "duplicate raft peer ID",
    "remove the dead entry: consul operator raft remove-peer -address={address}",
    doc="Two raft peers with one ID: one of the entries is stale and still counts toward the quorum.",
)
DUPLICATE_ADDRESS = Rule(
    "CH005",
    Severity.ERROR,
    "two raft peers share an address",
    "remove the stale entry: consul operator raft remove-peer -id={id}",
    doc="Two raft peers on one address: one of them is a stale entry that still counts toward the quorum.",
)
LOW_FAILURE_TOLERANCE = Rule(
    "CH006",
    Severity.ERROR,
    "failure tolerance below the minimum",
    "bring failed servers back or remove dead ones before touching any server",
    doc=(
        "Failure tolerance is how many voters may fail before quorum is lost (healthy voters minus "
        "quorum); below the minimum, taking a server down risks an outage."
    ),
)
AUTOPILOT_UNHEALTHY = Rule(
    "CH007",
    Severity.ERROR,
    "autopilot reports the cluster unhealthy",
    "see the unhealthy servers below; `consul operator autopilot state` has details",
    doc=(
        "Autopilot's own verdict over all servers (serf status, last contact, log index); the servers it "
        "calls unhealthy follow as CH008."
    ),
)
SERVER_UNHEALTHY = Rule(
    "CH008",
    Severity.WARNING,
    "server unhealthy by autopilot's criteria",
    "check {node}'s logs and its connectivity to the leader on port 8300",
    doc=(
        "Autopilot's criteria for one server: serf status alive, last contact with the leader under the "
        "threshold, log not behind the leader's."
    ),
)
FT_DISAGREES = Rule(
    "CH009",
    Severity.WARNING,
    "our failure tolerance and autopilot's disagree",
    "compare `consul operator raft list-peers` with `consul members`",
    doc=(
        "Our failure tolerance comes from the raft configuration and serf; autopilot computes its own. "
        "When they differ one of the reads is stale or membership is inconsistent."
    ),
)
VERSION_SKEW = Rule(
    "CH010",
    Severity.WARNING,
    "servers run different Consul versions",
    "finish the rolling upgrade (clusterops consul upgrade) or roll back",
    doc=(
        "Alive servers on different Consul versions: normal during a rolling upgrade, a hazard when it is"
        " left half done."
    ),
)
EVEN_VOTERS = Rule(
    "CH011",
    Severity.WARNING,
    "even number of voters",
    "run an odd number of servers: an even count adds load without adding failure tolerance",
    doc="Quorum is n/2 + 1: an even number of voters tolerates no more failures than one voter fewer.",
)
FEW_VOTERS = Rule(
    "CH012",
    Severity.WARNING,
    "fewer than 3 voters: no failure tolerance",
    "run 3 or 5 servers in production",
    doc="With one or two voters, losing any voter loses quorum.",
)
CLEANUP_NO_MIN_QUORUM = Rule(
    "CH013",
    Severity.WARNING,
    "cleanup_dead_servers is on with min_quorum 0",
    "consul operator autopilot set-config -min-quorum={voters}",
    doc=(
        "With cleanup_dead_servers on and min_quorum 0, autopilot may remove servers that are only "
        "restarting and shrink the cluster below its intended size."
    ),
)
NOT_IN_RAFT = Rule(
    "CH014",
    Severity.WARNING,
    "server is a serf member but not a raft peer",
    "check {node}'s logs; it may be failing to join Raft (data dir, encryption, versions)",
    doc=(
        "An alive server in serf that is not a raft peer did not join raft (data dir, gossip key, "
        "version) and adds no failure tolerance."
    ),
)
NON_VOTER = Rule(
    "CH015",
    Severity.WARNING,
    "raft peer is not a voter",
    "wait for autopilot to promote it after server_stabilization_time; check it if it stays",
    doc=(
        "Autopilot promotes a new server to voter after server_stabilization_time; one that stays a "
        "non-voter adds no failure tolerance."
    ),
)
PARTIAL_READ = Rule(
    "CH016",
    Severity.INFO,
    "some endpoints could not be read",
    "use a server version and token that give operator:read on autopilot",
    doc=(
        "An endpoint the token may not read (autopilot needs operator:read): the checks that depend on it were skipped."
    ),
)
PEERS_DISAGREE = Rule(
    "CH017",
    Severity.WARNING,
    "the agent's raft peers differ from the raft configuration",
    "the agent asked lags the leader or is partitioned: compare `consul operator raft list-peers` on each server",
    doc=(
        "/v1/status/peers of the agent asked differs from the leader's raft configuration: that agent "
        "lags or is partitioned."
    ),
)
LEADER_CHANGED = Rule(
    "CH018",
    Severity.WARNING,
    "the leader changed while the cluster was observed",
    "a flapping leader means servers miss heartbeats: check disk latency, CPU starvation and the network between "
    "servers (consul monitor -log-level=debug on each)",
    doc=(
        "A leader change seen while the cluster was observed: one election is a restart or a failover; "
        "more point at missed heartbeats."
    ),
)

QUORUM_LOST = Rule(
    "CH019",
    Severity.ERROR,
    "quorum lost: too few voters alive to elect a leader",
    "start the dead servers again if they can come back (no other step needed); only if they are gone for good, "
    "follow Consul's outage recovery with a peers.json of the surviving servers",
    doc=(
        "With fewer voters alive than the quorum no leader can be elected; the dead servers must come "
        "back, or Consul's outage recovery (peers.json) rebuilds the cluster from the survivors."
    ),
)
LEADER_FLAPPING = Rule(
    "CH020",
    Severity.ERROR,
    "the leader keeps changing",
    "servers keep missing heartbeats: check disk latency (fsync), CPU starvation and the network between servers "
    "(consul monitor -log-level=debug on each) before touching any server",
    doc=(
        "More leader changes per minute than the threshold (over at least a minute): servers keep missing"
        " heartbeats (slow disk, CPU starvation, network)."
    ),
)

RULES = catalog(
    [NO_LEADER, UNKNOWN_PEER, DEAD_VOTER, DUPLICATE_ID, DUPLICATE_ADDRESS, LOW_FAILURE_TOLERANCE,
     AUTOPILOT_UNHEALTHY, SERVER_UNHEALTHY, FT_DISAGREES, VERSION_SKEW, EVEN_VOTERS, FEW_VOTERS,
     CLEANUP_NO_MIN_QUORUM, NOT_IN_RAFT, NON_VOTER, PARTIAL_READ, PEERS_DISAGREE, LEADER_CHANGED,
     QUORUM_LOST, LEADER_FLAPPING]
)  # fmt: skip

# Above this many leader changes per minute (over at least a minute) a flapping leader is an error: a
# leader restart costs one or two elections (the restarted server may force another), three is flapping.
MAX_LEADER_CHANGES_PER_MINUTE = 2.0


@dataclass(frozen=True)
class StalePeer:
    """A raft peer that Consul's membership no longer backs, and why."""

    peer: RaftPeer
    reason: str  # "unknown", "failed", "left", "leaving", "missing", "duplicate-address"


def stale_peers(state: ClusterState) -> list[StalePeer]:
    """Raft peers whose node is (unknown), is not an alive serf member, or duplicates another's
    ID or address (the entry whose node is not alive is the stale one)."""
    out: list[StalePeer] = []
    listed: set[str] = set()
    for peer in state.raft:
        status = state.serf_status(peer)
        if peer.node == UNKNOWN_NODE:
            out.append(StalePeer(peer, "unknown"))
        elif status != "alive":
            out.append(StalePeer(peer, "missing" if status == "unknown" else status))
        else:
            continue
        listed.add(peer.id)
    for address in duplicate_values([p.address for p in state.raft]):
        for peer in state.raft:
            if peer.address == address and peer.id not in listed and state.serf_status(peer) != "alive":
                out.append(StalePeer(peer, "duplicate-address"))
    return out


def recovery_peers(state: ClusterState) -> list[dict[str, object]] | list[str]:
    """The peers.json of Consul's outage recovery: every server that is still alive.

    The survivors are the alive raft peers plus alive servers missing from this (stale) raft
    configuration (their raft ID and port from their serf tags). Alive non-voters stay non-voters
    when some voter survives; when none does they are listed as voters, or no leader could ever
    be elected. Raft protocol 3 (every Consul since 1.0 by default; the servers' `raft_vsn` tag):
    a list of {"id", "address", "non_voter"}; raft protocol 2 and older: "ip:port" addresses.
    """
    alive = [p for p in state.raft if state.serf_status(p) == "alive" and p.node != UNKNOWN_NODE]
    entries = [(p.id, p.address, not p.voter) for p in alive]
    listed = {p.node for p in state.raft}
    for m in state.servers:
        if m.status == "alive" and m.name not in listed and m.node_id and m.raft_port:
            entries.append((m.node_id, f"{m.addr}:{m.raft_port}", False))
    if not any(not non_voter for _, _, non_voter in entries):
        entries = [(i, a, False) for i, a, _ in entries]
    versions = {m.raft_version for m in state.servers if m.status == "alive" and m.raft_version is not None}
    if versions and max(versions) < 3:
        return [a for _, a, _ in entries]
    return [{"id": i, "address": a, "non_voter": nv} for i, a, nv in entries]


def outage_document(state: ClusterState) -> dict[str, object] | None:
    """When there is no leader: who is alive, who is dead, and the recovery file (None otherwise)."""
    if state.leader is not None:
        return None
    return {
        "quorum_lost": state.quorum_lost,
        "quorum": state.quorum,
        "alive_voters": [p.node for p in state.alive_voters],
        "dead_voters": [p.node for p in state.dead_voters],
        "read_from": state.agent,
        "stale_read": state.stale_read,
        "peers_json": recovery_peers(state) if state.quorum_lost else None,
    }


def _survivors(state: ClusterState) -> list[str]:
    listed = {p.node for p in state.raft}
    in_raft = [p.node for p in state.raft if state.serf_status(p) == "alive" and p.node != UNKNOWN_NODE]
    return sorted(in_raft + [m.name for m in state.servers if m.status == "alive" and m.name not in listed])


def _outage_remedy(state: ClusterState) -> str:
    alive = ", ".join(_survivors(state)) or "none"
    dead = ", ".join(p.node for p in state.dead_voters)
    peers = json.dumps(recovery_peers(state), separators=(",", ":"))
    return (
        f"if {dead} can be started again, start them: the cluster elects a leader once {state.quorum} voters "
        f"are back, no other step. Only if they are gone for good, Consul's outage recovery: "
        f"1) stop Consul on every surviving server ({alive}); "
        f"2) on each of them write <data_dir>/raft/peers.json containing {peers}; "
        "3) start them again: Consul reads the file, deletes it and elects a leader; "
        "4) check `consul operator raft list-peers`, then add new servers to restore the failure tolerance. "
        "Never start a server you left out of peers.json against the recovered ones with its old data"
    )


def _no_leader_findings(state: ClusterState) -> list[Finding]:
    alive = [p.node for p in state.alive_voters]
    dead = [f"{p.node} ({state.serf_status(p)})" for p in state.dead_voters]
    seen = f"read with ?stale from {state.agent}" if state.stale_read else f"agent {state.agent}"
    counts = (f"{len(alive)} of {len(state.voters)} voters alive ({', '.join(alive) or 'none'}), "
              f"dead: {', '.join(dead) or 'none'}; a leader needs {state.quorum}")  # fmt: skip
    others = sorted(set(_survivors(state)) - set(alive))
    if others:
        counts += f"; other alive servers (not voters): {', '.join(others)}"
    if state.quorum_lost:
        return [Finding.of(QUORUM_LOST, "cluster", f"no leader and quorum lost: {counts} ({seen})",
                           remedy=_outage_remedy(state))]  # fmt: skip
    return [Finding.of(NO_LEADER, "cluster", f"no leader is elected: {counts} ({seen})")]


def check_cluster(state: ClusterState, *, min_failure_tolerance: int = 1) -> list[Finding]:
    """Every finding for one snapshot, most severe first."""
    f: list[Finding] = []
    leader = state.leader
    if leader is None:
        # One finding for the outage; no per-peer force-leave/remove-peer remedies, which need a
        # leader to act and would shrink the configuration while the cluster cannot vote.
        f.extend(_no_leader_findings(state))

    for stale in stale_peers(state) if leader is not None else []:
        p = stale.peer
        if stale.reason == "unknown":
            msg = f"raft peer {p.id} at {p.address} has node {UNKNOWN_NODE}: Consul no longer knows it"
            f.append(Finding.of(UNKNOWN_PEER, p.id, msg, remedy=UNKNOWN_PEER.remedy.format(id=p.id)))
        elif p.voter:
            msg = (f"{p.node} ({p.address}) is a raft voter but its serf status is {stale.reason}; "
                   f"it still counts toward the quorum of {state.quorum}")  # fmt: skip
            f.append(Finding.of(DEAD_VOTER, p.node, msg, remedy=DEAD_VOTER.remedy.format(node=p.node, id=p.id)))

    for dup in sorted(duplicate_values([p.id for p in state.raft])):
        addrs = ", ".join(p.address for p in state.raft if p.id == dup)
        f.append(Finding.of(DUPLICATE_ID, dup, f"raft peer ID {dup} appears more than once ({addrs})",
                            remedy=DUPLICATE_ID.remedy.format(address=addrs.split(", ")[-1])))  # fmt: skip
    for dup in sorted(duplicate_values([p.address for p in state.raft])):
        peers = [p for p in state.raft if p.address == dup]
        dead = [p for p in peers if state.serf_status(p) != "alive"] or peers[-1:]
        names = ", ".join(f"{p.node} ({p.id})" for p in peers)
        f.append(Finding.of(DUPLICATE_ADDRESS, dup, f"address {dup} is held by {len(peers)} raft peers: {names}",
                            remedy=DUPLICATE_ADDRESS.remedy.format(id=dead[0].id)))  # fmt: skip

    voters = len(state.voters)
    if leader is not None and state.failure_tolerance < min_failure_tolerance:
        msg = (f"failure tolerance is {state.failure_tolerance} (healthy voters {len(state.healthy_voters)} of "
               f"{voters}, quorum {state.quorum}); the minimum is {min_failure_tolerance}")  # fmt: skip
        f.append(Finding.of(LOW_FAILURE_TOLERANCE, "cluster", msg))

    if state.autopilot_healthy is False:
        bad = [h.name for h in state.health if not h.healthy]
        f.append(Finding.of(AUTOPILOT_UNHEALTHY, "cluster",
                            f"autopilot: Healthy=false (unhealthy: {', '.join(bad) or 'none listed'})"))  # fmt: skip
    threshold = state.autopilot.last_contact_threshold if state.autopilot else 0.2
    in_raft = {p.id for p in state.raft}
    for h in state.health:
        if h.healthy or h.id not in in_raft:  # autopilot may list a just-removed peer for a moment
            continue
        why = [f"serf {h.serf_status}"] if h.serf_status != "alive" else []
        if h.last_contact is not None and h.last_contact > threshold:
            why.append(f"last contact {h.last_contact * 1000:.0f}ms > {threshold * 1000:.0f}ms")
        lag = state.leader_last_index - h.last_index
        if lag > 0:
            why.append(f"{lag} entries behind the leader")
        msg = f"{h.name} is not healthy ({'; '.join(why) or 'see autopilot state'})"
        f.append(Finding.of(SERVER_UNHEALTHY, h.name, msg, remedy=SERVER_UNHEALTHY.remedy.format(node=h.name)))

    ap_ft = state.autopilot_failure_tolerance
    if ap_ft is not None and leader is not None and ap_ft != state.failure_tolerance:
        msg = f"failure tolerance: ours {state.failure_tolerance} (from the raft configuration), autopilot's {ap_ft}"
        f.append(Finding.of(FT_DISAGREES, "cluster", msg))

    versions = {state.version_of(p) for p in state.raft if state.serf_status(p) == "alive"} - {""}
    if len(versions) > 1:
        detail = ", ".join(f"{p.node}={state.version_of(p)}" for p in state.raft if state.version_of(p))
        f.append(Finding.of(VERSION_SKEW, "cluster", f"versions differ: {detail}"))

    if voters and voters % 2 == 0:
        f.append(Finding.of(EVEN_VOTERS, "cluster", f"{voters} voters: quorum {state.quorum}, "
                            f"the same failure tolerance as {voters - 1}"))  # fmt: skip
    if 0 < voters < 3:
        f.append(Finding.of(FEW_VOTERS, "cluster", f"{voters} voter(s): losing any one loses quorum"))
    ap = state.autopilot
    if ap is not None and ap.cleanup_dead_servers and ap.min_quorum == 0:
        msg = ("autopilot cleanup_dead_servers=true with min_quorum=0: autopilot may prune failed servers "
               "during a rolling restart and shrink the cluster below its intended size")  # fmt: skip
        f.append(Finding.of(CLEANUP_NO_MIN_QUORUM, "autopilot", msg,
                            remedy=CLEANUP_NO_MIN_QUORUM.remedy.format(voters=max(voters, 3))))  # fmt: skip

    raft_nodes = {p.node for p in state.raft}
    for m in state.servers:
        if m.status == "alive" and m.name not in raft_nodes:
            f.append(Finding.of(NOT_IN_RAFT, m.name, f"{m.name} ({m.addr}) is an alive server but not a raft peer",
                                remedy=NOT_IN_RAFT.remedy.format(node=m.name)))  # fmt: skip
    for p in state.raft if leader is not None else []:  # without a leader nothing promotes it: CH019 says so
        if not p.voter and state.serf_status(p) == "alive":
            f.append(Finding.of(NON_VOTER, p.node, f"{p.node} is a raft peer but not a voter"))
    if state.peers is not None and state.raft and set(state.peers) != {p.address for p in state.raft}:
        msg = (f"/v1/status/peers on {state.agent} lists {', '.join(sorted(state.peers)) or 'nothing'}; the raft "
               f"configuration has {', '.join(sorted(p.address for p in state.raft))}")  # fmt: skip
        f.append(Finding.of(PEERS_DISAGREE, state.agent, msg))
    # without a leader the autopilot endpoints cannot answer; the outage finding already says so.
    # agent/self (agent:read) only sharpens leader-change counting; a token without it loses nothing else.
    missing = [u for u in state.unavailable
               if not (state.stale_read and u.startswith("autopilot")) and not u.startswith("agent/self")]  # fmt: skip
    if missing:
        f.append(Finding.of(PARTIAL_READ, "cluster", f"not read: {', '.join(missing)}"))
    return sorted(f, key=lambda x: -x.severity.rank)


def leader_changes(states: Sequence[ClusterState | None]) -> list[str]:
    """Each new leadership across observations, counted once per new term: "s1 -> s2", or
    "s1 re-elected (term 7)". An observation without a leader (None: unreadable, or no leader) is
    a gap, not a change: s1 -> none -> s2 is one change; a watch that starts leaderless and sees a
    leader elected counts that election ("none -> s2"), an unreadable start does not. The same
    leader counts again only when the agent's own raft term rose above any term seen with it
    (autopilot's last log term lags an election, and a just-restarted agent may report an older
    term for a moment)."""
    changes: list[str] = []
    current: RaftPeer | None = None
    top_term = -1
    leaderless_first = False  # observed without a leader before any leader: the first one is an election
    for state in states:
        leader = state.leader if state is not None else None
        if state is None or leader is None:
            leaderless_first = leaderless_first or (state is not None and current is None)
            continue
        term = state.raft_term if state.raft_term is not None else -1
        if current is None and leaderless_first:
            changes.append(f"none -> {leader.node}")
        if current is not None and leader.id != current.id:
            changes.append(f"{current.node} -> {leader.node}")
        elif current is not None and term > top_term >= 0:
            changes.append(f"{leader.node} re-elected (term {term})")
        if current is None or leader.id != current.id:
            top_term = term
        top_term = max(top_term, term)
        current = leader
    return changes


def check_observations(
    states: Sequence[ClusterState | None],
    last: ClusterState,
    *,
    min_failure_tolerance: int = 1,
    seconds: float = 0,
    max_changes_per_minute: float = MAX_LEADER_CHANGES_PER_MINUTE,
) -> list[Finding]:
    """The findings of the `last` observation, plus CH018 when the leader changed across `states`,
    or CH020 (an error) when it changed faster than `max_changes_per_minute`. The rate is taken
    over at least a minute, so one election seen in a short window is a warning, not flapping."""
    findings = check_cluster(last, min_failure_tolerance=min_failure_tolerance)
    changes = leader_changes([*states, last])
    if changes:
        rate = len(changes) * 60.0 / max(seconds, 60.0)
        msg = f"{len(changes)} leader change(s) in {seconds:g}s of observation: {'; '.join(changes)}"
        if rate > max_changes_per_minute:
            msg += f" ({rate:.1f} per minute, above {max_changes_per_minute:g})"
            findings.append(Finding.of(LEADER_FLAPPING, "cluster", msg))
        else:
            findings.append(Finding.of(LEADER_CHANGED, "cluster", msg))
    return sorted(findings, key=lambda x: -x.severity.rank)
