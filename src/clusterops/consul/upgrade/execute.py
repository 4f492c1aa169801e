"""Run an upgrade plan: snapshot, then one server at a time, each behind a gate; journal every step.

The executor is the imperative shell around pure pieces: the plan (`plan.py`), the judges below
(pure functions of a ClusterState) and the one wait primitive. On any failure it stops, touches no
other server and says which server and which condition; `rollback_on_failure` starts a server
that did not rejoin again on its previous version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        leader, key = state.leader, state.leader_term
        if leader is None or key is None:
            return
        if self.leader is not None and key != self.leader:
            self.changes += 1
            self.history.append(leader.node)
        self.leader, self.leader_node = key, leader.node


class _Regression(Exception):
    """Another server failed while one was being upgraded."""


def failed_others(state: ClusterState, node: str) -> list[str]:
    """Voters other than `node` that serf reports failed or left: a health regression."""
    return [p.node for p in state.voters if p.node != node and state.serf_status(p) in ("failed", "left")]


def node_back_verdict(state: ClusterState, node: str, version: str) -> Verdict:
    """Is `node` back: a voter on `version`, healthy by autopilot's criteria (same term as the
    leader, index within max_trailing_logs, last contact under the threshold)?"""
    if state.leader is None:
        return Verdict(False, "no leader")
    peer = next((p for p in state.raft if p.node == node), None)
    if peer is None:
        return Verdict(False, f"{node} is not in the raft configuration yet")
    if not peer.voter:
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
class Upgrader:
    inventory: Inventory
    reader: ClusterReader
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
    after_snapshot: Callable[[SnapshotInfo], None] = lambda info: None

    # -- plumbing -----------------------------------------------------------------------------

    def emit(self, event: str, **data: Any) -> None:
        payload = {"event": event, "t": time.time(), "run_id": self.journal.run_id, **data}
        self.on_event(payload)

    def read(self, exclude: frozenset[str] = frozenset()) -> ClusterState | str:
        try:
            state = self.reader.read(exclude)
        except ClusterOpsError as err:
            return str(err).splitlines()[0][:200]
        self.tracker.observe(state)
        return state

    def wait(
        self,
        what: str,
        judge: Callable[[ClusterState], Verdict],
        *,
        exclude: frozenset[str],
        timeout: float,
        stable_for: float = 0.0,
    ) -> ClusterState:
        last: list[str] = [""]

        def verdict(obs: ClusterState | str) -> Verdict:
            v = Verdict(False, f"cannot read the cluster: {obs}") if isinstance(obs, str) else judge(obs)
            if v.reason != last[0]:
                last[0] = v.reason
                self.emit("waiting", what=what, reason=v.reason or "ok")
            return v

        result = wait_until(
            lambda: self.read(exclude),
            verdict,
            timeout=timeout,
            stable_for=stable_for,
            interval=self.options.interval,
            what=what,
        )
        assert isinstance(result.observation, ClusterState)
        return result.observation

    # -- the run ------------------------------------------------------------------------------

    def take_snapshot(self, state_dir: Path) -> None:
        if not self.options.snapshot or self.journal.doc.get("snapshot"):
            return
        path = state_dir / JOURNAL_KIND / f"{self.journal.run_id}.snap"
        leader = self.tracker.leader_node or self.inventory.servers[0].name
        info = save_snapshot(self.reader.client(leader), path)
        self.journal.set(snapshot=info.__dict__)
        self.emit("snapshot", path=info.path, bytes=info.bytes, index=info.index, term=info.term)
        self.after_snapshot(info)

    def run(self, plan: Plan, state_dir: Path) -> dict[str, Any]:
        started = time.time()
        baseline = int(self.journal.params.get("baseline_failure_tolerance", plan.baseline_failure_tolerance))
        self.emit("start", target=self.options.target, steps=[s.server for s in plan.steps], baseline_ft=baseline)
        try:
            self.take_snapshot(state_dir)
            for step in plan.steps:
                status = self.journal.step(step.server)["status"]
                if status == "done" or step.action == "skip":
                    if status != "done":
                        self.journal.mark(step.server, "skipped", reason=f"already on {step.to_version}")
                    self.emit("skip", server=step.server, reason="done" if status == "done" else "already on target")
                    continue
                if self.should_stop():
                    raise UpgradeStopped(
                        f"stopped at a safe point before {step.server}: asked to stop (a deadline passed); "
                        "every server before it is done and gated; continue with --resume"
                    )
                self.run_step(step, baseline)
        except ClusterOpsError as err:
            self.journal.finish("failed", error=str(err), leader_changes=self.tracker.changes)
            self.emit("failed", error=str(err))
            raise
        self.journal.finish("done", leader_changes=self.tracker.changes, elapsed=time.time() - started)
        report = self.report()
        self.emit("done", report=report)
        return report

    def run_step(self, step: Step, baseline: int) -> None:
        server = self.inventory.server(step.server)
        assert server is not None
        driver = self.driver_factory(server)
        resumed = self.journal.step(step.server)["status"] in IN_PROGRESS
        t0 = time.time()
        if resumed and self._already_back(step):
            self.emit("resume-check", server=step.server, result="already upgraded; gating")
        else:
            # Pre-step: the cluster must be whole before we take a server down (halt, touch nothing).
            try:
                self.wait(
                    f"cluster healthy before {step.server}",
                    lambda s: cluster_verdict(s, baseline) if not resumed else _reachable(s),
                    exclude=frozenset({step.server}) if resumed else frozenset(),
                    timeout=self.options.pre_step_grace,
                )
            except GateTimeout as err:
                raise UnsafePlan(f"halted before {step.server}: {err}; no server was touched") from None
            if step.role == "leader":
                self._hand_over_leadership(step)
            self.journal.mark(step.server, "stopping", from_version=step.from_version, to_version=step.to_version)
            self.emit("stopping", server=step.server)
            driver.stop(server)
            self.journal.mark(step.server, "stopped", t_stop=time.time() - t0)
            try:
                driver.switch(server, step.to_version)
                self.journal.mark(step.server, "starting")
                self.emit("starting", server=step.server, version=step.to_version)
                driver.start(server, step.to_version)
            except ClusterOpsError as err:  # the server is down now: fail (and roll back if asked)
                reason = f"{step.server} did not start on {step.to_version}: {err}"
                self._fail(step, driver, server, reason, rejoined=False)
            self.journal.mark(step.server, "started", t_start=time.time() - t0)
        self.journal.mark(step.server, "gating")
        window = self.stable_window()
        self.emit("gating", server=step.server, stable_for=window)

        def gate(state: ClusterState) -> Verdict:
            others = failed_others(state, step.server)
            if others:
                raise _Regression(", ".join(others))
            return node_verdict(state, step.server, step.to_version, baseline)

        try:
            state = self.wait(
                f"{step.server} back on {step.to_version}",
                gate,
                exclude=frozenset(),
                timeout=self.options.gate_timeout,
                stable_for=window,
            )
        except GateTimeout as err:
            self._fail(step, driver, server, f"{step.server}: {err}", rejoined=self._rejoined(step.server))
        except _Regression as failed:
            self._halt_on_regression(step, str(failed))
        peer = next(p for p in state.raft if p.node == step.server)
        health = state.health_of(peer)
        gate_values = {
            "voters": len(state.voters),
            "failure_tolerance": state.failure_tolerance,
            "leader": state.leader.node if state.leader else "",
            "index_lag": state.index_lag(peer),
            "last_contact_ms": None if health is None or health.last_contact is None else health.last_contact * 1000,
        }
        self.journal.mark(
            step.server, "done", t_total=time.time() - t0, gate=gate_values, leader_changes=self.tracker.changes
        )
        self.emit("done-server", server=step.server, seconds=round(time.time() - t0, 2), gate=gate_values)

    def stable_window(self) -> float:
        """How long a rejoined server must hold every condition: the cluster's
        server_stabilization_time, or our own --stable-window if that is longer."""
        obs = self.read()
        autopilot = obs.autopilot if isinstance(obs, ClusterState) else None
        return max(self.options.stable_window, autopilot.server_stabilization_time if autopilot else 10.0)

    def _hand_over_leadership(self, step: Step) -> None:
        """Move leadership to an upgraded server where Consul supports it (>= 1.15). Otherwise the
        old leader's restart triggers an election among the other servers, which are all upgraded
        by then because the leader goes last."""
        if not supports_leader_transfer(step.from_version):
            self.emit("leader-step", server=step.server, how="restart (transfer-leader needs Consul >= 1.15)")
            return
        obs = self.read()
        if not isinstance(obs, ClusterState):
            return
        upgraded = [p for p in obs.voters if p.node != step.server and same_version(obs.version_of(p), step.to_version)]
        if not upgraded:
            return
        to = sorted(upgraded, key=lambda p: p.node)[0]
        self.emit("leader-step", server=step.server, how=f"transfer-leader to {to.node}")
        self.reader.client(step.server).transfer_leader(to.id)
        self.wait(
            f"leadership to move off {step.server}",
            lambda s: Verdict(s.leader is not None and s.leader.node != step.server, "leader not moved yet"),
            exclude=frozenset(),
            timeout=60,
        )

    def _wait_back(self, node: str, version: str) -> ClusterState:
        """Wait for `node` alone to be back on `version` (the rest of the cluster is not judged)."""
        return self.wait(
            f"{node} back on {version}",
            lambda s: node_back_verdict(s, node, version),
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
        return isinstance(obs, ClusterState) and node_back_verdict(obs, step.server, step.to_version).ok

    def _rejoined(self, node: str) -> bool:
        """The server's own agent answers and the cluster counts it as a healthy voter."""
        try:
            self.reader.client(node).leader()
        except ClusterOpsError:
            return False
        obs = self.read(frozenset({node}))
        if not isinstance(obs, ClusterState):
            return False
        return any(p.node == node and p.voter for p in obs.raft) and any(
            h.name == node and h.healthy for h in obs.health
        )

    def _fail(self, step: Step, driver: NodeDriver, server: InventoryServer, reason: str, *, rejoined: bool) -> None:
        self.journal.mark(step.server, "failed", reason=reason)
        self.emit("server-failed", server=step.server, reason=reason)
        if not self.options.rollback_on_failure:
            raise UpgradeFailed(f"{reason}\nstopped: no other server was touched")
        if rejoined:
            raise UpgradeFailed(f"{reason}\n{step.server} rejoined, so it was not rolled back; no other server touched")
        self.emit("rollback", server=step.server, version=step.from_version)
        driver.stop(server)
        driver.switch(server, step.from_version)
        driver.start(server, step.from_version)
        try:
            self._wait_back(step.server, step.from_version)
        except GateTimeout as err:
            raise UpgradeFailed(
                f"{reason}\nrollback of {step.server} to {step.from_version} failed too: {err}"
            ) from None
        self.journal.mark(step.server, "rolled-back", version=step.from_version)
        raise UpgradeFailed(f"{reason}\n{step.server} was rolled back to {step.from_version}; no other server touched")

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


def _reachable(state: ClusterState) -> Verdict:
    return Verdict(state.leader is not None, "no leader")


def supports_leader_transfer(version: str) -> bool:
    """`/v1/operator/raft/transfer-leader` exists from Consul 1.15 on."""
    parsed = Version.reported(version)
    return parsed is not None and parsed.at_least(1, 15)
