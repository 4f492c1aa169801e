"""Preflight of a 5-server lab: the wall time of one run (every host probed at once) against the same probes run
one after another, measured in the same invocation. Prints both and their ratio, in two scenarios:

- healthy: every probe answers at once, so a probe is only a process start and some /proc reads (CPU-bound:
  on a loaded 2-core machine there is little for concurrency to overlap);
- UDP to one server firewalled (an nftables rule on this machine, removed afterwards; needs root): every other
  server's probe waits out its gossip-ping timeout, as probes over ssh and real networks wait on round trips.

    .venv/bin/python bench/preflight_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from clusterops.lab import binaries
from clusterops.lab.cluster import Lab
from clusterops.lab.inventory import lab_inventory
from clusterops.preflight.rules import Thresholds
from clusterops.preflight.run import preflight


@contextlib.contextmanager
def udp_to(dest: str) -> Iterator[bool]:
    nft = shutil.which("nft")
    table = "clusterops_bench_preflight"
    if nft is None or subprocess.run([nft, "add", "table", "inet", table], check=False).returncode != 0:
        yield False
        return
    try:
        subprocess.run([nft, "add", "chain", "inet", table, "i", "{ type filter hook input priority 0; }"], check=True)
        subprocess.run([nft, "add", "rule", "inet", table, "i", "ip", "daddr", dest, "udp", "dport", "8301", "drop"],
                       check=True)  # fmt: skip
        yield True
    finally:
        subprocess.run([nft, "delete", "table", "inet", table], check=False)


def measure(inventory: Path, runs: int) -> tuple[float, float, float]:
    th = Thresholds(min_nofile=4096)
    concurrent, serial, summed = [], [], []
    for _ in range(runs):
        r = preflight(inventory, thresholds=th)
        assert not r.failures, r.failures
        concurrent.append(r.wall)
        summed.append(r.probe_seconds)
        serial.append(preflight(inventory, thresholds=th, concurrency=1).wall)
    return statistics.median(concurrent), statistics.median(serial), statistics.median(summed)


def report(name: str, c: float, s: float, p: float) -> None:
    print(f"{name}:")
    print(f"  concurrent preflight (wall):         {c:.2f}s")
    print(f"  the same probes one after another:   {s:.2f}s")
    print(f"  sum of the concurrent run's probes:  {p:.2f}s")
    print(f"  speed-up: {s / c:.2f}x (serial / concurrent)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prefix", default="127.0.231")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(Path(tmp) / "lab")
        lab.up(servers=5, consul_version=binaries.CONSUL_FROM, prefix=args.prefix)
        try:
            inventory = Path(tmp) / "inventory.yaml"
            inventory.write_text(yaml.safe_dump(lab_inventory(lab)))
            print(f"5 servers, {args.runs} runs of each, medians")
            report("healthy", *measure(inventory, args.runs))
            with udp_to(f"{args.prefix}.1") as dropped:
                if dropped:
                    report("UDP 8301 to s1 dropped", *measure(inventory, args.runs))
                else:
                    print("(no nft or not root: the firewalled scenario was not run)")
        finally:
            lab.down()


if __name__ == "__main__":
    main()
