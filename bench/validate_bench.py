"""Benchmark: validate a 200-server Consul cluster set in one process vs `consul validate` once per node.

    .venv/bin/python bench/validate_bench.py [--servers 200] [--sample 20] [--consul-version 1.14.11]

Generates N server configs (each a config directory of two files: base HCL + address JSON, with a
go-sockaddr client_addr template) and a facts file for all of them in a temp dir; times
`validate_consul(all N, facts)` in this process (median of 3 runs), then times `consul validate <dir>` for a
sample of nodes (one process each, as a CI job would do per node) and extrapolates to N. Prints both and
the ratio. Target: the whole set in under 1 s for us.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--consul-version", default="1.14.11")
    args = parser.parse_args()
    root = temp_root("validate")
    try:
        nodes, facts_path = generate(root, args.servers)
        runs = []
        report = None
        for _ in range(3):
            t0 = time.perf_counter()
            report = validate_consul(nodes, facts=load_facts(facts_path))
            runs.append(time.perf_counter() - t0)
        assert report is not None
        ours = statistics.median(runs)
        print(
            f"clusterops validate: {args.servers} servers in one process: {ours:.3f} s "
            f"(median of 3: {', '.join(f'{r:.3f}' for r in runs)}); {report.summary} "
            "(the even bootstrap_expect = 200 warns on every node)"
        )

        binary = consul_binary(args.consul_version, build=False)
        sample = nodes[: args.sample]
        t0 = time.perf_counter()
        failed = 0
        for d in sample:
            proc = subprocess.run([str(binary), "validate", d], capture_output=True, text=True, check=False)
            failed += proc.returncode != 0
        per_node = (time.perf_counter() - t0) / len(sample)
        theirs = per_node * args.servers
        print(
            f"consul {args.consul_version} validate: {per_node * 1000:.1f} ms per node, timed on {len(sample)} "
            f"nodes ({failed} failed) and extrapolated to {args.servers}: {theirs:.2f} s"
        )
        print(
            f"ratio: consul validate per node / clusterops in one process = {theirs / ours:.1f}x; "
            f"target < 1 s for us: {'met' if ours < 1.0 else 'NOT met'}"
        )
        print("note: consul validate checks one node on this machine; clusterops also ran the cross-node rules.")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
