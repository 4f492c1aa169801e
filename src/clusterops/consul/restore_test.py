"""Prove a Consul snapshot restores: into a throwaway single-server lab of a given version.

Operators meet snapshots that do not restore on a newer release only when they need them. This
starts one lab server of the version asked for (on a free 127.0.K address, in a temporary
directory), restores the snapshot through `PUT /v1/snapshot`, reads back what it holds (the raft
index, KV key names, catalog services) and tears the lab down, whatever happened. A restore that
fails is reported with Consul's own error text; it is a finding about the backup (exit 1), not a
usage error.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clusterops.consul.snapshot import SnapshotInfo, SnapshotInvalid, inspect_snapshot
from clusterops.errors import ClusterOpsError, ConfigError, LabError

DEFAULT_VERSION = "1.14.11"  # the newest Consul the lab builds (clusterops.lab.binaries.CONSUL_TO)


@dataclass(frozen=True)
class RestoreReport:
    file: str
    consul_version: str
    restored: bool
    error: str | None = None  # Consul's restore error, verbatim
    inspection: SnapshotInfo | None = None
    inspection_error: str | None = None  # what our own reading of the archive found wrong
    index: int | None = None  # the restored server's catalog index (>= the snapshot's)
    kv_keys: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.restored and self.inspection_error is None

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["ok"] = self.ok
        return doc


def free_prefix(rng: random.Random | None = None) -> str:
    """A 127.0.K prefix with nothing listening on .1 (the lab server's address)."""
    from clusterops.lab.processes import listening_sockets

    candidates = [f"127.0.{k}" for k in range(10, 250)]
    (rng or random.Random()).shuffle(candidates)
    for prefix in candidates:
        if not listening_sockets([f"{prefix}.1"]):
            return prefix
    raise LabError("no free 127.0.K address for a throwaway Consul server")


def restore_test(
    path: str | Path,
    *,
    consul_version: str = DEFAULT_VERSION,
    timeout: float = 90.0,
    log: Callable[[str], None] = lambda line: None,
) -> RestoreReport:
    """Restore `path` into a fresh one-server lab of `consul_version`; never raises for a snapshot
    that does not restore (that is the report), only for an unreadable file or no lab."""
    from clusterops.consul.client import ConsulClient
    from clusterops.lab import binaries
    from clusterops.lab.cluster import Lab
    from clusterops.settings import ConsulSettings

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read the snapshot: {err.strerror}", path=str(path)) from None
    inspection: SnapshotInfo | None = None
    inspection_error: str | None = None
    try:
        inspection = inspect_snapshot(data, str(path))
    except SnapshotInvalid as err:
        inspection_error = str(err)
    binaries.consul_binary(consul_version, build=False)  # never start a build for a restore test
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="clusterops-restore-test-"))
    lab = Lab(work / "lab")
    try:
        log(f"starting a throwaway Consul {consul_version} server")
        state = lab.up(servers=1, consul_version=consul_version, prefix=free_prefix(), timeout=timeout)
        server = state.servers[0]
        settings = ConsulSettings(address=server.http_addr, token=lab.management_token(), timeout=timeout)
        with ConsulClient(settings, attempts=1) as client:
            log(f"restoring {path} ({len(data)} bytes)")
            try:
                client.restore_snapshot(data)
            except ClusterOpsError as err:
                return RestoreReport(
                    str(path), consul_version, False, error=_consul_error(err), inspection=inspection,
                    inspection_error=inspection_error, seconds=time.monotonic() - started,
                )  # fmt: skip
            index, services = _read_back(client, timeout)
            keys = client.kv_keys()
    finally:
        lab.down(quiet=True)
        shutil.rmtree(work, ignore_errors=True)
    return RestoreReport(
        str(path), consul_version, True, inspection=inspection, inspection_error=inspection_error, index=index,
        kv_keys=tuple(keys), services=tuple(sorted(services)), seconds=time.monotonic() - started,
    )  # fmt: skip


def _read_back(client: Any, timeout: float) -> tuple[int, dict[str, list[str]]]:
    """The catalog once the restored server answers again (a restore briefly blocks reads)."""
    from clusterops.wait import Verdict, wait_until

    def observe() -> tuple[int, dict[str, list[str]]] | str:
        try:
            return client.catalog_services()  # type: ignore[no-any-return]
        except ClusterOpsError as err:
            return str(err).splitlines()[0]

    result = wait_until(
        observe,
        lambda o: Verdict(not isinstance(o, str), o if isinstance(o, str) else ""),
        timeout=timeout,
        interval=0.2,
        what="the restored server to answer",
    )
    assert not isinstance(result.observation, str)
    return result.observation


def _consul_error(err: ClusterOpsError) -> str:
    """Consul's own words: our client prefixes "Consul at ADDR: snapshot restore: "."""
    text = err.message
    marker = "snapshot restore: "
    return text.split(marker, 1)[1] if marker in text else text
