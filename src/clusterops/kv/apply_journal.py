"""The KV apply journal: what a `kv apply` run wrote, so that `kv undo RUN` can take back exactly that.

Not the upgrade/playbook run journal (`clusterops.journal`): this one records KV versions per path.

Before the first write, the journal records where the run acts (address, namespace, mount) and for
every path the plan changes: the version seen at plan time (the prior version), the state of that
version, the prior value of each metadata field the run changes and the value it writes there. Right
after each write, before anything else, it records the version the server returned (and that the
metadata was written). It holds no secret value. On disk a run is `RUN.json`, written atomically (temp
file, fsync, rename, fsync of the folder) when the run starts and ends, and `RUN.log`, one JSON line
per recorded change, appended and fsynced before the run goes on (a few ms, whatever the run's size).
Both are mode 0600; loading replays the log over the snapshot, ignoring a last line cut by a crash,
so a run killed at any point leaves a readable journal.

Undo is a plan first (`plan_undo`: every step decided from the journal and the secrets as read, nothing
written), then `execute_undo`, which reads both again and refuses (CasConflict, nothing undone) if the
undo would not be the one planned; a rewrite carries cas at the version read.

Undo acts only where the run acted: a client for another address or namespace is refused (UnsafePlan),
whatever the flags. Per path it undoes only what the journal proves the run wrote:
- data: the version the server returned to the run. If it is still the latest, the prior version's
  data is written again as a new version with cas (history kept), or the run's version is soft-deleted
  when the path had no live data before. If someone wrote after it, the path is left and reported
  (unless --force). A version the run did not record (it was killed between the server's answer and
  the journal, or someone else wrote it) is never touched: it is reported as unproven.
- metadata: restored to its prior values only if the run recorded writing it and every field still
  holds what the run wrote; a field someone changed since is left and reported.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clusterops.atomicfile import write_private
from clusterops.errors import ClusterOpsError, ConfigError, NotFound, UnsafePlan, UsageError
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretMetadata, SecretRef
from clusterops.kv.planned import changes_since, require_unchanged
from clusterops.settings import state_dir

JOURNAL_FORMAT = "clusterops-kv-journal/1"
# What a field was before the run when the secret had no metadata at all.
_DEFAULTS: dict[str, Any] = {
    "max_versions": 0,
    "cas_required": False,
    "delete_version_after": "0s",
    "custom_metadata": {},
}


def default_journal_dir(env: Mapping[str, str] | None = None) -> Path:
    """`kv-runs/` in the state directory (`settings.state_dir`)."""
    return state_dir(env) / "kv-runs"


@dataclass(frozen=True)
class ApplyJournalEntry:
    path: str
    prior_version: int
    prior_state: str  # live, deleted, destroyed, absent
    prior_settings: Mapping[str, Any] = field(default_factory=dict)
    writes_data: bool = True
    status: str = "pending"  # pending, written, conflict, failed, undone
    new_version: int | None = None  # the version the server returned for the run's write: the proof
    metadata_written: bool = False
    note: str = ""
    written_settings: Mapping[str, Any] = field(default_factory=dict)  # what the run writes to the metadata


class ApplyJournal:
    def __init__(self, path: Path, header: dict[str, Any], entries: list[ApplyJournalEntry]) -> None:
        self.path = path
        self.log_path = path.with_suffix(".log")
        self.header = header
        self.entries = {e.path: e for e in entries}
        self._lock = threading.Lock()

    @property
    def run_id(self) -> str:
        return str(self.header["run"])

    @classmethod
    def start(cls, folder: Path, client: VaultClient, mount: str, entries: list[ApplyJournalEntry]) -> ApplyJournal:
        now = datetime.now(UTC)
        run_id = now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        header = {
            "format": JOURNAL_FORMAT,
            "run": run_id,
            "started": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "address": client.settings.address,
            "namespace": (client.settings.namespace or "").strip().strip("/"),
            "mount": mount,
            "status": "running",
        }
        journal = cls(folder / f"{run_id}.json", header, entries)
        journal._save()
        write_private(journal.log_path, b"")
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
            self._append(self.entries[path])

    def _append(self, e: ApplyJournalEntry) -> None:
        """One line with the entry's changing fields, on disk (fsync) before the caller goes on."""
        line = {"path": e.path, "status": e.status, "new_version": e.new_version}
        line.update({"metadata_written": e.metadata_written, "note": e.note})
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def finish(self, status: str) -> None:
        with self._lock:
            self.header["status"] = status
            self._save()

    @classmethod
    def load(cls, run: str, folder: Path) -> ApplyJournal:
        path = Path(run) if run.endswith(".json") else folder / f"{run}.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise UsageError(f"no journal for run {run} ({path}: {err.strerror})") from err
        except ValueError:
            raise ConfigError("is not a readable journal", path=str(path)) from None
        if raw.get("format") != JOURNAL_FORMAT:
            raise ConfigError(f"is not a clusterops journal ({JOURNAL_FORMAT})", path=str(path))
        journal = cls(path, raw, [ApplyJournalEntry(**e) for e in raw.pop("entries", [])])
        journal._replay()
        return journal

    def _replay(self) -> None:
        try:
            lines = self.log_path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            return
        except OSError as err:
            raise ConfigError(f"cannot read: {err.strerror}", path=str(self.log_path)) from err
        for number, text in enumerate(lines, 1):
            if not text:
                continue
            try:
                change = json.loads(text)
                path = str(change.pop("path"))
                self.entries[path] = replace(self.entries[path], **change)
            except (ValueError, KeyError, TypeError):
                if number == len(lines):  # the last line, cut short by a crash: that change never finished
                    break
                raise ConfigError("is not a readable journal log", path=str(self.log_path), line=number) from None


