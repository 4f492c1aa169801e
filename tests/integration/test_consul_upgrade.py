"""Rolling upgrades A -> B on real labs: happy paths under load, and every fault the issue names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from clusterops.journal import Journal
from clusterops.lab import processes
from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory
from tests.conftest import CONSUL_A, CONSUL_B, LabFactory
from tests.integration.helpers import lab_env, run_cli, wait_for_state
from tests.integration.writer import Writer


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

    lab.start(first)  # back on A by hand, then the same failure with --rollback-on-failure
    wait_for_state(lab, lambda s: s.failure_tolerance == 1, what="whole again")
    result = run_cli(
        "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply", "--rollback-on-failure", env=env
    )
    assert result.returncode == 1
    assert f"{first} was rolled back to {CONSUL_A}" in result.stderr
    state = wait_for_state(lab, lambda s: s.failure_tolerance == 1, what="rolled back and healthy")
    assert {p.node: state.version_of(p) for p in state.raft} == {s.name: CONSUL_A for s in lab.state().servers}
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
