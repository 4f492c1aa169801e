"""`kv export` / `kv import`: a subtree with its full history, as YAML or JSON, optionally encrypted.

An export holds, per secret, every retained version (state, timestamps, data where readable), the
per-key settings (max_versions, cas_required, delete_version_after) and custom metadata. Import
replays it (`clusterops.kv.replay`) and reports what cannot be preserved: timestamps always, version
numbers when the destination already has versions or old versions had been pruned, and the data of
versions that were soft-deleted or destroyed when exported.

Encryption uses Fernet from PyCA `cryptography` (AES-128-CBC + HMAC-SHA256, authenticated; a
versioned, well-reviewed format) with a key kept in a file (`kv keygen`). It is an optional extra:
`pip install 'clusterops[crypto]'`. Because an export holds secret values, writing one in clear text
needs `--plaintext`; the default needs a key.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from clusterops.atomicfile import write_private
from clusterops.errors import ConfigError, UsageError
from clusterops.kv import paths
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretRef
from clusterops.kv.pool import DEFAULT_WORKERS, Progress, run_bounded
from clusterops.kv.replay import ReplayResult, SecretRecord, read_record, replay
from clusterops.kv.tree import error_message, join, paths_below

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

FORMAT = "clusterops-kv-export/1"
ENCRYPTED_MAGIC = b"clusterops-kv-export+fernet/1\n"
KEY_ENV = "CLUSTEROPS_EXPORT_KEY_FILE"


@dataclass(frozen=True)
class Export:
    source: Mapping[str, Any]
    records: tuple[SecretRecord, ...] = field(repr=False)
    errors: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "source": dict(self.source), "secrets": [r.to_dict() for r in self.records]}

    @property
    def unreadable_versions(self) -> int:
        return sum(1 for r in self.records for v in r.versions if v.data is None)

    @property
    def version_count(self) -> int:
        return sum(len(r.versions) for r in self.records)


def export_tree(
    client: VaultClient,
    ref: SecretRef,
    *,
    all_versions: bool = True,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Export:
    if ref.kv_version != 2:
        raise UsageError(f"export needs a KV v2 mount; {ref.mount}/ is KV v{ref.kv_version}")
    paths = paths_below(client, ref, workers=workers)
    outcomes = run_bounded(
        paths,
        lambda rel: read_record(client, join(ref, rel), rel, all_versions=all_versions),
        workers=workers,
        progress=progress,
    )
    source = {
        "address": client.settings.address,
        "namespace": client.settings.namespace or "",
        "mount": ref.mount,
        "path": ref.path,
        "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "all_versions": all_versions,
    }
    records = tuple(o.result for o in outcomes if o.result is not None)
    errors = tuple((o.item, error_message(o.error)) for o in outcomes if o.error is not None)
    return Export(source, records, errors)


# -- serialisation and encryption -------------------------------------------------------------


def serialize(doc: Export, fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(doc.to_dict(), indent=1, sort_keys=False) + "\n").encode()
    if fmt == "yaml":
        return yaml.safe_dump(doc.to_dict(), sort_keys=False, allow_unicode=True).encode()
    raise UsageError("the export format is yaml or json")


def _fernet(key: bytes) -> Fernet:
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise UsageError(
            "encrypted exports need the `cryptography` package", hint="pip install 'clusterops[crypto]'"
        ) from None
    try:
        return Fernet(key.strip())
    except ValueError:
        raise UsageError(
            "the key file does not hold a Fernet key (make one with `clusterops kv keygen FILE`)"
        ) from None


def read_key(path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read the key file: {err.strerror}", path=path) from err


def new_key() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(32))


def keygen(path: Path) -> None:
    if path.exists():
        raise UsageError(f"{path} exists; refusing to overwrite a key")
    write_private(path, new_key() + b"\n")


def encrypt(blob: bytes, key: bytes) -> bytes:
    return ENCRYPTED_MAGIC + _fernet(key).encrypt(blob) + b"\n"


def decrypt(blob: bytes, key: bytes | None) -> bytes:
    if not blob.startswith(ENCRYPTED_MAGIC):
        return blob
    if key is None:
        raise UsageError("the export is encrypted: give --key-file (or CLUSTEROPS_EXPORT_KEY_FILE)")
    from cryptography.fernet import InvalidToken

    try:
        result = _fernet(key).decrypt(blob[len(ENCRYPTED_MAGIC) :].strip())
    except InvalidToken:
        raise UsageError("the export cannot be decrypted with this key (wrong key, or the file was altered)") from None
    return result


def write_export(doc: Export, path: Path, *, fmt: str, key: bytes | None) -> None:
    blob = serialize(doc, fmt)
    write_private(path, encrypt(blob, key) if key is not None else blob)


def load_export(blob: bytes, *, key: bytes | None, where: str) -> Export:
    plain = decrypt(blob, key)
    try:
        raw = yaml.safe_load(plain.decode("utf-8"))  # YAML is a superset of JSON
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError("is not a readable export (YAML or JSON)", path=where) from err
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigError(f"is not a clusterops export (format {FORMAT} expected)", path=where)
    try:
        records = tuple(SecretRecord.from_dict(r) for r in raw.get("secrets") or [])
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"has a malformed secret entry ({type(err).__name__})", path=where) from err
    check_records(records, where)
    return Export(dict(raw.get("source") or {}), records)


# -- import ---------------------------------------------------------------------------------


def check_records(records: tuple[SecretRecord, ...], where: str) -> None:
    """Refuse an export with an entry that could land outside DEST or twice on one path; nothing is written.

    Each entry's path is relative to DEST: a '..', '.' or empty segment (also percent-encoded), or two
    entries for one path, is refused with the entry named.
    """
    seen: dict[str, int] = {}
    for index, rec in enumerate(records, start=1):
        why = paths.bad_segment(rec.path)
        if why is not None:
            raise ConfigError(
                f"secret entry {index} (path {rec.path!r}) {why}: it would be written outside the destination; "
                "nothing was imported",
                path=where,
            )
        key = rec.path.strip("/")
        if key in seen:
            raise ConfigError(
                f"secret entries {seen[key]} and {index} both have path {rec.path!r}; nothing was imported", path=where
            )
        seen[key] = index


@dataclass(frozen=True)
class ImportReport:
    destination: str
    results: tuple[ReplayResult, ...]
    errors: tuple[tuple[str, str], ...]
    not_preserved: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def import_tree(
    client: VaultClient,
    dst: SecretRef,
    doc: Export,
    *,
    overwrite: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> ImportReport:
    if dst.kv_version != 2:
        raise UsageError(f"import needs a KV v2 mount; {dst.mount}/ is KV v{dst.kv_version}")
    check_records(doc.records, "the export")
    outcomes = run_bounded(
        list(doc.records),
        lambda rec: replay(client, join(dst, rec.path), rec, overwrite=overwrite),
        workers=workers,
        progress=progress,
    )
    results = tuple(o.result for o in outcomes if o.result is not None)
    errors = tuple((o.item.path, error_message(o.error)) for o in outcomes if o.error is not None)
    not_preserved = ["timestamps (created_time, deletion_time, updated_time): the server sets them on write"]
    shifted = sum(1 for r in results if any(a != b for a, b in r.version_map.items()))
    if shifted:
        not_preserved.append(f"version numbers of {shifted} secret(s) (see the notes per secret)")
    lost = sum(1 for r in doc.records for v in r.versions if v.data is None)
    if lost:
        not_preserved.append(
            f"data of {lost} soft-deleted or destroyed version(s): not readable at export; restored empty, same state"
        )
    return ImportReport(str(dst), results, errors, tuple(not_preserved))
