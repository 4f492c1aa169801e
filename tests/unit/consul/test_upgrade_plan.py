"""The pure parts of the upgrade: inventory parsing, plan order and refusals, verdicts, journal."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import stat
import tarfile
from pathlib import Path

import pytest

from clusterops.consul.inventory import inventory_from_text
from clusterops.consul.snapshot import SnapshotInvalid, inspect_snapshot
from clusterops.consul.upgrade.drivers import SshDriver, driver_for, render
from clusterops.consul.upgrade.execute import (
    Tracker,
    cluster_verdict,
    node_back_verdict,
    node_verdict,
    supports_leader_transfer,
)
from clusterops.consul.upgrade.plan import RULES, plan_upgrade
from clusterops.consul.version import Version
from clusterops.errors import ConfigError, UsageError
from clusterops.journal import Journal
from tests.unit.consul.factories import cluster

INVENTORY = """\
cluster: prod
drivers:
  systemd:
    type: ssh
    user: ops
    port: 2222
    commands:
      stop: sudo systemctl stop consul
      switch: sudo apt-get install -y consul={version}
      start: sudo systemctl start consul
servers:
  - {name: s1, address: "10.0.0.1:8500", driver: systemd}
  - {name: s2, address: "http://10.0.0.2:8500", driver: systemd}
  - name: s3
    address: http://10.0.0.3:8500
    driver: {type: exec, commands: {stop: "true", start: "true"}}
