"""`consul preflight` and `facts collect` on real lab servers: open-file limits set with prlimit, a port held by
another process, UDP gossip dropped between one pair by an nftables rule, the ssh driver through a real sshd,
and facts collected from the hosts giving the same verdicts as `validate --live`.

The lab's servers share this machine's network namespace on 127.0.K.i, so a packet filter keyed on the pair of
addresses affects exactly one pair of servers. The nftables table is this test's own and is always deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory
from tests.conftest import IN_CI, LabFactory
from tests.integration.helpers import run_cli, wait_for_state

# Raising a hard limit needs a privilege this sandbox does not grant (its processes start at 20000:20000), so the
# tests only lower and restore the soft limit, and judge against --min-nofile 4096 instead of Consul's 65536.
MIN_NOFILE = "4096"


def _soft_limit(pid: int, nofile: int) -> None:
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={nofile}:"], check=True, capture_output=True)


def _limits(pid: int) -> tuple[int, int]:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


def _inventory(lab: Lab, tmp_path: Path) -> Path:
    path = tmp_path / f"inventory-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(lab_inventory(lab), sort_keys=False))
    return path


def _preflight(inventory: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_")}
    result = run_cli(
        "consul", "preflight", "-i", str(inventory), "-f", "json", "--min-nofile", MIN_NOFILE, *extra, env=env
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def _rules(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((f["rule"], f["subject"]) for f in doc["findings"])


@contextmanager
def udp_dropped(source: str, dest: str, port: int, proto: str = "udp") -> Iterator[None]:
    """Drop `proto` `source` -> `dest`:`port` where the packet arrives (silently, as a firewall on the path would)."""
    nft = shutil.which("nft")
    if nft is None:
        msg = "nft (Debian's nftables) is not installed; `make system-deps` installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    table = f"clusterops_test_{uuid.uuid4().hex[:8]}"
    subprocess.run([nft, "add", "table", "inet", table], check=True)
    try:
        subprocess.run(
            [nft, "add", "chain", "inet", table, "inp", "{ type filter hook input priority 0; }"], check=True
        )
        rule = ["ip", "saddr", source, "ip", "daddr", dest, proto, "dport", str(port), "drop"]
        subprocess.run([nft, "add", "rule", "inet", table, "inp", *rule], check=True)
        yield
    finally:
        subprocess.run([nft, "delete", "table", "inet", table], check=False)


def tcp_dropped(source: str, dest: str, port: int) -> contextlib.AbstractContextManager[None]:
    return udp_dropped(source, dest, port, proto="tcp")


@pytest.fixture
def lab(make_lab: LabFactory) -> Lab:
    lab = make_lab(servers=3)
    for server in lab.state().servers:
        assert server.pid and _limits(server.pid)[0] >= int(MIN_NOFILE), "the lab's servers need a normal limit"
    return lab


def test_healthy_lab_passes_then_a_low_limit_and_dropped_udp_are_named(lab: Lab, tmp_path: Path) -> None:
    inventory = _inventory(lab, tmp_path)
    before = {s.name: (s.pid, (lab.node_dir(s.name) / "config.hcl").stat().st_mtime_ns) for s in lab.state().servers}

    code, doc = _preflight(inventory)
    assert code == 0 and doc["findings"] == [], doc["findings"]
    assert len(doc["matrix"]) == 3 * 2 * 5  # every ordered pair: tcp 8300-8302, udp 8301-8302
    assert all(p["ok"] for p in doc["matrix"])
    udp = {p["detail"] for p in doc["matrix"] if p["proto"] == "udp"}
    assert "ack" in udp and udp <= {"ack", "answered"}  # memberlist acks (some arrive compressed: "answered")

    s1, s2, s3 = lab.state().servers
    assert s3.pid
    original, _ = _limits(s3.pid)
    _soft_limit(s3.pid, 512)
    with udp_dropped(s1.ip, s2.ip, 8301):
        code, doc = _preflight(inventory)
    assert code == 1
    assert _rules(doc) == [("PF002", "s3"), ("PF003", "s3"), ("PF021", "s1 -> s2")], doc["findings"]
    dropped = [p for p in doc["matrix"] if not p["ok"]]
    assert [(p["source"], p["target"], p["proto"], p["port"]) for p in dropped] == [("s1", "s2", "udp", 8301)]
    assert "512" in next(f["message"] for f in doc["findings"] if f["rule"] == "PF003")

    _soft_limit(s3.pid, original)
    code, doc = _preflight(inventory)
    assert code == 0 and doc["findings"] == []  # rule removed, limit restored: clean again
    after = {s.name: (s.pid, (lab.node_dir(s.name) / "config.hcl").stat().st_mtime_ns) for s in lab.state().servers}
    assert after == before  # read-only: same processes, configs untouched


def test_a_port_held_by_another_process_is_named(lab: Lab, tmp_path: Path) -> None:
    inventory = _inventory(lab, tmp_path)
    s3 = lab.state().server("s3")
    lab.stop("s3")
    wait_for_state(lab, lambda s: s.leader is not None, what="a leader")
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind((s3.ip, 8300))
    squatter.listen()
    try:
        code, doc = _preflight(inventory)
    finally:
        squatter.close()
    assert code == 1
    held = [f for f in doc["findings"] if f["rule"] == "PF011"]
    assert [f["subject"] for f in held] == ["s3"] and f"pid {os.getpid()}" in held[0]["message"]
    assert "8300" in held[0]["message"]
    assert ("PF001", "s3") in _rules(doc)  # and the agent itself is not running there


def test_ssh_driver_probes_through_a_real_sshd(lab: Lab, tmp_path: Path) -> None:
    """The probe runs under the host's own python3 through OpenSSH: stdlib only, request on stdin."""
    from tests.integration.sshd import running_sshd

    with running_sshd(tmp_path / "sshd") as sshd:
        servers = []
        for s in lab.state().servers:
            driver = {
                "type": "ssh", "host": "127.0.0.1", "user": sshd.user, "port": sshd.port,
                "identity_file": str(sshd.identity_file), "options": sshd.ssh_options,
                "commands": {"stop": "false", "start": "false", "pid": f"echo {s.pid}"},
            }  # fmt: skip
            servers.append({"name": s.name, "address": s.http_addr, "driver": driver})
        path = tmp_path / "ssh-inventory.yaml"
        path.write_text(yaml.safe_dump({"cluster": "lab", "servers": servers}, sort_keys=False))
        code, doc = _preflight(path)
    assert code == 0, doc["findings"]
    soft = {s.name: _limits(s.pid or 0)[0] for s in lab.state().servers}
    assert {n: h["nofile"]["soft"] for n, h in doc["hosts"].items()} == soft, doc["hosts"]
    assert all(p["ok"] for p in doc["matrix"])


