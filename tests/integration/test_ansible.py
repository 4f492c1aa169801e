"""playbooks/ansible/upgrade-consul.yml run by the real ansible-playbook (ansible-core) against a 3-server lab.

The lab's servers are the inventory's hosts (`ansible_connection: local`); stop and start are `clusterops lab
stop/start`, so the play really upgrades Consul 1.13.9 -> 1.14.11 one server at a time. What happened is read from
ansible's own output (task headers and per-host results), and from the cluster afterwards.

ansible-playbook comes from the dev extra (`pip install -e '.[dev]'`): missing, the test FAILS in CI and skips
elsewhere. Ansible writes only under the test's tmp dir (ANSIBLE_HOME, ANSIBLE_LOCAL_TEMP, ANSIBLE_REMOTE_TEMP).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusterops.lab.cluster import Lab
from tests.conftest import CONSUL_A, CONSUL_B, IN_CI, LabFactory
from tests.integration.helpers import lab_env, wait_for_state

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "ansible" / "upgrade-consul.yml"
BIN = Path(sys.executable).parent

TASK = re.compile(r"^TASK \[(?P<task>.*)\] \**$")
RESULT = re.compile(r"^(?P<status>ok|changed|fatal|failed|skipping): \[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\]")


def _ansible_playbook() -> Path:
    path = BIN / "ansible-playbook"
    if not path.exists():
        why = f"{path} is missing: install the dev extra (pip install -e '.[dev]', it brings ansible-core)"
        if IN_CI:
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    return path


def _run_playbook(
    lab: Lab, tmp_path: Path, *, via: str = "s1", **overrides: str
) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, str, str]]]:
    """Run the playbook against `lab`, clusterops talking to server `via`; returns the process and its
    (task, status, host) events in order."""
    playbook = _ansible_playbook()
    servers = [s.name for s in lab.state().servers]
    inventory = {
        "all": {
            "children": {"consul_servers": {"hosts": {name: {} for name in servers}}},
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    clusterops = str(BIN / "clusterops")
    extra = {
        "consul_version": CONSUL_B,
        "clusterops_cmd": clusterops,
        "consul_stop_cmd": f"{clusterops} lab stop {{{{ inventory_hostname }}}} --dir {lab.root}",
        "consul_start_cmd": (
            f"{clusterops} lab start {{{{ inventory_hostname }}}} --consul-version {{{{ consul_version }}}} "
            f"--dir {lab.root}"
        ),
        "consul_gate_timeout": "2m",
        "consul_stable_for": "2s",
        **overrides,
    }
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    home = tmp_path / "ansible-home"
    env = lab_env(
        lab,
        via,
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(home / "remote-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_CONFIG=str(tmp_path / "no-ansible.cfg"),  # never a config found on the machine
        ANSIBLE_HOST_KEY_CHECKING="0",
        # ansible refuses a non-UTF-8 locale; CI's environment may have none
        LC_ALL="C.UTF-8",
        LANG="C.UTF-8",
    )
    proc = subprocess.run(
        [str(playbook), "-i", str(tmp_path / "inventory.yml"), "-e", f"@{tmp_path / 'vars.json'}", str(PLAYBOOK)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    runs = len(list(tmp_path.glob("ansible-*.out")))
    (tmp_path / f"ansible-{runs + 1}.out").write_text(proc.stdout + proc.stderr)  # kept for a failing test's reader
    events: list[tuple[str, str, str]] = []
    task = ""
    for line in proc.stdout.splitlines():
        if m := TASK.match(line):
            task = m["task"]
        elif m := RESULT.match(line):
            events.append((task, m["status"], m["host"]))
    return proc, events


def _hosts_of(events: list[tuple[str, str, str]], prefix: str) -> list[str]:
    return [host for task, status, host in events if task.startswith(prefix) and status in ("ok", "changed")]


def test_rolling_upgrade_followers_first_leader_last_gated(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3)
    leader = wait_for_state(lab, lambda s: s.leader is not None, what="a leader").leader
    assert leader is not None

    proc, events = _run_playbook(lab, tmp_path)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr

    stopped = _hosts_of(events, "Stop Consul")
    started = _hosts_of(events, "Start Consul")
    assert sorted(stopped) == ["s1", "s2", "s3"] and started == stopped
    assert stopped[-1] == leader.node, f"leader {leader.node} upgraded last? order {stopped}"

    # serial: 1 with a gate between hosts: for each host, pre-gate -> stop -> start -> post-gate, never interleaved
    steps = ("Pre-gate", "Stop Consul", "Start Consul", "Post-gate")
    per_host = [
        (step, host)
        for task, status, host in events
        for step in steps
        if status in ("ok", "changed") and task.startswith(step)
    ]
    assert per_host == [(step, host) for host in stopped for step in steps]
    assert _hosts_of(events, "Final gate") == ["localhost"]

    state = wait_for_state(lab, lambda s: len(s.voters) == 3, what="3 voters")
    assert {state.version_of(p) for p in state.voters} == {CONSUL_B}
    assert all(s.version == CONSUL_B for s in lab.state().servers)

    # a rerun (e.g. after a failure) skips the servers already on the version: nothing is restarted
    again, events = _run_playbook(lab, tmp_path)
    assert again.returncode == 0, again.stdout[-6000:] + again.stderr
    assert _hosts_of(events, "Stop Consul") == []
    assert _hosts_of(events, "Final gate") == ["localhost"]


def test_a_pre_gate_that_times_out_stops_the_play_before_any_host_is_touched(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(servers=3)
    state = wait_for_state(lab, lambda s: s.leader is not None, what="a leader")
    assert state.leader is not None
    down = next(p.node for p in state.voters if p.node != state.leader.node)
    lab.stop(down)  # failure tolerance 0 now, so no other server may be taken down
    # Wait until the cluster itself sees it (serf failure detection and autopilot health take a few seconds): a gate
    # started within that delay, with a window as short as 2s, could still pass on the stale view.
    wait_for_state(
        lab,
        lambda s: s.failure_tolerance < 1 or any(not s.voter_is_healthy(p) for p in s.voters),
        what=f"the cluster to notice that {down} is down",
    )

    proc, events = _run_playbook(lab, tmp_path, via=state.leader.node, consul_gate_timeout="4s")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert any(task.startswith("Pre-gate") and status == "fatal" for task, status, _ in events), out[-4000:]
    assert "failure tolerance" in out  # the gate's last failed condition reaches the operator
    assert _hosts_of(events, "Stop Consul") == [] and _hosts_of(events, "Start Consul") == []
    assert _hosts_of(events, "Final gate") == []
    running = [s for s in lab.state().servers if s.name != down]
    assert all(s.version == CONSUL_A for s in running)
