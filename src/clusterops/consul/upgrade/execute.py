"""Run an upgrade plan: snapshot, then one server at a time, each behind a gate; journal every step.

The executor is the imperative shell around pure pieces: the plan (`plan.py`), the judges below
(pure functions of a ClusterState) and the one wait primitive. On any failure it stops, touches no
other server and says which server and which condition; `rollback_on_failure` starts a server
whose gate failed again on its previous version and gates the cluster healthy again.

It decides from the cluster as it is now, never from a stale view:
- before each server it reads the cluster again; whoever leads now goes last (`next_order`);
- before every stop it asks each other server directly (its own HTTP API answering with its own
  raft view, its RPC port accepting TCP) over several observations spaced apart, on top of the
  leader's serf and autopilot views, which lag seconds behind a server that just died or hung;
- each gate looks at every server directly at every poll, and holds for at least autopilot's
  health refresh interval, so it cannot pass on autopilot data older than its window;
- a stop request (SIGINT/SIGTERM through `UpgradeOptions.stop`) is honoured only at a safe point:
  between servers, never with a server down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast

from clusterops.consul.autopilot_facts import NON_VOTER_TYPES
from clusterops.consul.checks import stale_peers
from clusterops.consul.inventory import Inventory, InventoryServer
from clusterops.consul.snapshot import SnapshotInfo, save_snapshot
from clusterops.consul.state import ClusterState
from clusterops.consul.upgrade.drivers import NodeDriver, driver_for
from clusterops.consul.upgrade.plan import Plan, Step
from clusterops.consul.upgrade.reader import ClusterReader
from clusterops.consul.version import Version, same_version
from clusterops.errors import ClusterOpsError, GateTimeout, UnsafePlan
from clusterops.journal import Journal
from clusterops.wait import Verdict, wait_until

JOURNAL_KIND = "upgrade"
IN_PROGRESS = ("stopping", "stopped", "starting", "started", "gating", "failed", "rolled-back")
# Consul refreshes autopilot's server health every 2 s (agent/consul/config.go ServerHealthInterval,
# an internal setting operators do not change): a gate window shorter than that could pass on a view
# older than the window.
HEALTH_REFRESH = 2.0


class UpgradeFailed(ClusterOpsError):
    """A step failed; the upgrade stopped and no other server was touched."""

    exit_code = 1


@dataclass(frozen=True)
class UpgradeOptions:
    target: str
    gate_timeout: float = 300.0
    stable_window: float = 0.0  # a floor for the gate's window; server_stabilization_time otherwise
    interval: float = 0.5
    pre_step_grace: float = 15.0  # how long a pre-step regression may take to clear before we halt
    rollback_on_failure: bool = False
    snapshot: bool = True
    resume_start_grace: float = 30.0  # on --resume, how long a server caught "starting" may take to answer
    probe_spacing: float = 1.0  # direct checks before a stop must hold over at least this long
    # set (by the CLI's SIGINT/SIGTERM handler) to stop at the next safe point
    stop: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


class UpgradeStopped(ClusterOpsError):
    """The caller asked the run to stop (`should_stop`); it stopped between two servers."""

    exit_code = 1


Event = dict[str, Any]


@dataclass
class Tracker:
    """Leader changes seen across every observation of the run: a new leader, or the same server
    elected again in a new term (a restarted leader that wins the next election)."""

    leader: tuple[str, int] | None = None
    leader_node: str = ""
    changes: int = 0
    history: list[str] = field(default_factory=list)

    def observe(self, state: ClusterState) -> None:
        self.see(state.leader_term, state.leader.node if state.leader else "")

    def see(self, key: tuple[str, int] | None, node: str = "") -> None:
        """One observation of (leader, term); None (no leader seen) changes nothing."""
        if key is None:
            return
        node = node or key[0]
        if self.leader is not None and key != self.leader:
            self.changes += 1
            self.history.append(node)
        self.leader, self.leader_node = key, node


class Interrupted(ClusterOpsError):
    """A stop was requested (Ctrl-C, SIGTERM); the run stopped at a safe point, every server up."""

    exit_code = 1


class _Regression(Exception):
    """Another server failed while one was being upgraded."""


class _LeaderMoved(Exception):
    """Leadership moved onto the server about to be stopped while others still wait: reorder."""


S = TypeVar("S")


class DirectLook(Protocol):
    """One direct look at one node (Consul: `reader.Probe`): ok, or what is wrong with it."""

    @property
    def ok(self) -> bool: ...

    @property
    def problem(self) -> str: ...


class UpgradeAdapter(Protocol[S]):
    """What the one executor asks of a product (Consul, Vault/OpenBao): every read, judgement and
    product-specific action, over the product's own cluster snapshot type S. Verdicts are pure
    functions of S; the rest are the only places the executor talks to the servers."""

    kind: str  # the CLI group: "consul" or "vault" (remedies name `clusterops KIND upgrade`)
    leader_role: str  # the role of the node that goes last ("leader", "active")
    other_role: str  # everyone else ("follower", "standby")

    def read(self, exclude: frozenset[str]) -> S: ...
    def leader_key(self, state: S) -> tuple[str, int] | None: ...
    def on_version(self, state: S, version: str) -> set[str]: ...
    def node_back(self, state: S, node: str, version: str) -> Verdict: ...

    def plan_roles(self, roles: dict[str, str]) -> None: ...
    def cluster_ok(self, state: S, baseline_ft: int) -> Verdict: ...
    def failed_others(self, state: S, node: str) -> list[str]: ...
    def stabilization_time(self, state: S) -> float | None: ...
    def gate_values(self, state: S, node: str) -> dict[str, Any]: ...
    def probe_all(self, state: S | str, nodes: frozenset[str]) -> Sequence[DirectLook]: ...
    def node_version(self, node: str) -> str: ...
    def hand_over(self, node: str, from_version: str, to_version: str) -> str: ...
    def after_start(self, node: str) -> None: ...
    def snapshot(self, path: Path, leader: str) -> tuple[Any, dict[str, Any]]: ...


@dataclass(frozen=True)
class Observation(Generic[S]):
    """One look at the cluster: the snapshot read through any server (or why it could not be
    read), and the direct probes of the servers asked for."""

    state: S | str
    probes: tuple[DirectLook, ...] = ()


def gate_window(requested: float, stabilization: float | None) -> float:
    """How long a gate must hold (pure): --stable-window or server_stabilization_time (10 s when
    unknown), whichever is longer, and never less than autopilot's health refresh interval."""
    return max(requested, 10.0 if stabilization is None else stabilization, HEALTH_REFRESH)


