"""The lab itself, on real Consul and OpenBao binaries."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import hvac
import pytest
import yaml

from clusterops.errors import LabError
from clusterops.lab import processes
from clusterops.lab.cluster import Lab
from tests.conftest import CONSUL_A, CONSUL_B, LabFactory, free_prefix


def cli(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterops.cli.main", *args, "--dir", str(lab.root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def voters(lab: Lab) -> dict[str, bool]:
    state = lab.state()
    with lab.client(state.servers[0], attempts=3) as c:
        return {p["Node"]: p["Voter"] for p in c.raft_configuration()["Servers"]}


def test_session_lab_is_healthy_with_vault(session_lab: Lab) -> None:
    state = session_lab.state()
    assert [s.ip for s in state.servers] == [f"{state.prefix}.{i}" for i in (1, 2, 3)]
    assert voters(session_lab) == {"s1": True, "s2": True, "s3": True}
    with session_lab.client(state.servers[1]) as c:
        health = c.autopilot_health()
        assert health["Healthy"] is True
        assert health["FailureTolerance"] == 1
        assert {srv["Version"] for srv in health["Servers"]} == {CONSUL_A}
    assert state.vault is not None
    # on the lab's own prefix, never 127.0.0.1:8200, so parallel labs cannot collide
    assert state.vault.addr.startswith(f"http://{state.prefix}.100:")
    client = hvac.Client(url=state.vault.addr, token=session_lab.vault_token())
    assert client.is_authenticated()
    client.secrets.kv.v2.create_or_update_secret(path="lab-check", secret={"k": "v"})
    assert client.secrets.kv.v2.read_secret_version(path="lab-check", raise_on_deleted_version=True)["data"][
        "data"
    ] == {"k": "v"}


def test_env_status_and_inventory_commands(session_lab: Lab) -> None:
    env = cli(session_lab, "lab", "env")
    assert env.returncode == 0, env.stderr
    assert f"export CONSUL_HTTP_ADDR=http://{session_lab.state().prefix}.1:8500" in env.stdout
    assert f"export VAULT_ADDR=http://{session_lab.state().prefix}.100:" in env.stdout
    # the token stays in its file: the shell reads it when the lines are evaluated
    assert f'export VAULT_TOKEN="$(cat {session_lab.vault_token_file})"' in env.stdout
    assert str(session_lab.vault_token()) not in env.stdout

    status = cli(session_lab, "lab", "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert [(p["name"], p["running"]) for p in data["processes"]] == [
        ("s1", True),
        ("s2", True),
        ("s3", True),
        ("openbao", True),
    ]

    inv = cli(session_lab, "lab", "inventory")
    assert inv.returncode == 0, inv.stderr
    parsed = yaml.safe_load(inv.stdout)
    assert [s["name"] for s in parsed["servers"]] == ["s1", "s2", "s3"]
    assert parsed["servers"][1]["address"] == f"http://{session_lab.state().prefix}.2:8500"
    assert parsed["servers"][0]["driver"] == {"type": "lab", "lab_dir": str(session_lab.root)}


def test_five_servers_upgrade_one_and_down_leaves_nothing(make_lab: LabFactory) -> None:
    started = time.monotonic()
    lab = make_lab(servers=5)
    assert time.monotonic() - started < 60  # generous; the figure goes in the README, not here
    state = lab.state()
    assert voters(lab) == {f"s{i}": True for i in range(1, 6)}

    lab.stop("s2")
    assert not processes.is_running(state.server("s2").pid)
    lab.start("s2", consul_version=CONSUL_B)

    def s2_back_on_b() -> bool:
        with lab.client(state.servers[0], attempts=3) as c:
            health = c.autopilot_health()
        s2 = next(s for s in health["Servers"] if s["Name"] == "s2")
        return bool(s2["Voter"] and s2["Healthy"] and s2["Version"] == CONSUL_B)

    deadline = time.monotonic() + 60
    while not s2_back_on_b():
        assert time.monotonic() < deadline, "s2 did not come back as a healthy voter on B"
        time.sleep(0.5)
    assert lab.state().server("s2").version == CONSUL_B

    ips = [s.ip for s in state.servers]
    root = lab.root
    lab.down()
    assert processes.listening_sockets(ips) == []
    assert processes.processes_under(root) == [] if root.exists() else True


def test_failed_up_leaves_nothing_behind(make_lab: LabFactory, lab_root: object) -> None:
    # A config error on every server: consul refuses to start, `up` fails, and cleans up.
    lab = Lab(f"{lab_root}/broken")
    prefix = free_prefix()
    with pytest.raises(LabError) as err:
        lab.up(servers=3, consul_version=CONSUL_A, prefix=prefix, extra_config="not_a_real_key = true", timeout=20)
    assert "s1 exited during start-up" in str(err.value)
    assert processes.listening_sockets([f"{prefix}.{i}" for i in (1, 2, 3)]) == []
    assert not lab.root.exists()


def test_cli_errors_are_messages_not_tracebacks(tmp_path: object) -> None:
    lab = Lab(f"{tmp_path}/none")
    result = cli(lab, "lab", "stop", "s2")
    assert result.returncode == 2
    assert "no lab at" in result.stderr
    assert "Traceback" not in result.stderr
