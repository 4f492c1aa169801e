"""Regenerate `src/clusterops/validate/consul_keys.py` from Consul's Go sources (run by hand, not by tests).

    python tests/data/validate/gen_consul_keys.py > src/clusterops/validate/consul_keys.py
    ruff format src/clusterops/validate/consul_keys.py

For every release line in `LINES` it downloads (`go mod download -json`, the Go module proxy) the line's first
release and its newest patch release on the proxy, and reads from each:

- the `mapstructure` and `alias` tags of the structs in `agent/config/config.go` and `agent/config/deprecated.go`
  (and the struct of `agent/consul/config.go` that `raft_boltdb` points at), from `decodeTarget` down: the key
  tree. A leaf is a type class ("str", "int", "bool", "float", "list"), None a free-form map or a definition we
  do not descend into, and `"*": "repeatable"` marks a list of blocks. An untagged field is matched by its Go
  name, case-insensitively, as mapstructure does (`raft_boltdb { NoFreelistSync = true }`);
- Consul's deprecation warnings: `deprecationWarning("old", "new")` in deprecated.go and the warnings of the
  same wording in builder.go ("The 'ui' field is deprecated. Use the 'ui_config.enabled' field instead."),
  and "The 'x' field is deprecated and will be ignored.";
- the removed keys builder.go still tolerates with a warning (`case k == "acl_enforce_version_8":` in its
  `md.Unused` switch: "config key %q is deprecated and should be removed").

A line's key set is its newest patch release's. The output is the union of all trees plus, per dotted key, the
line that added it, the line that removed it, the line that deprecated it (with Consul's replacement), each
with the module version and file it was read from; keys of a line's newest patch that its first release lacks
are listed apart (a patch release added them). The output depends only on the module sources: sorted keys,
no dates. A key that comes back after a removal, or changes its type, stops the generator (it would need a
richer format).
"""

from __future__ import annotations

import json
import os
import pprint
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODULE = "github.com/hashicorp/consul"
# line -> (first release, newest patch release on the Go module proxy). 1.17.4 is on the proxy but its
# version/VERSION says 1.17.4-dev and CHANGELOG.md has no 1.17.4 entry (a CE tag of an Enterprise-only
# release): 1.17.3 is the newest CE release of 1.17 (same key set). 1.20.3, 1.20.4, 1.22.1 and 1.22.4 are
# not on the proxy ("This module version is not available"); nothing newer than 1.22.7 is.
LINES: dict[str, tuple[str, str]] = {
    "1.13": ("1.13.0", "1.13.9"),
    "1.14": ("1.14.0", "1.14.11"),
    "1.15": ("1.15.0", "1.15.10"),
    "1.16": ("1.16.0", "1.16.6"),
    "1.17": ("1.17.0", "1.17.3"),
    "1.18": ("1.18.0", "1.18.2"),
    "1.19": ("1.19.0", "1.19.2"),
    "1.20": ("1.20.0", "1.20.6"),
    "1.21": ("1.21.0", "1.21.5"),
    "1.22": ("1.22.0", "1.22.7"),
}
CONFIG = "agent/config/config.go"
DEPRECATED = "agent/config/deprecated.go"
BUILDER = "agent/config/builder.go"
# Go package qualifier of a field type -> the file its structs are read from
QUALIFIED = {"consul": "agent/consul/config.go"}

OPAQUE = {"ServiceDefinition", "CheckDefinition", "ConfigEntries", "ServiceConnect", "ServiceProxy"}
_FIELD = re.compile(r"\s*(\w+)\s+([^`\s]+)\s+`([^`]*)`")
_UNTAGGED = re.compile(r"\s*([A-Z]\w*)\s+([*\[\]\w.]+)\s*$")
_EMBEDDED = re.compile(r"\s*(\*?\w+)\s+`([^`]*)`")
_DEP_CALL = re.compile(r'deprecationWarning\("([^"]+)",\s*"([^"]+)"\)')
_DEP_TEXT = re.compile(r"The '([^']+)' field is deprecated\. Use the '([^']+)' field instead\.")
_DEP_IGNORED = re.compile(r"The '([^']+)' field is deprecated and will be ignored\.")
_TOLERATED = re.compile(r'case k == "([^"]+)":')

Field = tuple[str, str, list[str]]  # key, Go type, aliases


@dataclass(frozen=True)
class Release:
    version: str
    sum: str
    dir: Path


