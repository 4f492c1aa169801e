"""Which config keys each Consul release line accepts, what each release added, removed and deprecated, and where
each fact was read.

The facts are generated (`consul_keys`, by `tests/data/validate/gen_consul_keys.py`) from the module sources of
every release line from 1.13 to the newest on the Go module proxy: its newest patch release's
`agent/config/config.go` and `deprecated.go` (key tree and deprecations) and `builder.go` (deprecation warnings
of the same wording, and removed keys it still tolerates). Each `Change` carries that source (module version and
file). Only 1.13.9 and 1.14.11 run here: `tests/integration/test_validate_differential.py` checks our verdicts
against those binaries; the newer lines are read from their sources, not run.

- A key added by a later line than the target is "added in Consul X" (VC002, Consul's "invalid config key"); a
  key the target's line already removed is "removed in Consul Y" (VC002); a key the target still has but a later
  line removes is a warning naming that line (VC026), so an upgrade does not find it first.
- A deprecation applies from the line whose sources first warn, with Consul's own wording
  (`deprecationWarning`: "The 'start_join' field is deprecated. Use the 'retry_join' field instead.").
- A key a patch release added (absent from the line's first release) is refused for that first release
  (e.g. `server_rejoin_age_max` for 1.15.0) and a warning (VC029) for a patch between it and the newest patch
  we read; for the line alone (`1.15`) it is accepted, as the line's key set is its newest patch's.
- A version newer than the newest line we know is validated with the newest key set; `--unknown-keys warn`
  keeps a key we do not know from failing the check.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Final, Literal

from clusterops.validate import consul_keys as _data
from clusterops.validate.consul_keys import FIRST, KEYS, MODULE, PATCH_ADDED, SOURCES, TOLERATED, KeyTree

RELEASES: Final = tuple(SOURCES)
"""Every release line we know, oldest first ("1.13" ... the newest on the Go module proxy)."""
NEWEST: Final = RELEASES[-1]

ADDED: Final[dict[str, str]] = {k: line for k, (line, _) in _data.ADDED.items()}
"""Dotted key -> the release line that added it."""
REMOVED: Final[dict[str, str]] = {k: line for k, (line, _) in _data.REMOVED.items()}
"""Dotted key -> the release line that removed it (Consul then refuses it: 'invalid config key')."""
IGNORED_REMOVED: Final = frozenset(TOLERATED)
"""Removed keys Consul still tolerates with a warning (builder.go: "config key %q is deprecated and should be
removed")."""

Kind = Literal["added", "removed", "deprecated", "tolerated", "patch"]


@dataclass(frozen=True)
class Change:
    """One fact of the catalog: `key` was `kind` in release line `release`, as read in `source`."""

    key: str
    kind: Kind
    release: str
    source: str
    replacement: str | None = None


def _changes() -> tuple[Change, ...]:
    out = [Change(k, "added", line, src) for k, (line, src) in _data.ADDED.items()]
    out += [Change(k, "removed", line, src) for k, (line, src) in _data.REMOVED.items()]
    out += [Change(k, "deprecated", line, src, new) for k, (new, line, src) in _data.DEPRECATED.items()]
    out += [Change(k, "tolerated", line, src) for k, (line, src) in TOLERATED.items()]
    out += [Change(k, "patch", line, src) for line, keys in PATCH_ADDED.items() for k, src in keys.items()]
    return tuple(sorted(out, key=lambda c: (_order(c.release), c.kind, c.key)))


def source_of(line: str) -> str:
    """The module version whose sources describe `line`, e.g. github.com/hashicorp/consul@v1.15.10."""
    return f"{MODULE}@{SOURCES[line][0]}"


@dataclass(frozen=True)
class Deprecation:
    key: str
    replacement: str | None
    since: str
    source: str = ""

    @property
    def message(self) -> str:
        """Consul's own warning (`deprecationWarning` in deprecated.go)."""
        if self.replacement is None:
            return f"The '{self.key}' field is deprecated and will be ignored."
        return f"The '{self.key}' field is deprecated. Use the '{self.replacement}' field instead."


@dataclass(frozen=True)
class Version:
    """A target Consul version: its release line, and its patch number when one was given."""

    line: str
    patch: int | None = None

    def __str__(self) -> str:
        return self.line if self.patch is None else f"{self.line}.{self.patch}"


def parse_version(version: str) -> Version:
    """'1.14.11' / '1.14' / 'v1.14.3' -> Version('1.14', 11 / None / 3); a line newer than we know -> NEWEST
    (without a patch: its keys are the newest we know, nothing more precise); ValueError otherwise."""
    v = version.strip().lstrip("v")
    parts = v.split("+")[0].split("-")[0].split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"not a Consul version: {version!r} (e.g. 1.14.11)")
    major, minor = int(parts[0]), int(parts[1])
    line = f"{major}.{minor}"
    patch = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    if line in RELEASES:
        return Version(line, patch)
    if (major, minor) < _order(RELEASES[0]):
        raise ValueError(f"Consul {version} is older than the oldest release line we know ({RELEASES[0]})")
    return Version(NEWEST)  # newer than we know: the newest key set; unknown keys may be downgraded with --unknown-keys


