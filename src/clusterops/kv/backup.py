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
import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import yaml

from clusterops.atomicfile import write_private
from clusterops.errors import ClusterOpsError, ConfigError, UsageError
from clusterops.kv import paths
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretRef
from clusterops.kv.planned import (
    Versions,
    Where,
    changes_since,
    renumbered,
    require_unchanged,
    say_versions,
    versions_doc,
    where,
)
from clusterops.kv.pool import DEFAULT_WORKERS, Outcome, Progress, run_bounded, run_streaming
from clusterops.kv.replay import ReplayResult, SecretRecord, read_record, replay
from clusterops.kv.tree import current_versions, error_message, join, paths_below
from clusterops.yamlsource import Locator, PathPart, dotted, load_yaml_text

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

FORMAT = "clusterops-kv-export/1"
ENCRYPTED_MAGIC = b"clusterops-kv-export+fernet/1\n"  # one Fernet token (read, no longer written)
ENCRYPTED_STREAM_MAGIC = b"clusterops-kv-export+fernet-stream/1\n"  # numbered ~1 MiB Fernet chunks
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


def _source(client: VaultClient, ref: SecretRef, all_versions: bool) -> dict[str, Any]:
    return {
        "address": client.settings.address,
        "namespace": client.settings.namespace or "",
        "mount": ref.mount,
        "path": ref.path,
        "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "all_versions": all_versions,
    }


