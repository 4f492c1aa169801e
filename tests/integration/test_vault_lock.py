"""The Vault upgrade's cluster lock, held in the cluster's own KV v2 (`clusterops.vault.lock`), on a
real single-node OpenBao lab: a fresh lock held by another run refuses `vault upgrade --apply` with
nothing touched, an expired one is taken over, `--break-lock` says whose it broke, and a run that
lost its lock stops before the next node. The runs target the version the node already has (every
step a skip): the lock is what is under test, not the upgrade."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clusterops.consul.lock import Holder, LockHeld
from clusterops.lab.openbao_cluster import OpenBaoCluster
from clusterops.vault import lock as vault_lock
from clusterops.vault.lock import DEFAULT_LOCK_PATH, LockRecord
from clusterops.wait import Verdict, wait_until
from tests.conftest import free_prefix
from tests.integration.test_vault_cluster import OLD, env, require_openbao, run_cli, write_inventory

OTHER = Holder("ops-host-b", 31337, "run-other", "vault upgrade --to 2.7.2 --apply", "alice", time.time(), "")


@pytest.fixture(scope="module")
def bao(lab_root: Path) -> Iterator[OpenBaoCluster]:
    require_openbao()
    cluster = OpenBaoCluster(lab_root / "vault-lock")
    cluster.up(nodes=1, version=OLD, prefix=free_prefix())
    try:
        addr = cluster.inventory()["servers"][0]["address"]
        headers = {"X-Vault-Token": cluster.root_token()}
        resp = requests.post(
            f"{addr}/v1/sys/mounts/secret", headers=headers, json={"type": "kv", "options": {"version": "2"}},
            timeout=10,
        )  # fmt: skip
        assert resp.status_code in (200, 204), resp.text
        wait_until(
            lambda: requests.get(f"{addr}/v1/secret/config", headers=headers, timeout=5).status_code,
            lambda code: Verdict(code == 200, f"HTTP {code}"), timeout=30, interval=0.3, what="KV v2 ready",
        )  # fmt: skip
        yield cluster
    finally:
        cluster.down()


def kv(cluster: OpenBaoCluster, method: str, path: str, body: Any = None) -> requests.Response:
    addr = cluster.inventory()["servers"][0]["address"]
    return requests.request(
        method, f"{addr}/v1/{path}", headers={"X-Vault-Token": cluster.root_token()}, json=body, timeout=10
    )


def plant(cluster: OpenBaoCluster, expires: float) -> None:
    """Another run's lock record (a simulated holder on another host)."""
    kv(cluster, "DELETE", "secret/metadata/clusterops/upgrade-lock")
    resp = kv(cluster, "POST", "secret/data/clusterops/upgrade-lock",
              {"data": LockRecord(OTHER, "other-id", expires).to_data()})  # fmt: skip
    assert resp.status_code in (200, 204), resp.text


def upgrade(cluster: OpenBaoCluster, tmp_path: Path, *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    inventory = write_inventory(cluster, tmp_path)
    ran = run_cli(
        "vault", "upgrade", "-i", inventory, "--to", OLD, "--state-dir", str(tmp_path / "state"), "-f", "json",
        "--min-failure-tolerance", "0", "--no-snapshot", "--apply", *extra, env=env(),
    )  # fmt: skip
    events = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    return ran.returncode, events, ran.stderr


def lock_gone(cluster: OpenBaoCluster) -> bool:
    return kv(cluster, "GET", "secret/data/clusterops/upgrade-lock").status_code == 404


def test_a_fresh_lock_held_by_another_run_refuses_with_the_holder_and_nothing_touched(
    bao: OpenBaoCluster, tmp_path: Path
) -> None:
    plant(bao, time.time() + 600)
    code, events, err = upgrade(bao, tmp_path)
    assert code == 1, err
    for part in ("ops-host-b", "pid 31337", "run run-other", "since "):
        assert part in err, err
    assert not [e for e in events if e.get("event") in ("journal", "snapshot", "stopping")]
    assert not list((tmp_path / "state").glob("vault-upgrade/*")), "a journal was written"
    assert not lock_gone(bao), "the other run's lock was removed"


def test_an_expired_lock_is_taken_over_and_released_at_the_end(bao: OpenBaoCluster, tmp_path: Path) -> None:
    plant(bao, time.time() - 1)
    code, events, err = upgrade(bao, tmp_path)
    assert code == 0, err
    notes = " ".join(str(e.get("note")) for e in events if e.get("event") == "lock")
    assert "took over the expired cluster lock" in notes and "ops-host-b" in notes, notes
    assert lock_gone(bao), "the lock was not released"


def test_break_lock_takes_a_fresh_lock_and_says_whose(bao: OpenBaoCluster, tmp_path: Path) -> None:
    plant(bao, time.time() + 600)
    code, events, err = upgrade(bao, tmp_path, "--break-lock")
    assert code == 0, err
    notes = " ".join(str(e.get("note")) for e in events if e.get("event") == "lock")
    assert "broke the cluster lock" in notes and "ops-host-b" in notes and "pid 31337" in notes, notes
    assert lock_gone(bao)


def test_cas_zero_admits_one_creator_and_a_run_that_lost_its_lock_stops(bao: OpenBaoCluster, tmp_path: Path) -> None:
    kv(bao, "DELETE", "secret/metadata/clusterops/upgrade-lock")
    with bao.client() as client:
        nodes = [s["address"] for s in bao.inventory()["servers"]]
        mine = vault_lock.acquire(
            client, nodes, state_dir=tmp_path / "a", subject="a", command="vault upgrade --apply",
            lock_path=DEFAULT_LOCK_PATH, renew_every=0.5,
        )  # fmt: skip
        try:
            assert mine.kv is not None and not mine.notes
            mine.ensure_held()
            assert mine.kv.write(LockRecord(OTHER, "racer", time.time() + 600), 0) is None  # cas=0: one creator
            with pytest.raises(LockHeld, match="another run holds the cluster lock"):  # a second creator loses
                vault_lock.acquire(client, nodes, state_dir=tmp_path / "b", subject="b", command="vault upgrade")
            first = mine.version
            wait_until(lambda: mine.version, lambda v: Verdict(v > first, f"version {v}"), timeout=30,
                       interval=0.2, what="a renewal")  # fmt: skip
            plant(bao, time.time() + 600)  # another run takes it (as a --break-lock would)
            with pytest.raises(LockHeld, match=r"lost the cluster lock .* ops-host-b"):
                mine.ensure_held()
        finally:
            mine.release()
    assert not lock_gone(bao), "a run that lost the lock deleted the new holder's lock"
