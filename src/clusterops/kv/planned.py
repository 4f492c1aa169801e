"""What the multi-secret KV commands (copy, move, import, undo) share: a plan read first, then re-read.

Each of those commands reads the world into a frozen plan (which secrets, which versions, where, what
is overwritten or deleted, on which server and in which namespace) and shows it; only with `--apply`
does it act, and then only after reading the world again: if the fresh plan differs from the one shown
(a secret appeared at the destination, a source version moved, a run's secret was written since), it
refuses before touching anything (`require_unchanged`, a CasConflict: exit 1). Writes still carry
check-and-set at the planned versions, so a change after the re-read is refused per secret too.

A plan holds paths, version numbers, states and metadata settings, never a secret value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from clusterops.errors import CasConflict
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretMetadata, SecretRef

T = TypeVar("T")

#: (version number, state) of every version of a secret: live, deleted or destroyed
Versions = tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Where:
    """A secret or subtree on one server, in one namespace."""

    address: str
    namespace: str  # "" is the root namespace
    path: str  # MOUNT/PATH

    def __str__(self) -> str:
        return f"{self.path} on {self.address} (namespace {self.namespace or '(root)'})"

    def to_dict(self) -> dict[str, str]:
        return {"address": self.address, "namespace": self.namespace, "path": self.path}


def where(client: VaultClient, ref: SecretRef) -> Where:
    return Where(client.settings.address, (client.settings.namespace or "").strip().strip("/"), str(ref))


def versions_of(meta: SecretMetadata) -> Versions:
    return tuple((v.version, v.state) for v in meta.versions)


def versions_doc(versions: Versions) -> list[dict[str, Any]]:
    return [{"version": n, "state": s} for n, s in versions]


def renumbered(carried: Sequence[int], on_top_of: int) -> dict[int, int]:
    """Where each carried version lands: replay writes them in order after the destination's current version."""
    return {v: on_top_of + i for i, v in enumerate(carried, start=1)}


def say_versions(mapping: Mapping[int, int]) -> str:
    """`v1, v2, v3` when the numbers are kept, `v3->v1, v4->v2` where they shift."""
    if not mapping:
        return "no versions"
    return ", ".join(f"v{a}" if a == b else f"v{a}->v{b}" for a, b in mapping.items())


def changes_since(
    planned: Iterable[T], fresh: Iterable[T], key: Callable[[T], str], describe: Callable[[T | None, T | None], str]
) -> list[str]:
    """What differs between the items of the plan shown and those read again, one line each, in key order."""
    old = {key(i): i for i in planned}
    new = {key(i): i for i in fresh}
    return [describe(old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]


def require_unchanged(changes: Sequence[str], *, command: str, nothing: str = "nothing was changed") -> None:
    """Refuse (CasConflict, exit 1) to act on a world that is not the one the plan showed."""
    if changes:
        raise CasConflict(
            f"{len(changes)} change(s) since the plan was read; {nothing}: {'; '.join(changes[:20])}",
            hint=f"run `clusterops kv {command}` again without --apply and review the new plan",
        )
