"""Confirm the provenance of `clusterops.validate.consul_startup`: each check's wording, in each line's sources.

    PYTHONPATH=src python tests/data/validate/check_startup_sources.py

For every release line of `consul_keys.SOURCES` it fetches the newest patch release's module source
(`go mod download -json`, the Go module proxy; the module cache answers without the network once it holds them)
and looks, in the file each check names (`source`), for the check's `wording`: Consul's format string, with Go's
string concatenations ("a" + "b") joined. A wording that starts with a verb (`%s: duration ...`) takes the key as
an argument: the quoted key must be in that file too. The table shows, per check and line, `+` (found), `-`
(not found) and `.` (the check does not apply to the line); the script exits 1 if a wording is missing from a
line the check applies to. A `+` out of range is not a mistake where only the condition changed (1.17's
raft_logstore "default" backend, 1.15's negative cache.entry_fetch_rate): the tests pin those.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

from clusterops.validate.consul_keys import MODULE, SOURCES
from clusterops.validate.consul_startup import STARTUP_CHECKS, StartupCheck

_CONCAT = re.compile(r'"\s*\+\s*"')


def join_concatenations(go: str) -> str:
    """Go source with adjacent string literals joined: `"a "+\\n\\t"b"` reads `"a b"`."""
    return _CONCAT.sub("", go)


@cache
def module_dir(version: str) -> Path:
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        sys.exit(f"{MODULE}@{version}: {info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"])


@cache
def source_text(version: str, path: str) -> str:
    f = module_dir(version) / path
    return join_concatenations(f.read_text()) if f.exists() else ""


def found(check: StartupCheck, text: str) -> bool:
    if check.wording not in text:
        return False
    return not check.wording.startswith("%") or f'"{check.key}"' in text


def main() -> int:
    lines = list(SOURCES)
    print(f"{'check':52} " + " ".join(f"{line:>5}" for line in lines))
    missing = []
    for check in STARTUP_CHECKS:
        _, path = check.source.split(" ", 1)
        row = []
        for line in lines:
            hit = found(check, source_text(SOURCES[line][0], path))
            applies = check.applies_to(line)
            row.append("+" if hit else ("-" if applies else "."))
            if applies and not hit:
                missing.append(f"{check.name}: {check.wording!r} not in {MODULE}@{SOURCES[line][0]} {path}")
        print(f"{check.name:52} " + " ".join(f"{mark:>5}" for mark in row))
    for m in missing:
        print(m, file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
