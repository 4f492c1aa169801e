"""Rolling upgrade 2.6.2 -> 2.7.2 of an OpenBao raft lab under a KV writer: clusterops vs a naive roll.

The naive baseline restarts the nodes in inventory order (the active node wherever it happens to
be), unsealing each, with a fixed sleep between them. Both run in this one process, one after the
other, on fresh labs. Printed: total time, the longest window without an acknowledged write,
acknowledged and lost writes (every acknowledged write is read back), and the ratio of our total
to the floor (sum over nodes of restart + unseal + catch-up, plus server_stabilization_time).
Run: `.venv/bin/python bench/vault_upgrade_bench.py [--nodes 3] [--naive-sleep 10]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml
from _common import temp_root
from tests.conftest import free_prefix
from tests.integration.test_vault_upgrade import KvWriter, mount_kv

from clusterops.consul.upgrade.execute import UpgradeOptions
from clusterops.lab import binaries
from clusterops.lab.openbao_cluster import OpenBaoCluster
from clusterops.vault.upgrade import VaultPlanOptions, apply_vault_upgrade

A, B = binaries.OPENBAO_VERSIONS
STABILIZATION = 10.0  # OpenBao's default server_stabilization_time (the lab keeps it)


def run_ours(cluster: OpenBaoCluster, tmp: Path) -> dict[str, Any]:
    inv = tmp / "inventory.yaml"
    inv.write_text(yaml.safe_dump(cluster.inventory(), sort_keys=False))
    marks: dict[str, dict[str, float]] = {}

    def on_event(e: dict[str, Any]) -> None:
        server = e.get("server") or (e.get("what", "").split(" ")[0] if e["event"] == "waiting" else None)
        if not server:
            return
        m = marks.setdefault(server, {})
        if e["event"] == "stopping":
            m["stop"] = e["t"]
        elif e["event"] == "waiting" and e.get("reason") == "ok" and "back on" in e.get("what", ""):
            m.setdefault("healthy", e["t"])

    apply_vault_upgrade(
        str(inv), B, plan_options=VaultPlanOptions(), options=UpgradeOptions(target=B), state_dir=tmp / "state",
        on_event=on_event,
    )  # fmt: skip
    floor = sum(m["healthy"] - m["stop"] + STABILIZATION for m in marks.values() if "healthy" in m)
    return {"floor": floor}


def run_naive(cluster: OpenBaoCluster, sleep: float) -> dict[str, Any]:
    for node in cluster.state().nodes:
        cluster.stop(node.name)
        cluster.start(node.name, version=B)  # unsealed by the lab
        time.sleep(sleep)
    return {}


def measure(name: str, nodes: int, sleep: float) -> dict[str, Any]:
    tmp = temp_root(f"vault-{name}")
    cluster = OpenBaoCluster(tmp / "lab")
    cluster.up(nodes=nodes, version=A, prefix=free_prefix())
    try:
        mount_kv(cluster)
        addresses = [n.api_addr for n in cluster.state().nodes]
        with KvWriter(addresses, cluster.root_token()) as writer:
            time.sleep(2)
            t0 = time.monotonic()
            extra = run_ours(cluster, tmp) if name == "clusterops" else run_naive(cluster, sleep)
            took = time.monotonic() - t0
            time.sleep(2)
        times = [t for t in writer.ack_times if t0 <= t <= t0 + took]
        gap = max((b - a for a, b in zip([t0, *times], [*times, t0 + took], strict=True)), default=took)
        lost = _lost(writer, addresses)
        return {"name": name, "total": took, "gap": gap, "acked": len(writer.acked), "rate": writer.rate,
                "lost": lost, **extra}  # fmt: skip
    finally:
        cluster.down()


def _lost(writer: KvWriter, addresses: list[str]) -> int:
    for addr in addresses:
        try:
            return len(writer.lost(addr))
        except Exception:  # noqa: BLE001 - the naive roll may leave a node not serving yet
            continue
    return len(writer.acked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--naive-sleep", type=float, default=10.0, help="fixed sleep between naive restarts")
    args = parser.parse_args()
    ours = measure("clusterops", args.nodes, 0)
    naive = measure("naive", args.nodes, args.naive_sleep)
    print(f"vault rolling upgrade {A} -> {B}, {args.nodes} nodes, one KV writer as fast as it is acknowledged")
    print(f"{'':12} {'total s':>8} {'max gap s':>10} {'acked':>6} {'w/s':>5} {'lost':>5}")
    for r in (ours, naive):
        print(f"{r['name']:12} {r['total']:8.1f} {r['gap']:10.2f} {r['acked']:6d} {r['rate']:5.0f} {r['lost']:5d}")
    print(f"clusterops total / floor (restart + unseal + catch-up + stabilization per node): "
          f"{ours['total'] / ours['floor']:.2f}")  # fmt: skip
    print(f"clusterops total / naive total: {ours['total'] / naive['total']:.2f}")


if __name__ == "__main__":
    main()
