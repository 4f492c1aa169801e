"""Benchmark: validate a 200- and a 60-server Consul cluster set vs `consul validate` once per node.

    .venv/bin/python bench/validate_bench.py [--servers 200 60] [--sample 20] [--consul-version 1.14.11]

Generates N server configs (each a config directory of two files: base HCL + address JSON, with a
go-sockaddr client_addr template) and a facts file for all of them in a temp dir; times
`validate_consul(all N, facts)` in this process (median of 3 runs), then times `consul validate <dir>` for a
sample of nodes (one process each, as a CI job would do per node) and extrapolates to N. Prints both and
the ratio. For each size it also times the `clusterops validate consul` command as a fresh process (Python
start-up and imports included, what a CI job pays), which dominates at 60 nodes.
Target: the whole set in under 1 s for us.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import temp_root

from clusterops.lab.binaries import consul_binary
from clusterops.validate import load_facts, validate_consul

KEY = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="


def ip(i: int) -> str:
    return f"10.{i // 250}.{i % 250}.10"


def generate(root: Path, n: int) -> tuple[list[str], Path]:
    nodes = []
    facts = ["nodes:"]
    for i in range(n):
        name = f"consul-{i:03d}"
        d = root / name
        d.mkdir(parents=True)
        peers = [ip(j) for j in (0, 1, 2) if j != i][:2]
        (d / "10-base.hcl").write_text(
            f'datacenter = "dc1"\nnode_name = "{name}"\nserver = true\nbootstrap_expect = {n}\n'
            f'data_dir = "{root}/data/{name}"\nencrypt = "{KEY}"\n'
            'client_addr = "{{ GetAllInterfaces | include \\"flags\\" \\"loopback\\" | join \\"address\\" \\" \\" }}"\n'
            "ports {\n  grpc = 8502\n}\nperformance {\n  raft_multiplier = 1\n}\n"
            "tls {\n  defaults {\n    verify_incoming = false\n  }\n}\n"
        )
        (d / "20-addr.json").write_text(json.dumps({"bind_addr": ip(i), "retry_join": peers}, indent=2))
        nodes.append(str(d))
        facts += [
            f"  {name}:",
            "    interfaces:",
            '      - {name: lo, flags: [up, loopback], addresses: ["127.0.0.1/8", "::1/128"]}',
            f"      - {{name: eth0, flags: [up, broadcast, multicast], addresses: [{ip(i)}/16]}}",
            "    default_route: eth0",
        ]
    facts_path = root / "facts.yaml"
    facts_path.write_text("\n".join(facts) + "\n")
    return nodes, facts_path


def measure(root: Path, servers: int, sample: int, version: str) -> None:
    nodes, facts_path = generate(root / f"n{servers}", servers)
    runs = []
    report = None
    for _ in range(3):
        t0 = time.perf_counter()
        report = validate_consul(nodes, facts=load_facts(facts_path))
        runs.append(time.perf_counter() - t0)
    assert report is not None
    ours = statistics.median(runs)
    print(
        f"[{servers} servers] clusterops validate in one process: {ours:.3f} s "
        f"(median of 3: {', '.join(f'{r:.3f}' for r in runs)}); {report.summary}"
    )
    cli = Path(sys.executable).with_name("clusterops")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(cli), "validate", "consul", *nodes, "--facts", str(facts_path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    command = time.perf_counter() - t0
    print(f"[{servers} servers] clusterops validate consul as a command (exit {proc.returncode}): {command:.3f} s")

    binary = consul_binary(version, build=False)
    chosen = nodes[:sample]
    t0 = time.perf_counter()
    failed = 0
    for d in chosen:
        done = subprocess.run([str(binary), "validate", d], capture_output=True, text=True, check=False)
        failed += done.returncode != 0
    per_node = (time.perf_counter() - t0) / len(chosen)
    theirs = per_node * servers
    print(
        f"[{servers} servers] consul {version} validate: {per_node * 1000:.1f} ms per node, timed on {len(chosen)} "
        f"nodes ({failed} failed) and extrapolated to {servers}: {theirs:.2f} s"
    )
    print(
        f"[{servers} servers] ratio consul validate per node / clusterops: in one process {theirs / ours:.1f}x, "
        f"as a command {theirs / command:.1f}x; target < 1 s for us: {'met' if ours < 1.0 else 'NOT met'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[200, 60])
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--consul-version", default="1.14.11")
    args = parser.parse_args()
    root = temp_root("validate")
    try:
        for servers in args.servers:
            measure(root, servers, args.sample, args.consul_version)
        print("note: consul validate checks one node on this machine; clusterops also ran the cross-node rules.")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
