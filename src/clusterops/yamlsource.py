"""YAML documents that remember where each value came from, for errors that name the line.

`load_yaml(path)` returns plain Python data plus a `Locator` that maps a key path such as
("servers", 1, "address") to its line in the file, so validation errors can say
`inventory.yaml:12: servers[1].address: ...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusterops.errors import ConfigError

PathPart = str | int


@dataclass
class Locator:
    path: str
    lines: dict[tuple[PathPart, ...], int] = field(default_factory=dict)

    def line(self, keys: Sequence[PathPart]) -> int | None:
        keys = tuple(keys)
        while keys:
            if keys in self.lines:
                return self.lines[keys]
            keys = keys[:-1]
        return self.lines.get((), None)

    def error(self, keys: Sequence[PathPart], message: str, *, hint: str | None = None) -> ConfigError:
        return ConfigError(
            f"{dotted(keys)}: {message}" if keys else message, path=self.path, line=self.line(keys), hint=hint
        )


def dotted(keys: Sequence[PathPart]) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _walk(node: yaml.Node, keys: tuple[PathPart, ...], lines: dict[tuple[PathPart, ...], int]) -> None:
    lines[keys] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                lines[(*keys, k.value)] = k.start_mark.line + 1
                _walk(v, (*keys, k.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*keys, i), lines)


def load_yaml_text(text: str, path: str, *, loader: type[Any] = yaml.SafeLoader) -> tuple[Any, Locator]:
    """`loader` lets a caller change how scalars are typed (e.g. the KV desired state keeps them strings)."""
    locator = Locator(path)
    parser = None
    try:  # one parse: the node tree gives the lines, the same tree the data (as yaml.load does)
        parser = loader(text)  # a SafeLoader (sub)class; its reader already refuses characters YAML forbids
        node = parser.get_single_node()
        data = parser.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = err.problem or str(err)
        raise ConfigError(f"not valid YAML: {problem}", path=path, line=line) from None
    except yaml.reader.ReaderError as err:  # a character YAML does not allow: no mark, a position
        line = text.count("\n", 0, err.position) + 1
        char = err.character if isinstance(err.character, int) else ord(str(err.character)[:1] or "\0")
        raise ConfigError(f"not valid YAML: character #x{char:04x} is not allowed", path=path, line=line) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", path=path) from None
    except RecursionError:
        raise ConfigError("nested too deeply to read", path=path) from None
    finally:
        if parser is not None:
            parser.dispose()
    if node is not None:
        expansion = _expansion_problem(node)
        if expansion is not None:
            raise ConfigError(expansion[1], path=path, line=expansion[0])
        try:
            _walk(node, (), locator.lines)
        except RecursionError:
            raise ConfigError("nested too deeply", path=path) from None
    return data, locator


MAX_VALUES = 100_000


def _expansion_problem(root: yaml.Node) -> tuple[int, str] | None:
    """(line, problem) if aliases make the document refer to itself or expand to more than
    MAX_VALUES values (a "billion laughs" document), which every reader would choke on."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_VALUES:
                return node.start_mark.line + 1, (
                    f"expands to more than {MAX_VALUES} values through YAML aliases; refusing to read it"
                )
            continue
        if key in sizes:
            continue
        if key in active:
            return node.start_mark.line + 1, "a YAML alias refers to a value that contains it"
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_yaml(path: str | Path) -> tuple[Any, Locator]:
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"not UTF-8 text (byte {err.start})", path=str(path), line=line) from None
    return load_yaml_text(text, str(path))
