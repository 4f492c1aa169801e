"""More command groups on a TLS + ACL lab: `consul upgrade` with the exec driver (a SIGKILL, then
--resume) and the ssh driver, the shipped playbooks, snapshot restore-test and `validate --live`.

Three module-scoped labs of 3 servers each (HTTPS only with client certificates required, ACLs with
default deny), as each upgrade needs servers still on A: one with OpenBao for the exec upgrade, the
snapshot and the pre-deploy check, one for the ssh driver, one for the rolling-upgrade playbook. Every CLI
output is scanned for tokens and key material (`cli` from test_tls_acl).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterops.journal import Journal
from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory
from tests.conftest import CONSUL_A, CONSUL_B, free_prefix, require_binaries
from tests.integration.test_tls_acl import cli, env_for, secrets_of

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
LAB_CLI = f"{sys.executable} -m clusterops.cli.main lab"


def _tls_acl_lab(root: Path, *, vault: bool) -> Iterator[Lab]:
    require_binaries(vault=vault)
    lab = Lab(root)
    lab.up(servers=3, consul_version=CONSUL_A, vault=vault, acl=True, tls=True, prefix=free_prefix())
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def exec_lab(lab_root: Path) -> Iterator[Lab]:
    yield from _tls_acl_lab(lab_root / "tls-acl-exec", vault=True)


@pytest.fixture(scope="module")
def ssh_lab(lab_root: Path) -> Iterator[Lab]:
    yield from _tls_acl_lab(lab_root / "tls-acl-ssh", vault=False)


@pytest.fixture(scope="module")
def playbook_lab(lab_root: Path) -> Iterator[Lab]:
    yield from _tls_acl_lab(lab_root / "tls-acl-playbook", vault=False)


def inventory_with(lab: Lab, path: Path, driver: dict[str, Any]) -> Path:
    """The lab's inventory (HTTPS, CA, client certificate, token file) with `driver` for every server."""
    inventory = lab_inventory(lab)
    inventory["drivers"] = {"d": driver}
    for server in inventory["servers"]:
        server["driver"] = "d"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def lab_commands(lab: Lab) -> dict[str, str]:
    return {
        "stop": f"{LAB_CLI} stop {{node}} --dir {lab.root}",
        "start": f"{LAB_CLI} start {{node}} --consul-version {{version}} --dir {lab.root}",
    }