def next_order(pending: list[str], leader: str | None, upgraded: set[str]) -> list[str]:
    """The servers still to do, the current leader last (pure). When the leader is already
    upgraded, the order is kept; a leader that moved to a server not yet upgraded goes last."""
    if leader is None or leader not in pending or leader in upgraded:
        return list(pending)
    return [n for n in pending if n != leader] + [leader]


def failed_others(state: ClusterState, node: str) -> list[str]:
    """Voters other than `node` that serf reports failed or left: a health regression."""
    return [p.node for p in state.voters if p.node != node and state.serf_status(p) in ("failed", "left")]


def node_back_verdict(state: ClusterState, node: str, version: str, *, voter: bool = True) -> Verdict:
    """Is `node` back: a voter on `version` (or, for a server that is a non-voter by design - a read
    replica, a redundancy-zone standby - back as a non-voter), healthy by autopilot's criteria (same
    term as the leader, index within max_trailing_logs, last contact under the threshold)?"""
    if state.leader is None:
        return Verdict(False, "no leader")
    peer = next((p for p in state.raft if p.node == node), None)
    if peer is None:
        return Verdict(False, f"{node} is not in the raft configuration yet")
    if voter and not peer.voter:
        return Verdict(False, f"{node} is a non-voter (autopilot promotes it after server_stabilization_time)")
    reported = state.version_of(peer)
    if not same_version(reported, version):
        return Verdict(False, f"{node} reports version {reported or '?'}, not {version}")
    health = state.health_of(peer)
    if health is None or not health.healthy:
        return Verdict(False, f"{node} is not healthy yet (term, index or last contact)")
    return Verdict(True)


