"""Read a secret's whole history into a record, and replay a record onto a path (copy, move, import).

A record holds every retained version with its state and data (data is None where the server would
not give it: soft-deleted or destroyed versions), plus the per-key settings and custom metadata.
Replaying writes the versions in order with check-and-set, turns unreadable versions into empty
versions that are then deleted or destroyed (so states and, on a fresh path, version numbers line up),
and sets the metadata last. What cannot be carried over is returned as notes, never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clusterops.errors import NotFound, UsageError
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretMetadata, SecretRef

SETTINGS = ("max_versions", "cas_required", "delete_version_after", "custom_metadata")


@dataclass(frozen=True)
class VersionRecord:
    version: int
    created_time: str = ""
    deletion_time: str = ""
    destroyed: bool = False
    state: str = "live"
    data: Mapping[str, Any] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "state": self.state,
            "created_time": self.created_time,
            "deletion_time": self.deletion_time,
            "destroyed": self.destroyed,
            "data": None if self.data is None else dict(self.data),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> VersionRecord:
        if not isinstance(raw, Mapping) or "version" not in raw:
            raise UsageError("an exported version needs a `version` number")
        data = raw.get("data")
        return cls(
            version=int(raw["version"]),
            created_time=str(raw.get("created_time") or ""),
            deletion_time=str(raw.get("deletion_time") or ""),
            destroyed=bool(raw.get("destroyed")),
            state=str(raw.get("state") or ("destroyed" if raw.get("destroyed") else "live")),
            data=dict(data) if isinstance(data, Mapping) else None,
        )


@dataclass(frozen=True)
class SecretRecord:
    path: str  # relative to the exported or copied root
    settings: Mapping[str, Any]
    current_version: int = 0
    oldest_version: int = 0
    created_time: str = ""
    updated_time: str = ""
    versions: tuple[VersionRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "metadata": {
                **{k: self.settings.get(k) for k in SETTINGS},
                "current_version": self.current_version,
                "oldest_version": self.oldest_version,
                "created_time": self.created_time,
                "updated_time": self.updated_time,
            },
            "versions": [v.to_dict() for v in self.versions],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SecretRecord:
        if not isinstance(raw, Mapping):
            raise UsageError("an exported secret needs a path and a list of versions")
        meta = raw.get("metadata") or {}
        if "path" not in raw or not isinstance(raw.get("versions") or [], list) or not isinstance(meta, Mapping):
            raise UsageError("an exported secret needs a path, a list of versions and metadata as a mapping")
        return cls(
            path=str(raw["path"]),
            settings={k: meta.get(k) for k in SETTINGS if meta.get(k) is not None},
            current_version=int(meta.get("current_version") or 0),
            oldest_version=int(meta.get("oldest_version") or 0),
            created_time=str(meta.get("created_time") or ""),
            updated_time=str(meta.get("updated_time") or ""),
            versions=tuple(VersionRecord.from_dict(v) for v in raw.get("versions") or []),
        )


def read_record(
    client: VaultClient, ref: SecretRef, rel: str, *, all_versions: bool = True, meta: SecretMetadata | None = None
) -> SecretRecord:
    """The secret at `ref` with every retained version (or only the current one); `meta`: its metadata, if read."""
    meta = meta if meta is not None else client.read_metadata(ref)
    infos = meta.versions if all_versions else tuple(i for i in meta.versions if i.version == meta.current_version)
    versions: list[VersionRecord] = []
    for info in infos:
        data: Mapping[str, Any] | None = None
        state = info.state
        if state != "destroyed":
            got = client.read_version(ref, info.version)
            data = got.data
            state = "live" if data is not None else got.info.state
        versions.append(VersionRecord(info.version, info.created_time, info.deletion_time, info.destroyed, state, data))
    return SecretRecord(
        path=rel,
        settings=meta.settings(),
        current_version=meta.current_version,
        oldest_version=meta.oldest_version,
        created_time=meta.created_time,
        updated_time=meta.updated_time,
        versions=tuple(versions),
    )


@dataclass(frozen=True)
class ReplayResult:
    path: str
    versions_written: int
    notes: tuple[str, ...] = ()
    version_map: Mapping[int, int] = field(default_factory=dict)  # source version -> destination version


def replay(
    client: VaultClient, dst: SecretRef, record: SecretRecord, *, overwrite: bool = False, expect: int | None = None
) -> ReplayResult:
    """Write `record` to `dst` version by version (each write with cas), then its settings.

    `expect`: the destination's current version as planned (0: absent); the first write's cas is that
    version, so a destination that moved since the plan is refused by the server, nothing written.
    Without it, the destination is read first.
    """
    notes: list[str] = []
    if expect is not None:
        current = expect
    else:
        try:
            current = client.read_metadata(dst).current_version
        except NotFound:
            current = 0
    if current and not overwrite:
        raise UsageError(f"{dst} already exists (version {current}); pass --force to add versions on top")
    start = current
    mapping: dict[int, int] = {}
    for v in record.versions:
        data = dict(v.data) if v.data is not None else {}
        written = client.write(dst, data, cas=current)
        current = written.version
        mapping[v.version] = current
        if v.data is None and v.state in ("deleted", "live"):
            client.delete_versions(dst, [current])
            notes.append(f"v{v.version} was soft-deleted: its data was not readable; written empty, then deleted")
        elif v.state == "destroyed" or v.destroyed:
            client.destroy_versions(dst, [current])
            notes.append(f"v{v.version} was destroyed: written empty, then destroyed")
        elif v.state == "deleted":
            client.delete_versions(dst, [current])
    settings = {k: val for k, val in record.settings.items() if k in SETTINGS and val is not None}
    if settings:
        client.write_metadata(dst, settings)
    if any(src != dst_v for src, dst_v in mapping.items()):
        how = "the path already had versions" if start else "older versions had been pruned at the source"
        notes.append(f"version numbers shifted ({how}): " + ", ".join(f"v{a}->v{b}" for a, b in mapping.items()))
    return ReplayResult(record.path, len(mapping), tuple(notes), mapping)
