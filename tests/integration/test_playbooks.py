"""The shipped playbooks, run for real against labs: rolling upgrade (with a crash and --resume),
KV promotion between two OpenBao servers, and the pre-deploy check with JUnit for CI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import hvac
import yaml

from clusterops.journal import Journal
from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory
from tests.conftest import CONSUL_B, LabFactory
from tests.integration.helpers import lab_env, run_cli, wait_for_state
from tests.integration.kv_helpers import Bao

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"


def test_rolling_upgrade_playbook_plan_then_crash_then_resume(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(lab_inventory(lab)))
    state = tmp_path / "state"
    env = lab_env(lab)
    args = [str(PLAYBOOKS / "consul-rolling-upgrade.yaml"), "--var", f"inventory={inventory}", "--var",
            f"target={CONSUL_B}", "--state-dir", str(state)]  # fmt: skip

    plan = run_cli("run", *args, env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "would upgrade 3 server(s)" in plan.stdout and "(leader, " in plan.stdout
    assert not state.exists()  # a plan writes nothing

    # An 8s deadline on the upgrade step (one server takes longer: stop, start, a stable gate): it
    # finishes the server in hand, stops at the safe point before the next one, and once the run
    # has returned nothing acts any more. Every later run passes the same vars (the journal key).
    args += ["--var", "upgrade_timeout=8s"]
    stopped = run_cli("run", *args, "--apply", env=env, timeout=600)
    assert stopped.returncode == 1, stopped.stdout[-3000:] + stopped.stderr
    assert "stopped at a safe point before" in stopped.stdout and "postmortem: ok" in stopped.stdout
    journal = sorted((state / "upgrade").glob("*.json"))[-1]
    before = journal.read_text()
    done = [s["status"] for s in Journal.load(journal).steps()].count("done")
    assert done == 1
    time.sleep(5)  # a window in which an abandoned upgrade would stop the next server
    assert journal.read_text() == before
    now = wait_for_state(lab, lambda s: s.leader is not None, what="leader")
    assert [now.version_of(p) for p in now.raft].count(CONSUL_B) == 1

    # A crash (SIGKILL) right after the next server is done, then resume until it is finished.
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterops.cli.main", "run", *args, "--resume"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if [s["status"] for s in Journal.load(journal).steps()].count("done") >= 2:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the resumed upgrade never finished its second server")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    junit = tmp_path / "upgrade.xml"
    for _attempt in range(3):  # each run upgrades at most the servers its deadline allows
        resumed = run_cli("run", *args, "--resume", "--junit", str(junit), env=env, timeout=600)
        if resumed.returncode == 0:
            break
        assert "stopped at a safe point before" in resumed.stdout, resumed.stdout[-3000:] + resumed.stderr
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert "= preflight: done in an earlier attempt" in resumed.stdout
    assert "= snapshot: done in an earlier attempt" in resumed.stdout
    final = wait_for_state(lab, lambda s: s.leader is not None, what="leader")
    assert {final.version_of(p) for p in final.raft} == {CONSUL_B}
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and suite.get("tests") == "4"
    assert len(list((state / "snapshots").glob("*.snap"))) == 1


def test_kv_promote_asks_before_copying_and_copies_with_yes(
    bao: Bao, second_bao: Bao, kv_prefix: str, tmp_path: Path
) -> None:
    staging, production = bao.hvac(), second_bao.hvac()
    path = f"{kv_prefix}/app"
    canary = "s3cr3t-canary-7f3a"
    staging.secrets.kv.v2.create_or_update_secret(path=f"{path}/db", secret={"password": canary, "user": "app"})
    staging.secrets.kv.v2.create_or_update_secret(path=f"{path}/api", secret={"token": canary + "-api"})
    production.secrets.kv.v2.create_or_update_secret(path=f"{path}/db", secret={"password": "old", "user": "app"})
    (tmp_path / "staging.token").write_text(bao.token)
    (tmp_path / "prod.token").write_text(second_bao.token)
    args = [
        str(PLAYBOOKS / "kv-promote.yaml"), "--var", f"path=secret/{path}", "--var", f"dest=secret/{path}",
        "--var", f"staging_addr={bao.addr}", "--var", f"staging_token_file={tmp_path / 'staging.token'}",
        "--var", f"production_addr={second_bao.addr}", "--var", f"production_token_file={tmp_path / 'prod.token'}",
        "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    plan = run_cli("run", *args, env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "1 only in source, 0 only in destination, 1 differ" in plan.stdout
    assert "would create 1 and update 1 secret(s)" in plan.stdout

    refused = run_cli("run", *args, "--apply", env=env)
    assert refused.returncode == 1
    assert "rerun with --yes" in refused.stdout
    assert (
        production.secrets.kv.v2.read_secret_version(path=f"{path}/db", raise_on_deleted_version=True)["data"]["data"][
            "password"
        ]
        == "old"
    )

    done = run_cli("run", *args, "--apply", "--yes", "--report", str(tmp_path / "report.json"), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "copied 2 secret(s)" in done.stdout
    assert "0 only in source, 0 only in destination, 0 differ, 2 equal" in done.stdout
    assert (
        production.secrets.kv.v2.read_secret_version(path=f"{path}/db", raise_on_deleted_version=True)["data"]["data"][
            "password"
        ]
        == canary
    )
    for text in (
        plan.stdout,
        plan.stderr,
        refused.stdout,
        done.stdout,
        done.stderr,
        (tmp_path / "report.json").read_text(),
    ):
        assert canary not in text
    for journal in (tmp_path / "state").rglob("*.json"):
        assert canary not in journal.read_text()


def test_predeploy_check_reports_drift_in_junit_and_passes_once_in_sync(
    session_lab: Lab, kv_prefix: str, tmp_path: Path
) -> None:
    vault = session_lab.state().vault
    assert vault is not None
    token = session_lab.vault_token() or ""
    desired = tmp_path / "desired.yaml"
    desired.write_text(
        f"mount: secret\nsecrets:\n  {kv_prefix}/app:\n    data:\n      level: info\n      password: {{env: APP_PW}}\n"
    )
    env = lab_env(session_lab, VAULT_ADDR=vault.addr, VAULT_TOKEN=token, APP_PW="pw-canary-91c2")
    junit = tmp_path / "predeploy.xml"
    args = [str(PLAYBOOKS / "predeploy-check.yaml"), "--apply", "--var", f"kv_state={desired}", "--junit", str(junit),
            "--state-dir", str(tmp_path / "state")]  # fmt: skip

    first = run_cli("run", *args, env=env)
    assert first.returncode == 1, first.stdout + first.stderr
    cases = {c.get("name", "").split(" ")[0]: c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"validate-consul", "validate-vault", "consul-health", "kv-drift"}
    assert [n for n, c in cases.items() if c.find("failure") is not None] == ["kv-drift"]

    hvac.Client(url=vault.addr, token=token).secrets.kv.v2.create_or_update_secret(
        path=f"{kv_prefix}/app", secret={"level": "info", "password": "pw-canary-91c2"}
    )
    second = run_cli("run", *args, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert ET.parse(junit).getroot().get("failures") == "0"
    assert "pw-canary-91c2" not in first.stdout + second.stdout + junit.read_text()
    json.loads(run_cli("run", *args[:1], "--format", "json", "--var", f"kv_state={desired}", env=env).stdout)