"""


def test_inventory_parses_named_and_inline_drivers() -> None:
    inv = inventory_from_text(INVENTORY, "inv.yaml")
    assert inv.names == ["s1", "s2", "s3"]
    assert inv.servers[0].address == "http://10.0.0.1:8500" and inv.servers[0].host == "10.0.0.1"
    ssh = driver_for(inv.servers[0])
    assert isinstance(ssh, SshDriver)
    assert ssh.argv("sudo systemctl stop consul")[-2:] == ["ops@10.0.0.1", "sudo systemctl stop consul"]
    assert "-p" in ssh.argv("x") and "BatchMode=yes" in ssh.argv("x")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("servers: []\n", "inv.yaml:1: servers: must be a non-empty list"),
        ("servers:\n  - name: s1\n    driver: lab\n", "inv.yaml:2: servers[0].address: missing"),
        ("servers:\n  - {name: s1, address: a:1, driver: nope}\n", "inv.yaml:2: servers[0].driver: unknown driver"),
        ("servers:\n  - {name: s1, address: 'a:1', driver: {type: lab}}\n", "the lab driver needs `lab_dir`"),
        ("consul: {token: abc}\nservers: [{name: a, address: 'b:1', driver: exec}]\n", "tokens do not belong"),
        ("servers:\n  - name: s1\n   bad: indent\n", "inv.yaml:3: not valid YAML"),
        ("servers:\n  - {name: a, address: 'a:1', driver: {type: exec, commands: {stop: x, start: y, boom: z}}}\n",
         "unknown command 'boom'"),
        ("hosts: []\n", "inv.yaml:1: hosts: unknown key"),
    ],
)  # fmt: skip
def test_malformed_inventories_name_the_line(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        inventory_from_text(text, "inv.yaml")
    assert where in str(err.value)


def test_templates_are_shell_quoted() -> None:
    inv = inventory_from_text(INVENTORY)
    assert render("install consul={version} on {node}", inv.servers[0], "1.14.11; rm -rf /") == (
        "install consul='1.14.11; rm -rf /' on s1"
    )
    with pytest.raises(UsageError, match="unknown placeholder"):
        render("{nodes}", inv.servers[0], "1")


def lab_inventory_text(names: list[str]) -> str:
    lines = ["servers:"]
    for i, n in enumerate(names, 1):
        lines.append(f"  - {{name: {n}, address: 'http://10.0.0.{i}:8500', driver: {{type: lab, lab_dir: /tmp/x}}}}")
    return "\n".join(lines) + "\n"


def test_plan_orders_followers_by_name_and_the_leader_last_with_quorum_views() -> None:
    state = cluster(leader="s2")
    plan = plan_upgrade(state, inventory_from_text(lab_inventory_text(["s1", "s2", "s3"])), "1.14.11")
    assert plan.ok and [s.server for s in plan.steps] == ["s1", "s3", "s2"]
    assert [s.role for s in plan.steps] == ["follower", "follower", "leader"]
    step = plan.steps[0]
    assert (step.before.failure_tolerance, step.during.failure_tolerance, step.during.servers_up) == (1, 0, 2)


def test_plan_skips_servers_already_on_target() -> None:
    state = cluster(versions={"s1": "1.14.11"})
    plan = plan_upgrade(state, inventory_from_text(lab_inventory_text(["s1", "s2", "s3"])), "1.14.11")
    assert [(s.server, s.action) for s in plan.steps] == [("s2", "upgrade"), ("s3", "upgrade"), ("s1", "skip")]


def test_plan_refusals() -> None:
    inv = inventory_from_text(lab_inventory_text(["s1", "s2", "s3"]))
    ids = lambda p: {f.rule_id for f in p.refusals}  # noqa: E731
    assert "UP001" in ids(plan_upgrade(cluster(leader="x"), inv, "1.14.11"))
    assert {"UP002", "UP003", "UP004"} <= ids(plan_upgrade(cluster(dead=("s3",)), inv, "1.14.11"))
    assert ids(plan_upgrade(cluster(), inv, "1.14.11", min_failure_tolerance=2)) == {"UP002"}
    assert "UP005" in ids(plan_upgrade(cluster(), inventory_from_text(lab_inventory_text(["s1", "s2"])), "1.14.11"))
    assert "UP006" in ids(plan_upgrade(cluster(), inv, "1.16.0", max_minor_jump=2))
    assert "UP006" in ids(plan_upgrade(cluster(), inv, "1.12.0"))
    assert not plan_upgrade(cluster(), inv, "1.12.0", allow_downgrade=True).refusals
    stale = cluster(extra_raft=[{"ID": "x", "Node": "(unknown)", "Address": "10.0.0.9:8300"}])
    refusal = next(f for f in plan_upgrade(stale, inv, "1.14.11").refusals if f.rule_id == "UP003")
    assert "consul operator raft remove-peer -id=x" in refusal.remedy
    assert len(RULES) == 11


def test_versions() -> None:
    assert Version.target("v1.14.11") == Version(1, 14, 11) and str(Version.target("v1.14.11")) == "1.14.11"
    assert supports_leader_transfer("1.15.0") and not supports_leader_transfer("1.14.11")
    assert supports_leader_transfer("1.15.0+ent") and not supports_leader_transfer("garbage")
    with pytest.raises(UsageError):
        Version.target("latest")


def test_node_and_cluster_verdicts() -> None:
    upgraded = cluster(versions={"s2": "1.14.11"})
    assert node_verdict(upgraded, "s2", "1.14.11", 1).ok
    assert "reports version 1.13.9" in node_verdict(upgraded, "s3", "1.14.11", 1).reason
    assert (
        "non-voter" in node_verdict(cluster(non_voters=("s2",), versions={"s2": "1.14.11"}), "s2", "1.14.11", 0).reason
    )
    assert "not in the raft configuration" in node_verdict(upgraded, "s9", "1.14.11", 1).reason
    assert (
        "voters not healthy" in cluster_verdict(cluster(dead=("s3",)), 1).reason
        or "stale" in cluster_verdict(cluster(dead=("s3",)), 1).reason
    )
    assert "below its pre-upgrade 2" in cluster_verdict(cluster(), 2).reason
    # node_back_verdict judges the server alone: a failed neighbour does not hold it back (rollback)
    degraded = cluster(dead=("s3",), versions={"s2": "1.14.11"})
    assert node_back_verdict(degraded, "s2", "1.14.11").ok
    assert not node_verdict(degraded, "s2", "1.14.11", 1).ok


def test_tracker_counts_new_leaders() -> None:
    t = Tracker()
    for leader in ("s1", "s1", "s2", "s2", "s3"):
        t.observe(cluster(leader=leader))
    assert t.changes == 2 and t.history == ["s2", "s3"]


def test_journal_is_atomic_private_and_resumable(tmp_path: Path) -> None:
    j = Journal.create(tmp_path, kind="upgrade", key="inv|1.14.11", params={"x": 1}, steps=["s2", "s3", "s1"])
    assert stat.S_IMODE(j.path.stat().st_mode) == 0o600
    j.mark("s2", "stopping", from_version="1.13.9")
    j.mark("s2", "done")
    found = Journal.latest_unfinished(tmp_path, kind="upgrade", key="inv|1.14.11")
    assert found is not None and found.step("s2")["status"] == "done" and found.step("s3")["status"] == "pending"
    assert found.step("s2")["data"] == {"from_version": "1.13.9"}
    assert Journal.latest_unfinished(tmp_path, kind="upgrade", key="other") is None
    j.finish("done")
    assert Journal.latest_unfinished(tmp_path, kind="upgrade", key="inv|1.14.11") is None
    assert not [p for p in j.path.parent.iterdir() if p.name.endswith(".tmp")]
    (tmp_path / "upgrade" / "broken.json").write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        Journal.load(tmp_path / "upgrade" / "broken.json")


def make_snapshot(index: int = 42, tamper: bool = False) -> bytes:
    state = b"raft state"
    meta = json.dumps({"ID": "2-42-1", "Size": len(state), "Index": index, "Term": 2, "Version": 1}).encode()
    sums = f"{hashlib.sha256(b'x' if tamper else state).hexdigest()}  state.bin\n".encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in (("meta.json", meta), ("state.bin", state), ("SHA256SUMS", sums)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_snapshot_inspection() -> None:
    info = inspect_snapshot(make_snapshot())
    assert (info.index, info.term, info.id) == (42, 2, "2-42-1")
    for bad, why in ((b"", "empty"), (b"not gzip", "not a readable"), (make_snapshot(0), "index 0")):
        with pytest.raises(SnapshotInvalid, match=why):
            inspect_snapshot(bad)
    with pytest.raises(SnapshotInvalid, match="does not match"):
        inspect_snapshot(make_snapshot(tamper=True))