@dataclass(frozen=True)
class UndoResult:
    path: str
    action: str  # rolled-back, deleted, metadata-restored (joined by +), nothing-to-undo;
    # not done: skipped, unproven, partly-undone, failed
    version: int | None = None
    message: str = ""


def undo_document(run_id: str, results: Sequence[UndoResult]) -> dict[str, Any]:
    """The `kv undo` document."""
    return {"run": run_id, "results": [{"path": r.path, "action": r.action, "message": r.message} for r in results]}


def _same_settings(live: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """The fields of `want` whose live value differs (compared as the plan compares them)."""
    from clusterops.kv.sync import _same_setting

    return [k for k, v in want.items() if not _same_setting(k, live.get(k), v)]


@dataclass(frozen=True)
class UndoStep:
    """What undo does to one path of the run, decided from the journal entry and the secret as read."""

    path: str
    action: str  # as UndoResult's: what it will do, or why not (skipped, unproven, partly-undone)
    current_version: int | None = None  # the version read for the plan; None: the secret no longer exists
    message: str = ""
    rewrite: int | None = None  # write this (prior) version's data again as a new version, cas = current_version
    delete: int | None = None  # soft-delete this version (the run's)
    restore: Mapping[str, Any] = field(default_factory=dict)  # metadata fields put back to these values
    written: Mapping[str, Any] = field(default_factory=dict)  # what the run had written to those fields

    @property
    def acts(self) -> bool:
        return self.rewrite is not None or self.delete is not None or bool(self.restore)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "action": self.action,
            "current_version": self.current_version,
            "writes_again": self.rewrite,
            "new_version": None if self.rewrite is None or self.current_version is None else self.current_version + 1,
            "deletes_version": self.delete,
            "metadata": {k: {"now": self.written.get(k), "restored": v} for k, v in self.restore.items()},
            "message": self.message,
        }

    def line(self) -> str:
        what: list[str] = []
        if self.rewrite is not None and self.current_version is not None:
            what.append(f"write v{self.rewrite}'s data again as v{self.current_version + 1} (on top of the run's)")
        if self.delete is not None:
            what.append(f"soft-delete v{self.delete} (the run's; there was no live data before)")
        if self.restore:
            what.append(
                "restore metadata "
                + ", ".join(f"{k}: {self.written.get(k)!r} -> {v!r}" for k, v in self.restore.items())
            )
        said = "; ".join(what) or ("nothing to undo" if self.action == "nothing-to-undo" else self.action.upper())
        return f"{said}" + (f" ({self.message})" if self.message else "")


