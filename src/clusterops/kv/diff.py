"""Per-key diffs of two secret versions, redacted by keyed hashes unless values are asked for.

Pure: the caller reads both sides (two versions, two paths, or two servers) and hands the data here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from clusterops.kv.redact import Redactor


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class KeyDiff:
    key: str
    change: Change
    left: str | None = None
    right: str | None = None
    left_value: Any = field(default=None, repr=False)
    right_value: Any = field(default=None, repr=False)

    def to_dict(self, *, show_values: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "change": str(self.change), "left": self.left, "right": self.right}
        if show_values:
            out["left_value"] = self.left_value
            out["right_value"] = self.right_value
        return out


@dataclass(frozen=True)
class SecretDiff:
    left: str
    right: str
    keys: tuple[KeyDiff, ...]
    left_state: str = "live"
    right_state: str = "live"

    @property
    def changed(self) -> bool:
        return self.left_state != self.right_state or any(k.change != Change.UNCHANGED for k in self.keys)

    def counts(self) -> dict[str, int]:
        out = {c.value: 0 for c in Change}
        for k in self.keys:
            out[k.change.value] += 1
        return out

    def to_dict(self, *, show_values: bool = False) -> dict[str, Any]:
        return {
            "left": self.left,
            "right": self.right,
            "left_state": self.left_state,
            "right_state": self.right_state,
            "changed": self.changed,
            "counts": self.counts(),
            "keys": [k.to_dict(show_values=show_values) for k in self.keys],
        }


def diff_data(
    left: Mapping[str, Any] | None,
    right: Mapping[str, Any] | None,
    redactor: Redactor,
    *,
    left_name: str = "left",
    right_name: str = "right",
    left_state: str = "live",
    right_state: str = "live",
) -> SecretDiff:
    """Compare two data maps key by key; a missing side (deleted, destroyed, absent) counts as empty."""
    lmap, rmap = dict(left or {}), dict(right or {})
    out: list[KeyDiff] = []
    for key in sorted(set(lmap) | set(rmap)):
        lh = redactor.digest(lmap[key]) if key in lmap else None
        rh = redactor.digest(rmap[key]) if key in rmap else None
        if lh is None:
            change = Change.ADDED
        elif rh is None:
            change = Change.REMOVED
        else:
            change = Change.UNCHANGED if lh == rh else Change.CHANGED
        out.append(KeyDiff(key, change, lh, rh, lmap.get(key), rmap.get(key)))
    return SecretDiff(left_name, right_name, tuple(out), left_state, right_state)


@dataclass(frozen=True)
class TreeDiff:
    """Two subtrees compared path by path (e.g. staging against production)."""

    left: str
    right: str
    only_left: tuple[str, ...]
    only_right: tuple[str, ...]
    secrets: tuple[SecretDiff, ...]

    @property
    def changed(self) -> bool:
        return bool(self.only_left or self.only_right or any(s.changed for s in self.secrets))

    def to_dict(self, *, show_values: bool = False) -> dict[str, Any]:
        return {
            "left": self.left,
            "right": self.right,
            "changed": self.changed,
            "only_left": list(self.only_left),
            "only_right": list(self.only_right),
            "secrets": [s.to_dict(show_values=show_values) for s in self.secrets],
        }
