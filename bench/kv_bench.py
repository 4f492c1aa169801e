"""Benchmark `clusterops kv export` / `import` against a raw-HTTP ceiling and a `bao kv get` loop.

    .venv/bin/python bench/kv_bench.py [--secrets 5000] [--versions 3] [--workers 16] [--bao-sample 200]
                                       [--rss-secrets 50000]

Starts its own OpenBao dev server on a free loopback port (root token via the environment, never argv),
or uses VAULT_ADDR/VAULT_TOKEN with --use-env. Seeds N secrets x V versions, then measures in one run:
  - ours:   stream_export to a JSON file (every version + metadata of every secret, serialised and
            written as it is read) and import from that file (parse, then replay with cas);
  - raw:    a minimal concurrent client (requests + ThreadPoolExecutor, same worker count) doing the
            same reads (LIST/SCAN + metadata + every version) and the same writes, writing no file;
  - bao:    `bao kv get` in a shell loop over a sample of paths, extrapolated to all paths (said so);
  - memory: peak RSS of `clusterops kv export` run as its own process on the N secrets, and, with
            --rss-secrets M, on a second tree of M secrets x V versions (bounded: about the same).
Prints times and throughput ratios. Target: ours >= 0.8 x the raw ceiling for export and for import.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import requests.adapters

from clusterops.kv.backup import import_tree, load_export, stream_export
from clusterops.kv.client import VaultClient
from clusterops.lab import binaries, processes
from clusterops.settings import VaultSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_bao(root: Path) -> tuple[str, str, int]:
    token = "bench-" + secrets.token_hex(12)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env["BAO_DEV_ROOT_TOKEN_ID"] = token
    bao = binaries.openbao_binary(binaries.DEFAULT_OPENBAO)
    pid = processes.spawn(
        [str(bao), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"], cwd=root, log=root / "bao.log", env=env
    )
    addr = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{addr}/v1/sys/health", timeout=1).status_code == 200:
                return addr, token, pid
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit("OpenBao did not start")


def _session(token: str, workers: int) -> requests.Session:
    s = requests.Session()
    s.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=workers))
    s.headers["X-Vault-Token"] = token
    return s


def _seed(addr: str, token: str, prefix: str, n: int, versions: int, workers: int) -> None:
    s = _session(token, workers)

    def one(i: int) -> None:
        for v in range(1, versions + 1):
            r = s.post(f"{addr}/v1/secret/data/{prefix}/p{i:05d}", json={"data": {"user": f"u{i}", "pw": f"{i}-{v}"}})
            r.raise_for_status()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))


def _raw_reads(addr: str, token: str, prefix: str, versions: int, workers: int) -> int:
    """The ceiling: list the tree, then metadata + every version of every secret, nothing else."""
    s = _session(token, workers)
    keys = s.request("SCAN", f"{addr}/v1/secret/metadata/{prefix}/").json()["data"]["keys"]

    def one(key: str) -> int:
        meta = s.get(f"{addr}/v1/secret/metadata/{prefix}/{key}").json()["data"]
        for v in meta["versions"]:
            s.get(f"{addr}/v1/secret/data/{prefix}/{key}", params={"version": v}).json()
        return 1 + len(meta["versions"])

    with ThreadPoolExecutor(workers) as pool:
        return 1 + sum(pool.map(one, keys))


def _raw_writes(addr: str, token: str, src: str, dst: str, n: int, versions: int, workers: int) -> int:
    s = _session(token, workers)

    def one(i: int) -> int:
        for v in range(versions):
            r = s.post(
                f"{addr}/v1/secret/data/{dst}/p{i:05d}",
                json={"options": {"cas": v}, "data": {"user": f"u{i}", "pw": f"{i}-{v + 1}"}},
            )
            r.raise_for_status()
        s.post(f"{addr}/v1/secret/metadata/{dst}/p{i:05d}", json={"max_versions": 0}).raise_for_status()
        return versions + 1

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(one, range(n)))


def _bao_loop(addr: str, token: str, prefix: str, sample: int) -> float:
    bao = binaries.openbao_binary(binaries.DEFAULT_OPENBAO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env.update({"BAO_ADDR": addr, "BAO_TOKEN": token})
    t0 = time.perf_counter()
    for i in range(sample):
        subprocess.run(
            [str(bao), "kv", "get", "-format=json", "-mount=secret", f"{prefix}/p{i:05d}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
        )  # fmt: skip
    return time.perf_counter() - t0


def _export_rss(addr: str, token: str, path: str, out: Path, workers: int) -> tuple[float, float, int]:
    """Run `clusterops kv export` as a child process: (seconds, peak RSS in MiB, exit code)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env.update({"VAULT_ADDR": addr, "VAULT_TOKEN": token})
    cmd = [sys.executable, "-m", "clusterops.cli.main", "kv", "export", f"secret/{path}", "-o", str(out)]
    cmd += ["--plaintext", "--format", "json", "--workers", str(workers), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return took, usage.ru_maxrss / 1024, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secrets", type=int, default=5000)
    ap.add_argument("--versions", type=int, default=3)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--bao-sample", type=int, default=200)
    ap.add_argument("--use-env", action="store_true", help="Use VAULT_ADDR / VAULT_TOKEN instead of a new server.")
    ap.add_argument("--rss-secrets", type=int, default=0, help="Also export a tree this big, for peak RSS.")
    args = ap.parse_args()
    n, versions, workers = args.secrets, args.versions, args.workers
    tmp = Path(tempfile.mkdtemp(prefix="kv-bench-"))
    pid: int | None = None
    try:
        if args.use_env:
            addr, token = os.environ["VAULT_ADDR"], os.environ["VAULT_TOKEN"]
        else:
            addr, token, pid = _start_bao(tmp)
        run = secrets.token_hex(3)
        src, raw_dst, our_dst = f"bench-{run}/src", f"bench-{run}/raw", f"bench-{run}/ours"
        print(f"OpenBao {binaries.DEFAULT_OPENBAO} at {addr}; {n} secrets x {versions} versions; {workers} workers")
        t0 = time.perf_counter()
        _seed(addr, token, src, n, versions, workers)
        print(f"seeded in {time.perf_counter() - t0:.1f}s (not part of the comparison)")

        export_file = tmp / "export.json"
        with VaultClient(VaultSettings(address=addr, token=token), pool_size=workers) as client:
            ref = client.resolve(f"secret/{src}")
            t0 = time.perf_counter()
            with export_file.open("wb") as out:
                summary = stream_export(client, ref, out, fmt="json", workers=workers)
            ours_export = time.perf_counter() - t0
            assert summary.secrets == n and summary.version_count == n * versions and not summary.errors
            export_requests = client.requests_made

            t0 = time.perf_counter()
            raw_read_requests = _raw_reads(addr, token, src, versions, workers)
            raw_export = time.perf_counter() - t0

            before = client.requests_made
            t0 = time.perf_counter()
            doc = load_export(export_file.read_bytes(), key=None, where=str(export_file))
            parse_time = time.perf_counter() - t0
            report = import_tree(client, client.resolve(f"secret/{our_dst}"), doc, workers=workers)
            ours_import = time.perf_counter() - t0
            assert report.ok and len(report.results) == n, report.errors[:3]
            import_requests = client.requests_made - before
        file_mib = export_file.stat().st_size / 2**20

        t0 = time.perf_counter()
        raw_write_requests = _raw_writes(addr, token, src, raw_dst, n, versions, workers)
        raw_import = time.perf_counter() - t0

        sample = min(args.bao_sample, n)
        bao_sample = _bao_loop(addr, token, src, sample)
        bao_per_get = bao_sample / sample
        bao_all_latest = bao_per_get * n
        bao_all_versions = bao_per_get * n * versions

        print()
        print(f"{'':34}{'time':>9}  {'requests':>9}  {'req/s':>8}")
        rows = [
            ("ours: export to a file", ours_export, export_requests),
            ("raw ceiling: same reads", raw_export, raw_read_requests),
            ("ours: import (parse + replay, cas)", ours_import, import_requests),
            ("raw ceiling: same writes", raw_import, raw_write_requests),
        ]
        for label, took, count in rows:
            print(f"{label:34}{took:8.2f}s  {count:9d}  {count / took:8.0f}")
        print(
            f"{'bao kv get loop':34}{bao_all_latest:8.2f}s  {n:9d}  {1 / bao_per_get:8.0f}"
            f"   (extrapolated from {sample} paths timed: {bao_sample:.2f}s; latest version only;"
            f" every version would take ~{bao_all_versions:.0f}s)"
        )
        rss_rows = []
        took, rss, code = _export_rss(addr, token, src, tmp / "rss.json", workers)
        rss_rows.append((n, took, rss, code))
        if args.rss_secrets:
            big = f"bench-{run}/big"
            t0 = time.perf_counter()
            _seed(addr, token, big, args.rss_secrets, versions, workers)
            print(f"seeded {args.rss_secrets} more in {time.perf_counter() - t0:.1f}s (for the memory figure)")
            took, rss, code = _export_rss(addr, token, big, tmp / "rss-big.json", workers)
            rss_rows.append((args.rss_secrets, took, rss, code))

        print(f"export file {file_mib:.1f} MiB (JSON); import parsed it in {parse_time:.2f}s")
        for count, took, rss, code in rss_rows:
            print(
                f"`clusterops kv export` of {count} secrets x {versions}: {took:.1f}s, peak RSS {rss:.0f} MiB"
                f" (exit {code})"
            )
        print()
        export_ratio = raw_export / ours_export  # throughput ours / throughput raw (same work)
        import_ratio = raw_import / ours_import
        print(f"export: ours reaches {export_ratio:.2f} x the raw ceiling's throughput (target >= 0.80)")
        print(f"import: ours reaches {import_ratio:.2f} x the raw write ceiling's throughput (target >= 0.80)")
        print(
            f"export vs a bao kv get loop (latest only): {bao_all_latest / ours_export:.1f} x faster, with full history"
        )
        return 0 if export_ratio >= 0.8 and import_ratio >= 0.8 and all(r[3] == 0 for r in rss_rows) else 1
    finally:
        if pid is not None:
            processes.stop(pid)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
