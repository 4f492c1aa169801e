"""Subtree operations: recursive list, recursive delete (a plan first, executed only after
confirmation), and search by key name or value pattern. Copy and move are in `copymove`.

Listing uses OpenBao's one-request SCAN where the server and token allow it, else LIST level by
level with a bounded pool. Values found by search are never returned, only where they matched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clusterops.errors import AuthError, ClusterOpsError, NotFound, UsageError
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretRef
from clusterops.kv.pool import DEFAULT_WORKERS, Progress, run_bounded


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


def current_versions(
    client: VaultClient, root: SecretRef, rels: Sequence[str], *, workers: int = DEFAULT_WORKERS
) -> dict[str, int]:
    """The current version of each of `rels` below `root` (0: absent), for a plan's destination side.

    The tree is listed once and only the secrets found there are read (a fresh destination costs one
    request, not one per secret); a token that may read but not list gets every one read instead.
    """
    try:
        present = set(paths_below(client, root, workers=workers))
        todo = [r for r in rels if r in present]
    except AuthError:
        todo = list(rels)

    def one(rel: str) -> int:
        try:
            return client.read_metadata(join(root, rel)).current_version
        except NotFound:
            return 0

    found: dict[str, int] = dict.fromkeys(rels, 0)
    for o in run_bounded(todo, one, workers=workers):
        if o.error is not None:
            raise o.error
        found[o.item] = o.result or 0
    return found


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