def node_verdict(state: ClusterState, node: str, target: str, baseline_ft: int) -> Verdict:
    """The per-server gate: `node` back on `target` and the cluster as tolerant as before. The
    gate requires this to hold for server_stabilization_time."""
    back = node_back_verdict(state, node, target)
    return back if not back.ok else cluster_verdict(state, baseline_ft)


def cluster_verdict(state: ClusterState, baseline_ft: int) -> Verdict:
    """Cluster-wide conditions that must hold before and after every step."""
    if state.leader is None:
        return Verdict(False, "no leader")
    stale = stale_peers(state)
    if stale:
        return Verdict(False, "stale or dead raft peers: " + ", ".join(f"{s.peer.node} ({s.reason})" for s in stale))
    unhealthy = [p.node for p in state.voters if not state.voter_is_healthy(p)]
    if unhealthy:
        return Verdict(False, f"voters not healthy: {', '.join(unhealthy)}")
    if state.failure_tolerance < baseline_ft:
        return Verdict(False, f"failure tolerance {state.failure_tolerance} is below its pre-upgrade {baseline_ft}")
    return Verdict(True)


@dataclass
class Upgrader(Generic[S]):
    inventory: Inventory
    reader: ClusterReader | None
    options: UpgradeOptions
    journal: Journal
    on_event: Callable[[Event], None] = lambda e: None
    driver_factory: Callable[[InventoryServer], NodeDriver] = driver_for
    tracker: Tracker = field(default_factory=Tracker)
    # Asked before each server is touched (a safe point: every earlier server is done and gated);
    # True stops the run there, journaled and resumable. A playbook step's deadline uses it.
    should_stop: Callable[[], bool] = lambda: False
    # Called with the pre-upgrade snapshot once it is saved, before any server is touched; raising
    # stops the run there (`upgrade --restore-test` restores it into a throwaway server first).
    after_snapshot: Callable[[Any], None] = lambda info: None
    # everything product-specific; None: Consul, through `reader`
    adapter: UpgradeAdapter[S] = field(default=cast(Any, None))

    def __post_init__(self) -> None:
        if self.adapter is None:
            self.adapter = cast(Any, ConsulAdapter(self.reader))

    # -- plumbing -----------------------------------------------------------------------------

    def emit(self, event: str, **data: Any) -> None:
        payload = {"event": event, "t": time.time(), "run_id": self.journal.run_id, **data}
        self.on_event(payload)

    def stop_requested(self) -> bool:
        return self.options.stop.is_set()

    def read(self, exclude: frozenset[str] = frozenset()) -> S | str:
        try:
            state = self.adapter.read(exclude)
        except ClusterOpsError as err:
            return str(err).splitlines()[0][:200]
        self.tracker.see(self.adapter.leader_key(state))
        return state

    @property
    def command(self) -> str:
        return f"clusterops {self.adapter.kind} upgrade -i {self.inventory.path} --to {self.options.target}"

    def wait(
        self,
        what: str,
        judge: Callable[[S], Verdict],
        *,
        exclude: frozenset[str],
        timeout: float,
        stable_for: float = 0.0,
        probe: frozenset[str] = frozenset(),
    ) -> S:
        """Wait until `judge` holds for `stable_for`; with `probe`, every observation also asks
        those servers directly, and any that does not answer fails the observation."""
        last: list[str | None] = [None]  # the first verdict is always reported, an ok one too

        def verdict(obs: Observation[S]) -> Verdict:
            if isinstance(obs.state, str):
                v = Verdict(False, f"cannot read the cluster: {obs.state}")
            else:  # the judge first: it may raise (a regression, a leader that moved)
                problems = [p.problem for p in obs.probes if not p.ok]
                judged = judge(obs.state)
                problems += [] if judged.ok else [judged.reason]
                v = Verdict(not problems, "; ".join(problems))
            if v.reason != last[0]:
                last[0] = v.reason
                self.emit("waiting", what=what, reason=v.reason or "ok")
            return v

        result = wait_until(
            lambda: self.observe(exclude, probe),
            verdict,
            timeout=timeout,
            stable_for=stable_for,
            interval=self.options.interval,
            what=what,
        )
        state = result.observation.state
        assert not isinstance(state, str)
        return state

    def observe(self, exclude: frozenset[str], probe: frozenset[str]) -> Observation[S]:
        state = self.read(exclude)
        if not probe:
            return Observation(state)
        return Observation(state, tuple(self.adapter.probe_all(state, probe)))

    def others(self, server: str) -> frozenset[str]:
        return frozenset(n for n in self.inventory.names if n != server)

    # -- the run ------------------------------------------------------------------------------

    def take_snapshot(self, state_dir: Path) -> None:
        if not self.options.snapshot or self.journal.doc.get("snapshot"):
            return
        path = self.journal.path.parent / f"{self.journal.run_id}.snap"  # beside the journal
        leader = self.tracker.leader_node or self.inventory.servers[0].name
        info, doc = self.adapter.snapshot(path, leader)
        self.journal.set(snapshot=doc)
        self.emit("snapshot", path=doc["path"], bytes=doc["bytes"], index=doc["index"], term=doc["term"])
        self.after_snapshot(info)

    def run(self, plan: Plan, state_dir: Path) -> dict[str, Any]:
        started = time.time()
        self.adapter.plan_roles({s.server: s.role for s in plan.steps})
        baseline = int(self.journal.params.get("baseline_failure_tolerance", plan.baseline_failure_tolerance))
        self.emit("start", target=self.options.target, steps=[s.server for s in plan.steps], baseline_ft=baseline)
        try:
            self.take_snapshot(state_dir)
            pending: list[Step] = []
            for step in plan.steps:
                status = self.journal.step(step.server)["status"]
                if status == "done" or step.action == "skip":
                    if status != "done":
                        self.journal.mark(step.server, "skipped", reason=f"already on {step.to_version}")
                    self.emit("skip", server=step.server, reason="done" if status == "done" else "already on target")
                    continue
                pending.append(step)
            while pending:
                if self.should_stop():
                    raise UpgradeStopped(
                        f"stopped at a safe point before {pending[0].server}: asked to stop (a deadline passed); "
                        "every server before it is done and gated; continue with --resume"
                    )
                self.check_stop([s.server for s in pending])
                pending = self.reorder(pending)
                try:
                    self.run_step(pending[0], baseline, last=len(pending) == 1)
                except _LeaderMoved as moved:  # nothing was touched: decide the order again
                    self.emit("leader-moved", server=str(moved), reason="it leads now; it goes last")
                    continue
                pending.pop(0)
        except Interrupted as err:
            self.journal.finish("aborted", error=str(err), leader_changes=self.tracker.changes)
            self.emit("interrupted", message=str(err))
            raise
        except ClusterOpsError as err:
            self.journal.finish("failed", error=str(err), leader_changes=self.tracker.changes)
            self.emit("failed", error=str(err))
            raise
        self.journal.finish("done", leader_changes=self.tracker.changes, elapsed=time.time() - started)
        report = self.report()
        self.emit("done", report=report)
        return report

    def check_stop(self, todo: list[str]) -> None:
        """A safe point: every server is up (and gated). Stop here if a stop was requested."""
        if not self.stop_requested():
            return
        done = [s["id"] for s in self.journal.steps() if s["status"] == "done"]
        where = f"after {done[-1]}" if done else "before the first server"
        raise Interrupted(
            f"stopped on request at a safe point ({where}); every server is up; "
            f"not yet upgraded: {', '.join(todo)}\n"
            f"resume with: {self.command} --resume"
        )

    def reorder(self, pending: list[Step]) -> list[Step]:
        """Read the cluster now: whoever leads now goes last. Emits why when the order changes."""
        obs = self.read()
        if isinstance(obs, str):
            return pending  # the pre-stop check will wait for (or halt on) an unreadable cluster
        key = self.adapter.leader_key(obs)
        leader = key[0] if key else None
        upgraded = self.adapter.on_version(obs, self.options.target)
        names = next_order([s.server for s in pending], leader, upgraded)
        by_name = {s.server: s for s in pending}
        roles = (self.adapter.leader_role, self.adapter.other_role)
        order = [  # a non-voter by design keeps its role: it is gated as what it is
            by_name[n]
            if by_name[n].role in NON_VOTER_TYPES
            else replace(by_name[n], role=roles[0] if n == leader else roles[1])
            for n in names
        ]
        if names != [s.server for s in pending] or any(a.role != b.role for a, b in zip(order, pending, strict=True)):
            reason = (
                f"{leader} leads now and is not on {self.options.target} yet, so it goes last"
                if leader in by_name
                else f"leadership moved to {leader}, already on {self.options.target}; the order stands"
            )
            self.emit("reorder", order=names, leader=leader, reason=reason)
        return order

    def confirm_before_stop(self, step: Step, baseline: int, *, last: bool) -> S:
        """Before a stop: the cluster whole (read through the leader) AND every other server
        answering directly, over observations spaced `probe_spacing` apart. Halts (nothing
        touched) naming the server when that does not hold within pre_step_grace."""

        def judge(state: S) -> Verdict:
            verdict = self.adapter.cluster_ok(state, baseline)
            key = self.adapter.leader_key(state)
            if verdict.ok and not last and key is not None and key[0] == step.server:
                raise _LeaderMoved(step.server)
            return verdict

        try:
            return self.wait(
                f"every other server answering before {step.server} stops",
                judge,
                exclude=frozenset(),
                timeout=self.options.pre_step_grace,
                stable_for=self.options.probe_spacing,
                probe=self.others(step.server),
            )
        except GateTimeout as err:
            raise UnsafePlan(f"halted before {step.server}: {err}; no server was touched") from None

    def run_step(self, step: Step, baseline: int, *, last: bool = True) -> None:
        server = self.inventory.server(step.server)
        assert server is not None
        driver = self.driver_factory(server)
        entry = self.journal.step(step.server)
        recorded = entry.get("data") or {}
        if recorded.get("from_version"):  # a resumed step: the version it ran before this run touched it
            step = replace(step, from_version=str(recorded["from_version"]))
        resumed = entry["status"] in IN_PROGRESS
        t0 = time.time()
        found = self._resume_state(step, entry["status"]) if resumed else "fresh"
        if found == "back":
            self.emit("resume-check", server=step.server, result=f"answers on {step.to_version}; gating")
            try:  # Vault: a node restarted by the killed run may still be sealed
                self.adapter.after_start(step.server)
            except ClusterOpsError as err:  # the gate says what is left
                self.emit("waiting", what=f"{step.server} after its start", reason=str(err).splitlines()[0])
        elif found == "down":
            # Killed while this server was stopped or starting: it is still down. Bring it up on the
            # target (the others must answer first), without stopping anything.
            self.emit("resume-check", server=step.server, result=f"down; starting it on {step.to_version}")
            self._wait_others(step)
            self._switch_and_start(step, driver, server, t0)
        else:
            if found == "old":
                self.emit("resume-check", server=step.server, result=f"still on {step.from_version}; a full step")
            self.confirm_before_stop(step, baseline, last=last)
            if step.role == self.adapter.leader_role:
                how = self.adapter.hand_over(step.server, step.from_version, step.to_version)
                self.emit("leader-step", server=step.server, how=how)
            self.check_stop([step.server])  # a stop requested during the checks: nothing is down yet
            self.journal.mark(step.server, "stopping", from_version=step.from_version, to_version=step.to_version)
            self.emit("stopping", server=step.server, role=step.role)
            driver.stop(server)
            self.journal.mark(step.server, "stopped", t_stop=time.time() - t0)
            self._switch_and_start(step, driver, server, t0)
        self.journal.mark(step.server, "gating")
        window = self.stable_window()
        self.emit("gating", server=step.server, stable_for=window)

        def gate(state: S) -> Verdict:
            others = self.adapter.failed_others(state, step.server)
            if others:
                raise _Regression(", ".join(others))
            back = self.adapter.node_back(state, step.server, step.to_version)
            return back if not back.ok else self.adapter.cluster_ok(state, baseline)

        try:
            state = self.wait(
                f"{step.server} back on {step.to_version}",
                gate,
                exclude=frozenset(),
                timeout=self.options.gate_timeout,
                stable_for=window,
                probe=frozenset(self.inventory.names),
            )
        except GateTimeout as err:
            self._fail(step, driver, server, f"{step.server} failed its gate: {err}", down=False)
        except _Regression as failed:
            self._halt_on_regression(step, str(failed))
        gate_values = self.adapter.gate_values(state, step.server)
        self.journal.mark(
            step.server, "done", t_total=time.time() - t0, gate=gate_values, leader_changes=self.tracker.changes
        )
        self.emit("done-server", server=step.server, seconds=round(time.time() - t0, 2), gate=gate_values)

    def _switch_and_start(self, step: Step, driver: NodeDriver, server: InventoryServer, t0: float) -> None:
        try:
            driver.switch(server, step.to_version)
            self.journal.mark(step.server, "starting")
            self.emit("starting", server=step.server, version=step.to_version)
            driver.start(server, step.to_version)
            self.adapter.after_start(step.server)  # Vault: unseal; a node left sealed fails its gate
        except ClusterOpsError as err:  # the server is down now: fail (and roll back if asked)
            reason = f"{step.server} did not start on {step.to_version}: {err}"
            self._fail(step, driver, server, reason, down=True)
        self.journal.mark(step.server, "started", t_start=time.time() - t0)

    def _resume_state(self, step: Step, status: str) -> str:
        """Where a half-done server is, asked directly (a read, so it may be repeated): `back` (it
        answers on the target), `old` (it answers on its old version: do the whole step), `down`."""
        deadline = time.monotonic() + (self.options.resume_start_grace if status == "starting" else 0.0)
        while True:
            version = self.adapter.node_version(step.server)
            if version:  # its agent answers, on some version
                return "back" if same_version(version, step.to_version) else "old"
            if time.monotonic() >= deadline:  # a start cut short by a kill may still be coming up
                break
            time.sleep(self.options.interval)
        return "back" if self._already_back(step) else "down"

    def _wait_others(self, step: Step) -> None:
        """Before starting a server that is already down: every other server answers, directly."""
        try:
            self.wait(
                f"every other server answering before {step.server} starts",
                lambda s: Verdict(self.adapter.leader_key(s) is not None, "no leader"),
                exclude=frozenset({step.server}),
                timeout=self.options.pre_step_grace,
                stable_for=self.options.probe_spacing,
                probe=self.others(step.server),
            )
        except GateTimeout as err:
            raise UnsafePlan(
                f"halted: {step.server} is down (stopped by an earlier run) and another server is not well: {err}\n"
                f"{step.server} was not started; fix the other server, then --resume"
            ) from None

    def stable_window(self) -> float:
        """How long a rejoined server must hold every condition: the cluster's
        server_stabilization_time, or our own --stable-window if that is longer, and never less
        than autopilot's health refresh interval (so no gate passes on a view older than it)."""
        obs = self.read()
        stabilization = None if isinstance(obs, str) else self.adapter.stabilization_time(obs)
        return gate_window(self.options.stable_window, stabilization)

    def _wait_back(self, node: str, version: str) -> S:
        """Wait for `node` alone to be back on `version` (the rest of the cluster is not judged)."""
        return self.wait(
            f"{node} back on {version}",
            lambda s: self.adapter.node_back(s, node, version),
            exclude=frozenset(),
            timeout=self.options.gate_timeout,
        )

    def _halt_on_regression(self, step: Step, failed: str) -> None:
        """Another server failed mid-step: let this server finish rejoining, then stop the run."""
        self.emit("regression", server=step.server, failed=failed)
        try:
            self._wait_back(step.server, step.to_version)
            where = f"{step.server} is back on {step.to_version}"
            self.journal.mark(step.server, "done", note=f"rejoined while {failed} failed")
        except GateTimeout as err:
            where = f"{step.server} did not rejoin either: {err}"
            self.journal.mark(step.server, "failed", reason=where)
        raise UnsafePlan(
            f"halted before the next server: {failed} failed while {step.server} was being upgraded; {where}; "
            "no further server was touched"
        )

    def _already_back(self, step: Step) -> bool:
        obs = self.read()
        return not isinstance(obs, str) and self.adapter.node_back(obs, step.server, step.to_version).ok

    def _fail(self, step: Step, driver: NodeDriver, server: InventoryServer, reason: str, *, down: bool) -> None:
        """The step failed (a start that failed, or a gate that never passed): stop the run. With
        rollback_on_failure, put the server back on its previous version whenever that happened
        (a server that answers but never became a healthy voter is rolled back too), then gate
        the whole cluster healthy again."""
        self.journal.mark(step.server, "failed", reason=reason)
        self.emit("server-failed", server=step.server, reason=reason)
        back = (
            f"{self.command} --resume "
            f"(starts it on {step.to_version} again), or start it on {step.from_version} with your driver"
        )
        if not self.options.rollback_on_failure:
            state = (
                f"{step.server} is DOWN (this run stopped it); bring it back with: {back}"
                if down
                else f"{step.server} is left running {step.to_version}; --rollback-on-failure would restart it "
                f"on {step.from_version}"
            )
            raise UpgradeFailed(f"{reason}\n{state}\nno other server was touched")
        self.emit("rollback", server=step.server, version=step.from_version)
        try:  # each driver command once: a failed one is reported, never retried blindly
            if not down:
                driver.stop(server)
            driver.switch(server, step.from_version)
            driver.start(server, step.from_version)
            self.adapter.after_start(step.server)
            self._wait_back(step.server, step.from_version)
            baseline = int(self.journal.params.get("baseline_failure_tolerance", 0))
            self.wait(
                f"cluster healthy after rolling {step.server} back",
                lambda s: self.adapter.cluster_ok(s, baseline),
                exclude=frozenset(),
                timeout=self.options.gate_timeout,
                stable_for=self.stable_window(),
                probe=frozenset(self.inventory.names),
            )
        except ClusterOpsError as err:
            self.journal.mark(step.server, "failed", reason=reason, rollback_error=str(err))
            raise UpgradeFailed(
                f"{reason}\nrollback of {step.server} to {step.from_version} failed too: {err}\n"
                f"{step.server} may be down; bring it back on {step.from_version} with your driver; "
                "no other server was touched"
            ) from None
        self.journal.mark(step.server, "rolled-back", version=step.from_version)
        raise UpgradeFailed(
            f"{reason}\n{step.server} was rolled back to {step.from_version} and the cluster is healthy again; "
            "no other server was touched"
        )

    def report(self) -> dict[str, Any]:
        doc = self.journal.doc
        return {
            "run_id": self.journal.run_id,
            "target": self.options.target,
            "status": doc["status"],
            "snapshot": doc.get("snapshot"),
            "leader_changes": self.tracker.changes,
            "elapsed": doc.get("elapsed"),
            "steps": [{"server": s["id"], "status": s["status"], **s["data"]} for s in doc["steps"]],
        }


