"""Removing dead raft peers of a Vault / OpenBao cluster: a pure plan, then an apply that re-reads
the cluster after each removal.

A peer is removed only when it is really gone: it is not the leader, autopilot calls it unhealthy
(see `checks.dead_voters`), and nothing answers on its raft cluster address. OpenBao answers 204
to `remove-peer` even for an id it does not know, so success is what the re-read shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from clusterops.errors import ClusterOpsError, GateTimeout
from clusterops.tcp import tcp_answers
from clusterops.vault.checks import dead_voters
from clusterops.vault.client import RaftClient
from clusterops.vault.state import NodeTarget, RaftServer, VaultClusterState, read_vault_state
from clusterops.wait import Verdict, wait_until


@dataclass(frozen=True)
class Removal:
    server: RaftServer
    reason: str
    refused: str = ""

    @property
    def command(self) -> str:
        return f"bao operator raft remove-peer {self.server.node_id}"


@dataclass(frozen=True)
class RemovalOutcome:
    removal: Removal
    done: bool
    detail: str
    failure_tolerance_after: int | None = None
    voters_after: int | None = None


def plan_removals(state: VaultClusterState, *, answers: Callable[[str], bool] = tcp_answers) -> list[Removal]:
    """Dead peers, each either to remove or refused with the reason."""
    plan = []
    active = state.active
    for dead in dead_voters(state):
        s = dead.server
        refused = ""
        if active is None:
            refused = "no active node: nothing can change the raft configuration now"
        elif answers(s.address):
            refused = f"something still answers on its cluster address {s.address}: it may be alive"
        plan.append(Removal(s, dead.reason, refused))
    return plan


def apply_removals(
    client: RaftClient,
    targets: Sequence[NodeTarget],
    plan: Sequence[Removal],
    *,
    timeout: float = 30.0,
    answers: Callable[[str], bool] = tcp_answers,
) -> Iterator[RemovalOutcome]:
    """Remove each planned peer in turn; before each, re-read and re-plan (skip what is no longer
    dead or already gone); after each, wait until the raft configuration no longer lists it."""
    for removal in plan:
        if removal.refused:
            yield RemovalOutcome(removal, False, f"refused: {removal.refused}")
            continue
        state = read_vault_state(client, targets)
        current = {r.server.node_id: r for r in plan_removals(state, answers=answers)}
        fresh = current.get(removal.server.node_id)
        if fresh is None:
            listed = any(s.node_id == removal.server.node_id for s in state.raft)
            why = "it is no longer dead" if listed else "it is no longer a raft peer"
            yield RemovalOutcome(removal, False, f"skipped: {why}")
            continue
        if fresh.refused:
            yield RemovalOutcome(removal, False, f"refused on re-check: {fresh.refused}")
            continue
        active = state.active
        assert active is not None  # plan_removals refuses without one
        try:
            client.remove_peer(removal.server.node_id, node=active.address)
        except ClusterOpsError as err:
            yield RemovalOutcome(removal, False, f"remove-peer failed: {err.message}")
            return

        def observe() -> VaultClusterState:
            return read_vault_state(client, targets)

        def gone(s: VaultClusterState, node_id: str = removal.server.node_id) -> Verdict:
            if not s.raft or any(p.node_id == node_id for p in s.raft):
                return Verdict(False, f"{node_id} is still a raft peer")
            # autopilot's state lags the raft configuration by a few seconds
            if s.autopilot(node_id) is not None:
                return Verdict(False, f"autopilot still lists {node_id}")
            return Verdict(True)

        try:
            after = wait_until(observe, gone, timeout=timeout, interval=0.5, what="the peer to leave raft").observation
        except GateTimeout as err:
            yield RemovalOutcome(removal, False, str(err))
            return
        yield RemovalOutcome(
            removal,
            True,
            "removed from raft",
            failure_tolerance_after=after.failure_tolerance,
            voters_after=len(after.voters),
        )
