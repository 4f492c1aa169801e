"""Save a Consul snapshot to a file and inspect it (what `consul snapshot save` + `inspect` do).

A snapshot is a gzip-compressed tar archive holding `meta.json` (ID, Size, Index, Term,
Version), `state.bin` and `SHA256SUMS`. We check it before any server is touched.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clusterops.atomicfile import write_private
from clusterops.errors import ClusterOpsError

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient


class SnapshotInvalid(ClusterOpsError):
    exit_code = 1


@dataclass(frozen=True)
class SnapshotInfo:
    path: str
    bytes: int
    id: str
    index: int
    term: int
    version: int
    sha256: str


def inspect_snapshot(data: bytes, path: str = "<memory>") -> SnapshotInfo:
    if not data:
        raise SnapshotInvalid(f"snapshot {path} is empty")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            names = tar.getnames()
            member = tar.extractfile("meta.json")
            if member is None:
                raise SnapshotInvalid(f"snapshot {path} has no meta.json (members: {', '.join(names)})")
            meta = json.loads(member.read())
            sums = tar.extractfile("SHA256SUMS")
            state = tar.extractfile("state.bin")
            if sums is None or state is None:
                raise SnapshotInvalid(f"snapshot {path} lacks state.bin or SHA256SUMS")
            want = {line.split()[1]: line.split()[0] for line in sums.read().decode().splitlines() if line.strip()}
            got = hashlib.sha256(state.read()).hexdigest()
            if want.get("state.bin") != got:
                raise SnapshotInvalid(f"snapshot {path}: state.bin does not match its SHA256SUMS")
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError, KeyError, IndexError) as err:
        raise SnapshotInvalid(f"snapshot {path} is not a readable Consul snapshot: {err}") from None
    index = int(meta.get("Index", 0))
    if index <= 0:
        raise SnapshotInvalid(f"snapshot {path} has index {index}: it holds no state")
    return SnapshotInfo(
        path=path,
        bytes=len(data),
        id=str(meta.get("ID", "")),
        index=index,
        term=int(meta.get("Term", 0)),
        version=int(meta.get("Version", 0)),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def save_snapshot(client: ConsulClient, path: Path) -> SnapshotInfo:
    """Save a snapshot (mode 0600) and inspect it; raises SnapshotInvalid if it does not check out."""
    data = client.snapshot()
    info = inspect_snapshot(data, str(path))
    write_private(path, data)
    return info