def supports_leader_transfer(version: str) -> bool:
    """`/v1/operator/raft/transfer-leader` exists from Consul 1.15 on."""
    parsed = Version.reported(version)
    return parsed is not None and parsed.at_least(1, 15)


@dataclass
class ConsulAdapter:
    """The Consul answers of the executor: reads and probes through `ClusterReader`, the verdicts
    above, transfer-leader (>= 1.15) and a checked snapshot through the leader."""

    reader: ClusterReader | None
    non_voters: frozenset[str] = frozenset()  # servers that are non-voters by design (from the plan)

    kind = "consul"
    leader_role = "leader"
    other_role = "follower"

    @property
    def _reader(self) -> ClusterReader:
        assert self.reader is not None, "the Consul adapter needs a ClusterReader"
        return self.reader

    def read(self, exclude: frozenset[str]) -> ClusterState:
        return self._reader.read(exclude)

    def leader_key(self, state: ClusterState) -> tuple[str, int] | None:
        """(leader node, term): a new leader, or the same one elected again in a new term."""
        key = state.leader_term
        return None if key is None or state.leader is None else (state.leader.node, key[1])

    def on_version(self, state: ClusterState, version: str) -> set[str]:
        return {p.node for p in state.raft if same_version(state.version_of(p), version)}

    def node_back(self, state: ClusterState, node: str, version: str) -> Verdict:
        return node_back_verdict(state, node, version, voter=node not in self.non_voters)

    def plan_roles(self, roles: dict[str, str]) -> None:
        """The plan's role per server: read replicas and zone standbys are gated as non-voters."""
        self.non_voters = frozenset(n for n, role in roles.items() if role in NON_VOTER_TYPES)

    def cluster_ok(self, state: ClusterState, baseline_ft: int) -> Verdict:
        return cluster_verdict(state, baseline_ft)

    def failed_others(self, state: ClusterState, node: str) -> list[str]:
        return failed_others(state, node)

    def stabilization_time(self, state: ClusterState) -> float | None:
        return state.autopilot.server_stabilization_time if state.autopilot else None

    def gate_values(self, state: ClusterState, node: str) -> dict[str, Any]:
        peer = next(p for p in state.raft if p.node == node)
        health = state.health_of(peer)
        return {
            "voters": len(state.voters),
            "failure_tolerance": state.failure_tolerance,
            "leader": state.leader.node if state.leader else "",
            "index_lag": state.index_lag(peer),
            "last_contact_ms": None if health is None or health.last_contact is None else health.last_contact * 1000,
        }

    def probe_all(self, state: ClusterState | str, nodes: frozenset[str]) -> list[DirectLook]:
        rpc = {p.node: p.address for p in state.raft} if isinstance(state, ClusterState) else {}
        autopilot = state.autopilot if isinstance(state, ClusterState) else None
        max_contact = max(2.0, 2 * autopilot.last_contact_threshold) if autopilot else 2.0
        return list(self._reader.probe_all({n: rpc.get(n, "") for n in nodes}, max_contact=max_contact))

    def node_version(self, node: str) -> str:
        return self._reader.probe(node).version

    def after_start(self, node: str) -> None:
        """Nothing: a Consul server needs no help after its start."""

    def snapshot(self, path: Path, leader: str) -> tuple[SnapshotInfo, dict[str, Any]]:
        info = save_snapshot(self._reader.client(leader), path)
        return info, dict(info.__dict__)

    def _read(self) -> ClusterState | str:
        try:
            return self._reader.read(frozenset())
        except ClusterOpsError as err:
            return str(err).splitlines()[0][:200]

    def hand_over(self, node: str, from_version: str, to_version: str) -> str:
        """Move leadership to an upgraded server where Consul supports it (>= 1.15). Otherwise the
        old leader's restart triggers an election among the other servers, which are all upgraded
        by then because the leader goes last."""
        if not supports_leader_transfer(from_version):
            return "restart (transfer-leader needs Consul >= 1.15)"
        obs = self._read()
        if not isinstance(obs, ClusterState):
            return f"restart (cluster unreadable: {obs})"
        upgraded = [p for p in obs.voters if p.node != node and same_version(obs.version_of(p), to_version)]
        if not upgraded:
            return "restart (no upgraded voter to transfer to)"
        to = sorted(upgraded, key=lambda p: p.node)[0]
        how = f"transfer-leader to {to.node}"
        try:
            self._reader.client(node).transfer_leader(to.id)
        except ClusterOpsError as err:  # a write with an unclear result: never repeated, re-read instead
            how = f"transfer-leader unclear ({err}); reading again"
        wait_until(
            self._read,
            lambda s: Verdict(
                not isinstance(s, str) and s.leader is not None and s.leader.node != node, "leader not moved yet"
            ),
            timeout=60,
            interval=0.5,
            what=f"leadership to move off {node}",
        )
        return how
