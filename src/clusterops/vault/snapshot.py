"""Raft snapshots of a Vault / OpenBao cluster: save with a check of the file, and a restore test.

A snapshot is a gzipped tar holding `meta.json` (raft index, term, size), `state.bin` and
`SHA256SUMS` (plus `SHA256SUMS.sealed`, which only the cluster's keys can verify). `verify_snapshot`
reads it back completely: every listed checksum must match and `state.bin` must have the size
`meta.json` states. `save_snapshot` streams into a private temp file, verifies it, and only then
renames it into place, so a file at the target path is always a checked snapshot.

`restore_test` restores a snapshot into a throwaway single-node OpenBao raft lab (its own dir and
loopback prefix, removed afterwards): the restore keeps the throwaway's own raft configuration, so
it never talks to the source cluster. The restored node seals itself (the barrier keys are the
source's); with the source's unseal keys it is unsealed and, with a token of the source cluster,
asked what it holds.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterops.errors import ClusterOpsError, ConfigError, UsageError
from clusterops.vault.client import RaftClient

REQUIRED = ("meta.json", "state.bin", "SHA256SUMS")


@dataclass(frozen=True)
class SnapshotInfo:
    path: str
    size: int
    sha256: str
    index: int
    term: int
    state_size: int
    peers: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "raft_index": self.index,
            "raft_term": self.term,
            "state_size": self.state_size,
            "peers": list(self.peers),
        }


def verify_snapshot(path: str | os.PathLike[str]) -> SnapshotInfo:
    """Read a snapshot file back completely; raise ConfigError naming the file and the defect."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read the snapshot {p}: {err.strerror}") from err
    try:
        # the whole gzip stream, not just the tar members: a file cut short after the last member
        # still lists every member, and only the stream's end (its CRC and length) shows the damage
        unpacked = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ConfigError(f"not a complete gzip stream (cut short or damaged): {err}", path=str(p)) from err
    try:
        with tarfile.open(fileobj=io.BytesIO(unpacked), mode="r:") as tar:
            members = {m.name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
            contents = {name: f.read() for name, f in members.items() if f is not None}
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ConfigError(f"not a readable raft snapshot (tar): {err}", path=str(p)) from err
    missing = [name for name in REQUIRED if name not in contents]
    if missing:
        raise ConfigError(f"not a raft snapshot: {', '.join(missing)} missing", path=str(p))
    for line in contents["SHA256SUMS"].decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        name = name.strip()
        if name not in contents:
            raise ConfigError(f"SHA256SUMS lists {name}, which the archive lacks", path=str(p))
        if hashlib.sha256(contents[name]).hexdigest() != digest.strip():
            raise ConfigError(f"checksum mismatch for {name}: the snapshot is damaged", path=str(p))
    try:
        meta = json.loads(contents["meta.json"])
    except ValueError as err:
        raise ConfigError(f"meta.json is not JSON ({err})", path=str(p)) from err
    state_size = len(contents["state.bin"])
    if int(meta.get("Size", state_size)) != state_size:
        raise ConfigError(f"state.bin has {state_size} bytes, meta.json says {meta.get('Size')}", path=str(p))
    servers = (meta.get("Configuration") or {}).get("Servers") or []
    return SnapshotInfo(
        path=str(p),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        index=int(meta.get("Index", 0)),
        term=int(meta.get("Term", 0)),
        state_size=state_size,
        peers=tuple(f"{s.get('ID')}@{s.get('Address')}" for s in servers),
    )


def save_snapshot(client: RaftClient, path: str | os.PathLike[str], *, node: str | None = None) -> SnapshotInfo:
    """Stream the snapshot into a private temp file beside `path`, verify it, then rename it in place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in client.snapshot(node):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        info = verify_snapshot(tmp)
        Path(tmp).replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    return SnapshotInfo(
        path=str(target),
        size=info.size,
        sha256=info.sha256,
        index=info.index,
        term=info.term,
        state_size=info.state_size,
        peers=info.peers,
    )


@dataclass(frozen=True)
class RestoreReport:
    snapshot: SnapshotInfo
    restored: bool
    unsealed: bool
    version: str
    seconds: float
    mounts: dict[str, str] = field(default_factory=dict)
    auth_methods: dict[str, str] = field(default_factory=dict)
    policies: tuple[str, ...] = ()
    kv_top_level: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.to_dict(),
            "restored": self.restored,
            "unsealed": self.unsealed,
            "version": self.version,
            "seconds": round(self.seconds, 1),
            "mounts": self.mounts,
            "auth_methods": self.auth_methods,
            "policies": list(self.policies),
            "kv_top_level_keys": self.kv_top_level,
            "notes": list(self.notes),
        }


def restore_test(
    path: str | os.PathLike[str],
    *,
    unseal_keys: list[str] | None,
    token: str | None,
    version: str | None = None,
    workdir: Path | None = None,
    timeout: float = 60.0,
) -> RestoreReport:
    """Restore into a throwaway single-node lab and report what the restored data holds."""
    from clusterops.lab import binaries
    from clusterops.lab.openbao_cluster import OpenBaoCluster, free_prefix
    from clusterops.settings import VaultSettings
    from clusterops.vault.unseal import unseal
    from clusterops.wait import Verdict, wait_until

    info = verify_snapshot(path)
    version = version or binaries.DEFAULT_OPENBAO
    started = time.monotonic()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="clusterops-restore-", dir=workdir) as tmp:
        lab = OpenBaoCluster(Path(tmp))
        try:
            lab.up(nodes=1, version=version, prefix=free_prefix(), timeout=timeout)
            node = lab.state().nodes[0].api_addr
            with lab.client() as c:
                c.restore_snapshot(Path(path), force=True, node=node)

                # the restored barrier is the source's: the node seals itself once the restore is applied
                def sealed() -> Verdict:
                    try:
                        return Verdict(c.health(node).code == 503, "not sealed yet")
                    except ClusterOpsError as err:
                        return Verdict(False, str(err))

                wait_until(lambda: None, lambda _: sealed(), timeout=timeout, interval=0.25, what="the restore")
                if not unseal_keys:
                    notes.append("restored; it stays sealed: give the source cluster's unseal keys to read it")
                    return RestoreReport(info, True, False, version, time.monotonic() - started, notes=tuple(notes))
                if not unseal(c, node, unseal_keys):
                    notes.append("the unseal keys given do not unseal this snapshot (another cluster's keys?)")
                    return RestoreReport(info, True, False, version, time.monotonic() - started, notes=tuple(notes))
                wait_until(
                    lambda: c.health(node).code,
                    lambda code: Verdict(code == 200, f"sys/health {code}"),
                    timeout=timeout,
                    interval=0.25,
                    what="the restored node to become active",
                )
            if not token:
                notes.append("unsealed; give a token of the source cluster to list what it holds")
                return RestoreReport(info, True, True, version, time.monotonic() - started, notes=tuple(notes))
            with RaftClient(VaultSettings(address=node, token=token, timeout=10.0)) as rc:
                mounts = {k: str(v.get("type", "")) for k, v in rc.mounts(node).items() if isinstance(v, dict)}
                auths = {k: str(v.get("type", "")) for k, v in rc.auth_methods(node).items() if isinstance(v, dict)}
                policies = tuple(rc.policies(node))
                kv: dict[str, int] = {}
                raw_mounts = rc.mounts(node)
                for mount, spec in raw_mounts.items():
                    if not isinstance(spec, dict) or spec.get("type") not in ("kv", "generic"):
                        continue
                    kv_version = int(((spec.get("options") or {}).get("version")) or 1)
                    kv[mount] = len(rc.kv_list(mount.rstrip("/"), version=kv_version, node=node))
            return RestoreReport(
                info, True, True, version, time.monotonic() - started, mounts, auths, policies, kv, tuple(notes)
            )
        finally:
            lab.down()
