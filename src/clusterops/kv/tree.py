"""Subtree operations: recursive list, copy and move (latest or every version), recursive delete
(a plan first, executed only after confirmation), and search by key name or value pattern.

Listing uses OpenBao's one-request SCAN where the server and token allow it, else LIST level by
level with a bounded pool. Values found by search are never returned, only where they matched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clusterops.errors import ClusterOpsError, NotFound, UnsafePlan, UsageError
from clusterops.kv import paths
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretRef
from clusterops.kv.pool import DEFAULT_WORKERS, Progress, run_bounded
from clusterops.kv.replay import ReplayResult, read_record, replay


def paths_below(client: VaultClient, ref: SecretRef, *, workers: int) -> list[str]:
    """Relative paths of every secret at or below `ref`: "" stands for `ref` itself.

    A path can be a secret and a folder at once (`app` beside `app/db`); both are included, so an
    export, copy, move or recursive delete of `app` never skips the secret `app` itself.
    """
    below = walk(client, ref, workers=workers)
    if ref.path.strip("/") and ref.kv_version == 2:
        try:
            client.read_metadata(ref)
        except NotFound:
            return below
        return ["", *below]
    return below


def walk(client: VaultClient, ref: SecretRef, *, workers: int = DEFAULT_WORKERS, use_scan: bool = True) -> list[str]:
    """Every secret below `ref`, as sorted paths relative to it."""
    root = SecretRef(ref.mount, ref.path.strip("/"), ref.kv_version)
    if use_scan:
        scanned = client.scan(root)
        if scanned is not None:
            return sorted(k for k in scanned if not k.endswith("/"))
    found: list[str] = []
    level = [""]
    while level:
        outcomes = run_bounded(level, lambda rel: client.list_folder(root.child(rel) if rel else root), workers=workers)
        nxt: list[str] = []
        for o in outcomes:
            if o.error is not None:
                raise o.error
            for key in o.result or []:
                full = f"{o.item}{key}"
                (nxt if key.endswith("/") else found).append(full)
        level = nxt
    return sorted(found)


def join(ref: SecretRef, rel: str) -> SecretRef:
    return ref.child(rel) if rel else ref


# -- copy and move ---------------------------------------------------------------------------


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
        """The `kv copy` / `kv move` document."""
        return {
            "source": self.source,
            "destination": self.destination,
            "moved": self.moved,
            "secrets": [
                {"path": r.path, "versions_written": r.versions_written, "notes": list(r.notes)} for r in self.results
            ],
            "errors": [{"path": p, "error": m} for p, m in self.errors],
        }


def _location(client: VaultClient, ref: SecretRef) -> str:
    """Namespace, mount and path as one slash-joined location (the namespace is part of where a secret is)."""
    parts = [client.settings.namespace or "", ref.mount, ref.path]
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


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
    """Copy (or move) the secret or subtree at `src` to `dst`, possibly on another server.

    Refused before anything is written: a destination that is, or overlaps, the source; a source path
    with a '..', '.' or empty segment; a move of the latest version only, unless `allow_history_loss`.
    A move copies every version (states and metadata too) and deletes each source secret only after
    its copy succeeded and only when the source has not changed since it was read; a source secret
    with soft-deleted versions (whose data cannot be read, so cannot be carried) is left in place
    and reported, unless `allow_history_loss`.
    """
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

    def one(rel: str) -> ReplayResult:
        source = join(src, rel)
        record = read_record(src_client, source, rel, all_versions=all_versions)
        unreadable = [v.version for v in record.versions if v.data is None and v.state != "destroyed"]
        if move and unreadable and not allow_history_loss:
            raise UsageError(
                f"{len(unreadable)} soft-deleted version(s) ({', '.join(f'v{v}' for v in unreadable)}) cannot be "
                "read, so a move would lose their data; left in place (undelete them first, or --allow-history-loss)"
            )
        result = replay(dst_client, join(dst, rel), record, overwrite=overwrite)
        if move:
            now = src_client.read_metadata(source)
            was = {v.version: (v.destroyed, v.deletion_time) for v in record.versions}
            is_ = {v.version: (v.destroyed, v.deletion_time) for v in now.versions if v.version in was}
            if now.current_version != record.current_version or is_ != was:
                raise UsageError(
                    f"changed at the source while being moved (now version {now.current_version}); "
                    "copied, but the source was kept"
                )
            src_client.delete_metadata(source)
        return result

    outcomes = run_bounded(found, one, workers=workers, progress=progress)
    errors = tuple((o.item, error_message(o.error)) for o in outcomes if o.error is not None)
    results = tuple(o.result for o in outcomes if o.result is not None)
    return CopyReport(str(src), str(dst), results, errors, move)


def error_message(err: BaseException | None) -> str:
    if isinstance(err, ClusterOpsError):
        return err.message
    return type(err).__name__


# -- recursive delete ------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteStep:
    path: str
    current_version: int


@dataclass(frozen=True)
class DeletePlan:
    root: str
    mode: str  # "soft" (delete the latest version) or "all" (every version and the metadata)
    steps: tuple[DeleteStep, ...]


def plan_delete(
    client: VaultClient, ref: SecretRef, *, mode: str = "soft", workers: int = DEFAULT_WORKERS
) -> DeletePlan:
    if mode not in ("soft", "all"):
        raise UsageError("the delete mode is soft or all")
    paths = paths_below(client, ref, workers=workers) if ref.kv_version == 2 else walk(client, ref)
    if not paths:
        raise NotFound(f"nothing to delete at {ref}")
    if ref.kv_version != 2:
        return DeletePlan(str(ref), mode, tuple(DeleteStep(p, 0) for p in paths))
    metas = run_bounded(paths, lambda rel: client.read_metadata(join(ref, rel)).current_version, workers=workers)
    steps = tuple(DeleteStep(o.item, o.result or 0) for o in metas)
    return DeletePlan(str(ref), mode, steps)


def execute_delete(
    client: VaultClient,
    ref: SecretRef,
    plan: DeletePlan,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> list[tuple[str, str]]:
    """Carry out a confirmed plan; returns (path, error) for the paths that failed."""

    def one(step: DeleteStep) -> None:
        target = join(ref, step.path)
        if ref.kv_version != 2:
            client.v1_delete(target)
        elif plan.mode == "all":
            client.delete_metadata(target)
        else:
            client.delete_latest(target)

    outcomes = run_bounded(list(plan.steps), one, workers=workers, progress=progress)
    return [(o.item.path, error_message(o.error)) for o in outcomes if o.error is not None]


# -- search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    path: str
    key: str
    matched: str  # "key" or "value"


@dataclass(frozen=True)
class SearchResult:
    root: str
    searched: int
    hits: tuple[SearchHit, ...]
    unreadable: tuple[str, ...] = field(default=())

    def to_dict(self, ref: SecretRef) -> dict[str, Any]:
        """The `kv search` document: full paths below `ref`, key names, never a value."""
        return {
            "root": self.root,
            "searched": self.searched,
            "hits": [{"path": str(ref.child(h.path)), "key": h.key, "matched": h.matched} for h in self.hits],
            "unreadable": list(self.unreadable),
        }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def search(
    client: VaultClient,
    ref: SecretRef,
    *,
    key_pattern: str | None = None,
    value_pattern: str | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> SearchResult:
    """Paths and key names whose key matches `key_pattern` or whose value matches `value_pattern` (regexes)."""
    if not key_pattern and not value_pattern:
        raise UsageError("search needs --key PATTERN or --value PATTERN (regular expressions)")
    try:
        kre = re.compile(key_pattern) if key_pattern else None
        vre = re.compile(value_pattern) if value_pattern else None
    except re.error as err:
        raise UsageError(f"not a valid regular expression: {err.msg}") from None
    from clusterops.kv.ops import get

    paths = walk(client, ref, workers=workers)

    def one(rel: str) -> Sequence[SearchHit]:
        data = get(client, join(ref, rel)).data or {}
        hits: list[SearchHit] = []
        for key, value in sorted(data.items()):
            if kre is not None and kre.search(key):
                hits.append(SearchHit(rel, key, "key"))
            elif vre is not None and vre.search(_text(value)):
                hits.append(SearchHit(rel, key, "value"))
        return hits

    outcomes = run_bounded(paths, one, workers=workers, progress=progress)
    hits = tuple(h for o in outcomes for h in (o.result or ()))
    unreadable = tuple(o.item for o in outcomes if o.error is not None)
    return SearchResult(str(ref), len(paths), hits, unreadable)