def iter_records(
    client: VaultClient,
    ref: SecretRef,
    *,
    all_versions: bool = True,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Iterator[Outcome[str, SecretRecord]]:
    """Every secret at or below `ref` with its history, in path order, as soon as each is read (a bounded window)."""
    if ref.kv_version != 2:
        raise UsageError(f"export needs a KV v2 mount; {ref.mount}/ is KV v{ref.kv_version}")
    found = paths_below(client, ref, workers=workers)
    return run_streaming(
        found,
        lambda rel: read_record(client, join(ref, rel), rel, all_versions=all_versions),
        workers=workers,
        progress=progress,
        total=len(found),
    )


def export_tree(
    client: VaultClient,
    ref: SecretRef,
    *,
    all_versions: bool = True,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Export:
    """The whole export in memory (for small trees and tests; `stream_export` writes one in bounded memory)."""
    records: list[SecretRecord] = []
    errors: list[tuple[str, str]] = []
    for o in iter_records(client, ref, all_versions=all_versions, workers=workers, progress=progress):
        if o.result is not None:
            records.append(o.result)
        else:
            errors.append((o.item, error_message(o.error)))
    return Export(_source(client, ref, all_versions), tuple(records), tuple(errors))


# -- serialisation and encryption -------------------------------------------------------------


def _yaml_dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _header(source: Mapping[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return (f'{{"format": {json.dumps(FORMAT)}, "source": {json.dumps(dict(source))}, "secrets": [\n').encode()
    return _yaml_dump({"format": FORMAT, "source": dict(source)}).encode() + b"secrets:\n"


def _record(rec: SecretRecord, fmt: str, first: bool) -> bytes:
    if fmt == "json":
        return (("" if first else ",\n") + json.dumps(rec.to_dict(), ensure_ascii=False)).encode()
    return _yaml_dump([rec.to_dict()]).encode()


def _footer(fmt: str, any_records: bool) -> bytes:
    if fmt == "json":
        return b"\n]}\n"
    return b"" if any_records else b"  []\n"


def serialize(doc: Export, fmt: str) -> bytes:
    if fmt not in ("yaml", "json"):
        raise UsageError("the export format is yaml or json")
    parts = [_header(doc.source, fmt)]
    parts += [_record(r, fmt, i == 0) for i, r in enumerate(doc.records)]
    parts.append(_footer(fmt, bool(doc.records)))
    return b"".join(parts)


@dataclass(frozen=True)
class ExportSummary:
    source: Mapping[str, Any]
    secrets: int
    version_count: int
    unreadable_versions: int
    errors: tuple[tuple[str, str], ...] = ()


class _Sink:
    """Where an export goes: plain bytes, or Fernet tokens of ~1 MiB chunks, numbered, the last one marked.

    Each chunk is authenticated by Fernet; the numbers and the `last` mark make a reordered, cut or
    spliced file fail to decrypt, so streaming keeps the guarantees of one token for the whole file.
    """

    CHUNK = 1 << 20

    def __init__(self, out: BinaryIO, key: bytes | None) -> None:
        self._out = out
        self._fernet = _fernet(key) if key is not None else None
        self._buf = bytearray()
        self._index = 0
        if self._fernet is not None:
            out.write(ENCRYPTED_STREAM_MAGIC)

    def write(self, blob: bytes) -> None:
        if self._fernet is None:
            self._out.write(blob)
            return
        self._buf += blob
        while len(self._buf) > self.CHUNK:
            self._emit(bytes(self._buf[: self.CHUNK]), last=False)
            del self._buf[: self.CHUNK]

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        assert self._fernet is not None
        head = f"{self._index} {'last' if last else 'more'}\n".encode()
        self._out.write(self._fernet.encrypt(head + chunk) + b"\n")
        self._index += 1

    def close(self) -> None:
        if self._fernet is not None:
            self._emit(bytes(self._buf), last=True)
            self._buf.clear()


def stream_export(
    client: VaultClient,
    ref: SecretRef,
    out: BinaryIO,
    *,
    fmt: str = "yaml",
    key: bytes | None = None,
    all_versions: bool = True,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write the export of `ref` to `out` secret by secret: memory stays bounded however big the tree."""
    if fmt not in ("yaml", "json"):
        raise UsageError("the export format is yaml or json")
    source = _source(client, ref, all_versions)
    sink = _Sink(out, key)
    sink.write(_header(source, fmt))
    count = versions = unreadable = 0
    errors: list[tuple[str, str]] = []
    for o in iter_records(client, ref, all_versions=all_versions, workers=workers, progress=progress):
        if o.result is None:
            errors.append((o.item, error_message(o.error)))
            continue
        rec = o.result
        sink.write(_record(rec, fmt, count == 0))
        count += 1
        versions += len(rec.versions)
        unreadable += sum(1 for v in rec.versions if v.data is None)
    sink.write(_footer(fmt, count > 0))
    sink.close()
    return ExportSummary(source, count, versions, unreadable, tuple(errors))


class PrivateFile:
    """A new file written whole or not at all, mode 0600: opened (and so checked) before any work starts.

    `commit()` fsyncs and renames it into place; leaving without commit removes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            raise ConfigError("is a folder; give a file name for the export", path=str(path))
        if path.exists() and not path.is_file():
            raise ConfigError(
                "exists and is not a regular file (a device or pipe); refusing to replace it", path=str(path)
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        except OSError as err:
            raise ConfigError(f"cannot write the export here: {err.strerror}", path=str(path)) from None
        os.fchmod(fd, 0o600)
        self._tmp = Path(tmp)
        self.stream: BinaryIO = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self.stream.close()
        self._tmp.replace(self.path)

    def discard(self) -> None:
        if not self.stream.closed:
            self.stream.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink()


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
    streamed = blob.startswith(ENCRYPTED_STREAM_MAGIC)
    if not streamed and not blob.startswith(ENCRYPTED_MAGIC):
        return blob
    if key is None:
        raise UsageError("the export is encrypted: give --key-file (or CLUSTEROPS_EXPORT_KEY_FILE)")
    from cryptography.fernet import InvalidToken

    fernet = _fernet(key)
    wrong = "the export cannot be decrypted with this key (wrong key, or the file was altered)"
    if not streamed:
        try:
            return fernet.decrypt(blob[len(ENCRYPTED_MAGIC) :].strip())
        except InvalidToken:
            raise UsageError(wrong) from None
    parts: list[bytes] = []
    lines = [line for line in blob[len(ENCRYPTED_STREAM_MAGIC) :].split(b"\n") if line.strip()]
    for index, line in enumerate(lines):
        try:
            chunk = fernet.decrypt(line.strip())
        except InvalidToken:
            raise UsageError(wrong) from None
        head, _, body = chunk.partition(b"\n")
        expected = f"{index} {'last' if index == len(lines) - 1 else 'more'}".encode()
        if head != expected:
            raise UsageError("the export's encrypted chunks are out of order, cut short or spliced; refusing it")
        parts.append(body)
    if not parts:
        raise UsageError("the encrypted export is empty (cut short?)")
    return b"".join(parts)


def write_export(doc: Export, path: Path, *, fmt: str, key: bytes | None) -> None:
    out = PrivateFile(path)
    try:
        sink = _Sink(out.stream, key)
        sink.write(serialize(doc, fmt))
        sink.close()
        out.commit()
    finally:
        out.discard()


def _parse(plain: bytes, where: str, *, lines: bool = True) -> Any:
    """JSON with the JSON parser (an export written with --format json), else YAML with the C loader.

    `lines`: the text is the file as written (not decrypted from it), so an error can name its line."""

    def at(line: int | None) -> int | None:
        return line if lines else None

    head = plain[:64].lstrip()
    if head.startswith(b"{"):
        try:
            return json.loads(plain)
        except ValueError as err:
            line = getattr(err, "lineno", None)
            if isinstance(err, UnicodeDecodeError):
                line = plain.count(b"\n", 0, err.start) + 1
            raise ConfigError("is not valid JSON", path=where, line=at(line)) from None
        except RecursionError:
            raise ConfigError("is nested too deeply to read", path=where, line=at(1)) from None
    try:
        return yaml.load(plain, Loader=_Loader)  # a safe loader: CSafeLoader, or SafeLoader without libyaml
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line = mark.line + 1 if mark else None
        if line is None and isinstance(getattr(err, "position", None), int):  # a reader error: a position
            line = plain.count(b"\n", 0, err.position) + 1  # type: ignore[attr-defined]
        problem = getattr(err, "problem", None) or "not YAML"
        raise ConfigError(
            f"is not a readable export (YAML or JSON): {problem}", path=where, line=at(line or 1)
        ) from None
    except RecursionError:
        raise ConfigError("is nested too deeply to read", path=where, line=at(1)) from None


def _line_finder(plain: bytes, where: str, enabled: bool) -> Callable[[tuple[PathPart, ...]], int | None]:
    """Key path -> line in the export's text, worked out on the first error only."""
    found: list[Locator] = []

    def line(keys: tuple[PathPart, ...]) -> int | None:
        if not enabled:
            return None
        if not found:
            try:
                found.append(load_yaml_text(plain.decode("utf-8"), where, loader=_Loader)[1])
            except (ClusterOpsError, ValueError, TypeError):
                found.append(Locator(where))
        return found[0].line(keys) or 1

    return line


def load_export(blob: bytes, *, key: bytes | None, where: str) -> Export:
    """An export file; every error names the file and, for a plain (not encrypted) file, the line."""
    plain = decrypt(blob, key)
    readable = plain is blob  # encrypted: lines of the decrypted text are no lines of the file
    raw = _parse(plain, where, lines=readable)
    line = _line_finder(plain, where, readable)

    def bad(keys: tuple[PathPart, ...], message: str) -> ConfigError:
        return ConfigError(f"{dotted(keys)}: {message}" if keys else message, path=where, line=line(keys))

    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise bad((), f"is not a clusterops export (format {FORMAT} expected)")
    if not isinstance(raw.get("source") or {}, dict):
        raise bad(("source",), "must be an object (address, mount, path)")
    entries = raw.get("secrets") or []
    if not isinstance(entries, list):
        raise bad(("secrets",), "must be a list of secrets")
    for n, entry in enumerate(entries):
        _check_entry(entry, ("secrets", n), bad)
    try:
        records = tuple(SecretRecord.from_dict(r) for r in entries)
    except (KeyError, TypeError, ValueError, OverflowError, UsageError) as err:  # the checks above should catch all
        raise bad(("secrets",), f"has a malformed secret entry ({type(err).__name__})") from err
    check_records(records, where, line=lambda n: line(("secrets", n - 1, "path")))
    return Export(dict(raw.get("source") or {}), records)


def _whole(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def _check_entry(entry: Any, at: tuple[PathPart, ...], bad: Callable[[tuple[PathPart, ...], str], ConfigError]) -> None:
    """One exported secret's shape, checked before it is read."""
    if not isinstance(entry, dict) or "path" not in entry:
        raise bad(at, "an exported secret needs a `path` and a list of `versions`")
    if not isinstance(entry["path"], str):
        raise bad((*at, "path"), "must be a string")
    meta = entry.get("metadata") or {}
    if not isinstance(meta, dict):
        raise bad((*at, "metadata"), "must be an object")
    for name in ("current_version", "oldest_version", "max_versions"):
        if not _whole(meta.get(name)):
            raise bad((*at, "metadata", name), "must be a whole number")
    if not isinstance(meta.get("custom_metadata") or {}, dict):
        raise bad((*at, "metadata", "custom_metadata"), "must map names to strings")
    versions = entry.get("versions") or []
    if not isinstance(versions, list):
        raise bad((*at, "versions"), "must be a list of versions")
    for n, v in enumerate(versions):
        if not isinstance(v, dict) or "version" not in v:
            raise bad((*at, "versions", n), "a version needs a `version` number")
        if v["version"] is None or not _whole(v["version"]):
            raise bad((*at, "versions", n, "version"), "must be a whole number")
        if v.get("data") is not None and not isinstance(v["data"], dict):
            raise bad((*at, "versions", n, "data"), "must be an object of key: value")


# -- import ---------------------------------------------------------------------------------


def check_records(
    records: tuple[SecretRecord, ...], where: str, *, line: Callable[[int], int | None] = lambda index: None
) -> None:
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
                line=line(index),
            )
        key = rec.path.strip("/")
        if key in seen:
            raise ConfigError(
                f"secret entries {seen[key]} and {index} both have path {rec.path!r}; nothing was imported",
                path=where,
                line=line(index),
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

    def to_dict(self) -> dict[str, Any]:
        """The `kv import` document."""
        return {
            "destination": self.destination,
            "imported": len(self.results),
            "versions_written": sum(r.versions_written for r in self.results),
            "not_preserved": list(self.not_preserved),
            "notes": {r.path: list(r.notes) for r in self.results if r.notes},
            "errors": [{"path": p, "error": m} for p, m in self.errors],
        }


@dataclass(frozen=True)
class ImportItem:
    """One exported secret: what the import does with it."""

    path: str  # relative to the destination ("" is the destination itself)
    versions: Versions  # the exported versions with their states (the data stays in the export)
    empty: tuple[int, ...] = ()  # versions exported without data (soft-deleted or destroyed then)
    settings: Mapping[str, Any] = field(default_factory=dict)
    destination_version: int = 0  # the destination's current version; 0: absent
    refused: str = ""

    @property
    def action(self) -> str:
        if self.refused:
            return "refused"
        return "add-on-top" if self.destination_version else "create"

    @property
    def version_map(self) -> dict[int, int]:
        return renumbered([v for v, _ in self.versions], self.destination_version)

    def notes(self) -> list[str]:
        state = dict(self.versions)
        return [
            f"v{v} has no data in the export ({state.get(v)}): written empty, then "
            + ("destroyed" if state.get(v) == "destroyed" else "deleted")
            for v in self.empty
        ]


@dataclass(frozen=True)
class ImportPlan:
    file: str
    exported_from: Mapping[str, Any]
    dst: SecretRef
    destination: Where
    items: tuple[ImportItem, ...]
    overwrite: bool = False

    @property
    def refused(self) -> tuple[ImportItem, ...]:
        return tuple(i for i in self.items if i.refused)

    def not_preserved(self) -> list[str]:
        todo = [i for i in self.items if not i.refused]
        out = ["timestamps (created_time, deletion_time, updated_time): the server sets them on write"]
        shifted = sum(1 for i in todo if any(a != b for a, b in i.version_map.items()))
        if shifted:
            out.append(f"version numbers of {shifted} secret(s) (see the notes per secret)")
        lost = sum(len(i.empty) for i in todo)
        if lost:
            out.append(
                f"data of {lost} soft-deleted or destroyed version(s): not readable at export; restored empty, "
                "same state"
            )
        return out

    def differences(self, fresh: ImportPlan) -> list[str]:
        def describe(old: ImportItem | None, new: ImportItem | None) -> str:
            item = new or old
            assert item is not None
            target = join(self.dst, item.path)
            if old is None or new is None or old.versions != new.versions or old.settings != new.settings:
                return f"{target}: the export read is not the one planned"
            if old.destination_version != new.destination_version:
                was = f"v{old.destination_version}" if old.destination_version else "absent"
                now = f"v{new.destination_version}" if new.destination_version else "absent"
                return f"{target} changed at the destination (planned {was}, now {now})"
            return f"{target}: now {new.refused or 'no longer refused'}"

        return changes_since(self.items, fresh.items, lambda i: i.path, describe)

    def to_dict(self) -> dict[str, Any]:
        """The plan document of `kv import` (no secret value)."""
        todo = [i for i in self.items if not i.refused]
        return {
            "command": "import",
            "file": self.file,
            "exported_from": {k: self.exported_from.get(k) for k in ("address", "namespace", "mount", "path")},
            "destination": self.destination.to_dict(),
            "overwrite": self.overwrite,
            "secrets": [
                {
                    "path": i.path,
                    "destination": str(join(self.dst, i.path)),
                    "action": i.action,
                    "versions": versions_doc(i.versions),
                    "written_as": {str(a): b for a, b in i.version_map.items()},
                    "destination_version": i.destination_version,
                    "metadata": dict(i.settings),
                    "notes": i.notes(),
                    "refused": i.refused or None,
                }
                for i in self.items
            ],
            "not_preserved": self.not_preserved(),
            "summary": {
                "secrets": len(todo),
                "versions": sum(len(i.versions) for i in todo),
                "refused": len(self.refused),
            },
        }

    def lines(self) -> list[str]:
        todo = [i for i in self.items if not i.refused]
        out = [
            f"plan: import {len(todo)} secret(s) ({sum(len(i.versions) for i in todo)} version(s)) from {self.file}",
            f"  to {self.destination}",
        ]
        for i in self.items:
            target = join(self.dst, i.path)
            if i.refused:
                out.append(f"  {target}: REFUSED: {i.refused}")
                continue
            how = "create" if not i.destination_version else f"add on top of v{i.destination_version} at"
            line = f"  {how} {target}: {say_versions(i.version_map)}"
            if i.destination_version and i.settings:
                line += f"; metadata {', '.join(sorted(i.settings))} overwritten"
            out.append(line)
            out += [f"      {n}" for n in i.notes()]
        out += [f"  not preserved: {n}" for n in self.not_preserved()]
        return out


def plan_import(
    client: VaultClient,
    dst: SecretRef,
    doc: Export,
    *,
    file: str = "the export",
    overwrite: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> ImportPlan:
    """What importing `doc` under `dst` would do, with the destination read; nothing is written."""
    if dst.kv_version != 2:
        raise UsageError(f"import needs a KV v2 mount; {dst.mount}/ is KV v{dst.kv_version}")
    check_records(doc.records, file)
    rels = [rec.path.strip("/") for rec in doc.records]
    at_destination = current_versions(client, dst, rels, workers=workers)
    items: list[ImportItem] = []
    for rel, rec in zip(rels, doc.records, strict=True):
        current = at_destination[rel]
        refused = (
            f"{join(dst, rel)} already exists (version {current}); pass --force to add versions on top"
            if current and not overwrite
            else ""
        )
        items.append(
            ImportItem(
                rel,
                tuple((v.version, v.state) for v in rec.versions),
                tuple(v.version for v in rec.versions if v.data is None),
                dict(rec.settings),
                current,
                refused,
            )
        )
    return ImportPlan(file, dict(doc.source), dst, where(client, dst), tuple(items), overwrite)


def execute_import(
    client: VaultClient,
    plan: ImportPlan,
    doc: Export,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> ImportReport:
    """Carry out a reviewed plan: refused (CasConflict, nothing written) if the destination moved since it was read.

    Each secret's first write carries cas at its planned destination version (0: absent), so a secret
    that appears after the re-read is refused by the server, nothing written for it."""
    fresh = plan_import(client, plan.dst, doc, file=plan.file, overwrite=plan.overwrite, workers=workers)
    require_unchanged(plan.differences(fresh), command="import")
    planned = {i.path: i for i in plan.items}

    def one(rec: SecretRecord) -> ReplayResult:
        item = planned[rec.path.strip("/")]
        if item.refused:
            raise UsageError(item.refused)
        return replay(client, join(plan.dst, item.path), rec, overwrite=plan.overwrite, expect=item.destination_version)

    outcomes = run_bounded(list(doc.records), one, workers=workers, progress=progress)
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
    return ImportReport(str(plan.dst), results, errors, tuple(not_preserved))


def import_tree(
    client: VaultClient,
    dst: SecretRef,
    doc: Export,
    *,
    overwrite: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> ImportReport:
    """Plan and carry out at once (for callers with their own review, and the benchmark)."""
    plan = plan_import(client, dst, doc, overwrite=overwrite, workers=workers)
    return execute_import(client, plan, doc, workers=workers, progress=progress)