def download(version: str) -> Release:
    """`go mod download -json` the release (the Go module proxy; cached in the module cache)."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@v{version}"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        sys.exit(f"{MODULE}@v{version}: {info.get('Error') or proc.stderr.strip()}")
    return Release(version, info["Sum"], Path(info["Dir"]))


def read_structs(text: str, qualifier: str = "") -> dict[str, list[Field]]:
    structs: dict[str, list[Field]] = {}
    for m in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", text, re.S | re.M):
        fields = []
        for raw in m.group(2).splitlines():
            line = raw if "`" in raw else raw.split("//")[0]
            fm, fe, fu = _FIELD.match(line), _EMBEDDED.match(line), _UNTAGGED.match(line)
            if fm:
                name, typ, tag = fm.groups()
            elif fe:
                name, tag = fe.groups()
                typ = name
            elif fu and qualifier:  # untagged fields only matter in the structs we follow into
                name, typ = fu.groups()
                tag = ""
            else:
                continue
            ms = re.search(r'mapstructure:"([^"]*)"', tag)
            al = re.search(r'alias:"([^"]*)"', tag)
            fields.append((ms.group(1) if ms else name.lower(), typ, al.group(1).split(",") if al else []))
        structs[qualifier + m.group(1)] = fields
    return structs


def leaf(typ: str) -> str:
    t = typ.lstrip("*")
    if t.startswith("[]"):
        return "list"
    ints = ("int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64")
    return {"string": "str", "bool": "bool", "float64": "float", **dict.fromkeys(ints, "int")}.get(t, "str")


def tree(structs: dict[str, list[Field]], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, typ, aliases in structs.get(name, []):
        if key == "-":
            continue
        if key == ",squash":
            out.update(tree(structs, typ.strip("*"), seen))
            continue
        base = typ.lstrip("*[]")
        sub: Any
        if base in structs and base not in OPAQUE and base not in seen:
            sub = tree(structs, base, (*seen, base))
            if typ.startswith("[]"):
                sub["*"] = "repeatable"
        elif base in OPAQUE or typ.startswith("map") or base.startswith("map") or base in structs:
            sub = None
        else:
            sub = leaf(typ)
        for k in [key, *aliases]:
            out[k] = sub
    return dict(sorted(out.items()))


def key_tree(rel: Release) -> tuple[dict[str, Any], dict[str, str]]:
    """(the key tree of decodeTarget, dotted key -> the file of the struct that holds it)."""
    structs: dict[str, list[Field]] = {}
    origin: dict[str, str] = {}
    for path, qualifier in ((CONFIG, ""), (DEPRECATED, ""), *((f, q + ".") for q, f in QUALIFIED.items())):
        found = read_structs((rel.dir / path).read_text(), qualifier)
        structs.update(found)
        origin.update(dict.fromkeys(found, path))
    full = tree(structs, "decodeTarget")
    files: dict[str, str] = {}

    def walk(struct: str, prefix: str, seen: tuple[str, ...]) -> None:
        for key, typ, aliases in structs.get(struct, []):
            if key == "-":
                continue
            if key == ",squash":
                walk(typ.strip("*"), prefix, seen)
                continue
            base = typ.lstrip("*[]")
            for k in [key, *aliases]:
                files.setdefault(prefix + k, origin[struct])
                if base in structs and base not in OPAQUE and base not in seen:
                    walk(base, prefix + k + ".", (*seen, base))

    walk("decodeTarget", "", ())
    return full, files


def flatten(t: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in t.items():
        if k == "*":
            continue
        if isinstance(v, dict):
            out[prefix + k] = "block"
            out.update(flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def deprecations(rel: Release) -> dict[str, tuple[str | None, str]]:
    """Deprecated key -> (replacement or None, file), in Consul's own warnings."""
    out: dict[str, tuple[str | None, str]] = {}
    for path in (DEPRECATED, BUILDER):
        text = (rel.dir / path).read_text()
        for old, new in [*_DEP_CALL.findall(text), *_DEP_TEXT.findall(text)]:
            if "%" not in old:  # not deprecationWarning's own format string
                out.setdefault(old, (new, path))
        for old in _DEP_IGNORED.findall(text):
            out.setdefault(old, (None, path))
    return out


def tolerated(rel: Release) -> dict[str, str]:
    text = (rel.dir / BUILDER).read_text()
    return dict.fromkeys(_TOLERATED.findall(text), BUILDER)


