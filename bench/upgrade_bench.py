"""Rolling upgrade A -> B of a 3-server lab under a concurrent writer: clusterops vs a naive roll.

The naive baseline is what common playbooks do: restart the servers in inventory order with a
fixed sleep between them. Both run in this one process, one after the other, on fresh labs.
Printed: total time, longest window without an acknowledged write, failed and lost writes,
leader changes, and the ratio of our total time to the floor (sum over servers of restart +
catch-up + server_stabilization_time). Run: `make bench` or `.venv/bin/python bench/upgrade_bench.py`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import LeaderWatcher, temp_root
from tests.conftest import free_prefix
from tests.integration.writer import Writer

from clusterops.consul.upgrade.execute import UpgradeOptions
from clusterops.consul.upgrade.run import PlanOptions, apply_upgrade
from clusterops.lab import binaries
from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory

A, B = binaries.CONSUL_FROM, binaries.CONSUL_TO


def run_ours(lab: Lab, tmp: Any) -> dict[str, Any]:
    import yaml

    inv = tmp / "inventory.yaml"
    inv.write_text(yaml.safe_dump(lab_inventory(lab)))
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
        elif e["event"] == "done-server":
            m["done"] = e["t"]

    report = apply_upgrade(
        str(inv), B, plan_options=PlanOptions(), options=UpgradeOptions(target=B), state_dir=tmp / "state",
        on_event=on_event,
    )  # fmt: skip
    stabilization = 10.0
    floor = sum(m["healthy"] - m["stop"] + stabilization for m in marks.values() if "healthy" in m)
    return {"report": report, "floor": floor}


def run_naive(lab: Lab, sleep: float) -> None:
    for server in lab.state().servers:  # inventory order, the leader wherever it happens to be
        lab.stop(server.name)
        lab.start(server.name, consul_version=B, wait=False)
        time.sleep(sleep)


def measure(name: str, servers: int, body: Any, sleep: float) -> dict[str, Any]:
    tmp = temp_root(name)
    lab = Lab(tmp / "lab")
    lab.up(servers=servers, consul_version=A, prefix=free_prefix())
    addresses = [s.http_addr for s in lab.state().servers]
    writer, watcher = Writer(addresses, rate=25), LeaderWatcher(addresses)
    watcher.start()
    writer.start()
    time.sleep(2)
    t0 = time.monotonic()
    extra = body(lab, tmp) if name == "clusterops" else run_naive(lab, sleep)
    took = time.monotonic() - t0
    time.sleep(2)
    log = writer.stop()
    watcher.stop()
    lost = writer.missing(addresses[0]) if name == "clusterops" else _missing_any(writer, addresses)
    gap = log.longest_gap(t0, t0 + took)
    lab.down()
    return {"name": name, "total": took, "gap": gap, "failed": log.failed, "acked": len(log.acknowledged),
            "lost": len(lost), "leader_changes": watcher.changes, "leaderless": watcher.leaderless,
            **(extra or {})}  # fmt: skip


def _missing_any(writer: Writer, addresses: list[str]) -> list[str]:
    for addr in addresses:
        try:
            return writer.missing(addr)
        except Exception:  # noqa: BLE001 - the naive roll may leave a server not serving yet
            continue
    return list(writer.log.acknowledged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--naive-sleep", type=float, default=10.0, help="fixed sleep between naive restarts")
    args = parser.parse_args()
    ours = measure("clusterops", args.servers, run_ours, 0)
    naive = measure("naive", args.servers, None, args.naive_sleep)
    print(f"rolling upgrade {A} -> {B}, {args.servers} servers, writer at 25 writes/s")
    print(f"{'':12} {'total s':>8} {'max gap s':>10} {'failed':>7} {'acked':>6} {'lost':>5} {'leader moves':>12}")
    for r in (ours, naive):
        print(f"{r['name']:12} {r['total']:8.1f} {r['gap']:10.2f} {r['failed']:7d} {r['acked']:6d} {r['lost']:5d} "
              f"{r['leader_changes']:12d}")  # fmt: skip
    print(
        f"clusterops total / floor (restart + catch-up + stabilization per server): {ours['total'] / ours['floor']:.2f}"
    )
    print(f"clusterops total / naive total: {ours['total'] / naive['total']:.2f}")
    print(f"clusterops max write gap / naive max write gap: {ours['gap'] / max(naive['gap'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
