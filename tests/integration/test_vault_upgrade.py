"""`clusterops vault upgrade` on real OpenBao raft clusters, 2.6.2 -> 2.7.2, through the shared
upgrade executor, with a KV writer that must lose no acknowledged write.

Two clusters keep the module lean: a 3-node one (a dead voter refused at plan time, then a run
killed with SIGKILL mid-node and finished with --resume, under load) and a 5-node one (a node
that comes back sealed with no key fails its gate naming the remedy; --resume with the key
finishes it, under load).
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from clusterops.lab.openbao_cluster import OpenBaoCluster
from clusterops.vault.upgrade_adapter import cluster_ok
from clusterops.wait import Verdict, wait_until
from tests.conftest import free_prefix
from tests.integration.test_vault_cluster import NEW, OLD, env, read, require_openbao, run_cli

MOUNT = "upkv"
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


@dataclass
class KvWriter:
    """Writes key i = value i as fast as one client can, through whichever node acknowledges
    (a standby forwards to the active node); an acknowledged write is one answered 2xx."""

    addresses: list[str]
    token: str
    acked: dict[str, str] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def _run(self) -> None:
        session = requests.Session()
        session.headers["X-Vault-Token"] = self.token
        i, node = 0, 0
        while not self.stop.is_set():
            key, value = f"k{i:06d}", f"v{i}-{time.monotonic_ns()}"
            try:
                resp = session.post(
                    f"{self.addresses[node]}/v1/{MOUNT}/data/{key}", json={"data": {"v": value}}, timeout=2
                )
                ok = resp.status_code in (200, 204)
            except requests.RequestException:
                ok = False
            if ok:
                self.acked[key] = value
                self.ack_times.append(time.monotonic())
                i += 1
            else:
                node = (node + 1) % len(self.addresses)
                time.sleep(0.02)

    def __enter__(self) -> KvWriter:
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(10)
        self.ended = time.monotonic()

    @property
    def rate(self) -> float:
        return len(self.acked) / max(1e-9, self.ended - self.started)

    @property
    def longest_gap(self) -> float:
        times = [self.started, *self.ack_times, self.ended]
        return max(b - a for a, b in itertools.pairwise(times))

    def lost(self, address: str) -> list[str]:
        """Acknowledged writes that do not read back with their value."""
        session = requests.Session()
        session.headers["X-Vault-Token"] = self.token
        lost = []
        for key, value in self.acked.items():
            resp = session.get(f"{address}/v1/{MOUNT}/data/{key}", timeout=5)
            if resp.status_code != 200 or resp.json()["data"]["data"]["v"] != value:
                lost.append(key)
        return lost


def mount_kv(cluster: OpenBaoCluster) -> None:
    active = next(n for n in read(cluster).nodes if n.role == "active")
    resp = requests.post(
        f"{active.address}/v1/sys/mounts/{MOUNT}",
        headers={"X-Vault-Token": cluster.root_token()},
        json={"type": "kv", "options": {"version": "2"}},
        timeout=10,
    )
    assert resp.status_code in (200, 204), resp.text
    # KV v2 upgrades its mount in the background: wait until a write is accepted
    wait_until(
        lambda: (
            requests.post(
                f"{active.address}/v1/{MOUNT}/data/probe",
                headers={"X-Vault-Token": cluster.root_token()},
                json={"data": {"v": "x"}},
                timeout=5,
            ).status_code
        ),
        lambda code: Verdict(code in (200, 204), f"HTTP {code}"),
        timeout=30,
        interval=0.3,
        what="the KV mount to accept writes",
    )


def write_inventory(cluster: OpenBaoCluster, path: Path, *, with_keys: bool = True) -> str:
    inv = cluster.inventory()
    if not with_keys:
        inv["vault"].pop("unseal_key_file", None)
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return str(path)


def upgrade(inventory: str, state: Path, *extra: str) -> tuple[int, list[dict[str, object]], str]:
    ran = run_cli(
        "vault", "upgrade", "-i", inventory, "--to", NEW, "--state-dir", str(state), "-f", "json", *extra, env=env()
    )
    events = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    return ran.returncode, events, ran.stderr


def wait_healthy(cluster: OpenBaoCluster, baseline: int) -> None:
    wait_until(lambda: read(cluster), lambda s: cluster_ok(s, baseline), timeout=120, interval=0.5, what="healthy")


@pytest.fixture
def clusters(lab_root: Path) -> Iterator[list[OpenBaoCluster]]:
    made: list[OpenBaoCluster] = []
    yield made
    for c in made:
        c.down()


def new_cluster(made: list[OpenBaoCluster], lab_root: Path, nodes: int) -> OpenBaoCluster:
    require_openbao()
    prefix = free_prefix()
    cluster = OpenBaoCluster(lab_root / f"vault-up-{prefix.replace('.', '-')}")
    made.append(cluster)
    cluster.up(nodes=nodes, version=OLD, prefix=prefix)
    return cluster


def test_three_nodes_dead_voter_refused_then_sigkill_mid_node_and_resume_under_load(
    clusters: list[OpenBaoCluster], lab_root: Path, tmp_path: Path
) -> None:
    cluster = new_cluster(clusters, lab_root, 3)
    inventory = write_inventory(cluster, tmp_path / "inv.yaml")
    state_dir = tmp_path / "state"
    before = read(cluster)
    assert before.active is not None
    standby = sorted(n.name for n in before.nodes if n.name != before.active.name)[0]

    # the playbook's plan: every node, standbys first, the active node last; nothing touched
    planned = run_cli(
        "run", str(PLAYBOOKS / "vault-rolling-upgrade.yaml"), "--var", f"inventory={inventory}", "--var",
        f"target={NEW}", "--state-dir", str(tmp_path / "pb-state"), env=env(),
    )  # fmt: skip
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "would upgrade 3 node(s)" in planned.stdout
    assert f"{before.active.name}(active, {OLD}->{NEW}, upgrade)" in planned.stdout
    assert not (tmp_path / "pb-state").exists()

    # a dead voter is refused at plan time, naming the remedy; nothing is touched
    cluster.stop(standby, kill=True)

    def plan() -> tuple[int, str]:
        ran = run_cli("vault", "upgrade", "-i", inventory, "--to", NEW, "-f", "json", env=env())
        return ran.returncode, ran.stdout

    def refused(result: tuple[int, str]) -> Verdict:
        code, out = result
        rules = {r["rule"]: r for r in json.loads(out)["refusals"]} if out.startswith("{") else {}
        return Verdict(code == 1 and "VU003" in rules, f"exit {code}, refusals {sorted(rules)}")

    code, out = wait_until(plan, refused, timeout=60, interval=1, what="the dead voter refused").observation
    doc = json.loads(out)
    dead = next(r for r in doc["refusals"] if r["rule"] == "VU003")
    assert dead["subject"] == standby and "remove-stale-peers" in dead["remedy"]
    assert {n.version for n in read(cluster).nodes if n.reachable} == {OLD}
    cluster.start(standby)  # unsealed again
    wait_healthy(cluster, before.failure_tolerance)

    # SIGKILL of the tool while the second node is being restarted, then --resume
    mount_kv(cluster)
    addresses = [n.address for n in before.nodes]
    with KvWriter(addresses, cluster.root_token()) as writer:
        with subprocess.Popen(
            [sys.executable, "-m", "clusterops.cli.main", "vault", "upgrade", "-i", inventory, "--to", NEW,
             "--apply", "--state-dir", str(state_dir), "-f", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env(),
        ) as proc:  # fmt: skip
            assert proc.stdout is not None
            stopped: list[str] = []
            killed_at = ""
            for line in proc.stdout:
                event = json.loads(line) if line.startswith("{") else {}
                if event.get("event") == "stopping":
                    stopped.append(str(event["server"]))
                    if len(stopped) == 2:
                        proc.send_signal(signal.SIGKILL)
                        killed_at = stopped[-1]
                        break
            proc.wait(30)
        assert killed_at and proc.returncode == -signal.SIGKILL
        code, events, err = upgrade(inventory, state_dir, "--resume")
        assert code == 0, err + json.dumps(events[-3:])
    kinds = [e["event"] for e in events]
    assert "resume" in kinds and kinds[-1] == "report"
    resumed = next(e for e in events if e["event"] == "resume-check")
    assert resumed["server"] == killed_at  # the half-done node was finished first
    after = read(cluster)
    assert {n.version for n in after.nodes} == {NEW}
    assert after.active is not None and after.failure_tolerance == before.failure_tolerance
    report: dict[str, Any] = events[-1]
    assert report["status"] == "done"
    assert [s["status"] for s in report["steps"]] == ["done"] * 3
    # the old active node went last and was stepped down first
    assert any(e["event"] == "leader-step" and e["server"] == before.active.name for e in events)
    assert writer.rate >= 20, f"{writer.rate:.1f} acknowledged writes/s"
    assert writer.lost(after.active.address) == []
    print(f"3 nodes: {len(writer.acked)} writes, {writer.rate:.0f}/s, longest gap {writer.longest_gap:.2f}s")

    # a broken new binary: the node fails to start, --rollback-on-failure puts it back on its version
    broken = tmp_path / "bao-broken"
    broken.write_text("#!/bin/sh\necho 'panic: broken build' >&2\nexit 2\n")
    broken.chmod(0o755)
    bad = "2.7.9"
    ran = run_cli(
        "vault", "upgrade", "-i", inventory, "--to", bad, "--apply", "--rollback-on-failure",
        "--state-dir", str(state_dir), "-f", "json",
        env={**env(), "CLUSTEROPS_BAO_BINARY_2_7_9": str(broken)},
    )  # fmt: skip
    events = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    assert ran.returncode == 1, ran.stderr
    first = next(e for e in events if e["event"] == "stopping")["server"]
    assert [e["server"] for e in events if e["event"] == "stopping"] == [first]  # no other node touched
    assert any(e["event"] == "rollback" and e["version"] == NEW for e in events)
    assert "rolled back to 2.7.2 and the cluster is healthy again" in ran.stderr
    final = read(cluster)
    assert {n.version for n in final.nodes} == {NEW}
    assert cluster_ok(final, before.failure_tolerance).ok


def test_five_nodes_a_sealed_node_without_a_key_fails_its_gate_then_resume_with_the_key(
    clusters: list[OpenBaoCluster], lab_root: Path, tmp_path: Path
) -> None:
    cluster = new_cluster(clusters, lab_root, 5)
    path = tmp_path / "inv.yaml"
    inventory = write_inventory(cluster, path, with_keys=False)
    state_dir = tmp_path / "state"
    before = read(cluster)
    assert before.active is not None and before.failure_tolerance == 2

    code, events, err = upgrade(inventory, state_dir, "--apply", "--gate-timeout", "15s")
    assert code == 1
    failed = next(e for e in events if e["event"] == "server-failed")
    first = sorted(n.name for n in before.nodes if n.name != before.active.name)[0]
    assert failed["server"] == first
    assert f"{first} is sealed: unseal it" in str(failed["reason"]) and "unseal_key_file" in str(failed["reason"])
    assert sum(1 for e in events if e["event"] == "stopping") == 1  # no other node was touched

    write_inventory(cluster, path, with_keys=True)  # the same inventory, now with its key file
    mount_kv(cluster)
    with KvWriter([n.address for n in before.nodes], cluster.root_token()) as writer:
        code, events, err = upgrade(inventory, state_dir, "--resume")
    assert code == 0, err + json.dumps(events[-3:])
    after = read(cluster)
    assert {n.version for n in after.nodes} == {NEW}
    assert after.active is not None and after.failure_tolerance == 2
    assert writer.rate >= 20, f"{writer.rate:.1f} acknowledged writes/s"
    assert writer.lost(after.active.address) == []
    print(f"5 nodes: {len(writer.acked)} writes, {writer.rate:.0f}/s, longest gap {writer.longest_gap:.2f}s")
