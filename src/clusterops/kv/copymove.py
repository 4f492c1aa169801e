"""`kv copy` and `kv move`: a secret or subtree to another path, possibly on another server; a plan first.

`plan_copy` reads the world into a `CopyPlan` (every source secret with its versions and states, the
versions carried and the numbers they get at the destination, what exists there, the metadata written,
what a move deletes or loses, what is refused) and writes nothing. `execute_copy` reads the world again
and refuses (CasConflict, nothing written) if it is not the one planned; then each secret is replayed
with check-and-set at its planned destination version, after checking its source still has the planned
versions. A move deletes each source secret only after its copy succeeded and only when the source has
not changed since it was read.

Refused before anything is read per secret: a destination that is, or overlaps, the source on the same
server (recognised by cluster id); a source path with a '..', '.' or empty segment; a move of the
latest version only, unless the loss is asked for. Refused per secret (shown in the plan, reported,
the others go on): a destination that exists without `overwrite`; in a move, soft-deleted versions
whose data cannot be read (so cannot be carried), unless `allow_history_loss`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from clusterops.errors import CasConflict, ClusterOpsError, NotFound, UnsafePlan, UsageError
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
    versions_of,
    where,
)
from clusterops.kv.pool import DEFAULT_WORKERS, Progress, run_bounded
from clusterops.kv.replay import ReplayResult, read_record, replay
from clusterops.kv.tree import current_versions, error_message, join, paths_below


@dataclass(frozen=True)
class CopyItem:
    """One source secret: what the copy (or move) does with it."""

    path: str  # relative to both roots; "" is the root secret itself
    source_version: int
    versions: Versions  # every version at the source, with its state
    carried: tuple[int, ...]  # the versions written to the destination, in this order
    settings: Mapping[str, Any] = field(default_factory=dict)  # the source's, written at the destination
    destination_version: int = 0  # the destination's current version; 0: absent
    refused: str = ""  # why this secret is left alone; "" when it is copied

    @property
    def action(self) -> str:
        if self.refused:
            return "refused"
        return "add-on-top" if self.destination_version else "create"

    @property
    def version_map(self) -> dict[int, int]:
        """Source version -> the destination version it becomes."""
        return renumbered(self.carried, self.destination_version)

    def notes(self) -> list[str]:
        """What is written empty: versions whose data the server does not give (soft-deleted or destroyed)."""
        state = dict(self.versions)
        out = []
        for v in self.carried:
            if state.get(v) == "deleted":
                out.append(f"v{v} is soft-deleted: its data cannot be read; written empty, then deleted")
            elif state.get(v) == "destroyed":
                out.append(f"v{v} is destroyed: written empty, then destroyed")
        return out

    def lost(self) -> list[int]:
        """Versions not carried (a move of the latest version only deletes them with the source)."""
        return [v for v, _ in self.versions if v not in self.carried]


@dataclass(frozen=True)
class CopyPlan:
    src: SecretRef
    dst: SecretRef
    source: Where
    destination: Where
    items: tuple[CopyItem, ...]
    move: bool = False
    all_versions: bool = False
    overwrite: bool = False
    allow_history_loss: bool = False

    @property
    def command(self) -> str:
        return "move" if self.move else "copy"

    @property
    def refused(self) -> tuple[CopyItem, ...]:
        return tuple(i for i in self.items if i.refused)

    def differences(self, fresh: CopyPlan) -> list[str]:
        """Why `fresh` (read again before acting) is not this plan, one line per secret."""

        def describe(old: CopyItem | None, new: CopyItem | None) -> str:
            item = new or old
            assert item is not None
            src, dst = join(self.src, item.path), join(self.dst, item.path)
            if old is None:
                return f"{src} appeared at the source"
            if new is None:
                return f"{src} is gone from the source"
            if old.versions != new.versions:
                return f"{src} changed at the source (planned v{old.source_version}, now v{new.source_version})"
            if old.destination_version != new.destination_version:
                was = f"v{old.destination_version}" if old.destination_version else "absent"
                now = f"v{new.destination_version}" if new.destination_version else "absent"
                return f"{dst} changed at the destination (planned {was}, now {now})"
            if old.settings != new.settings:
                return f"{src}: its metadata settings changed at the source"
            return f"{src}: now {new.refused or 'no longer refused'}"

        return changes_since(self.items, fresh.items, lambda i: i.path, describe)

    def to_dict(self) -> dict[str, Any]:
        """The plan document of `kv copy` / `kv move` (no secret value)."""
        return {
            "command": self.command,
            "source": self.source.to_dict(),
            "destination": self.destination.to_dict(),
            "versions": "every version" if self.all_versions else "the latest version",
            "overwrite": self.overwrite,
            "secrets": [
                {
                    "path": str(join(self.src, i.path)),
                    "destination": str(join(self.dst, i.path)),
                    "action": i.action,
                    "source_version": i.source_version,
                    "versions": versions_doc(tuple((v, s) for v, s in i.versions if v in i.carried)),
                    "written_as": {str(a): b for a, b in i.version_map.items()},
                    "destination_version": i.destination_version,
                    "metadata": dict(i.settings),
                    "deletes_source": self.move and not i.refused,
                    "loses": i.lost() if self.move and not i.refused else [],
                    "notes": i.notes(),
                    "refused": i.refused or None,
                }
                for i in self.items
            ],
            "summary": {
                "secrets": len(self.items) - len(self.refused),
                "versions": sum(len(i.carried) for i in self.items if not i.refused),
                "refused": len(self.refused),
            },
        }

    def lines(self) -> list[str]:
        """The plan for people."""
        todo = [i for i in self.items if not i.refused]
        what = "every version" if self.all_versions else "the latest version"
        out = [
            f"plan: {self.command} {len(todo)} secret(s) ({sum(len(i.carried) for i in todo)} version(s), {what})",
            f"  from {self.source}",
            f"  to   {self.destination}",
        ]
        for i in self.items:
            src, dst = join(self.src, i.path), join(self.dst, i.path)
            if i.refused:
                out.append(f"  {src}: REFUSED: {i.refused}")
                continue
            where_to = "create" if not i.destination_version else f"add on top of v{i.destination_version} at"
            line = f"  {src} -> {where_to} {dst}: {say_versions(i.version_map)}"
            if i.destination_version:
                line += "; its metadata settings are overwritten"
            if self.move:
                lost = i.lost()
                line += "; then the source is deleted (every version and the metadata)"
                if lost:
                    line += f", LOSING {', '.join(f'v{v}' for v in lost)}"
            out.append(line)
            out += [f"      {n}" for n in i.notes()]
        return out


def check_not_overlapping(src_client: VaultClient, src: SecretRef, dst_client: VaultClient, dst: SecretRef) -> None:
    """Refuse a copy or move whose destination is its source, or lies inside it, or contains it.

    The same server is recognised by its cluster id, not by the address given, so `--to-addr`
    naming the source server another way is caught too.
    """
    if src_client is not dst_client and src_client.server_identity() != dst_client.server_identity():
        return
    a, b = _location(src_client, src), _location(dst_client, dst)
    if a == b:
        raise UnsafePlan(
            f"the destination {dst} is the source {src} (on the same server): refused, nothing was changed"
        )
    if b.startswith(a + "/") or a.startswith(b + "/"):
        inner = "inside" if b.startswith(a + "/") else "around"
        raise UnsafePlan(
            f"the destination {dst} lies {inner} the source {src} on the same server: the trees overlap; "
            "refused, nothing was changed"
        )


def _location(client: VaultClient, ref: SecretRef) -> str:
    """Namespace, mount and path as one slash-joined location (the namespace is part of where a secret is)."""
    parts = [client.settings.namespace or "", ref.mount, ref.path]
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def plan_copy(
    src_client: VaultClient,
    src: SecretRef,
    dst_client: VaultClient,
    dst: SecretRef,
    *,
    all_versions: bool = False,
    overwrite: bool = False,
    move: bool = False,
    allow_history_loss: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> CopyPlan:
    """What copying (or moving) `src` to `dst` would do, read from both servers; nothing is written."""
    for r in (src, dst):
        if r.kv_version != 2:
            raise UsageError(f"copy and move need KV v2 mounts; {r.mount}/ is KV v{r.kv_version}")
    if move and not all_versions and not allow_history_loss:
        raise UsageError(
            "a move that copies only the latest version destroys the older ones at the source",
            hint="move every version (the default), or ask for the loss explicitly (--latest-only)",
        )
    check_not_overlapping(src_client, src, dst_client, dst)
    found = paths_below(src_client, src, workers=workers)
    if not found:
        raise NotFound(f"nothing to copy at {src}")
    for rel in found:
        why = paths.bad_segment(rel)
        if why is not None:
            raise UsageError(f"the source {join(src, rel)} {why}: refusing the whole copy; nothing was written")
    metas = run_bounded(found, lambda rel: src_client.read_metadata(join(src, rel)), workers=workers)
    at_destination = current_versions(dst_client, dst, found, workers=workers)
    items: list[CopyItem] = []
    for o in metas:
        rel = o.item
        if o.error is not None:
            if not isinstance(o.error, ClusterOpsError):
                raise o.error
            items.append(CopyItem(rel, 0, (), (), refused=f"cannot be read: {error_message(o.error)}"))
            continue
        meta = o.result
        assert meta is not None
        versions = versions_of(meta)
        carried = tuple(v for v, _ in versions if all_versions or v == meta.current_version)
        item = CopyItem(rel, meta.current_version, versions, carried, meta.settings(), at_destination[rel])
        unreadable = [v for v, s in versions if v in carried and s == "deleted"]
        if move and unreadable and not allow_history_loss:
            refused = (
                f"{len(unreadable)} soft-deleted version(s) ({', '.join(f'v{v}' for v in unreadable)}) cannot be "
                "read, so a move would lose their data; left in place (undelete them first, or --allow-history-loss)"
            )
        elif item.destination_version and not overwrite:
            refused = (
                f"{join(dst, rel)} already exists (version {item.destination_version}); "
                "pass --force to add versions on top"
            )
        else:
            refused = ""
        items.append(replace(item, refused=refused))
    return CopyPlan(
        src, dst, where(src_client, src), where(dst_client, dst), tuple(items),
        move=move, all_versions=all_versions, overwrite=overwrite, allow_history_loss=allow_history_loss,
    )  # fmt: skip


@dataclass(frozen=True)
class CopyReport:
    source: str
    destination: str
    results: tuple[ReplayResult, ...]
    errors: tuple[tuple[str, str], ...] = ()  # (path, message)
    moved: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """The `kv copy` / `kv move` result document."""
        return {
            "source": self.source,
            "destination": self.destination,
            "moved": self.moved,
            "secrets": [
                {"path": r.path, "versions_written": r.versions_written, "notes": list(r.notes)} for r in self.results
            ],
            "errors": [{"path": p, "error": m} for p, m in self.errors],
        }


def execute_copy(
    src_client: VaultClient,
    dst_client: VaultClient,
    plan: CopyPlan,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> CopyReport:
    """Carry out a reviewed plan: refused (CasConflict, nothing written) if the world moved since it was read."""
    fresh = plan_copy(
        src_client, plan.src, dst_client, plan.dst, all_versions=plan.all_versions, overwrite=plan.overwrite,
        move=plan.move, allow_history_loss=plan.allow_history_loss, workers=workers,
    )  # fmt: skip
    require_unchanged(plan.differences(fresh), command=plan.command)

    def one(item: CopyItem) -> ReplayResult:
        if item.refused:
            raise UsageError(item.refused)
        source = join(plan.src, item.path)
        meta = src_client.read_metadata(source)
        if versions_of(meta) != item.versions:
            raise CasConflict(
                f"changed at the source since the plan (planned v{item.source_version}, now v{meta.current_version}); "
                "nothing was written for it"
            )
        record = read_record(src_client, source, item.path, all_versions=plan.all_versions, meta=meta)
        if any(v.state != dict(item.versions).get(v.version) for v in record.versions):
            raise CasConflict("a version changed state at the source while it was read; nothing was written for it")
        result = replay(
            dst_client, join(plan.dst, item.path), record, overwrite=plan.overwrite, expect=item.destination_version
        )
        if plan.move:
            now = src_client.read_metadata(source)
            was = {v.version: (v.destroyed, v.deletion_time) for v in meta.versions}
            is_ = {v.version: (v.destroyed, v.deletion_time) for v in now.versions if v.version in was}
            if now.current_version != meta.current_version or is_ != was:
                raise UsageError(
                    f"changed at the source while being moved (now version {now.current_version}); "
                    "copied, but the source was kept"
                )
            src_client.delete_metadata(source)
        return result

    outcomes = run_bounded(list(plan.items), one, workers=workers, progress=progress)
    errors = tuple((o.item.path, error_message(o.error)) for o in outcomes if o.error is not None)
    results = tuple(o.result for o in outcomes if o.result is not None)
    return CopyReport(str(plan.src), str(plan.dst), results, errors, plan.move)


def copy_tree(
    src_client: VaultClient,
    src: SecretRef,
    dst_client: VaultClient,
    dst: SecretRef,
    *,
    all_versions: bool = False,
    overwrite: bool = False,
    move: bool = False,
    allow_history_loss: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> CopyReport:
    """Plan and carry out at once, for callers with their own review (a playbook's `kv.copy` step)."""
    plan = plan_copy(
        src_client, src, dst_client, dst, all_versions=all_versions, overwrite=overwrite, move=move,
        allow_history_loss=allow_history_loss, workers=workers,
    )  # fmt: skip
    return execute_copy(src_client, dst_client, plan, workers=workers, progress=progress)
