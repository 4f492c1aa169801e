"""The journal of a `kv apply` run, and `kv undo RUN`.

Before the first write, the journal records for every path the plan changes: the version seen at
plan time (the prior version), the state of that version, and the prior value of each metadata field
the run changes. After each write it records the new version. It holds no secret value. Every update
is written atomically (temp file, fsync, rename, fsync of the folder) with mode 0600, so a run killed
at any point leaves a readable journal.

Undo, per path: if nobody wrote after the run, write the prior version's data again as a new version
(a rollback; history is kept, nothing is lost), or soft-delete the run's version when the path did
not exist or its latest version was deleted before the run; then restore the prior metadata fields.
A path someone changed after the run is left alone and reported, unless forced. An entry still
"pending" (the run was killed around that write) is undone only when the version after the prior one
was created after the run started.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clusterops.atomicfile import write_private
from clusterops.errors import ClusterOpsError, ConfigError, NotFound, UsageError
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretRef, _timestamp

JOURNAL_FORMAT = "clusterops-kv-journal/1"
# What a field was before the run when the secret had no metadata at all.
_DEFAULTS: dict[str, Any] = {
    "max_versions": 0,
    "cas_required": False,
    "delete_version_after": "0s",
    "custom_metadata": {},
}


def default_journal_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("CLUSTEROPS_STATE_DIR"):
        return Path(env["CLUSTEROPS_STATE_DIR"]).expanduser() / "kv-runs"
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "clusterops" / "kv-runs"


@dataclass(frozen=True)
class JournalEntry:
    path: str
    prior_version: int
    prior_state: str  # live, deleted, destroyed, absent
    prior_settings: Mapping[str, Any] = field(default_factory=dict)
    writes_data: bool = True
    status: str = "pending"  # pending, written, conflict, failed, undone, undo-skipped
    new_version: int | None = None
    metadata_written: bool = False
    note: str = ""


class Journal:
    def __init__(self, path: Path, header: dict[str, Any], entries: list[JournalEntry]) -> None:
        self.path = path
        self.header = header
        self.entries = {e.path: e for e in entries}
        self._lock = threading.Lock()

    @property
    def run_id(self) -> str:
        return str(self.header["run"])

    @classmethod
    def start(cls, folder: Path, client: VaultClient, mount: str, entries: list[JournalEntry]) -> Journal:
        now = datetime.now(UTC)
        run_id = now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        header = {
            "format": JOURNAL_FORMAT,
            "run": run_id,
            "started": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "address": client.settings.address,
            "namespace": client.settings.namespace or "",
            "mount": mount,
            "status": "running",
        }
        journal = cls(folder / f"{run_id}.json", header, entries)
        journal._save()
        return journal

    def _save(self) -> None:
        doc = {**self.header, "entries": [asdict(e) for e in self.entries.values()]}
        write_private(self.path, (json.dumps(doc, indent=1) + "\n").encode())

    def mark(
        self, path: str, status: str, new_version: int | None = None, *, metadata_written: bool = False, note: str = ""
    ) -> None:
        with self._lock:
            e = self.entries[path]
            self.entries[path] = replace(
                e,
                status=status,
                new_version=new_version if new_version is not None else e.new_version,
                metadata_written=e.metadata_written or metadata_written,
                note=note or e.note,
            )
            self._save()

    def finish(self, status: str) -> None:
        with self._lock:
            self.header["status"] = status
            self._save()

    @classmethod
    def load(cls, run: str, folder: Path) -> Journal:
        path = Path(run) if run.endswith(".json") else folder / f"{run}.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise UsageError(f"no journal for run {run} ({path}: {err.strerror})") from err
        except ValueError:
            raise ConfigError("is not a readable journal", path=str(path)) from None
        if raw.get("format") != JOURNAL_FORMAT:
            raise ConfigError(f"is not a clusterops journal ({JOURNAL_FORMAT})", path=str(path))
        entries = [JournalEntry(**e) for e in raw.pop("entries", [])]
        return cls(path, raw, entries)


@dataclass(frozen=True)
class UndoResult:
    path: str
    action: str  # rolled-back, deleted, metadata-restored, nothing-to-undo, skipped, failed
    version: int | None = None
    message: str = ""


def _ours(client: VaultClient, ref: SecretRef, entry: JournalEntry, started: str) -> int | None:
    """The version the run wrote at `ref`, or None if it wrote nothing there."""
    meta = client.read_metadata(ref)
    if entry.new_version is not None:
        return entry.new_version
    if meta.current_version == entry.prior_version + 1:
        info = meta.latest
        if info is not None and _timestamp(info.created_time) >= _timestamp(started):
            return meta.current_version
    return None


def undo_entry(client: VaultClient, mount: str, entry: JournalEntry, started: str, *, force: bool) -> UndoResult:
    ref = SecretRef(mount, entry.path, 2)
    try:
        current = client.read_metadata(ref).current_version
    except NotFound:
        return UndoResult(entry.path, "skipped", message="the secret no longer exists")
    ours = _ours(client, ref, entry, started) if entry.writes_data else None
    if entry.writes_data and ours is None:
        action = "nothing-to-undo"
    elif ours is not None and current != ours and not force:
        return UndoResult(
            entry.path, "skipped", current, f"changed after the run (the run wrote v{ours}, now v{current}); --force"
        )
    elif ours is not None and entry.prior_state == "live" and entry.prior_version > 0:
        prior = client.read_version(ref, entry.prior_version)
        if prior.data is None:
            return UndoResult(entry.path, "skipped", current, f"v{entry.prior_version} is no longer readable")
        client.write(ref, prior.data, cas=current)
        action = "rolled-back"
    elif ours is not None:
        client.delete_versions(ref, [ours])
        action = "deleted"
    else:
        action = "nothing-to-undo"
    if entry.metadata_written or (entry.prior_settings and entry.status == "pending"):
        restore = {k: (v if v is not None else _DEFAULTS.get(k)) for k, v in entry.prior_settings.items()}
        restore = {k: v for k, v in restore.items() if v is not None}
        if restore:
            client.write_metadata(ref, restore)
            action = action if action != "nothing-to-undo" else "metadata-restored"
    return UndoResult(entry.path, action, current)


def undo_run(client: VaultClient, run: str, folder: Path, *, force: bool = False) -> tuple[Journal, list[UndoResult]]:
    journal = Journal.load(run, folder)
    if journal.header.get("status") == "undone" and not force:
        raise UsageError(f"run {journal.run_id} was already undone")
    if journal.header.get("address") != client.settings.address and not force:
        raise UsageError(
            f"run {journal.run_id} wrote to {journal.header.get('address')}, not {client.settings.address}",
            hint="point VAULT_ADDR at that server, or pass --force",
        )
    started = str(journal.header.get("started") or "")
    mount = str(journal.header["mount"])
    results: list[UndoResult] = []
    for entry in sorted(journal.entries.values(), key=lambda e: e.path):
        if entry.status in ("undone", "conflict", "failed") and not (entry.status == "failed" and entry.new_version):
            if entry.status != "undone":
                results.append(UndoResult(entry.path, "nothing-to-undo", message=f"the run's write {entry.status}"))
            continue
        try:
            result = undo_entry(client, mount, entry, started, force=force)
        except ClusterOpsError as err:
            result = UndoResult(entry.path, "failed", message=err.message)
        results.append(result)
        if result.action in ("rolled-back", "deleted", "metadata-restored", "nothing-to-undo"):
            journal.mark(entry.path, "undone", note=result.action)
    if all(r.action not in ("skipped", "failed") for r in results):
        journal.finish("undone")
    return journal, results
