"""One operator at a time, an inventory that describes this cluster, and `--to v1.14.11`, on real labs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from clusterops.consul import lock as cluster_lock
from clusterops.consul.lock import Holder
from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory
from tests.conftest import CONSUL_A, CONSUL_B, LabFactory
from tests.integration.helpers import lab_client, lab_env, run_cli
from tests.integration.test_consul_upgrade import versions, wait_journal, write_inventory
from tests.integration.writer import Writer


def upgrade(inventory: Path, state_dir: Path, lab: Lab, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "clusterops.cli.main", "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B,
         "-f", "json", *extra],
        env=lab_env(lab, CLUSTEROPS_STATE_DIR=str(state_dir)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def pids(lab: Lab) -> dict[str, int | None]:
    return {s.name: s.pid for s in lab.state().servers}


def test_two_applies_at_once_exactly_one_proceeds(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    writer = Writer([s.http_addr for s in lab.state().servers], rate=25)
    writer.start()
    try:
        # separate state dirs: only the cluster lock (Consul session + KV) can keep them apart
        runs = [upgrade(inventory, tmp_path / f"state-{i}", lab, "--apply") for i in (1, 2)]
        results = [(p.pid, *p.communicate(timeout=600), p.returncode) for p in runs]
    finally:
        log = writer.stop()
    codes = sorted(r[3] for r in results)
    assert codes == [0, 1], [(r[3], r[2][-1500:]) for r in results]
    (winner_pid, winner_out, _, _), (_, loser_out, loser_err, _) = sorted(results, key=lambda r: r[3])
    assert "another run holds the cluster lock clusterops/lock" in loser_err
    assert f"pid {winner_pid}" in loser_err and "on host" in loser_err and "since" in loser_err
    assert not [e for e in events(loser_out) if e["event"] == "stopping"]  # the loser touched nothing
    assert len([e for e in events(winner_out) if e["event"] == "stopping"]) == 3  # each server once
    assert set(versions(lab).values()) == {CONSUL_B}
    assert len(log.acknowledged) >= 100 and writer.missing(lab.state().servers[0].http_addr) == []
    with lab_client(lab) as client:  # released at the end of the run
        assert cluster_lock.read_holder(client, cluster_lock.LOCK_KEY)[0] == ""


def test_resume_is_refused_while_the_run_lives_and_takes_over_once_it_is_dead(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    state_dir = tmp_path / "state"
    first = upgrade(inventory, state_dir, lab, "--apply")
    wait_journal(state_dir, lambda st: "gating" in st.values())
    alive = run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--resume",
                    env=lab_env(lab, CLUSTEROPS_STATE_DIR=str(state_dir)))  # fmt: skip
    assert alive.returncode == 1, alive.stderr
    assert f"pid {first.pid}" in alive.stderr and "nothing was touched" in alive.stderr
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    with lab_client(lab) as client:  # its session outlives it for up to 2 x TTL
        session, holder = cluster_lock.read_holder(client, cluster_lock.LOCK_KEY)
    assert session and holder is not None and holder.pid == first.pid
    resumed = run_cli("consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--resume",
                      env=lab_env(lab, CLUSTEROPS_STATE_DIR=str(state_dir)), timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr
    assert "took over the cluster lock clusterops/lock held by" in resumed.stderr
    assert f"pid {first.pid}" in resumed.stderr and "that process is gone" in resumed.stderr
    assert set(versions(lab).values()) == {CONSUL_B}


def test_break_lock_says_what_it_broke_and_v_prefixed_target_completes(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    env = lab_env(lab, CLUSTEROPS_STATE_DIR=str(tmp_path / "state"))
    # a run on another host holds the lock (its session is alive: it is not provably dead from here)
    other = Holder("ops-laptop", 4242, "20261201T070000Z-feed01", "consul upgrade --to 1.14.11 --apply", "alice",
                   time.time() - 60)  # fmt: skip
    with lab_client(lab) as client:
        session = cluster_lock.create_session(client, "someone else", ttl=60)
        assert cluster_lock.try_acquire(client, cluster_lock.LOCK_KEY, session, other.to_json())
    before = pids(lab)
    refused = run_cli("consul", "upgrade", "-i", str(inventory), "--to", "v" + CONSUL_B, "--apply", env=env)
    assert refused.returncode == 1, refused.stderr
    assert "by alice on host ops-laptop, pid 4242" in refused.stderr and "20261201T070000Z-feed01" in refused.stderr
    assert "--break-lock" in refused.stderr and pids(lab) == before
    broke = run_cli("consul", "upgrade", "-i", str(inventory), "--to", "v" + CONSUL_B, "--apply", "--break-lock",
                    env=env, timeout=600)  # fmt: skip
    assert broke.returncode == 0, broke.stdout[-2000:] + broke.stderr
    assert "broke the cluster lock clusterops/lock held by" in broke.stderr and "ops-laptop" in broke.stderr
    assert set(versions(lab).values()) == {CONSUL_B}  # `--to v1.14.11` passed every gate


def test_an_inventory_of_another_cluster_or_with_swapped_addresses_is_refused(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(servers=3)
    stranger = make_lab(servers=2)  # another cluster, also with nodes called s1 and s2
    env = lab_env(lab, CLUSTEROPS_STATE_DIR=str(tmp_path / "state"))
    before = pids(lab) | {f"stranger-{k}": v for k, v in pids(stranger).items()}

    def refused_with(inv: dict[str, Any], name: str, text: str) -> None:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False))
        result = run_cli("consul", "upgrade", "-i", str(path), "--to", CONSUL_B, "--apply", env=env)
        assert result.returncode == 1, result.stdout[-2000:] + result.stderr
        assert "UP009" in result.stdout + result.stderr and text in result.stdout + result.stderr
        assert "nothing was touched" in result.stderr

    # not the first server: the cluster is read through s1, so only asking s2 itself finds the typo
    typo = lab_inventory(lab)
    typo["servers"][1]["address"] = stranger.state().server("s2").http_addr
    refused_with(typo, "typo", "s2 (" + stranger.state().server("s2").http_addr + ") belongs to another cluster")

    swapped = lab_inventory(lab)
    a, b = swapped["servers"][0], swapped["servers"][1]
    a["address"], b["address"] = b["address"], a["address"]
    refused_with(swapped, "swapped", f"answers as node {b['name']!r}, not {a['name']!r}")

    after = pids(lab) | {f"stranger-{k}": v for k, v in pids(stranger).items()}
    assert after == before and set(versions(lab).values()) == {CONSUL_A}


def test_a_token_that_may_not_write_kv_or_acls_is_told_at_plan_time(make_lab: LabFactory, tmp_path: Path) -> None:
    import requests

    from clusterops.consul.client import ConsulClient
    from clusterops.consul.inventory import load_inventory
    from clusterops.consul.upgrade.reader import inventory_settings

    lab = make_lab(servers=1, acl=True)
    addr = lab.state().server("s1").http_addr
    headers = {"X-Consul-Token": lab.management_token() or ""}
    rules = 'operator = "read"\nnode_prefix "" { policy = "read" }\nagent_prefix "" { policy = "read" }\n'
    policy = requests.put(f"{addr}/v1/acl/policy", json={"Name": "reader", "Rules": rules}, headers=headers, timeout=10)
    policy.raise_for_status()
    token = requests.put(f"{addr}/v1/acl/token", json={"Policies": [{"Name": "reader"}]}, headers=headers, timeout=10)
    token.raise_for_status()
    token_file = tmp_path / "reader.token"
    token_file.write_text(token.json()["SecretID"])
    token_file.chmod(0o600)

    inv = lab_inventory(lab)
    inv["consul"] = {"token_file": str(token_file)}
    path = tmp_path / "reader.yaml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    env = lab_env(lab, CLUSTEROPS_STATE_DIR=str(tmp_path / "state"))
    env.pop("CONSUL_HTTP_TOKEN_FILE", None)
    plan = json.loads(run_cli("consul", "upgrade", "-i", str(path), "--to", CONSUL_B, "-f", "json", env=env).stdout)
    refusal = next(f for f in plan["refusals"] if f["rule"] == "UP011")
    assert "may not save a snapshot" in refusal["message"]
    managed = write_inventory(lab, tmp_path)  # the lab's management token: no UP011
    plan = json.loads(run_cli("consul", "upgrade", "-i", str(managed), "--to", CONSUL_B, "-f", "json", env=env).stdout)
    assert "UP011" not in {f["rule"] for f in plan["refusals"]}

    # the lock: no session:write -> a warning, and the local lock alone
    reader_inv = load_inventory(path)
    with ConsulClient(inventory_settings(reader_inv)) as client:
        lock = cluster_lock.acquire(
            [client], state_dir=tmp_path / "state", subject="x", command="consul upgrade --apply"
        )
        try:
            assert lock.session == "" and lock.local.path.exists()
            assert lock.notes and lock.notes[0].startswith("warning: the token may not take the cluster lock")
            assert "only the local lock" in lock.notes[0]
        finally:
            lock.release()
