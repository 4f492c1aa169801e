"""`clusterops lab vault` and `clusterops vault status|check|gate|remove-stale-peers|snapshot` on real
OpenBao raft clusters (2.6.2 and 2.7.2; 3 and 5 nodes).

One 3-node 2.7.2 cluster is shared by the read-only tests of this module; tests that break a
cluster either restore it (the sealed node) or get their own (the incident, the version order).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from clusterops.cli.main import run
from clusterops.errors import BinaryUnavailable, LabError
from clusterops.lab import binaries, processes
from clusterops.lab.openbao_cluster import OpenBaoCluster
from clusterops.vault.state import NodeTarget, VaultClusterState, read_vault_state
from clusterops.vault.upgrade_adapter import (
    VaultUpgradeAdapter,
    cluster_ok,
    gate_values,
    node_back,
    node_gate,
    order,
    preflight,
)
from clusterops.wait import Verdict, wait_until
from tests.conftest import IN_CI, free_prefix

OLD, NEW = binaries.OPENBAO_VERSIONS


def require_openbao() -> None:
    try:
        for v in binaries.OPENBAO_VERSIONS:
            binaries.openbao_binary(v, install=False)
    except BinaryUnavailable as err:
        if IN_CI:
            pytest.fail(f"CI=true and an OpenBao binary is missing: {err}")
        pytest.skip(f"{err} (run `make binaries`)")


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CONSUL_", "VAULT_", "BAO_"))}


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str]) -> Ran:
    """`clusterops ARGS` in this process with exactly `env` as the environment (a subprocess per call
    cost ~2s of imports each on 2 busy cores); the servers it starts outlive it as they would."""
    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Ran(code, out.getvalue(), err.getvalue())


def write_inventory(cluster: OpenBaoCluster, tmp: Path) -> str:
    path = tmp / f"vault-inventory-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(cluster.inventory(), sort_keys=False))
    return str(path)


def targets(cluster: OpenBaoCluster) -> list[NodeTarget]:
    return [NodeTarget(n.name, n.api_addr) for n in cluster.state().nodes]


def read(cluster: OpenBaoCluster) -> VaultClusterState:
    with cluster.client() as c:
        return read_vault_state(c, targets(cluster))


def wait_state(cluster: OpenBaoCluster, ok: object, what: str, timeout: float = 90) -> VaultClusterState:
    def judge(s: VaultClusterState) -> Verdict:
        return Verdict(bool(ok(s)), what)  # type: ignore[operator]

    return wait_until(lambda: read(cluster), judge, timeout=timeout, interval=0.5, what=what).observation


def check_json(inventory: str, *extra: str) -> tuple[int, dict[str, object]]:
    result = run_cli("vault", "check", "-i", inventory, "--format", "json", *extra, env=env())
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def rules(doc: dict[str, object]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in doc["findings"]:  # type: ignore[attr-defined]
        out.setdefault(f["rule"], []).append(f["subject"])
    return out


@pytest.fixture(scope="module")
def raft(lab_root: Path) -> Iterator[OpenBaoCluster]:
    require_openbao()
    cluster = OpenBaoCluster(lab_root / "vault-raft-shared")
    cluster.up(nodes=3, version=NEW, prefix=free_prefix())
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def own_cluster(lab_root: Path) -> Iterator[list[OpenBaoCluster]]:
    made: list[OpenBaoCluster] = []
    yield made
    for cluster in made:
        cluster.down()


def new_cluster(made: list[OpenBaoCluster], lab_root: Path, nodes: int, version: str) -> OpenBaoCluster:
    require_openbao()
    prefix = free_prefix()
    cluster = OpenBaoCluster(lab_root / f"vault-raft-{prefix.replace('.', '-')}")
    made.append(cluster)
    cluster.up(nodes=nodes, version=version, prefix=prefix)
    return cluster


# -- the lab -------------------------------------------------------------------------------------


def test_lab_is_ready_and_keeps_its_secrets_in_private_files(raft: OpenBaoCluster) -> None:
    state = read(raft)
    assert state.active is not None
    assert {n.role for n in state.nodes} <= {"active", "standby"}
    assert [s.node_id for s in state.voters] == ["v1", "v2", "v3"]
    assert state.autopilot_healthy is True and state.autopilot_failure_tolerance == 1
    assert [n.address for n in state.nodes] == [f"http://{raft.state().prefix}.{i}:8200" for i in (1, 2, 3)]
    secrets = [raft.root_token(), *raft.unseal_keys()]
    for f in (raft.key_file, raft.token_file):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    for node in raft.state().nodes:
        cmdline = Path(f"/proc/{node.pid}/cmdline").read_bytes().decode()
        environ = Path(f"/proc/{node.pid}/environ").read_bytes().decode()
        assert not any(s in cmdline or s in environ for s in secrets)
        assert not any(s in raft.log_path(node.name).read_text() for s in secrets)
    assert not any(s in raft.state_path.read_text() for s in secrets)


def test_cli_lab_up_inventory_and_down_leave_nothing(lab_root: Path, tmp_path: Path) -> None:
    require_openbao()
    root = lab_root / "vault-cli"
    prefix = free_prefix()
    e = {**env(), "CLUSTEROPS_LAB_DIR": str(root)}
    up = run_cli("lab", "vault", "up", "--nodes", "1", "--prefix", prefix, env=e)
    try:
        assert up.returncode == 0, up.stderr
        cluster = OpenBaoCluster(root)
        assert cluster.root_token() not in up.stdout + up.stderr
        inv = run_cli("lab", "inventory", "--vault", env=e)
        assert inv.returncode == 0, inv.stderr
        doc = yaml.safe_load(inv.stdout)
        assert doc["servers"][0]["address"] == f"http://{prefix}.1:8200"
        assert doc["vault"]["token_file"] == str(cluster.token_file)
    finally:
        down = run_cli("lab", "down", env=e)
    assert down.returncode == 0, down.stderr
    assert not root.exists()
    assert not processes.listening_sockets([f"{prefix}.1"])


# -- status / check / gate on a healthy cluster ----------------------------------------------------


def test_healthy_cluster_status_check_and_gate(raft: OpenBaoCluster, tmp_path: Path) -> None:
    inventory = write_inventory(raft, tmp_path)
    status = run_cli("vault", "status", "-i", inventory, "--format", "json", env=env())
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["summary"]["voters"] == 3 and doc["summary"]["failure_tolerance"] == 1
    assert doc["summary"]["healthy"] is True
    cfg = doc["autopilot_configuration"]  # OpenBao's defaults, read from the server
    assert cfg["cleanup_dead_servers"] is False and cfg["server_stabilization_time"] == 10.0
    code, report = check_json(inventory)
    assert code == 0 and report["findings"] == []
    for fmt in ("table", "junit", "sarif", "github"):
        assert run_cli("vault", "check", "-i", inventory, "--format", fmt, env=env()).returncode == 0
    gate = run_cli("vault", "gate", "-i", inventory, "--stable-window", "1s", "--expect-voters", "3", env=env())
    assert gate.returncode == 0, gate.stderr
    assert "gate passed" in gate.stdout
    # without an inventory: the nodes come from the raft configuration seen through VAULT_ADDR
    e = {**env(), "VAULT_ADDR": raft.state().nodes[1].api_addr, "VAULT_TOKEN": raft.root_token()}
    derived = run_cli("vault", "status", "--format", "json", env=e)
    assert derived.returncode == 0, derived.stderr
    assert [n["name"] for n in json.loads(derived.stdout)["nodes"]] == ["v1", "v2", "v3"]


def test_a_sealed_node_is_a_finding_and_fails_the_gate(raft: OpenBaoCluster, tmp_path: Path) -> None:
    inventory = write_inventory(raft, tmp_path)
    e = {**env(), "CLUSTEROPS_LAB_DIR": str(raft.root)}
    try:
        assert run_cli("lab", "stop", "v2", env=e).returncode == 0
        started = run_cli("lab", "vault", "start", "v2", "--sealed", env=e)
        assert started.returncode == 0, started.stderr
        code, doc = check_json(inventory)
        assert code == 1
        assert rules(doc)["VH002"] == ["v2"]
        gate = run_cli("vault", "gate", "-i", inventory, "--timeout", "3s", "--stable-window", "0s", env=env())
        assert gate.returncode == 1
        assert "v2 is sealed" in gate.stderr
    finally:
        # a restart unsealed with the lab's Shamir keys, through `lab stop|start vN --unseal-key-file`
        assert run_cli("lab", "stop", "v2", env=e).returncode == 0
        back = run_cli("lab", "start", "v2", "--unseal-key-file", str(raft.key_file), env=e)
        assert back.returncode == 0, back.stderr
    wait_state(raft, lambda s: s.failure_tolerance == 1 and all(n.unsealed for n in s.nodes), "v2 back")
    assert check_json(inventory)[0] == 0


def test_snapshot_save_and_restore_test(raft: OpenBaoCluster, tmp_path: Path) -> None:
    with raft.client() as c:
        active = read(raft).active
        assert active is not None
        c._request("POST", "sys/mounts/app", node=active.address, json_body={"type": "kv", "options": {"version": "2"}})
        for key in ("db", "web"):
            c._request("POST", f"app/data/{key}", node=active.address, json_body={"data": {"k": "v"}})
    inventory = write_inventory(raft, tmp_path)
    snap = tmp_path / "raft.snap"
    save = run_cli("vault", "snapshot", "save", str(snap), "-i", inventory, "--format", "json", env=env())
    assert save.returncode == 0, save.stderr
    info = json.loads(save.stdout)
    assert info["raft_index"] > 0 and len(info["peers"]) == 3
    assert stat.S_IMODE(snap.stat().st_mode) == 0o600

    e = {**env(), "VAULT_TOKEN": raft.root_token()}
    test = run_cli(
        "vault", "snapshot", "restore-test", str(snap), "--unseal-key-file", str(raft.key_file), "-f", "json", env=e
    )
    assert test.returncode == 0, test.stderr
    report = json.loads(test.stdout)
    assert report["unsealed"] is True
    assert report["mounts"]["app/"] == "kv"
    assert report["kv_top_level_keys"]["app/"] == 2
    # the source cluster was not touched: still 3 voters, healthy
    assert read(raft).failure_tolerance == 1

    damaged = tmp_path / "damaged.snap"
    damaged.write_bytes(snap.read_bytes()[:-200])
    bad = run_cli("vault", "snapshot", "restore-test", str(damaged), env=e)
    assert bad.returncode == 2 and str(damaged) in bad.stderr


# -- the incident on raft: a node replaced on a new address stays a voter --------------------------


def reproduce_incident(cluster: OpenBaoCluster, tmp_path: Path) -> str:
    """Kill the last node for good, start its replacement on a new address with a new node_id."""
    last = cluster.state().nodes[-1]
    n = len(cluster.state().nodes)
    cluster.stop(last.name, kill=True)
    cluster.forget(last.name)
    cluster.add_node(f"v{n + 1}", f"{cluster.state().prefix}.{n + 1}")
    wait_state(
        cluster,
        lambda s: len(s.voters) == n + 1 and any(not ap.healthy for ap in s.autopilot_servers),
        "the replacement to be a voter and the old node to be unhealthy",
    )
    return last.name


def test_incident_on_raft_is_found_and_repaired_with_remove_stale_peers(raft: OpenBaoCluster, tmp_path: Path) -> None:
    """Runs last on the shared cluster: it leaves it healthy, but with v4 in place of v3."""
    gone = reproduce_incident(raft, tmp_path)
    inventory = write_inventory(raft, tmp_path)
    code, doc = check_json(inventory)
    found = rules(doc)
    assert code == 1
    assert found["VH004"] == [gone]  # dead voter, named with `bao operator raft remove-peer v3`
    assert found["VH005"] == ["cluster"]  # 4 voters, 3 healthy: failure tolerance 0
    assert found["VH006"] == ["cluster"]  # even number of voters
    assert found["VH007"] == ["cluster"]  # cleanup_dead_servers=false while a voter is dead
    dead = next(f for f in doc["findings"] if f["rule"] == "VH004")  # type: ignore[attr-defined]
    assert f"bao operator raft remove-peer {gone}" in dead["remedy"]

    dry = run_cli("vault", "remove-stale-peers", "-i", inventory, env=env())
    assert dry.returncode == 1 and "dry run" in dry.stdout
    assert any(s.node_id == gone for s in read(raft).raft)  # nothing changed

    unconfirmed = run_cli("vault", "remove-stale-peers", "-i", inventory, "--apply", env=env())  # no terminal
    assert unconfirmed.returncode == 2 and "confirm with --yes" in unconfirmed.stderr, unconfirmed.stderr
    assert any(s.node_id == gone for s in read(raft).raft)  # nothing changed

    fix = run_cli("vault", "remove-stale-peers", "-i", inventory, "--apply", "--yes", env=env())
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert "now 3 voters, failure tolerance 1" in fix.stdout
    after = read(raft)
    assert [s.node_id for s in after.voters] == ["v1", "v2", "v4"]
    assert check_json(inventory)[0] == 0


def test_five_node_incident_on_the_older_release(
    own_cluster: list[OpenBaoCluster], lab_root: Path, tmp_path: Path
) -> None:
    cluster = new_cluster(own_cluster, lab_root, 5, OLD)
    assert read(cluster).failure_tolerance == 2
    gone = reproduce_incident(cluster, tmp_path)
    inventory = write_inventory(cluster, tmp_path)
    state = read(cluster)
    assert len(state.voters) == 6 and state.failure_tolerance == 1  # silently down from 2
    code, doc = check_json(inventory, "--min-failure-tolerance", "2")
    found = rules(doc)
    assert code == 1
    assert found["VH004"] == [gone] and "VH005" in found and "VH006" in found
    fix = run_cli("vault", "remove-stale-peers", "-i", inventory, "--apply", "--yes", env=env())
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert "now 5 voters, failure tolerance 2" in fix.stdout
    assert check_json(inventory, "--min-failure-tolerance", "2")[0] == 0


# -- version order: never fail over to an older version -------------------------------------------


def test_version_order_findings_and_a_rolling_upgrade_through_the_vault_adapter(
    own_cluster: list[OpenBaoCluster], lab_root: Path, tmp_path: Path
) -> None:
    """2.6.2 -> 2.7.2 by hand through the adapter the shared upgrade executor will call: standbys
    first (each restarted sealed, unsealed by the adapter, gated), then step-down and the old active."""
    cluster = new_cluster(own_cluster, lab_root, 3, OLD)
    inventory = write_inventory(cluster, tmp_path)
    adapter = VaultUpgradeAdapter(cluster.client(), targets(cluster), unseal_keys=[])
    keyed = VaultUpgradeAdapter(adapter.client, adapter.targets, unseal_keys=cluster.unseal_keys())
    before = adapter.read()
    assert preflight(before, NEW) == [] and preflight(before, "2.5.0")  # a downgrade is refused
    baseline = before.failure_tolerance
    steps = order(before, [n.name for n in cluster.state().nodes])
    assert [role for _, role in steps] == ["standby", "standby", "active"]

    def upgrade(name: str) -> None:
        cluster.stop(name)
        cluster.start(name, version=NEW, unseal_keys=False)  # comes back sealed: no key given
        reason = node_back(adapter.read(), name, NEW).reason
        assert f"{name} is sealed: unseal it" in reason or "does not answer" in reason
        keyed.after_start(name)
        wait_until(
            adapter.read,
            lambda s: node_gate(s, name, NEW, baseline),
            timeout=120,
            stable_for=adapter.stabilization_time(before),  # held, as the executor's gate holds it
            interval=0.5,
            what=f"{name} gate",
        )

    for name, _role in steps[:2]:
        upgrade(name)
    code, doc = check_json(inventory)
    assert code == 0  # skew is a warning; the active node is the oldest, which is the safe order
    assert rules(doc) == {"VH008": ["cluster"]}

    old_active = steps[2][0]
    assert keyed.hand_over(old_active) == "sys/step-down"  # an upgraded standby takes over
    state = wait_state(cluster, lambda s: cluster_ok(s, baseline).ok, "a healthy cluster under a new active")
    assert state.active is not None and state.active.version == NEW
    code, doc = check_json(inventory)
    assert code == 1
    assert rules(doc)["VH009"] == [old_active]  # never fail over to an older version

    upgrade(old_active)
    final = adapter.read()
    assert {n.version for n in final.nodes} == {NEW}
    assert gate_values(final, old_active)["failure_tolerance"] == baseline
    code, doc = check_json(inventory)
    assert code == 0, doc["findings"]


# -- transit auto-unseal through a second OpenBao server -------------------------------------------


def test_transit_auto_unseal_restart_and_a_node_that_cannot_reach_its_seal(lab_root: Path, tmp_path: Path) -> None:
    require_openbao()
    root = lab_root / "vault-transit"
    e = {**env(), "CLUSTEROPS_LAB_DIR": str(root)}
    up = run_cli("lab", "vault", "up", "--nodes", "1", "--seal", "transit", "--prefix", free_prefix(), env=e)
    cluster = OpenBaoCluster(root)
    try:
        assert up.returncode == 0, up.stderr
        state = cluster.state()
        assert state.seal == "transit" and state.transit_pid
        transit_token = cluster.transit_token_file.read_text().strip()
        assert stat.S_IMODE(cluster.transit_token_file.stat().st_mode) == 0o600
        node = state.nodes[0]
        config = (cluster.node_dir(node.name) / "config.hcl").read_text()
        assert 'seal "transit"' in config and transit_token not in config
        assert transit_token not in Path(f"/proc/{node.pid}/cmdline").read_bytes().decode()
        assert "recovery_keys_base64" in cluster.key_file.read_text()  # auto-unseal: recovery keys
        inventory = write_inventory(cluster, tmp_path)
        assert "unseal_key_file" not in Path(inventory).read_text()

        # a restart unseals itself: no key given
        assert run_cli("lab", "stop", node.name, env=e).returncode == 0
        assert run_cli("lab", "start", node.name, env=e).returncode == 0
        wait_state(cluster, lambda s: s.active is not None, "the restarted node to be active again")
        code, doc = check_json(inventory, "--min-failure-tolerance", "0")
        assert code == 0 and set(rules(doc)) == {"VH015"}  # one node: only the "fewer than 3 voters" warning

        # the seal's server is gone: OpenBao refuses to start at all ("Error configuring seal"), and
        # the lab says why; with no node answering, check is a connection error (exit 2) naming it
        processes.stop(state.transit_pid)
        cluster.stop(node.name)
        with pytest.raises(LabError, match='Error configuring seal "transit"'):
            cluster.start(node.name, unseal_keys=False)
        result = run_cli("vault", "check", "-i", inventory, env=env())
        assert result.returncode == 2 and f"{node.api_addr} is not answering" in result.stderr
    finally:
        assert run_cli("lab", "down", env=e).returncode == 0
    assert not root.exists()
