"""Consul versions: one type for the planner, the gates, the drivers and the journal.

Two ways in, on purpose:

- `Version.target(text)` reads what an operator typed (`--to`, a playbook's `to:`). It is strict:
  `1.14` (which patch?), `" 1.14.11"` (stray whitespace) and `1.14.11-rc1` (a pre-release, unless
  allowed explicitly) are refused with what to type instead, never half-accepted. A leading `v`
  is accepted, since Consul's own tags and download pages spell it that way.
- `Version.reported(text)` reads what Consul reports: autopilot's `Version` (hashicorp/go-version's
  String(): `1.14.11`, `1.22.0-rc1`, `1.14.11+ent`) and the serf `build` tag (`1.14.11:7b0b5e53`,
  `1.14.11+ent:…`). It accepts those forms and nothing else.

Equality ignores build metadata (`+ent`), as semver does: a server reporting `1.14.11+ent` is on
target `v1.14.11`. A pre-release sorts before its release (`1.22.0-rc1` < `1.22.0`). `str()` is the
canonical form used in journals, events and driver templates (`1.14.11`, `1.22.0-rc1`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clusterops.errors import UsageError

# ASCII digits only (`\d` would take fullwidth or Arabic-Indic digits), no leading zero (`01.14.11`):
# Consul never prints either, and semver forbids leading zeros.
_NUM = r"(0|[1-9][0-9]*)"
_STRICT = re.compile(rf"v?{_NUM}\.{_NUM}\.{_NUM}(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?", re.ASCII)


@dataclass(frozen=True, order=False)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = field(default="", compare=False)

    # -- reading ------------------------------------------------------------------------------

    @classmethod
    def target(cls, text: str, *, allow_prerelease: bool = False, what: str = "--to") -> Version:
        """An operator's target version; refuses anything ambiguous (UsageError, exit 2)."""
        if text != text.strip():
            raise UsageError(
                f"{what} {text!r} has leading or trailing whitespace; give the version alone, e.g. 1.14.11"
            )
        match = _STRICT.fullmatch(text)
        if match is None:
            if re.fullmatch(r"v?[0-9]+\.[0-9]+", text):
                raise UsageError(
                    f"{what} {text!r} names no patch release; give the exact version to install, e.g. {text}.0 "
                    "or the latest patch of that series"
                )
            raise UsageError(f"{what} {text!r} is not a version like 1.14.11")
        version = cls._from_match(match)
        if version.prerelease and not allow_prerelease:
            raise UsageError(
                f"{what} {text!r} is a pre-release ({version.prerelease}); "
                "pass --allow-prerelease to target it on purpose, or give the release, e.g. "
                f"{version.major}.{version.minor}.{version.patch}"
            )
        return version

    @classmethod
    def reported(cls, text: str) -> Version | None:
        """A version as Consul reports it, or None when it is empty or unreadable."""
        core = text.strip().split(":", 1)[0]  # the serf build tag appends ":<git sha>"
        match = _STRICT.fullmatch(core)
        return cls._from_match(match) if match else None

    @classmethod
    def _from_match(cls, match: re.Match[str]) -> Version:
        major, minor, patch, pre, meta = match.groups()
        return cls(int(major), int(minor), int(patch), pre or "", meta or "")

    # -- comparing ----------------------------------------------------------------------------

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # semver precedence: a release sorts after its pre-releases; numeric identifiers compare as numbers
        parts = (
            tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.prerelease.split(".")) if self.prerelease else ()
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, parts)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Version) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Version) -> bool:
        return self._key() >= other._key()

    def at_least(self, major: int, minor: int, patch: int = 0) -> bool:
        return (self.major, self.minor, self.patch) >= (major, minor, patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}" + (f"-{self.prerelease}" if self.prerelease else "")


def same_version(reported: str, target: str | Version) -> bool:
    """Does a version string Consul reported name `target` (build metadata ignored)?"""
    have = Version.reported(reported)
    want = target if isinstance(target, Version) else Version.reported(target)
    return have is not None and want is not None and have == want
