"""The "safe to proceed" gate: conditions over ClusterState observations, held for a window.

`GateSpec` says what must hold; `GateJudge` is a pure, stateful judge over successive snapshots
(it remembers the leader, so a leader change resets the window); `run_gate` is the loop that
reads the real cluster through the one wait primitive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clusterops.consul.checks import leader_changes, stale_peers
from clusterops.consul.state import ClusterState, read_cluster_state
from clusterops.errors import AuthError, ClusterOpsError
from clusterops.wait import Verdict, WaitResult, wait_until

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient


@dataclass(frozen=True)
class GateSpec:
    min_failure_tolerance: int = 1
    expect_servers: int | None = None
    expect_version: str | None = None
    stable_for: float = 10.0
    timeout: float = 300.0
    interval: float = 1.0


@dataclass
class GateJudge:
    """Judges one observation at a time; remembers the leader to catch changes."""

    spec: GateSpec
    leader_key: tuple[str, int] | None = None  # (raft ID, term)
    leader_changes: int = 0  # counted once per new term (see checks.leader_changes)
    history: list[str] = field(default_factory=list)
    _last_led: ClusterState | None = None

    def __call__(self, obs: ClusterState | str) -> Verdict:
        if isinstance(obs, str):  # the cluster could not be read
            return Verdict(False, f"cannot read the cluster: {obs}")
        return self.judge(obs)

    def judge(self, state: ClusterState) -> Verdict:
        spec = self.spec
        leader = state.leader
        if leader is None:
            alive = f"{len(state.alive_voters)} of {len(state.voters)} voters alive"
            if state.quorum_lost:
                return Verdict(False, f"no leader: quorum lost ({alive}, a leader needs {state.quorum})")
            return Verdict(False, f"no leader ({alive})")
        if self._last_led is not None:
            new = leader_changes([self._last_led, state])
            self.leader_changes += len(new)
            self.history.extend(leader.node for _ in new)
        self._last_led = state
        key = state.leader_term
        if self.leader_key is not None and key != self.leader_key:
            # any change of (leader, term) restarts the window, even one a lagging term shows late
            self.leader_key = key
            return Verdict(False, f"leader changed to {leader.node} (a new term)")
        self.leader_key = key
        stale = stale_peers(state)
        if stale:
            names = ", ".join(f"{s.peer.node or s.peer.id} ({s.reason})" for s in stale)
            return Verdict(False, f"stale or dead raft peers: {names}")
        voters = state.voters
        if spec.expect_servers is not None and len(voters) != spec.expect_servers:
            names = ", ".join(sorted(p.node for p in voters))
            return Verdict(False, f"{len(voters)} voters ({names}), expected {spec.expect_servers}")
        unhealthy = [p.node for p in voters if not state.voter_is_healthy(p)]
        if unhealthy:
            return Verdict(False, f"voters not healthy: {', '.join(unhealthy)}")
        if state.autopilot_healthy is False:
            return Verdict(False, "autopilot reports Healthy=false")
        if spec.expect_version:
            off = [
                f"{p.node}={state.version_of(p) or '?'}" for p in voters if state.version_of(p) != spec.expect_version
            ]
            if off:
                return Verdict(False, f"not on {spec.expect_version}: {', '.join(off)}")
        if state.failure_tolerance < spec.min_failure_tolerance:
            return Verdict(False, f"failure tolerance {state.failure_tolerance} < minimum {spec.min_failure_tolerance}")
        return Verdict(True)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    elapsed: float
    polls: int
    leader: str
    leader_changes: int
    failure_tolerance: int
    voters: int
    reason: str = ""


def run_gate(
    client: ConsulClient,
    spec: GateSpec,
    *,
    on_poll: Callable[[ClusterState | str, Verdict], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> GateResult:
    """Block until the spec holds for `stable_for` seconds; raises GateTimeout naming the condition.

    `spec.timeout` is a deadline for the whole gate: every request is bounded by the time left, so
    a hung agent or a leaderless cluster cannot hold the gate past it.
    """
    judge = GateJudge(spec)

    def observe() -> ClusterState | str:
        try:
            return read_cluster_state(client)
        except ClusterOpsError as err:
            if isinstance(err, AuthError):
                raise  # a missing permission will not fix itself by waiting
            return str(err).splitlines()[0]

    with client.deadline(spec.timeout):
        result: WaitResult[ClusterState | str] = wait_until(
            observe,
            judge,
            timeout=spec.timeout,
            stable_for=spec.stable_for,
            interval=spec.interval,
            what="consul gate",
            on_poll=on_poll,
            sleep=sleep or time.sleep,
        )
    state = result.observation
    assert isinstance(state, ClusterState)
    leader = state.leader
    return GateResult(
        passed=True,
        elapsed=result.elapsed,
        polls=result.polls,
        leader=leader.node if leader else "",
        leader_changes=judge.leader_changes,
        failure_tolerance=state.failure_tolerance,
        voters=len(state.voters),
    )
