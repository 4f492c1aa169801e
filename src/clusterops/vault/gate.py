"""The Vault / OpenBao gate: a pure verdict over one cluster snapshot, and the wait that holds it.

Safe to touch the next node means: an active node; every node answers unsealed; no dead raft peer;
every voter healthy by autopilot and autopilot healthy; failure tolerance at least the minimum;
the expected number of voters; every node on the expected version; all of it held for `stable_for`
(by default autopilot's own server_stabilization_time, read from the server).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from clusterops.vault.checks import dead_voters
from clusterops.vault.client import RaftClient
from clusterops.vault.state import NodeTarget, VaultClusterState, read_vault_state
from clusterops.wait import Verdict, wait_until


@dataclass(frozen=True)
class GateSpec:
    min_failure_tolerance: int = 1
    expect_voters: int | None = None
    expect_version: str | None = None
    stable_for: float | None = None  # None: autopilot's server_stabilization_time
    timeout: float = 300.0
    interval: float = 1.0


@dataclass(frozen=True)
class GateResult:
    active: str
    voters: int
    failure_tolerance: int
    elapsed: float
    stable_for: float


def judge(state: VaultClusterState, spec: GateSpec) -> Verdict:
    """The first condition that fails, or ok."""
    active = state.active
    if active is None:
        return Verdict(False, "no active node")
    for n in state.nodes:
        if not n.reachable:
            return Verdict(False, f"{n.name} does not answer")
        if not n.unsealed:
            return Verdict(False, f"{n.name} is {n.role}")
    if state.errors:
        return Verdict(False, f"raft state unreadable: {state.errors[0]}")
    dead = dead_voters(state)
    if dead:
        return Verdict(False, f"dead raft peer {dead[0].server.node_id}: {dead[0].reason}")
    for s in state.voters:
        ap = state.autopilot(s.node_id)
        if ap is None or not ap.healthy:
            return Verdict(False, f"voter {s.node_id} is not healthy by autopilot")
    if state.autopilot_healthy is False:
        return Verdict(False, "autopilot reports the cluster unhealthy")
    if state.non_voters:
        return Verdict(False, f"{state.non_voters[0].node_id} is not a voter yet")
    if spec.expect_voters is not None and len(state.voters) != spec.expect_voters:
        return Verdict(False, f"{len(state.voters)} voters, want {spec.expect_voters}")
    if state.failure_tolerance < spec.min_failure_tolerance:
        return Verdict(False, f"failure tolerance {state.failure_tolerance} < {spec.min_failure_tolerance}")
    if spec.expect_version:
        for n in state.nodes:
            if n.version != spec.expect_version:
                return Verdict(False, f"{n.name} runs {n.version or '?'}, want {spec.expect_version}")
    return Verdict(True)


def run_gate(
    client: RaftClient,
    targets: Sequence[NodeTarget],
    spec: GateSpec,
    *,
    on_poll: Callable[[VaultClusterState, Verdict], None] | None = None,
) -> GateResult:
    """Poll until `judge` holds for the stable window; GateTimeout naming the last failure otherwise."""
    stable_for = spec.stable_for
    if stable_for is None:
        first = read_vault_state(client, targets)
        cfg = first.autopilot_config
        stable_for = cfg.server_stabilization_time if cfg is not None else 10.0
    result = wait_until(
        lambda: read_vault_state(client, targets),
        lambda s: judge(s, spec),
        timeout=spec.timeout,
        stable_for=stable_for,
        interval=spec.interval,
        what="the Vault gate",
        on_poll=on_poll,
    )
    state = result.observation
    active = state.active
    return GateResult(
        active=active.name if active else "",
        voters=len(state.voters),
        failure_tolerance=state.failure_tolerance,
        elapsed=result.elapsed,
        stable_for=stable_for,
    )
