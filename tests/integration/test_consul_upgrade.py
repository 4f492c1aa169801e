"""Rolling upgrades A -> B on real labs: happy paths under load, and every fault the issue names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterops.journal import Journal
from clusterops.lab import processes
from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory
from tests.conftest import CONSUL_A, CONSUL_B, LabFactory
from tests.integration.helpers import lab_env, run_cli, wait_for_state
from tests.integration.writer import LeaderWatch, Writer


def write_inventory(lab: Lab, tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(lab_inventory(lab), sort_keys=False))
    return path


def upgrade_env(lab: Lab, state_dir: Path, **extra: str) -> dict[str, str]:
    return lab_env(lab, CLUSTEROPS_STATE_DIR=str(state_dir), **extra)


def versions(lab: Lab) -> dict[str, str]:
    state = wait_for_state(lab, lambda s: s.leader is not None, what="a leader")
    return {p.node: state.version_of(p) for p in state.raft}


def journal_steps(state_dir: Path) -> dict[str, str]:
    files = sorted((state_dir / "upgrade").glob("*.json"))
    if not files:
        return {}
    try:
        return {s["id"]: s["status"] for s in Journal.load(files[-1]).steps()}
    except Exception:  # noqa: BLE001 - a journal being replaced right now; try again
        return {}


def wait_journal(state_dir: Path, predicate: object, timeout: float = 120) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        steps = journal_steps(state_dir)
        if steps and predicate(steps):  # type: ignore[operator]
            return steps
        time.sleep(0.1)
    raise AssertionError(f"journal never reached the expected state: {journal_steps(state_dir)}")


@pytest.mark.parametrize("servers", [3, 5])
def test_upgrade_under_load_loses_no_acknowledged_write(make_lab: LabFactory, tmp_path: Path, servers: int) -> None:
    lab = make_lab(servers=servers)
    inventory = write_inventory(lab, tmp_path)
    env = upgrade_env(lab, tmp_path / "state")
    writer = Writer([s.http_addr for s in lab.state().servers], rate=25)
    writer.start()
    try:
        result = run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply", "-f", "json", env=env)
    finally:
        log = writer.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    report = events[-1]
    assert report["event"] == "report" and report["status"] == "done"
    assert isinstance(report["leader_changes"], int)
    assert report["snapshot"]["index"] > 0 and Path(report["snapshot"]["path"]).stat().st_mode & 0o777 == 0o600
    order = [e["server"] for e in events if e["event"] == "stopping"]
    leader_at_start = next(e for e in events if e["event"] == "start")["steps"][-1]
    assert order[-1] == leader_at_start and len(order) == servers  # followers first, the leader last
    assert set(versions(lab).values()) == {CONSUL_B}
    assert len(log.acknowledged) >= 100  # the writer really wrote throughout (25/s over a run of 30 s or more)
    assert writer.missing(lab.state().servers[0].http_addr) == []

    again = run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply", "-f", "json", env=env)
    assert again.returncode == 0, again.stderr
    skips = [json.loads(line) for line in again.stdout.splitlines() if '"skip"' in line]
    assert len(skips) == servers  # idempotent: every server is already on B


def test_plan_is_the_default_and_refuses_low_failure_tolerance(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    env = upgrade_env(lab, tmp_path / "state")
    plan = run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "-f", "json", env=env)
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert doc["ok"] is True and [s["action"] for s in doc["steps"]] == ["upgrade"] * 3
    assert doc["steps"][0]["during"] == {"servers_up": 2, "voters": 3, "quorum": 2, "failure_tolerance": 0}
    assert doc["steps"][-1]["role"] == "leader"

    refused = run_cli(
        "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply", "--min-failure-tolerance", "2", env=env
    )
    assert refused.returncode == 1
    assert "UP002" in refused.stdout + refused.stderr and "nothing was touched" in refused.stderr
    assert set(versions(lab).values()) == {CONSUL_A}

    wide = run_cli("consul", "upgrade", "-i", str(inventory), "--to", "1.20.0", env=env)
    assert wide.returncode == 1 and "UP006" in wide.stdout


def test_stale_peer_at_start_is_refused_with_the_remedy(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3, extra_config="autopilot {\n  cleanup_dead_servers = false\n}")
    inventory = write_inventory(lab, tmp_path)
    lab.stop("s3", kill=True)
    wait_for_state(
        lab, lambda s: s.serf_status(next(p for p in s.raft if p.node == "s3")) == "failed", what="s3 failed"
    )
    result = run_cli(
        "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply", env=upgrade_env(lab, tmp_path)
    )
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "UP003" in out and "consul force-leave s3" in out
    assert "nothing was touched" in result.stderr


def test_another_server_failing_mid_upgrade_halts_before_the_next(make_lab: LabFactory, tmp_path: Path) -> None:
    # min_quorum keeps autopilot from pruning the failed server (it would "heal" the cluster to 4).
    lab = make_lab(servers=5, extra_config="autopilot {\n  min_quorum = 5\n}")
    inventory = write_inventory(lab, tmp_path)
    state_dir = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterops.cli.main", "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B,
         "--apply", "-f", "json"],
        env=upgrade_env(lab, state_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    steps = wait_journal(state_dir, lambda st: list(st.values())[:2] == ["done", "gating"])
    order = list(steps)
    current, victim = order[1], order[3]  # a server not yet touched fails on its own
    untouched = [n for n in order[2:] if n != victim]
    pids = {n: lab.state().server(n).pid for n in untouched}
    lab.stop(victim, kill=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out[-2000:] + err
    assert f"halted before the next server: {victim} failed while {current} was being upgraded" in err
    assert f"{current} is back on {CONSUL_B}" in err and "no further server was touched" in err
    assert {n: lab.state().server(n).pid for n in untouched} == pids
    state = wait_for_state(lab, lambda s: s.leader is not None, what="quorum kept")
    assert {p.node: state.version_of(p) for p in state.raft if p.node in untouched} == dict.fromkeys(
        untouched, CONSUL_A
    )
    assert {state.version_of(p) for p in state.raft if p.node in order[:2]} == {CONSUL_B}


def test_killed_mid_server_then_resume_finishes_without_redoing(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    state_dir = tmp_path / "state"
    env = upgrade_env(lab, state_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterops.cli.main", "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B,
         "--apply", "-f", "json"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    steps = wait_journal(state_dir, lambda st: list(st.values())[:2] == ["done", "gating"])
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    first = next(iter(steps))
    first_pid = lab.state().server(first).pid
    journal = Journal.load(sorted((state_dir / "upgrade").glob("*.json"))[-1])
    first_started = journal.step(first)["started"]

    resumed = run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--resume", "-f", "json", env=env)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert set(versions(lab).values()) == {CONSUL_B}
    assert lab.state().server(first).pid == first_pid  # the finished server was not restarted again
    journal = Journal.load(journal.path)
    assert journal.status == "done" and journal.step(first)["started"] == first_started
    assert all(s["status"] == "done" for s in journal.steps())


def test_broken_new_binary_aborts_naming_the_server_and_rollback_restores_it(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    broken = tmp_path / "consul-broken"
    broken.write_text("#!/bin/sh\necho 'consul: cannot execute: this build is broken' >&2\nexit 1\n")
    broken.chmod(0o755)
    env = upgrade_env(
        lab, tmp_path / "state", **{f"CLUSTEROPS_CONSUL_BINARY_{CONSUL_B.replace('.', '_')}": str(broken)}
    )
    order = json.loads(
        run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "-f", "json", env=env).stdout
    )
    first = order["steps"][0]["server"]
    others = {s.name: s.pid for s in lab.state().servers if s.name != first}

    result = run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply", env=env)
    assert result.returncode == 1
    assert f"{first} did not start on {CONSUL_B}" in result.stderr and "no other server was touched" in result.stderr
    assert {n: lab.state().server(n).pid for n in others} == others
    assert not processes.is_running(lab.state().server(first).pid)
    assert wait_for_state(lab, lambda s: s.leader is not None, what="quorum kept").leader is not None

    lab.start(first, consul_version=CONSUL_A)  # back on A by hand, then the same failure, with rollback
    wait_for_state(lab, lambda s: s.failure_tolerance == 1, what="whole again")
    # the restart may have moved leadership: the run decides its order from the cluster as it is now
    result = run_cli(
        "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply", "--rollback-on-failure",
        "-f", "json", env=env,
    )  # fmt: skip
    assert result.returncode == 1
    stopped = [json.loads(line)["server"] for line in result.stdout.splitlines() if '"event": "stopping"' in line]
    assert len(stopped) == 1
    assert f"{stopped[0]} was rolled back to {CONSUL_A}" in result.stderr
    state = wait_for_state(lab, lambda s: s.failure_tolerance == 1, what="rolled back and healthy")
    assert {p.node: state.version_of(p) for p in state.raft} == {s.name: CONSUL_A for s in lab.state().servers}
    others = {n: pid for n, pid in others.items() if n != stopped[0]}
    assert {n: lab.state().server(n).pid for n in others} == others


def test_malformed_inventory_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("servers:\n  - name: s1\n    address: http://127.0.0.1:8500\n    driver: {type: ssh}\n")
    result = run_cli("consul", "upgrade", "-i", str(bad), "--to", CONSUL_B, env={"PATH": os.environ["PATH"]})
    assert result.returncode == 2
    assert f"{bad}:4: servers[0].driver.commands: the ssh driver needs commands for stop, start" in result.stderr
    assert "Traceback" not in result.stderr


def test_ssh_driver_upgrades_a_lab_through_a_real_sshd(make_lab: LabFactory, tmp_path: Path) -> None:
    from tests.integration.sshd import running_sshd

    lab = make_lab(servers=3)
    cli = f"{sys.executable} -m clusterops.cli.main lab"
    with running_sshd(tmp_path / "sshd") as sshd:
        inventory = {
            "cluster": "lab-over-ssh",
            "drivers": {
                "over-ssh": {
                    "type": "ssh",
                    "host": "127.0.0.1",
                    "user": sshd.user,
                    "port": sshd.port,
                    "identity_file": str(sshd.identity_file),
                    "options": sshd.ssh_options,
                    "commands": {
                        "stop": f"{cli} stop {{node}} --dir {lab.root}",
                        "switch": f"{cli} fetch --consul-version {{version}}",
                        "start": f"{cli} start {{node}} --consul-version {{version}} --dir {lab.root}",
                    },
                }
            },
            "servers": [{"name": s.name, "address": s.http_addr, "driver": "over-ssh"} for s in lab.state().servers],
        }
        path = tmp_path / "inventory.yaml"
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        result = run_cli(
            "consul", "upgrade", "-i", str(path), "--to", CONSUL_B, "--apply", env=upgrade_env(lab, tmp_path / "st")
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert set(versions(lab).values()) == {CONSUL_B}
    assert {s.version for s in lab.state().servers} == {CONSUL_B}


def test_exec_driver_switch_failure_rolls_back_the_stopped_server(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3)
    cli = f"{sys.executable} -m clusterops.cli.main lab"
    inventory = {
        "drivers": {
            "local": {
                "type": "exec",
                "commands": {
                    "stop": f"{cli} stop {{node}} --dir {lab.root}",
                    "switch": f"test {{version}} != {CONSUL_B}",  # installing B fails; A is still there
                    "start": f"{cli} start {{node}} --consul-version {{version}} --dir {lab.root}",
                },
            }
        },
        "servers": [{"name": s.name, "address": s.http_addr, "driver": "local"} for s in lab.state().servers],
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    env = upgrade_env(lab, tmp_path / "state")
    result = run_cli(
        "consul", "upgrade", "-i", str(path), "--to", CONSUL_B, "--apply", "--rollback-on-failure", env=env
    )
    assert result.returncode == 1
    first = json.loads(run_cli("consul", "upgrade", "-i", str(path), "--to", CONSUL_B, "-f", "json", env=env).stdout)
    name = first["steps"][0]["server"]
    assert f"{name} did not start on {CONSUL_B}" in result.stderr and "switch" in result.stderr
    assert f"{name} was rolled back to {CONSUL_A}" in result.stderr
    state = wait_for_state(lab, lambda s: s.failure_tolerance == 1, what="whole again on A")
    assert {state.version_of(p) for p in state.raft} == {CONSUL_A}


# -- issue 11: a stale view, a leader that moves, kill windows, a new version that never heals --


class Run:
    """`consul upgrade` in the background, its JSON events read as they come."""

    def __init__(self, inventory: Path, env: dict[str, str], *extra: str) -> None:
        argv = [sys.executable, "-m", "clusterops.cli.main", "consul", "upgrade", "-i", str(inventory),
                "--to", CONSUL_B, "-f", "json", *extra]  # fmt: skip
        if "--resume" not in extra:
            argv.append("--apply")
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events: list[dict[str, Any]] = []
        self.stderr = ""
        self._eof = False
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=f, daemon=True) for f in (self._read_stdout, self._read_stderr)]
        for t in self._readers:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            event["seen"] = time.monotonic()
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((e for e in self.events if predicate(e)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    time.sleep(0.3)  # the stderr reader
                    raise AssertionError(f"no such event; the run said: {self.events[-5:]} {self.stderr[-2000:]}")
                self._cond.wait(min(left, 0.5))

    def finish(self, timeout: float = 300) -> int:
        rc = self.proc.wait(timeout=timeout)
        for t in self._readers:  # let the readers drain the pipes, then close them
            t.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish(timeout=30)

    def stopped(self) -> list[str]:
        return [e["server"] for e in self.events if e["event"] == "stopping"]


def pids(lab: Lab, names: list[str]) -> dict[str, int | None]:
    return {n: lab.state().server(n).pid for n in names}


def leader_of(lab: Lab) -> str:
    state = wait_for_state(lab, lambda s: s.leader is not None, what="a leader", server=_any_up(lab))
    assert state.leader is not None
    return state.leader.node


def _any_up(lab: Lab) -> str:
    return next(s.name for s in lab.state().servers if processes.is_running(s.pid))


@pytest.mark.parametrize("servers", [3, 5])
def test_a_server_frozen_near_the_end_of_its_gate_halts_the_run(
    make_lab: LabFactory, tmp_path: Path, servers: int
) -> None:
    """The gate looks at every server directly at every poll: a just-upgraded server that hangs in
    the last seconds of its window fails the gate (autopilot still calls it healthy), and nothing
    else is stopped. Red without the direct probes: the gate passes on autopilot's old view and the
    next server is stopped while this one hangs."""
    lab = make_lab(servers=servers)
    inventory = write_inventory(lab, tmp_path)
    names = [s.name for s in lab.state().servers]
    watch = LeaderWatch([s.http_addr for s in lab.state().servers])
    watch.start()
    run = Run(inventory, upgrade_env(lab, tmp_path / "state"), "--gate-timeout", "40s")
    frozen: int | None = None
    try:
        gating = run.wait_event(lambda e: e["event"] == "gating")
        first = gating["server"]
        ok = run.wait_event(lambda e: e["event"] == "waiting" and e["what"].startswith(first) and e["reason"] == "ok")
        time.sleep(max(0.0, ok["seen"] + gating["stable_for"] - 1.2 - time.monotonic()))  # near the window's end
        frozen = lab.state().server(first).pid
        assert frozen is not None
        untouched = pids(lab, [n for n in names if n != first])
        t_freeze = time.monotonic()
        os.kill(frozen, signal.SIGSTOP)
        rc = run.finish()
        periods = watch.leaderless_after(t_freeze)
    finally:
        watch.stop()
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        run.kill()
    assert rc == 1, run.stderr[-3000:]
    assert run.stopped() == [first]  # nothing else was stopped
    assert pids(lab, list(untouched)) == untouched
    assert f"{first} failed its gate" in run.stderr and f"{first} does not answer" in run.stderr
    assert periods == []  # no leaderless period after the freeze: clusterops caused none


def test_a_server_killed_just_before_the_plan_is_refused_naming_it(make_lab: LabFactory, tmp_path: Path) -> None:
    """Serf and autopilot still call a server that died a second ago alive; the direct check
    before the first stop does not. Red without it: the first server is stopped with one dead."""
    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    plan = json.loads(run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "-f", "json",
                              env=upgrade_env(lab, tmp_path / "s0")).stdout)  # fmt: skip
    victim = plan["steps"][1]["server"]  # a follower that would go second
    others = [s["server"] for s in plan["steps"] if s["server"] != victim]
    before = pids(lab, others)
    lab.stop(victim, kill=True)
    run = Run(inventory, upgrade_env(lab, tmp_path / "state"))
    assert run.finish() == 1, run.stderr[-3000:]
    assert run.stopped() == []
    assert victim in run.stderr and ("nothing was touched" in run.stderr or "no server was touched" in run.stderr)
    assert pids(lab, others) == before


def test_a_server_killed_just_before_a_step_halts_naming_it(make_lab: LabFactory, tmp_path: Path) -> None:
    """5 servers: right after the first server is done, another one dies without warning. The
    run halts before the next stop, naming it. Red without the direct, repeated check."""
    lab = make_lab(servers=5)
    inventory = write_inventory(lab, tmp_path)
    watch = LeaderWatch([s.http_addr for s in lab.state().servers])
    watch.start()
    run = Run(inventory, upgrade_env(lab, tmp_path / "state"))
    try:
        start = run.wait_event(lambda e: e["event"] == "start")
        order = start["steps"]
        run.wait_event(lambda e: e["event"] == "done-server")
        victim = order[3]
        lab.stop(victim, kill=True)
        t_kill = time.monotonic()
        untouched = pids(lab, [n for n in order[1:] if n != victim])
        rc = run.finish()
        periods = watch.leaderless_after(t_kill)
    finally:
        watch.stop()
        run.kill()
    assert rc == 1, run.stderr[-3000:]
    assert run.stopped() == [order[0]]
    assert "halted before" in run.stderr and f"{victim} does not answer" in run.stderr
    assert pids(lab, list(untouched)) == untouched
    assert periods == []


def test_leadership_moving_to_a_server_not_yet_upgraded_puts_it_last(make_lab: LabFactory, tmp_path: Path) -> None:
    """After the first follower, the leader is restarted by hand until a server still on A wins:
    the run reads the cluster again, says why the order changed, and stops the current leader
    last, one server at a time."""
    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    writer = Writer([s.http_addr for s in lab.state().servers], rate=20)
    writer.start()
    run = Run(inventory, upgrade_env(lab, tmp_path / "state"))
    try:
        run.wait_event(lambda e: e["event"] == "done-server")
        run.proc.send_signal(signal.SIGSTOP)  # hold the tool while we move the leader by hand
        try:
            planned_last = leader_of(lab)
            for _attempt in range(8):
                leader = leader_of(lab)
                if leader != planned_last and lab.state().server(leader).version == CONSUL_A:
                    break  # another server not yet upgraded won
                lab.stop(leader)
                lab.start(leader)
                wait_for_state(lab, lambda s: s.leader is not None and s.failure_tolerance == 1,
                               what="whole again", server=_any_up(lab))  # fmt: skip
            new_leader = leader_of(lab)
            assert new_leader != planned_last and lab.state().server(new_leader).version == CONSUL_A, (
                "no other server on A won in 8 restarts"
            )
        finally:
            run.proc.send_signal(signal.SIGCONT)
        rc = run.finish()
    finally:
        log = writer.stop()
        run.kill()
    assert rc == 0, run.stderr[-3000:]
    moved = [e for e in run.events if e["event"] in ("reorder", "leader-moved")]
    assert moved and any(new_leader in json.dumps(e) for e in moved)
    stops = run.stopped()
    assert stops[-1] == new_leader and sorted(stops) == sorted(s.name for s in lab.state().servers)
    assert set(versions(lab).values()) == {CONSUL_B}
    assert log.acknowledged and writer.missing(lab.state().servers[0].http_addr) == []


def _exec_inventory(lab: Lab, tmp_path: Path, start: str, stop: str, switch: str = "") -> Path:
    inventory = {
        "drivers": {"local": {"type": "exec", "commands": {"stop": stop, "start": start, "switch": switch}}},
        "servers": [{"name": s.name, "address": s.http_addr, "driver": "local"} for s in lab.state().servers],
    }
    if not switch:
        del inventory["drivers"]["local"]["commands"]["switch"]  # type: ignore[index]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def test_sigterm_then_kills_while_stopped_and_starting_resume_completes(make_lab: LabFactory, tmp_path: Path) -> None:
    """One lab, every interruption in turn: SIGTERM mid-gate stops at a safe point with how to
    resume; SIGKILL while a server is stopped, then while one is starting: each --resume brings
    that server up on B, gates it and goes on; no server is stopped twice."""
    lab = make_lab(servers=3)
    cli = f"{sys.executable} -m clusterops.cli.main lab"
    slow = tmp_path / "slow"
    inventory = _exec_inventory(
        lab, tmp_path,
        stop=f"{cli} stop {{node}} --dir {lab.root}",
        switch=f"if [ -f {slow}-switch ]; then sleep 5; fi",
        start=f"{cli} start {{node}} --consul-version {{version}} --dir {lab.root} && "
              f"if [ -f {slow}-start ]; then sleep 5; fi",
    )  # fmt: skip
    env = upgrade_env(lab, tmp_path / "state")
    state_dir = tmp_path / "state"

    # SIGTERM while the first server is gating: it finishes that gate, then stops, saying how to resume.
    run = Run(inventory, env)
    first = run.wait_event(lambda e: e["event"] == "gating")["server"]
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 1, run.stderr[-3000:]
    assert "stopped on request at a safe point" in run.stderr and "--resume" in run.stderr
    assert run.stopped() == [first] and journal_steps(state_dir)[first] == "done"
    stops = run.stopped()
    wait_for_state(lab, lambda s: s.failure_tolerance == 1, what="every server up")

    # SIGKILL while the next server is stopped (its switch is slow).
    slow.with_name("slow-switch").touch()
    run = Run(inventory, env, "--resume")
    second = run.wait_event(lambda e: e["event"] == "stopping")["server"]
    wait_journal(state_dir, lambda st: st[second] == "stopped")
    run.proc.send_signal(signal.SIGKILL)
    run.finish()
    stops += run.stopped()
    slow.with_name("slow-switch").unlink()
    assert not processes.is_running(lab.state().server(second).pid)

    # SIGKILL while the last server is starting (its start is slow).
    slow.with_name("slow-start").touch()
    run = Run(inventory, env, "--resume")
    third = run.wait_event(lambda e: e["event"] == "starting" and e["server"] != second)["server"]
    run.proc.send_signal(signal.SIGKILL)
    run.finish()
    stops += run.stopped()
    slow.with_name("slow-start").unlink()
    assert any(e["event"] == "resume-check" and e["server"] == second for e in run.events)

    done_pids = pids(lab, [first, second])
    run = Run(inventory, env, "--resume")
    assert run.finish() == 0, run.stderr[-3000:]
    stops += run.stopped()
    assert sorted(stops) == sorted([first, second, third])  # each server stopped exactly once
    assert pids(lab, [first, second]) == done_pids
    assert set(versions(lab).values()) == {CONSUL_B}


def test_a_new_version_that_starts_but_never_heals_is_rolled_back(make_lab: LabFactory, tmp_path: Path) -> None:
    """The exec driver's start returns 0, but B runs with a wrong datacenter and never becomes a
    healthy voter: the gate fails naming the server and the condition; --rollback-on-failure
    puts it back on A and gates the whole cluster healthy again."""
    from clusterops.lab import binaries

    lab = make_lab(servers=3)
    consul_b = binaries.consul_binary(CONSUL_B)
    root = lab.root
    start = tmp_path / "start.sh"
    start.write_text(f"""#!/bin/sh