def raft_versions(lab: Lab) -> set[str]:
    done = cli(lab, "consul", "status", "-f", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    return {s.version for s in lab.state().servers}


def assert_clean(lab: Lab, *texts: str) -> None:
    assert len(secrets_of(lab)) >= 2, "the scan needs the token and at least one key body to look for"
    for text in texts:
        for secret in secrets_of(lab):
            assert secret not in text, "a token or key leaked"
        assert "Traceback" not in text, text


def journal_steps(state_dir: Path) -> list[str]:
    files = sorted((state_dir / "upgrade").glob("*.json"))
    if not files:
        return []
    try:
        return [s["status"] for s in Journal.load(files[-1]).steps()]
    except Exception:  # noqa: BLE001 - a journal being replaced right now; try again
        return []


# -- exec_lab: validate --live, the exec driver with a kill and --resume, the snapshot, predeploy ----


def test_validate_live_accepts_the_tls_lab_server_configs(exec_lab: Lab) -> None:
    configs = [str(exec_lab.node_dir(s.name) / "config.hcl") for s in exec_lab.state().servers]
    done = cli(exec_lab, "validate", "consul", *configs, "--live", "--consul-version", CONSUL_A, "-f", "json")
    assert done.returncode == 0, done.stdout + done.stderr


def test_exec_driver_upgrade_over_tls_acl_killed_then_resumed(exec_lab: Lab, tmp_path: Path) -> None:
    inventory = inventory_with(exec_lab, tmp_path / "inv.yaml", {"type": "exec", "commands": lab_commands(exec_lab)})
    state_dir = tmp_path / "state"
    env = env_for(exec_lab, CLUSTEROPS_STATE_DIR=str(state_dir))
    out, err = tmp_path / "run.out", tmp_path / "run.err"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clusterops.cli.main", "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B,
             "--apply", "-f", "json"],
            env=env, stdout=o, stderr=e,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while journal_steps(state_dir)[:2] != ["done", "gating"]:
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, journal_steps(state_dir)
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert_clean(exec_lab, out.read_text(), err.read_text())
    first = Journal.load(sorted((state_dir / "upgrade").glob("*.json"))[-1]).steps()[0]["id"]
    first_pid = exec_lab.state().server(first).pid

    resumed = cli(
        exec_lab, "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--resume", "-f", "json",
        CLUSTEROPS_STATE_DIR=str(state_dir),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert raft_versions(exec_lab) == {CONSUL_B}
    journal = Journal.load(sorted((state_dir / "upgrade").glob("*.json"))[-1])
    assert journal.status == "done" and all(s["status"] == "done" for s in journal.steps())
    assert exec_lab.state().server(first).pid == first_pid  # the finished server was not redone
    for path in state_dir.rglob("*.json"):
        assert_clean(exec_lab, path.read_text())

    # the snapshot the upgrade saved before touching anything restores into a throwaway lab
    snaps = sorted(state_dir.rglob("*.snap"))
    assert snaps, list(state_dir.rglob("*"))
    restored = cli(exec_lab, "consul", "snapshot", "restore-test", str(snaps[0]))
    assert restored.returncode == 0, restored.stdout + restored.stderr


def test_predeploy_check_playbook_over_tls_acl(exec_lab: Lab, tmp_path: Path) -> None:
    import hvac

    settings = exec_lab.vault_settings()
    client = hvac.Client(url=settings.address, token=settings.token, verify=settings.ca_cert)
    client.secrets.kv.v2.create_or_update_secret(path="tls2/app", secret={"level": "info"})
    desired = tmp_path / "desired.yaml"
    desired.write_text("mount: secret\nsecrets:\n  tls2/app:\n    data:\n      level: info\n")
    configs = tmp_path / "consul"
    for i, server in enumerate(exec_lab.state().servers, start=1):
        (configs / f"consul-{i}").mkdir(parents=True)
        (configs / f"consul-{i}" / "config.hcl").write_text((exec_lab.node_dir(server.name) / "config.hcl").read_text())
    junit = tmp_path / "predeploy.xml"
    done = cli(
        exec_lab, "run", str(PLAYBOOKS / "predeploy-check.yaml"), "--apply", "--var", f"kv_state={desired}",
        "--var", f"consul_configs={configs}", "--junit", str(junit), "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert ET.parse(junit).getroot().get("failures") == "0"
    cases = {c.get("name", "").split(" ")[0]: c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"validate-consul", "validate-vault", "consul-health", "kv-drift"}, done.stdout
    for name in ("consul-health", "kv-drift"):
        assert cases[name].find("failure") is None, done.stdout + done.stderr
        assert cases[name].find("error") is None, done.stdout + done.stderr
    assert_clean(exec_lab, junit.read_text())


# -- ssh_lab: the ssh driver; playbook_lab: the rolling-upgrade playbook ------------------------------


def test_ssh_driver_upgrade_over_tls_acl(ssh_lab: Lab, tmp_path: Path) -> None:
    """`consul upgrade --apply` stops and starts every server through a real sshd, over HTTPS with
    client certificates and an ACL token."""
    from tests.integration.sshd import running_sshd

    with running_sshd(tmp_path / "sshd") as sshd:
        driver = {
            "type": "ssh",
            "host": "127.0.0.1",
            "user": sshd.user,
            "port": sshd.port,
            "identity_file": str(sshd.identity_file),
            "options": sshd.ssh_options,
            "commands": lab_commands(ssh_lab),
        }
        inventory = inventory_with(ssh_lab, tmp_path / "inv.yaml", driver)
        state = tmp_path / "state"
        plan = cli(ssh_lab, "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "-f", "json")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert [s["action"] for s in json.loads(plan.stdout)["steps"]] == ["upgrade"] * 3
        done = cli(
            ssh_lab, "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply",
            CLUSTEROPS_STATE_DIR=str(state),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert raft_versions(ssh_lab) == {CONSUL_B}
    for path in state.rglob("*.json"):
        assert_clean(ssh_lab, path.read_text())


def test_rolling_upgrade_playbook_over_tls_acl(playbook_lab: Lab, tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(yaml.safe_dump(lab_inventory(playbook_lab), sort_keys=False))
    state = tmp_path / "state"
    args = [str(PLAYBOOKS / "consul-rolling-upgrade.yaml"), "--var", f"inventory={inventory}", "--var",
            f"target={CONSUL_B}", "--state-dir", str(state)]  # fmt: skip
    plan = cli(playbook_lab, "run", *args)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "would upgrade 3 server(s)" in plan.stdout
    done = cli(playbook_lab, "run", *args, "--apply")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert raft_versions(playbook_lab) == {CONSUL_B}
    assert len(list((state / "snapshots").glob("*.snap"))) == 1
    for path in state.rglob("*.json"):
        assert_clean(playbook_lab, path.read_text())