def union(a: dict[str, Any], b: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        if k not in out:
            out[k] = v
        elif isinstance(out[k], dict) and isinstance(v, dict):
            out[k] = union(out[k], v, f"{where}{k}.")
        elif out[k] != v:
            sys.exit(f"{where}{k} changes type ({out[k]!r} -> {v!r}): the output format cannot say that")
    return dict(sorted(out.items()))


def _top(keys: set[str]) -> list[str]:
    """Only the outermost of nested keys (a new block is one change, not one per leaf)."""
    return sorted(k for k in keys if not any(k.startswith(p + ".") for p in keys))


def build() -> dict[str, Any]:
    lines = list(LINES)
    newest = {line: download(LINES[line][1]) for line in lines}
    first = {line: download(LINES[line][0]) for line in lines}
    trees, files, flat = {}, {}, {}
    for line in lines:
        trees[line], files[line] = key_tree(newest[line])
        flat[line] = flatten(trees[line])
    keys: dict[str, Any] = {}
    for line in lines:
        keys = union(keys, trees[line], "")
    added: dict[str, tuple[str, str]] = {}
    removed: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(lines[1:], start=1):
        prev = lines[n - 1]
        new = set(flat[line]) - set(flat[prev])
        gone = set(flat[prev]) - set(flat[line])
        for k in _top(new):
            if any(k in flat[older] for older in lines[: n - 1]):
                sys.exit(f"{k} comes back in {line} after a removal: the output format cannot say that")
            added[k] = (line, f"{MODULE}@v{newest[line].version} {files[line][k]}")
        for k in _top(gone):
            removed[k] = (
                line,
                f"{MODULE}@v{newest[line].version} {files[prev][k]} lacks it (v{newest[prev].version} has it)",
            )
    patch_added: dict[str, dict[str, str]] = {}
    for line in lines:
        base = flatten(key_tree(first[line])[0])
        late = _top(set(flat[line]) - set(base))
        if set(base) - set(flat[line]):
            sys.exit(f"{line}: a patch release removed {sorted(set(base) - set(flat[line]))}: not expressible")
        if late:
            source = f"not in {MODULE}@v{first[line].version}, in v{newest[line].version} {CONFIG}"
            patch_added[line] = dict.fromkeys(late, source)
    deprecated: dict[str, tuple[str | None, str, str]] = {}
    ignored: dict[str, tuple[str, str]] = {}
    for line in lines:
        for old, (new, path) in sorted(deprecations(newest[line]).items()):
            if old not in flat[line]:
                sys.exit(f"{line}: deprecated key {old} is not a key of the line")
            deprecated.setdefault(old, (new, line, f"{MODULE}@v{newest[line].version} {path}"))
        for k, path in sorted(tolerated(newest[line]).items()):
            ignored.setdefault(k, (line, f"{MODULE}@v{newest[line].version} {path}"))
    return {
        "SOURCES": {line: (f"v{newest[line].version}", newest[line].sum) for line in lines},
        "FIRST": {line: f"v{first[line].version}" for line in lines},
        "KEYS": keys,
        "ADDED": dict(sorted(added.items())),
        "REMOVED": dict(sorted(removed.items())),
        "PATCH_ADDED": dict(sorted(patch_added.items())),
        "DEPRECATED": dict(sorted(deprecated.items())),
        "TOLERATED": dict(sorted(ignored.items())),
    }


HEADER = '''"""The keys each Consul release line accepts in a config file (generated, do not edit by hand).

Made by `tests/data/validate/gen_consul_keys.py` (its docstring says how) from the module sources of
github.com/hashicorp/consul on the Go module proxy, one release per line (`SOURCES`: the line's newest patch
release there and its go.sum hash). Regenerate with

    python tests/data/validate/gen_consul_keys.py > src/clusterops/validate/consul_keys.py
    ruff format src/clusterops/validate/consul_keys.py

`KEYS` is every key any of these lines decodes, as a tree: a leaf is the Go type class of the value ("str",
"int", "bool", "float", "list" of strings); `None` is a free-form map or a definition we do not descend into
(services, checks, config entries, node_meta, ...); a dict is a block whose keys are known, and a block holding
`"*": "repeatable"` may be given several times. Consul matches keys case-insensitively (mapstructure).
The other tables are dotted key -> facts, each with the module version and file it was read from:
`ADDED` (line, source): the first line that has the key; `REMOVED` (line, source): the first line that no
longer has it; `PATCH_ADDED` line -> {key: source}: keys of the line's newest patch that its first release
(`FIRST`) lacks (a patch release added them: earlier patches of the line refuse them); `DEPRECATED`
(replacement or None, line, source): Consul warns, in its words, from that line on; `TOLERATED` (line,
source): a key builder.go no longer decodes but only warns about.
"""

from __future__ import annotations

from typing import Final, Union

KeyTree = dict[str, Union[str, "KeyTree", None]]

'''

TYPES = {
    "SOURCES": "dict[str, tuple[str, str]]",
    "FIRST": "dict[str, str]",
    "KEYS": "KeyTree",
    "ADDED": "dict[str, tuple[str, str]]",
    "REMOVED": "dict[str, tuple[str, str]]",
    "PATCH_ADDED": "dict[str, dict[str, str]]",
    "DEPRECATED": "dict[str, tuple[str | None, str, str]]",
    "TOLERATED": "dict[str, tuple[str, str]]",
}


def render(data: dict[str, Any]) -> str:
    out = [HEADER, f'MODULE: Final = "{MODULE}"\n']
    for name, value in data.items():
        body = pprint.pformat(value, width=116, sort_dicts=True)
        out.append(f"{name}: Final[{TYPES[name]}] = {body}\n")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render(build()))
