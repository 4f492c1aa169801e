"""`kv history`: every version of a secret with its state, and which keys each live version changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clusterops.kv.client import VaultClient
from clusterops.kv.diff import Change, diff_data
from clusterops.kv.model import SecretMetadata, SecretRef, VersionInfo
from clusterops.kv.ops import require_v2
from clusterops.kv.redact import Redactor


@dataclass(frozen=True)
class HistoryEntry:
    info: VersionInfo
    current: bool
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    compared_to: int | None = None  # the live version before it that the key changes are relative to

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.info.version,
            "state": self.info.state,
            "current": self.current,
            "created_time": self.info.created_time,
            "deletion_time": self.info.deletion_time,
            "destroyed": self.info.destroyed,
            "compared_to": self.compared_to,
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
        }


@dataclass(frozen=True)
class History:
    metadata: SecretMetadata
    entries: tuple[HistoryEntry, ...]

    def to_dict(self) -> dict[str, Any]:
        """The `kv history` document (key names only, never values)."""
        return {
            "path": str(self.metadata.ref),
            "current_version": self.metadata.current_version,
            "versions": [e.to_dict() for e in self.entries],
        }


def read_history(client: VaultClient, ref: SecretRef, *, keys: bool = True) -> History:
    """Metadata of every retained version; with `keys`, the key names each live version added, removed or changed."""
    require_v2(ref, "history")
    meta = client.read_metadata(ref)
    redactor = Redactor()
    entries: list[HistoryEntry] = []
    prev_data: dict[str, object] | None = None
    prev_version: int | None = None
    for info in meta.versions:
        entry = HistoryEntry(info, info.version == meta.current_version)
        if keys and info.state == "live":
            data = dict(client.read_version(ref, info.version).data or {})
            if prev_data is not None:
                d = diff_data(prev_data, data, redactor)
                entry = HistoryEntry(
                    info,
                    entry.current,
                    tuple(k.key for k in d.keys if k.change == Change.ADDED),
                    tuple(k.key for k in d.keys if k.change == Change.REMOVED),
                    tuple(k.key for k in d.keys if k.change == Change.CHANGED),
                    prev_version,
                )
            else:
                entry = HistoryEntry(info, entry.current, tuple(sorted(data)), (), (), None)
            prev_data, prev_version = data, info.version
        entries.append(entry)
    return History(meta, tuple(entries))