def plan_entry(entry: ApplyJournalEntry, meta: SecretMetadata | None, *, force: bool) -> UndoStep:
    """The undo of one journal entry against the secret's metadata as read now (None: gone). Pure."""
    if meta is None:
        return UndoStep(entry.path, "skipped", message="the secret no longer exists")
    current = meta.current_version
    ours = entry.new_version if entry.writes_data else None
    actions: list[str] = []
    notes: list[str] = []
    rewrite: int | None = None
    delete: int | None = None
    restore: dict[str, Any] = {}
    maybe_ours = entry.status in ("pending", "failed")  # the run may have stopped between a write and its record
    if entry.writes_data and ours is None:
        if current != entry.prior_version and maybe_ours:
            return UndoStep(
                entry.path,
                "unproven",
                current,
                f"v{current} is newer than the planned v{entry.prior_version}, but the journal holds no write "
                "of this run there (killed before recording it, or another writer): not touched",
            )
        notes.append("the run wrote no data here" if maybe_ours else f"the run's write {entry.status}")
    elif ours is not None and current != ours and not force:
        return UndoStep(
            entry.path, "skipped", current, f"changed after the run (the run wrote v{ours}, now v{current}); --force"
        )
    elif ours is not None and entry.prior_state == "live" and entry.prior_version > 0:
        prior = next((v for v in meta.versions if v.version == entry.prior_version), None)
        if prior is None or prior.state != "live":
            return UndoStep(entry.path, "skipped", current, f"v{entry.prior_version} is no longer readable")
        rewrite = entry.prior_version
        actions.append("rolled-back")
    elif ours is not None:
        delete = ours
        actions.append("deleted")
    if entry.metadata_written and entry.prior_settings:
        changed = _same_settings(meta.settings(), entry.written_settings)
        if changed and not force:
            notes.append(f"metadata {', '.join(changed)} changed after the run: not restored")
        else:
            wanted = {k: (v if v is not None else _DEFAULTS.get(k)) for k, v in entry.prior_settings.items()}
            restore = {k: v for k, v in wanted.items() if v is not None}
            if restore:
                actions.append("metadata-restored")
    elif entry.status != "conflict" and entry.prior_settings and _same_settings(meta.settings(), entry.prior_settings):
        # a conflict never reaches the metadata write; otherwise the run may have stopped before recording it
        notes.append("metadata differs from before the run, but the journal holds no metadata write: not touched")
    if any(n.endswith("not restored") or n.endswith("not touched") for n in notes):
        action = "partly-undone" if actions else "skipped"
    else:
        action = "+".join(actions) or "nothing-to-undo"
    live = meta.settings()
    return UndoStep(
        entry.path, action, current, "; ".join(notes), rewrite, delete, restore, {k: live.get(k) for k in restore}
    )


def undo_step(client: VaultClient, mount: str, step: UndoStep) -> UndoResult:
    """Carry out one planned step; the rewrite carries cas at the version the plan read."""
    ref = SecretRef(mount, step.path, 2)
    if step.rewrite is not None:
        prior = client.read_version(ref, step.rewrite)
        if prior.data is None:
            return UndoResult(step.path, "skipped", step.current_version, f"v{step.rewrite} is no longer readable")
        client.write(ref, prior.data, cas=step.current_version)
    if step.delete is not None:
        client.delete_versions(ref, [step.delete])
    if step.restore:
        client.write_metadata(ref, dict(step.restore))
    return UndoResult(step.path, step.action, step.current_version, step.message)


def _refuse_elsewhere(journal: ApplyJournal, client: VaultClient) -> None:
    from clusterops.kv.sync import norm_namespace, same_address

    addr = str(journal.header.get("address") or "")
    ns = norm_namespace(str(journal.header.get("namespace") or ""))
    here = norm_namespace(client.settings.namespace)
    if not same_address(addr, client.settings.address):
        raise UnsafePlan(
            f"run {journal.run_id} wrote to {addr}, not {client.settings.address}; nothing was undone",
            hint=f"point VAULT_ADDR at {addr}",
        )
    if ns != here:
        raise UnsafePlan(
            f"run {journal.run_id} wrote in namespace {ns or '(root)'}, not {here or '(root)'}; nothing was undone",
            hint=f"set VAULT_NAMESPACE={ns} (or --namespace {ns})" if ns else "unset VAULT_NAMESPACE",
        )


UNDONE = ("rolled-back", "deleted", "metadata-restored", "rolled-back+metadata-restored",
          "deleted+metadata-restored", "nothing-to-undo")  # fmt: skip
NOT_DONE = ("skipped", "unproven", "partly-undone", "failed")


