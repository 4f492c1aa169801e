"""remove-stale-peers planning, snapshot checks, unseal key files and the vault inventory: pure parts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from clusterops.errors import ConfigError, UsageError
from clusterops.vault.inventory import load_vault_inventory
from clusterops.vault.snapshot import verify_snapshot
from clusterops.vault.stale import plan_removals
from clusterops.vault.unseal import read_unseal_keys
from tests.unit.vault.factories import cluster

# -- remove-stale-peers ---------------------------------------------------------------------------


def test_plan_removes_only_the_dead_peer() -> None:
    state = cluster(("v1", "v2", "v4"), gone=("v3",))
    plan = plan_removals(state, answers=lambda _addr: False)
    assert [(r.server.node_id, r.refused) for r in plan] == [("v3", "")]
    assert plan[0].command == "bao operator raft remove-peer v3"


def test_plan_refuses_a_peer_whose_cluster_address_still_answers() -> None:
    state = cluster(("v1", "v2", "v4"), gone=("v3",))
    asked: list[str] = []

    def answers(addr: str) -> bool:
        asked.append(addr)
        return True

    plan = plan_removals(state, answers=answers)
    assert asked == ["10.0.0.4:8201"]  # v3's cluster address (the factory numbers gone nodes last)
    assert len(plan) == 1 and plan[0].refused.startswith("something still answers on its cluster address")


def test_plan_refuses_everything_without_an_active_node() -> None:
    state = cluster(("v1", "v2", "v4"), gone=("v3",), active="nobody")
    plan = plan_removals(state, answers=lambda _addr: False)
    assert plan and all(r.refused.startswith("no active node") for r in plan)


def test_plan_never_touches_healthy_sealed_or_leader_peers() -> None:
    assert plan_removals(cluster(), answers=lambda _a: False) == []
    # a sealed node is unhealthy by autopilot but answers: not gone
    assert plan_removals(cluster(sealed=("v2",)), answers=lambda _a: False) == []


# -- snapshots ------------------------------------------------------------------------------------


def snapshot_bytes(*, state: bytes = b"state-bytes", size: int | None = None, tamper: bool = False) -> bytes:
    meta = json.dumps(
        {
            "Version": 1,
            "ID": "bolt-snapshot",
            "Index": 42,
            "Term": 3,
            "Configuration": {"Servers": [{"Suffrage": 0, "ID": "v1", "Address": "10.0.0.1:8201"}]},
            "Size": len(state) if size is None else size,
        }
    ).encode()
    sums = f"{hashlib.sha256(meta).hexdigest()}  meta.json\n{hashlib.sha256(state).hexdigest()}  state.bin\n"
    files = {"meta.json": meta, "state.bin": state + (b"x" if tamper else b""), "SHA256SUMS": sums.encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


def test_a_good_snapshot_is_read_back(tmp_path: Path) -> None:
    p = tmp_path / "ok.snap"
    p.write_bytes(snapshot_bytes())
    info = verify_snapshot(p)
    assert (info.index, info.term, info.peers) == (42, 3, ("v1@10.0.0.1:8201",))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (snapshot_bytes(tamper=True), "checksum mismatch for state.bin"),
        (snapshot_bytes(size=999), "meta.json says 999"),
        (snapshot_bytes()[:-10], "not a complete gzip stream"),
        (b"not a snapshot", "not a complete gzip stream"),
        (gzip.compress(b"\0" * 1024, mtime=0), "meta.json, state.bin, SHA256SUMS missing"),
    ],
    ids=["tampered", "wrong-size", "truncated", "not-gzip", "empty-archive"],  # stable: the bytes hold a gzip mtime
)
def test_a_damaged_snapshot_is_refused_naming_the_file(tmp_path: Path, data: bytes, says: str) -> None:
    p = tmp_path / "bad.snap"
    p.write_bytes(data)
    with pytest.raises(ConfigError) as err:
        verify_snapshot(p)
    assert says in str(err.value) and str(p) in str(err.value)


# -- unseal keys ----------------------------------------------------------------------------------


def test_unseal_keys_from_the_labs_json_or_lines(tmp_path: Path) -> None:
    j = tmp_path / "keys.json"
    j.write_text(json.dumps({"keys_base64": ["a", "b", "c"], "threshold": 2}))
    j.chmod(0o600)
    assert read_unseal_keys(j) == ["a", "b", "c"]
    lines = tmp_path / "keys.txt"
    lines.write_text("# shares\nk1\n\nk2\n")
    lines.chmod(0o600)
    assert read_unseal_keys(lines) == ["k1", "k2"]


def test_an_unseal_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "keys.txt"
    p.write_text("secret-share\n")
    p.chmod(0o644)
    with pytest.raises(UsageError) as err:
        read_unseal_keys(p)
    assert "readable by others" in str(err.value) and "secret-share" not in str(err.value)


def test_an_empty_or_broken_key_file_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "keys.json"
    p.write_text("{broken")
    p.chmod(0o600)
    with pytest.raises(ConfigError, match=str(p)):
        read_unseal_keys(p)
    p.write_text("{}")
    with pytest.raises(ConfigError, match="holds no unseal keys"):
        read_unseal_keys(p)


# -- inventory ------------------------------------------------------------------------------------


def test_inventory_reads_nodes_and_refuses_tokens(tmp_path: Path) -> None:
    p = tmp_path / "inv.yaml"
    p.write_text(
        "cluster: prod\nvault:\n  token_file: ~/t\nservers:\n"
        "  - name: v1\n    address: 10.0.0.1:8200\n  - name: v2\n    address: http://10.0.0.2:8200\n"
    )
    inv = load_vault_inventory(p)
    assert [(s.name, s.address) for s in inv.servers] == [
        ("v1", "https://10.0.0.1:8200"),
        ("v2", "http://10.0.0.2:8200"),
    ]
    assert inv.setting("token_file") == str(Path("~/t").expanduser())
    p.write_text("vault:\n  token: s.abc\nservers:\n  - name: v1\n    address: 10.0.0.1:8200\n")
    with pytest.raises(ConfigError) as err:
        load_vault_inventory(p)
    assert f"{p}:2" in str(err.value) and "s.abc" not in str(err.value)
    p.write_text("servers:\n  - name: v1\n  - name: v1\n    address: x:1\n")
    with pytest.raises(ConfigError, match="address"):
        load_vault_inventory(p)
