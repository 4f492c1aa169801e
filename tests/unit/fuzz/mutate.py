"""Seeded generators of malformed inputs, each tagged with its class (for the report and for
reproducing a case: the class, the seed and the index name it).

Text classes work on the seed file's text; data classes parse the seed, damage one node of the
tree and write it back as YAML or JSON, so the result is parseable and the error must name a line.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import yaml

TOKENS = [
    ":", ": ", "- ", "{", "}", "[", "]", '"', "'", "&a ", "*a", "*nope", "!!python/object/apply:os.system ",
    "!!binary ", "%YAML 1.1\n", "\t", "\x00", "? ", "|", ">", "#", ",", "\\u00", "\ufeff", "\x85", "---\n",
    "...\n", "<<: *a\n", "{{", "}}", "{{ nope }}", "@", "`", "\\", "\r", "é", "=",
]  # fmt: skip
ODD_VALUES: list[Any] = [
    5, -1, 0, 3.5, True, False, None, "", "abc", "x" * 5000, [], {}, [1, "a"], {"a": 1}, 2**70, -(2**70),
    float("nan"), float("inf"), "127.0.0.1:0", "../../etc/passwd", "{{ run_id }}", "1.2.3.4.5", "-5s", "é\u202e",
]  # fmt: skip


def _lines(text: str) -> list[str]:
    return text.split("\n")


def truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(0, max(1, len(text)))]


def drop_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def dup_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def swap_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def reindent(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i] = (" " * rng.choice([1, 2, 3, 5])) + lines[i] if rng.random() < 0.5 else lines[i].lstrip()
    return "\n".join(lines)


def inject_token(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(TOKENS) + text[at:]


def replace_char(rng: random.Random, text: str) -> str:
    if not text:
        return rng.choice(TOKENS)
    at = rng.randrange(len(text))
    odd = chr(rng.choice([0, 9, 10, 13, 34, 39, 44, 45, 58, 91, 93, 123, 125, 127, 0x85, 0xFEFF]))
    return text[:at] + odd + text[at + 1 :]


def garbage(rng: random.Random, text: str) -> str:
    return "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(0, 200)))


def empty(rng: random.Random, text: str) -> str:
    return rng.choice(["", " ", "\n", "---\n", "null\n", "~", "[]", "{}", "0", "''", "#\n"])


TEXT: dict[str, Callable[[random.Random, str], str]] = {
    "truncated": truncate,
    "line-dropped": drop_line,
    "line-duplicated": dup_line,
    "lines-swapped": swap_lines,
    "reindented": reindent,
    "token-injected": inject_token,
    "char-replaced": replace_char,
    "garbage": garbage,
    "empty-or-scalar": empty,
}


def invalid_utf8(rng: random.Random, text: str) -> bytes:
    data = text.encode()
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xfe\xff", b"\xed\xa0\x80"]) + data[at:]


def deep(rng: random.Random, text: str, *, as_json: bool) -> str:
    depth = rng.choice([50, 300, 1100])  # past Python's recursion limit; PyYAML is quadratic in it
    return ("[" * depth) + ("]" * depth) if as_json or rng.random() < 0.5 else "a:\n" + "- " * depth + "x\n"


def alias_bomb(rng: random.Random, text: str) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n" + text


# -- data classes: parse, damage one node, write back ------------------------------------------


def _nodes(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _nodes(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _nodes(v, (*path, i))
    return out


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(data, path[:-1])[path[-1]] = value
    return data


def wrong_type(rng: random.Random, data: Any) -> Any:
    return _set(data, rng.choice(_nodes(data)), rng.choice(ODD_VALUES))


def drop_key(rng: random.Random, data: Any) -> Any:
    maps = [p for p in _nodes(data) if isinstance(_get(data, p), dict) and _get(data, p)]
    if not maps:
        return wrong_type(rng, data)
    node = _get(data, rng.choice(maps))
    del node[rng.choice(list(node))]
    return data


def add_key(rng: random.Random, data: Any) -> Any:
    maps = [p for p in _nodes(data) if isinstance(_get(data, p), dict)]
    if not maps:
        return wrong_type(rng, data)
    _get(data, rng.choice(maps))[rng.choice(["unknown", "x", "", "steps", "id", "5"])] = rng.choice(ODD_VALUES)
    return data


def wrap(rng: random.Random, data: Any) -> Any:
    path = rng.choice(_nodes(data))
    value = _get(data, path)
    return _set(data, path, [value] if rng.random() < 0.5 else {"x": value})


def empty_collection(rng: random.Random, data: Any) -> Any:
    paths = [p for p in _nodes(data) if isinstance(_get(data, p), dict | list)]
    path = rng.choice(paths) if paths else ()
    return _set(data, path, type(_get(data, path))() if paths else None)


DATA: dict[str, Callable[[random.Random, Any], Any]] = {
    "wrong-type": wrong_type,
    "key-dropped": drop_key,
    "key-added": add_key,
    "node-wrapped": wrap,
    "collection-emptied": empty_collection,
}


def dump(data: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(data, indent=2, default=str)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


def cases(seed_text: str, *, as_json: bool, n: int, seed: int) -> list[tuple[str, str | bytes]]:
    """`n` malformed variants of `seed_text`: (class, content), deterministic for `seed`."""
    rng = random.Random(seed)
    parsed = json.loads(seed_text) if as_json else yaml.safe_load(seed_text)
    text_classes, data_classes = list(TEXT.items()), list(DATA.items())
    out: list[tuple[str, str | bytes]] = []
    for i in range(n):
        roll = i % 20
        if roll == 0:
            out.append(("invalid-utf8", invalid_utf8(rng, seed_text)))
        elif roll == 1 and i % 40 == 1:
            out.append(("deeply-nested", deep(rng, seed_text, as_json=as_json)))
        elif roll == 2 and not as_json:
            out.append(("alias-bomb", alias_bomb(rng, seed_text)))
        elif roll < 11:
            name, fn = rng.choice(text_classes)
            out.append((name, fn(rng, seed_text)))
        else:
            name, fn = rng.choice(data_classes)
            out.append((name, dump(fn(rng, json.loads(json.dumps(parsed))), as_json)))
    return out