node=$1; version=$2; dir={root}/$node
if [ "$version" = "{CONSUL_B}" ]; then  # the "new config": a wrong datacenter
  cd "$dir" && nohup {consul_b} agent -config-file="$dir/config.hcl" -datacenter=wrong >"$dir/wrong.log" 2>&1 &
  echo $! > "$dir/wrong.pid"
  exit 0
fi
exec {sys.executable} -m clusterops.cli.main lab start "$node" --consul-version "$version" --dir {root}
""")
    stop = tmp_path / "stop.sh"
    stop.write_text(f"""#!/bin/sh
node=$1; dir={root}/$node
{sys.executable} -m clusterops.cli.main lab stop "$node" --dir {root} || exit 1
if [ -f "$dir/wrong.pid" ]; then
  pid=$(cat "$dir/wrong.pid"); kill "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  rm -f "$dir/wrong.pid"
fi
""")
    inventory = _exec_inventory(lab, tmp_path, start=f"sh {start} {{node}} {{version}}", stop=f"sh {stop} {{node}}")
    env = upgrade_env(lab, tmp_path / "state")
    first = json.loads(run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "-f", "json",
                               env=env).stdout)["steps"][0]["server"]  # fmt: skip
    others = pids(lab, [s.name for s in lab.state().servers if s.name != first])
    run = Run(inventory, env, "--gate-timeout", "30s", "--rollback-on-failure")
    assert run.finish() == 1, run.stderr[-3000:]
    assert f"{first} failed its gate" in run.stderr and "last failed:" in run.stderr
    assert f"{first} was rolled back to {CONSUL_A} and the cluster is healthy again" in run.stderr
    assert run.stopped() == [first]
    state = wait_for_state(lab, lambda s: s.failure_tolerance == 1, what="whole again on A")
    assert {p.node: state.version_of(p) for p in state.raft} == {s.name: CONSUL_A for s in lab.state().servers}
    assert pids(lab, list(others)) == others
