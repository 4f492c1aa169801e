"""`consul snapshot restore-test` on real servers: a 1.13.9 snapshot (KV keys and a registered
service) restored into throwaway 1.13.9 and 1.14.11 servers, a damaged one giving Consul's exact
error, and `consul upgrade --apply --restore-test` proving its snapshot before touching a server.
One single-server lab serves all of it."""

from __future__ import annotations

import json
from pathlib import Path

import consul
import pytest
import yaml

from clusterops.consul.snapshot import inspect_snapshot
from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory
from tests.conftest import CONSUL_A, CONSUL_B, LabFactory
from tests.integration.helpers import lab_client, lab_env, run_cli


@pytest.fixture
def source(make_lab: LabFactory, tmp_path: Path) -> tuple[Lab, Path]:
    lab = make_lab(servers=1, consul_version=CONSUL_A)
    with lab_client(lab) as client:
        raw = consul.Consul(host=client.settings.host, port=client.settings.port, token=lab.management_token())
        for i in range(3):
            assert raw.kv.put(f"app/config/key{i}", f"value-{i}")
        raw.agent.service.register("web", port=8080, tags=["v1"])
        snapshot = tmp_path / "pre.snap"
        snapshot.write_bytes(client.snapshot())
    return lab, snapshot


def test_a_snapshot_restores_into_both_versions_a_damaged_one_fails_and_upgrade_proves_its_own(
    source: tuple[Lab, Path], tmp_path: Path
) -> None:
    lab, snapshot = source
    env = lab_env(lab)
    index = inspect_snapshot(snapshot.read_bytes()).index
    for version in (CONSUL_A, CONSUL_B):
        done = run_cli("consul", "snapshot", "restore-test", str(snapshot), "--consul-version", version, "-f", "json",
                       env=env)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["restored"] and report["consul_version"] == version
        assert report["kv_keys"] == ["app/config/key0", "app/config/key1", "app/config/key2"]
        assert "web" in report["services"] and report["index"] >= index
        assert "value-" not in done.stdout  # key names only, never values

    damaged = tmp_path / "damaged.snap"
    damaged.write_bytes(snapshot.read_bytes()[: len(snapshot.read_bytes()) // 2])
    done = run_cli("consul", "snapshot", "restore-test", str(damaged), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"RESTORE FAILED into Consul {CONSUL_B}: 500 failed to read snapshot file" in done.stdout
    assert "unexpected EOF" in done.stdout and "DAMAGED" in done.stdout

    missing = run_cli("consul", "snapshot", "restore-test", str(tmp_path / "nope.snap"), env=env)
    assert missing.returncode == 2 and "nope.snap: cannot read the snapshot" in missing.stderr

    # the same lab, upgraded with --restore-test: the snapshot is proven before any server stops
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(lab_inventory(lab)))
    done = run_cli(
        "consul", "upgrade", "-i", str(inventory), "--to", CONSUL_B, "--apply", "--restore-test",
        "--min-failure-tolerance", "0", "--state-dir", str(tmp_path / "state"), "-f", "json",
        env=lab_env(lab), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    kinds = [e["event"] for e in events]
    assert kinds.index("snapshot") < kinds.index("restore-test") < kinds.index("stopping")
    proof = events[kinds.index("restore-test")]
    assert proof["restored"] and proof["consul_version"] == CONSUL_B
    assert "web" in proof["services"] and "app/config/key0" in proof["kv_keys"]
