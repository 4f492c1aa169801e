"""Removing stale raft peers: a pure plan, then a careful apply that re-checks after each step.

A peer is removed only when it is stale (see `checks.stale_peers`) and really dead: its raft
address does not answer. A failed serf member is force-left (Consul's leader then drops it from
Raft); a peer Consul no longer knows is removed from Raft by ID. The removals run under the
cluster lock (`clusterops.consul.lock`), like an upgrade: never two operators at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clusterops.consul import lock as cluster_lock
from clusterops.consul.checks import stale_peers
from clusterops.consul.state import ClusterState, RaftPeer, read_cluster_state
from clusterops.errors import ClusterOpsError, GateTimeout, UnsafePlan
from clusterops.tcp import tcp_answers
from clusterops.wait import Verdict, wait_until

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient


@dataclass(frozen=True)
class Removal:
    peer: RaftPeer
    reason: str
    action: str  # "force-leave" or "remove-peer"
    refused: str = ""  # why it will not be removed, if so

    @property
    def command(self) -> str:
        if self.action == "force-leave":
            return f"consul force-leave {self.peer.node}"
        return f"consul operator raft remove-peer -id={self.peer.id}"


@dataclass(frozen=True)
class RemovalOutcome:
    removal: Removal
    done: bool
    detail: str
    failure_tolerance_after: int | None = None


def plan_removals(state: ClusterState, *, answers: Callable[[str], bool] = tcp_answers) -> list[Removal]:
    plan = []
    for stale in stale_peers(state):
        peer = stale.peer
        member_known = stale.reason in ("failed", "leaving")
        action = "force-leave" if member_known else "remove-peer"
        refused = ""
        if state.leader is not None and peer.id == state.leader.id:
            refused = "it is the current leader"
        elif answers(peer.address):
            refused = f"it answers on {peer.address}: not dead; stop it or fix it instead"
        plan.append(Removal(peer, stale.reason, action, refused))
    return plan


def apply_removals(
    client: ConsulClient,
    plan: list[Removal],
    *,
    settle_timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    state_dir: Path | None = None,
    break_lock: bool = False,
    on_note: Callable[[str], None] = lambda n: None,
) -> list[RemovalOutcome]:
    """Take the cluster lock (LockHeld, exit 1, names the holder), then remove each planned peer,
    one at a time; stop at the first that loses the leader."""
    from clusterops.settings import state_dir as default_state_dir

    with cluster_lock.held(
        [client],
        state_dir=state_dir or default_state_dir(),
        subject=f"consul remove-stale-peers at {client.address}",
        command="consul remove-stale-peers --apply",
        break_lock=break_lock,
        on_note=on_note,
    ):
        return _apply_removals(client, plan, settle_timeout, sleep)


def _apply_removals(
    client: ConsulClient, plan: list[Removal], settle_timeout: float, sleep: Callable[[float], None]
) -> list[RemovalOutcome]:
    outcomes = []
    for removal in plan:
        if removal.refused:
            outcomes.append(RemovalOutcome(removal, False, f"refused: {removal.refused}"))
            continue
        peer = removal.peer
        # Decide from the cluster as it is now, not as it was at plan time (the confirmation prompt, or the
        # wait for the lock, may have lasted minutes): a dead server that was restarted meanwhile is a
        # healthy voter again, and removing it takes away quorum.
        now = {r.peer.id: r for r in plan_removals(read_cluster_state(client))}
        fresh = now.get(peer.id)
        if fresh is None or fresh.refused:
            why = fresh.refused if fresh is not None else "its node is an alive member again"
            outcomes.append(RemovalOutcome(removal, False, f"not removed: no longer stale and dead ({why})"))
            continue
        if removal.action == "force-leave":
            client.force_leave(peer.node)
        else:
            client.remove_raft_peer(peer.id)
        state = _wait_gone(client, peer, settle_timeout, sleep)
        if any(p.id == peer.id for p in state.raft):
            # force-leave did not drop it from Raft in time: remove it by ID, as Consul's docs advise
            client.remove_raft_peer(peer.id)
            state = _wait_gone(client, peer, settle_timeout, sleep)
        if state.leader is None:
            raise UnsafePlan(
                f"after removing {peer.node or peer.id} the cluster has no leader; stopped, nothing else removed"
            )
        gone = not any(p.id == peer.id for p in state.raft)
        detail = "removed from raft" if gone else "still listed in raft"
        outcomes.append(RemovalOutcome(removal, gone, detail, state.failure_tolerance))
    return outcomes


def _wait_gone(client: ConsulClient, peer: RaftPeer, timeout: float, sleep: Callable[[float], None]) -> ClusterState:
    """Wait until `peer` has left the raft configuration; return the latest snapshot either way."""

    def observe() -> ClusterState | None:
        try:
            return read_cluster_state(client)
        except ClusterOpsError:
            return None

    def gone(state: ClusterState | None) -> Verdict:
        return Verdict(state is not None and all(p.id != peer.id for p in state.raft), "still a raft peer")

    try:
        result = wait_until(observe, gone, timeout=timeout, interval=0.5, what=f"{peer.id} to leave", sleep=sleep)
        if result.observation is not None:
            return result.observation
    except GateTimeout:
        pass
    return read_cluster_state(client)