@dataclass(frozen=True)
class UndoPlan:
    run_id: str
    journal: str  # the journal file the plan was read from
    address: str
    namespace: str
    mount: str
    steps: tuple[UndoStep, ...]
    force: bool = False

    @property
    def refused(self) -> tuple[UndoStep, ...]:
        """The steps that leave something of the run in place (reported, exit 1)."""
        return tuple(s for s in self.steps if s.action in NOT_DONE)

    def differences(self, fresh: UndoPlan) -> list[str]:
        def describe(old: UndoStep | None, new: UndoStep | None) -> str:
            step = new or old
            assert step is not None
            if old is None or new is None:
                return f"{step.path}: the journal changed (another undo?)"
            if old.current_version != new.current_version:
                return f"{step.path} changed (planned v{old.current_version}, now v{new.current_version})"
            return f"{step.path}: now {new.action}" + (f" ({new.message})" if new.message else "")

        return changes_since(self.steps, fresh.steps, lambda s: s.path, describe)

    def to_dict(self) -> dict[str, Any]:
        """The plan document of `kv undo` (no secret value)."""
        return {
            "command": "undo",
            "run": self.run_id,
            "address": self.address,
            "namespace": self.namespace,
            "mount": self.mount,
            "force": self.force,
            "steps": [s.to_dict() for s in self.steps],
            "summary": {
                "acting": sum(1 for s in self.steps if s.acts),
                "left": len(self.refused),
            },
        }

    def lines(self) -> list[str]:
        out = [
            f"plan: undo run {self.run_id}: {sum(1 for s in self.steps if s.acts)} path(s) to put back, "
            f"{len(self.refused)} left as they are",
            f"  in {self.mount}/ on {self.address} (namespace {self.namespace or '(root)'})",
        ]
        out += [f"  {self.mount}/{s.path}: {s.line()}" for s in self.steps]
        return out


def plan_undo(
    client: VaultClient, run: str, folder: Path, *, force: bool = False, workers: int = 8
) -> tuple[ApplyJournal, UndoPlan]:
    """What `kv undo RUN` would do, from the journal and the secrets as read now; nothing is written.

    Refused before reading any secret: a client for another address or namespace than the run's
    (UnsafePlan, never forced), a run already undone (unless forced)."""
    from clusterops.kv.pool import run_bounded

    journal = ApplyJournal.load(run, folder)
    _refuse_elsewhere(journal, client)  # never forced: acting elsewhere would touch someone else's secrets
    if journal.header.get("status") == "undone" and not force:
        raise UsageError(f"run {journal.run_id} was already undone")
    mount = str(journal.header["mount"])
    entries = sorted((e for e in journal.entries.values() if e.status != "undone"), key=lambda e: e.path)

    def read(entry: ApplyJournalEntry) -> SecretMetadata | None:
        try:
            return client.read_metadata(SecretRef(mount, entry.path, 2))
        except NotFound:
            return None

    steps: list[UndoStep] = []
    for o in run_bounded(entries, read, workers=workers):
        if o.error is None:
            steps.append(plan_entry(o.item, o.result, force=force))
        elif isinstance(o.error, ClusterOpsError):
            steps.append(UndoStep(o.item.path, "failed", message=o.error.message))
        else:
            raise o.error
    header = journal.header
    plan = UndoPlan(
        journal.run_id, str(journal.path), str(header.get("address") or ""), str(header.get("namespace") or ""),
        mount, tuple(steps), force,
    )  # fmt: skip
    return journal, plan


def execute_undo(client: VaultClient, plan: UndoPlan) -> tuple[ApplyJournal, list[UndoResult]]:
    """Carry out a reviewed plan: the journal and the secrets are read again first, and if the undo would
    not be the one planned it is refused (CasConflict), nothing undone."""
    journal, fresh = plan_undo(client, plan.journal, Path(plan.journal).parent, force=plan.force)
    require_unchanged(plan.differences(fresh), command="undo", nothing="nothing was undone")
    results: list[UndoResult] = []
    for step in plan.steps:
        if step.acts:
            try:
                result = undo_step(client, plan.mount, step)
            except ClusterOpsError as err:
                result = UndoResult(step.path, "failed", message=err.message)
        else:
            result = UndoResult(step.path, step.action, step.current_version, step.message)
        results.append(result)
        if result.action in UNDONE or result.action == "partly-undone":  # never redo what was undone
            note = f"{result.action}: {result.message}" if result.message else result.action
            journal.mark(step.path, "undone", note=note)
    if all(r.action in UNDONE for r in results):
        journal.finish("undone")
    return journal, results


def undo_run(
    client: VaultClient, run: str, folder: Path, *, force: bool = False
) -> tuple[ApplyJournal, list[UndoResult]]:
    """Plan and carry out at once (for callers with their own review)."""
    _journal, plan = plan_undo(client, run, folder, force=force)
    return execute_undo(client, plan)
