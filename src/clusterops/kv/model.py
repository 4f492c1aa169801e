"""Typed results of KV operations: frozen dataclasses built from the server's JSON.

Secret data sits in fields with `repr=False`, so printing or logging a result never shows a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Data = Mapping[str, Any]


def _timestamp(raw: str) -> datetime:
    """RFC 3339 with nanoseconds (as Vault writes it) -> an aware datetime, to the second."""
    try:
        return datetime.strptime(raw[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


@dataclass(frozen=True)
class SecretRef:
    """One secret: the mount (no slashes at the ends), the path inside it, and the engine version."""

    mount: str
    path: str
    kv_version: int = 2

    def __str__(self) -> str:
        return f"{self.mount}/{self.path}" if self.path else f"{self.mount}/"

    def child(self, name: str) -> SecretRef:
        base = self.path.rstrip("/")
        return SecretRef(self.mount, f"{base}/{name}" if base else name, self.kv_version)


@dataclass(frozen=True)
class VersionInfo:
    version: int
    created_time: str = ""
    deletion_time: str = ""
    destroyed: bool = False

    @property
    def state(self) -> str:
        """live, deleted or destroyed. A deletion_time in the future (delete_version_after) is still live."""
        if self.destroyed:
            return "destroyed"
        if self.deletion_time and _timestamp(self.deletion_time) <= datetime.now(UTC):
            return "deleted"
        return "live"

    def to_dict(self) -> dict[str, Any]:
        return {
            "created_time": self.created_time,
            "deletion_time": self.deletion_time,
            "destroyed": self.destroyed,
            "state": self.state,
        }

    @classmethod
    def from_json(cls, version: int, raw: Mapping[str, Any]) -> VersionInfo:
        return cls(
            version=version,
            created_time=str(raw.get("created_time") or ""),
            deletion_time=str(raw.get("deletion_time") or ""),
            destroyed=bool(raw.get("destroyed")),
        )


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret. `data` is None when the version is deleted or destroyed."""

    ref: SecretRef
    info: VersionInfo
    data: Data | None = field(default=None, repr=False)
    custom_metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def readable(self) -> bool:
        return self.data is not None

    def to_dict(self, redact: Callable[[Any], str] | None) -> dict[str, Any]:
        """The `kv get` document: values through `redact` (keyed hashes), or as they are when it is None."""
        shown = {k: (v if redact is None else redact(v)) for k, v in (self.data or {}).items()}
        return {
            "path": str(self.ref),
            "version": self.version,
            "state": self.info.state,
            "created_time": self.info.created_time,
            "deletion_time": self.info.deletion_time,
            "destroyed": self.info.destroyed,
            "custom_metadata": dict(self.custom_metadata),
            "data": shown if self.data is not None else None,
            "values": "shown" if redact is None else "hidden (keyed hashes)",
        }


@dataclass(frozen=True)
class SecretMetadata:
    ref: SecretRef
    current_version: int = 0
    oldest_version: int = 0
    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: str = "0s"
    custom_metadata: Mapping[str, str] = field(default_factory=dict)
    created_time: str = ""
    updated_time: str = ""
    versions: tuple[VersionInfo, ...] = ()

    @property
    def latest(self) -> VersionInfo | None:
        for info in self.versions:
            if info.version == self.current_version:
                return info
        return None

    def to_dict(self) -> dict[str, Any]:
        """The `kv metadata get` document."""
        return {
            "path": str(self.ref),
            "current_version": self.current_version,
            "oldest_version": self.oldest_version,
            "max_versions": self.max_versions,
            "cas_required": self.cas_required,
            "delete_version_after": self.delete_version_after,
            "custom_metadata": dict(self.custom_metadata),
            "created_time": self.created_time,
            "updated_time": self.updated_time,
            "versions": {str(v.version): v.to_dict() for v in self.versions},
        }

    def settings(self) -> dict[str, Any]:
        """The writable fields, as `metadata put` takes them."""
        return {
            "max_versions": self.max_versions,
            "cas_required": self.cas_required,
            "delete_version_after": self.delete_version_after,
            "custom_metadata": dict(self.custom_metadata),
        }

    @classmethod
    def from_json(cls, ref: SecretRef, raw: Mapping[str, Any]) -> SecretMetadata:
        versions = tuple(
            sorted(
                (VersionInfo.from_json(int(k), v) for k, v in (raw.get("versions") or {}).items()),
                key=lambda i: i.version,
            )
        )
        return cls(
            ref=ref,
            current_version=int(raw.get("current_version") or 0),
            oldest_version=int(raw.get("oldest_version") or 0),
            max_versions=int(raw.get("max_versions") or 0),
            cas_required=bool(raw.get("cas_required")),
            delete_version_after=str(raw.get("delete_version_after") or "0s"),
            custom_metadata=dict(raw.get("custom_metadata") or {}),
            created_time=str(raw.get("created_time") or ""),
            updated_time=str(raw.get("updated_time") or ""),
            versions=versions,
        )


@dataclass(frozen=True)
class WriteResult:
    ref: SecretRef
    version: int
    created_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.ref), "version": self.version, "created_time": self.created_time}


@dataclass(frozen=True)
class Subkeys:
    ref: SecretRef
    version: int
    subkeys: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.ref), "version": self.version, "subkeys": dict(self.subkeys)}


@dataclass(frozen=True)
class MountInfo:
    mount: str
    kv_version: int
    type: str = "kv"
