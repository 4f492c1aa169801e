"""`clusterops consul status` on a 5-server lab: wall time and HTTP requests per invocation.

Compared in the same run with what an operator types to see the same facts with Consul's own CLI
(`consul operator raft list-peers`, `consul members`, `consul operator autopilot state`).
Run: `.venv/bin/python bench/consul_status_bench.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _common import temp_root
from tests.conftest import free_prefix

from clusterops.consul.client import ConsulClient
from clusterops.consul.state import read_cluster_state
from clusterops.lab import binaries
from clusterops.lab.cluster import Lab
from clusterops.settings import ConsulSettings

RUNS = 15


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    lab = Lab(temp_root("status") / "lab")
    lab.up(servers=5, consul_version=binaries.CONSUL_TO, prefix=free_prefix())
    try:
        addr = lab.state().servers[0].http_addr
        with ConsulClient(ConsulSettings(address=addr)) as client:
            read_cluster_state(client)
            before = client.requests_made
            t0 = time.perf_counter()
            for _ in range(RUNS):
                read_cluster_state(client)
            lib = (time.perf_counter() - t0) / RUNS
            per_call = (client.requests_made - before) / RUNS
        ours = [timed([sys.executable, "-m", "clusterops.cli.main", "consul", "status", "--http-addr", addr,
                       "--format", "json"]) for _ in range(RUNS)]  # fmt: skip
        consul = str(binaries.consul_binary(binaries.CONSUL_TO, build=False))
        theirs = [
            sum(timed([consul, *cmd, f"-http-addr={addr}"]) for cmd in
                (["operator", "raft", "list-peers"], ["members"], ["operator", "autopilot", "state"]))
            for _ in range(RUNS)
        ]  # fmt: skip
    finally:
        lab.down()
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"5-server lab, median of {RUNS} runs")
    print(f"  library snapshot (7 endpoints read concurrently): {lib * 1000:.1f} ms, {per_call:.0f} HTTP requests")
    print(f"  clusterops consul status (whole process):         {o * 1000:.0f} ms")
    print(f"  consul list-peers + members + autopilot state:    {t * 1000:.0f} ms (3 processes, 3+ requests)")
    print(f"  ratio clusterops / consul CLI trio: {o / t:.2f}")


if __name__ == "__main__":
    main()