def test_facts_collected_from_the_hosts_give_the_same_verdicts_as_live(lab: Lab, tmp_path: Path) -> None:
    inventory = _inventory(lab, tmp_path)
    facts = tmp_path / "facts.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSUL_", "VAULT_", "BAO_"))}
    collected = run_cli("facts", "collect", "-i", str(inventory), "-o", str(facts), env=env)
    assert collected.returncode == 0, collected.stderr
    doc = yaml.safe_load(facts.read_text())
    assert set(doc["nodes"]) == {"s1", "s2", "s3"}
    assert oct(facts.stat().st_mode & 0o777) == "0o600"
    for server in lab.state().servers:
        lo = next(i for i in doc["nodes"][server.name]["interfaces"] if i["name"] == "lo")
        assert "127.0.0.1/8" in lo["addresses"]  # the lab's 127.0.K.i addresses are this lo's 127.0.0.0/8
    configs = [str(lab.node_dir(s.name) / "config.hcl") for s in lab.state().servers]
    offline = run_cli("validate", "consul", *configs, "--facts", str(facts), "-f", "json", env=env)
    live = run_cli("validate", "consul", *configs, "--live", "-f", "json", env=env)
    assert offline.returncode == live.returncode, offline.stdout + live.stdout

    def verdicts(out: str) -> list[tuple[str, str, str]]:
        return sorted((f["rule"], f["severity"], f["subject"]) for f in json.loads(out)["findings"])

    assert verdicts(offline.stdout) == verdicts(live.stdout)


