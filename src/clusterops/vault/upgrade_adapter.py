"""The Vault / OpenBao side of the rolling upgrade: what the shared executor needs to know about a
raft Vault cluster, behind one adapter. The executor, `consul/upgrade/execute.py` (`Upgrader`), runs
both products through its `UpgradeAdapter` protocol; nothing here copies it.

The executor's loop stays the same for both products: pre-step cluster verdict, stop, switch,
start, *after_start*, gate (node back + cluster verdict held for the stabilization time),
journal. What differs is answered here:

    read(exclude)                 one VaultClusterState (every node's own sys/health + raft + autopilot)
    leader_key(state)             (active node, term) for the leader-change tracker
    node_back(state, node, v)     the node answers unsealed as a standby or active on v, is a voter,
                                  autopilot healthy (its last_index within max_trailing_logs)
    cluster_ok(state, ft0)        active node, no sealed / dead / non-voting peer, every voter healthy,
                                  failure tolerance back to its starting value
    failed_others(state, node)    other voters that went dead or sealed mid-step (halt the run)
    stabilization_time(state)     autopilot's server_stabilization_time, read from the server
    order(state, nodes)           standbys first (sorted), the active node last
    hand_over(node)               sys/step-down on the active node, then wait for another active
    after_start(node)             unseal with the inventory's Shamir keys (transit/auto-unseal: wait)
    snapshot(path)                a checked raft snapshot from the active node
    gate_values(state, node)      what the journal records when a node passes

Pre-flight refusals (`preflight`) reuse the health rules: no active node, sealed nodes, dead
voters, failure tolerance below the minimum, and a target older than any node (never fail over
to an older version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterops.errors import ClusterOpsError, ConnectionFailed
from clusterops.vault.checks import dead_voters, version_key
from clusterops.vault.client import RaftClient
from clusterops.vault.snapshot import SnapshotInfo, save_snapshot
from clusterops.vault.state import NodeTarget, VaultClusterState, read_vault_state
from clusterops.vault.unseal import unseal
from clusterops.wait import Verdict, wait_until


@dataclass(frozen=True)
class Probe:
    """One direct look at one node: ok, or what is wrong with it."""

    node: str
    ok: bool
    problem: str = ""


# -- pure verdicts ----------------------------------------------------------------------------------


def node_back(state: VaultClusterState, node: str, version: str) -> Verdict:
    health = next((n for n in state.nodes if n.name == node), None)
    if health is None:
        return Verdict(False, f"{node} is not in the inventory")
    if not health.reachable:
        return Verdict(False, f"{node} does not answer yet")
    if health.sealed:
        return Verdict(
            False,
            f"{node} is sealed: unseal it (bao operator unseal, or give the inventory an unseal_key_file) "
            "or check its auto-unseal",
        )
    if health.initialized is False:
        return Verdict(False, f"{node} is not initialised (it has not rejoined raft)")
    if health.version != version:
        return Verdict(False, f"{node} reports version {health.version or '?'}, not {version}")
    peer = next((s for s in state.raft if s.node_id == node), None)
    if peer is None:
        return Verdict(False, f"{node} is not in the raft configuration")
    if not peer.voter:
        return Verdict(False, f"{node} is a non-voter (autopilot promotes it after server_stabilization_time)")
    ap = state.autopilot(node)
    if ap is None or not ap.healthy:
        return Verdict(False, f"{node} is not healthy by autopilot yet (term, index or last contact)")
    return Verdict(True)


def cluster_ok(state: VaultClusterState, baseline_ft: int) -> Verdict:
    if state.active is None:
        return Verdict(False, "no active node")
    sealed = [n.name for n in state.nodes if n.reachable and not n.unsealed]
    if sealed:
        return Verdict(False, f"sealed or uninitialised: {', '.join(sealed)}")
    if state.errors:
        return Verdict(False, f"raft state unreadable: {state.errors[0]}")
    dead = dead_voters(state)
    if dead:
        return Verdict(False, "dead raft peers: " + ", ".join(f"{d.server.node_id} ({d.reason})" for d in dead))
    unhealthy = [s.node_id for s in state.voters if not (ap := state.autopilot(s.node_id)) or not ap.healthy]
    if unhealthy:
        return Verdict(False, f"voters not healthy: {', '.join(unhealthy)}")
    if state.non_voters:
        return Verdict(False, f"non-voters: {', '.join(s.node_id for s in state.non_voters)}")
    if state.failure_tolerance < baseline_ft:
        return Verdict(False, f"failure tolerance {state.failure_tolerance} is below its pre-upgrade {baseline_ft}")
    return Verdict(True)


def node_gate(state: VaultClusterState, node: str, version: str, baseline_ft: int) -> Verdict:
    back = node_back(state, node, version)
    return back if not back.ok else cluster_ok(state, baseline_ft)


def failed_others(state: VaultClusterState, node: str) -> list[str]:
    dead = {d.server.node_id for d in dead_voters(state)}
    sealed = {n.name for n in state.nodes if n.reachable and n.sealed}
    return sorted((dead | sealed) - {node})


def order(state: VaultClusterState, nodes: Sequence[str]) -> list[tuple[str, str]]:
    """(node, role): standbys first in name order, the active node last."""
    active = state.active.name if state.active else ""
    standbys = sorted(n for n in nodes if n != active)
    return [(n, "standby") for n in standbys] + ([(active, "active")] if active in nodes else [])


def preflight(state: VaultClusterState, target: str, *, min_failure_tolerance: int = 1) -> list[str]:
    """Reasons to refuse the plan (empty: go)."""
    refusals = []
    if state.active is None:
        refusals.append("no active node")
    sealed = [n.name for n in state.nodes if not n.unsealed]
    if sealed:
        refusals.append(f"nodes not answering unsealed: {', '.join(sealed)}")
    dead = dead_voters(state)
    if dead:
        ids = ", ".join(d.server.node_id for d in dead)
        refusals.append(f"dead raft peers {ids}: remove them first (clusterops vault remove-stale-peers --apply)")
    if state.failure_tolerance < min_failure_tolerance:
        refusals.append(f"failure tolerance {state.failure_tolerance} < {min_failure_tolerance}")
    want = version_key(target)
    if want is None:
        refusals.append(f"{target!r} is not a version")
    else:
        newer = [n.name for n in state.nodes if (k := version_key(n.version)) is not None and k > want]
        if newer:
            refusals.append(f"{', '.join(newer)} already run a version newer than {target}: that is a downgrade")
    return refusals


def gate_values(state: VaultClusterState, node: str) -> dict[str, Any]:
    leader_index = max((s.last_index for s in state.autopilot_servers), default=0)
    ap = state.autopilot(node)
    return {
        "voters": len(state.voters),
        "failure_tolerance": state.failure_tolerance,
        "active": state.active.name if state.active else "",
        "index_lag": None if ap is None else leader_index - ap.last_index,
        "last_contact_ms": None if ap is None or ap.last_contact is None else ap.last_contact * 1000,
    }


# -- the adapter (imperative shell) -------------------------------------------------------------------


@dataclass
class VaultUpgradeAdapter:
    client: RaftClient
    targets: Sequence[NodeTarget]
    unseal_keys: list[str] = field(default_factory=list)
    timeout: float = 60.0

    kind = "vault"
    leader_role = "active"
    other_role = "standby"

    def _address(self, node: str) -> str:
        return next(t.address for t in self.targets if t.name == node)

    def read(self, exclude: frozenset[str] = frozenset()) -> VaultClusterState:
        # every node is asked (a stopped one shows as unreachable, which the verdicts expect)
        return read_vault_state(self.client, self.targets)

    # -- the executor's protocol (`UpgradeAdapter`): the pure verdicts above, bound ------------------

    def plan_roles(self, roles: dict[str, str]) -> None:
        """Every raft node of a Vault cluster is planned as a voter: nothing to note."""

    def node_back(self, state: VaultClusterState, node: str, version: str) -> Verdict:
        return node_back(state, node, version)

    def cluster_ok(self, state: VaultClusterState, baseline_ft: int) -> Verdict:
        return cluster_ok(state, baseline_ft)

    def failed_others(self, state: VaultClusterState, node: str) -> list[str]:
        return failed_others(state, node)

    def gate_values(self, state: VaultClusterState, node: str) -> dict[str, Any]:
        return gate_values(state, node)

    def on_version(self, state: VaultClusterState, version: str) -> set[str]:
        return {n.name for n in state.nodes if n.reachable and n.version == version}

    def probe_all(self, state: VaultClusterState | str, nodes: frozenset[str]) -> list[Probe]:
        """Each node's own sys/health, asked directly in `read` (every read asks every node): a
        node that does not answer unsealed is a failed look."""
        if isinstance(state, str):
            return [Probe(n, False, f"cannot read the cluster: {state}") for n in sorted(nodes)]
        out = []
        for n in sorted(nodes):
            h = next((x for x in state.nodes if x.name == n), None)
            if h is None or not h.reachable:
                out.append(Probe(n, False, f"{n} does not answer its API at {self._address(n)}"))
            elif not h.unsealed:
                out.append(Probe(n, False, f"{n} answers sealed or uninitialised"))
            else:
                out.append(Probe(n, True))
        return out

    def node_version(self, node: str) -> str:
        """The version `node` reports on its own sys/health ("" when it does not answer)."""
        try:
            answer = self.client.health(self._address(node))
        except ClusterOpsError:
            return ""
        return str(answer.body.get("version") or "")

    def leader_key(self, state: VaultClusterState) -> tuple[str, int] | None:
        if state.active is None:
            return None
        ap = state.autopilot(state.active.name)
        return (state.active.name, ap.last_term if ap else 0)

    def stabilization_time(self, state: VaultClusterState) -> float:
        cfg = state.autopilot_config
        return cfg.server_stabilization_time if cfg is not None else 10.0

    def after_start(self, node: str) -> None:
        """Unseal a restarted node with the inventory's Shamir keys; without keys (auto-unseal, or
        none given) leave it: the gate then waits, and names the remedy if it stays sealed."""
        if not self.unseal_keys:
            return
        address = self._address(node)

        def attempt() -> str:
            try:
                return "" if unseal(self.client, address, self.unseal_keys) else "still sealed"
            except ClusterOpsError as err:
                return str(err)

        wait_until(attempt, lambda r: Verdict(not r, r), timeout=self.timeout, interval=0.25, what=f"{node} to unseal")

    def hand_over(self, node: str, from_version: str = "", to_version: str = "") -> str:
        """Step the active node down so an (upgraded) standby takes over before it restarts."""
        self.client.step_down(self._address(node))
        wait_until(
            self.read,
            lambda s: Verdict(s.active is not None and s.active.name != node, f"{node} is still active"),
            timeout=self.timeout,
            interval=0.25,
            what=f"another node to become active after {node} stepped down",
        )
        return "sys/step-down"

    def snapshot(self, path: Path, leader: str = "") -> tuple[SnapshotInfo, dict[str, Any]]:
        """A checked raft snapshot from the active node, and what the journal records of it."""
        state = self.read()
        if state.active is None:
            raise ConnectionFailed("no active node to take the pre-upgrade snapshot from")
        info = save_snapshot(self.client, path, node=state.active.address)
        doc = {"path": info.path, "bytes": info.size, "index": info.index, "term": info.term, "sha256": info.sha256}
        return info, doc