def parse_release(version: str) -> str:
    """'1.14.11' / '1.14' / 'v1.14.3' -> '1.14'; ValueError naming the known lines otherwise."""
    return parse_version(version).line


def _order(line: str) -> tuple[int, int]:
    a, b = line.split(".")
    return int(a), int(b)


def _drop(tree: KeyTree, dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    node: KeyTree = tree
    for p in parents:
        sub = node.get(p)
        if not isinstance(sub, dict):
            return
        node = sub
    node.pop(leaf, None)


def _under(dotted: str, key: str) -> bool:
    return dotted == key or dotted.startswith(key + ".")


@cache
def keys_for(line: str) -> KeyTree:
    """The key tree Consul `line` decodes (read-only: shared between calls)."""
    tree = copy.deepcopy(KEYS)
    for key, added in ADDED.items():
        if _order(line) < _order(added):
            _drop(tree, key)
    for key, removed in REMOVED.items():
        if _order(line) >= _order(removed):
            _drop(tree, key)
    return tree


def deprecations_for(line: str) -> dict[str, Deprecation]:
    """Dotted key -> its deprecation, for the keys release `line` warns about."""
    return {
        k: Deprecation(k, new, since, src)
        for k, (new, since, src) in _data.DEPRECATED.items()
        if _order(line) >= _order(since) and not (k in REMOVED and _order(line) >= _order(REMOVED[k]))
    }


def why_unknown(dotted: str, line: str) -> str | None:
    """Why a key Consul `line` refuses is known at all: added later / removed earlier, or None."""
    for key, added in ADDED.items():
        if _under(dotted, key) and _order(line) < _order(added):
            return f"added in Consul {added}; the target is Consul {line}"
    for key, removed in REMOVED.items():
        if _under(dotted, key) and _order(line) >= _order(removed):
            return f"removed in Consul {removed}; the target is Consul {line}"
    return None


def removed_later(dotted: str, line: str) -> str | None:
    """A warning for a key (the removed block itself, not its inner keys) `line` accepts but a later line
    removes, naming that line; or None."""
    removed = REMOVED.get(dotted)
    if removed is not None and _order(line) < _order(removed):
        return (
            f"config key {dotted} is removed in Consul {removed} (the target is Consul {line}): "
            f"Consul {removed} and later refuse it ('invalid config key')"
        )
    return None


def patch_added(dotted: str, version: Version) -> tuple[bool, str] | None:
    """For a key (the added block itself) a patch release of the target's line added: (refused, message), or None.

    Refused for the line's first release (whose sources we read); unsure (a warning) for a patch between it and
    the newest patch we read; None when no patch was given or it is at least the newest we read.
    """
    if dotted not in PATCH_ADDED.get(version.line, {}) or version.patch is None:
        return None
    first, newest = FIRST[version.line], SOURCES[version.line][0]
    if version.patch >= int(newest.rsplit(".", 1)[1]):
        return None
    if version.patch <= int(first.rsplit(".", 1)[1]):
        return True, f"added in a Consul {version.line} patch release after {first[1:]}; the target is Consul {version}"
    return (
        False,
        f"config key {dotted} was added in a Consul {version.line} patch release after {first[1:]} (it is in "
        f"{newest[1:]}); check that Consul {version} has it: a release without it refuses it ('invalid config key')",
    )


CHANGES: Final = _changes()
"""Every added / removed / deprecated / tolerated / patch-added key, oldest line first, with its source."""


def changes_for(line: str) -> tuple[Change, ...]:
    """The changes release line `line` made (what `clusterops validate` knows of it)."""
    return tuple(c for c in CHANGES if c.release == line)


__all__ = [
    "ADDED",
    "CHANGES",
    "IGNORED_REMOVED",
    "NEWEST",
    "RELEASES",
    "REMOVED",
    "Change",
    "Deprecation",
    "Version",
    "changes_for",
    "deprecations_for",
    "keys_for",
    "parse_release",
    "parse_version",
    "patch_added",
    "removed_later",
    "source_of",
    "why_unknown",
]