def test_unreadable_inventory_and_bad_gossip_key_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_")}
    missing = run_cli("consul", "preflight", "-i", str(tmp_path / "nope.yaml"), env=env)
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr and "Traceback" not in missing.stderr
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        yaml.safe_dump({"servers": [{"name": "s1", "address": "http://127.0.0.1:1", "driver": "exec"}]})
    )
    key = tmp_path / "key"
    key.write_text("not-base64!\n")
    bad = run_cli("consul", "preflight", "-i", str(inventory), "--gossip-key-file", str(key), env=env)
    assert bad.returncode == 2 and "not-base64" not in bad.stderr and str(key) in bad.stderr, bad.stderr
    _ = sys.executable


def test_udp_probes_reach_an_encrypted_cluster_only_with_its_key(make_lab: LabFactory, tmp_path: Path) -> None:
    """Gossip encryption on: the agents drop plaintext pings, so the probe seals them (AES-GCM, as memberlist does).
    With the key every ping is acked; without it UDP is reported untested (PF022), never dropped."""
    import base64

    key = base64.b64encode(os.urandom(32)).decode()
    lab = make_lab(servers=2, extra_config=f'encrypt = "{key}"\n')
    inventory = _inventory(lab, tmp_path)
    key_file = tmp_path / "gossip.key"
    key_file.write_text(key + "\n")
    code, doc = _preflight(inventory, "--gossip-key-file", str(key_file))
    assert code == 0, doc["findings"]
    udp = [p for p in doc["matrix"] if p["proto"] == "udp"]
    assert all(p["ok"] for p in udp) and "ack" in {p["detail"] for p in udp}  # decrypted, SeqNo matched
    assert key not in json.dumps(doc)

    code, doc = _preflight(inventory)
    assert code == 0
    assert _rules(doc) == [("PF022", "s1"), ("PF022", "s2")]
    assert all(p["ok"] is None for p in doc["matrix"] if p["proto"] == "udp")

    wrong = tmp_path / "wrong.key"
    wrong.write_text(base64.b64encode(os.urandom(32)).decode())
    code, doc = _preflight(inventory, "--gossip-key-file", str(wrong))
    assert code == 1 and {f["rule"] for f in doc["findings"]} == {"PF021"}


def test_vault_preflight_on_a_raft_cluster_names_a_dropped_api_port(lab_root: Path, tmp_path: Path) -> None:
    """`vault preflight` on a real OpenBao raft cluster: API and cluster listeners held by each node, TCP between
    every pair (cluster ports read from the raft configuration); one pair's API port dropped is named exactly."""
    from clusterops.lab import binaries
    from clusterops.lab.openbao_cluster import OpenBaoCluster
    from tests.conftest import free_prefix, require_binaries

    require_binaries(vault=True)
    cluster = OpenBaoCluster(lab_root / f"vault-preflight-{uuid.uuid4().hex[:6]}")
    cluster.up(nodes=3, version=binaries.DEFAULT_OPENBAO, prefix=free_prefix())
    try:
        inventory = tmp_path / "vault-inventory.yaml"
        inventory.write_text(yaml.safe_dump(cluster.inventory(), sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSUL_", "VAULT_", "BAO_"))}

        def preflight() -> tuple[int, dict[str, Any]]:
            result = run_cli("vault", "preflight", "-i", str(inventory), "-f", "json", "--min-nofile", MIN_NOFILE,
                             env=env)  # fmt: skip
            assert result.returncode in (0, 1), result.stdout + result.stderr
            return result.returncode, json.loads(result.stdout)

        code, doc = preflight()
        assert code == 0, doc["findings"]
        assert len(doc["matrix"]) == 3 * 2 * 2 and all(p["ok"] for p in doc["matrix"])
        assert {p["port"] for p in doc["matrix"]} == {8200, 8201}
        assert all(h["probed"] and h["pid"] for h in doc["hosts"].values())
        assert cluster.root_token() not in json.dumps(doc)

        v1, v2 = cluster.state().nodes[0], cluster.state().nodes[1]
        with tcp_dropped(v1.ip, v2.ip, 8200):
            code, doc = preflight()
        assert code == 1
        assert _rules(doc) == [("PF020", f"{v1.name} -> {v2.name}")], doc["findings"]
        assert "tcp 8200" in doc["findings"][0]["message"]
    finally:
        cluster.down()
