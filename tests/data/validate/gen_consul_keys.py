"""Regenerate `src/clusterops/validate/consul_keys.py` from Consul's Go sources (run by hand, not by tests).

    python tests/data/validate/gen_consul_keys.py ~/go/pkg/mod/github.com/hashicorp/consul@v1.14.11/agent/config

Reads the `mapstructure` and `alias` tags of the structs in config.go and deprecated.go and prints the key
tree: leaves are type classes ("str", "int", "bool", "float", "list"), None is a free-form map or a
definition we do not descend into, and `"*": "repeatable"` marks a list of blocks.
"""

from __future__ import annotations

import pprint
import re
import sys
from pathlib import Path
from typing import Any

OPAQUE = {"ServiceDefinition", "CheckDefinition", "ConfigEntries", "ServiceConnect", "ServiceProxy"}
_FIELD = re.compile(r"\s*(\w+)\s+([^`\s]+)\s+`([^`]*)`")
_EMBEDDED = re.compile(r"\s*(\*?\w+)\s+`([^`]*)`")


def read_structs(src: Path) -> dict[str, list[tuple[str, str, list[str]]]]:
    text = (src / "config.go").read_text() + (src / "deprecated.go").read_text()
    structs: dict[str, list[tuple[str, str, list[str]]]] = {}
    for m in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", text, re.S | re.M):
        fields = []
        for raw in m.group(2).splitlines():
            line = raw if "`" in raw else raw.split("//")[0]
            fm, fe = _FIELD.match(line), _EMBEDDED.match(line)
            if fm:
                name, typ, tag = fm.groups()
            elif fe:
                name, tag = fe.groups()
                typ = name
            else:
                continue
            ms = re.search(r'mapstructure:"([^"]*)"', tag)
            al = re.search(r'alias:"([^"]*)"', tag)
            fields.append((ms.group(1) if ms else name.lower(), typ, al.group(1).split(",") if al else []))
        structs[m.group(1)] = fields
    return structs


def leaf(typ: str) -> str:
    t = typ.lstrip("*")
    if t.startswith("[]"):
        return "list"
    ints = ("int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64")
    return {"string": "str", "bool": "bool", "float64": "float", **dict.fromkeys(ints, "int")}.get(t, "str")


def tree(structs: dict[str, list[tuple[str, str, list[str]]]], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
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


if __name__ == "__main__":
    pprint.pprint(tree(read_structs(Path(sys.argv[1])), "decodeTarget"), width=116)
