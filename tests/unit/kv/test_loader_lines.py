"""The saved-plan, export and desired-state loaders: a malformed file is a ConfigError naming the
file and line, never an AttributeError, TypeError or RecursionError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterops.errors import ConfigError
from clusterops.kv.backup import load_export
from clusterops.kv.desired import load_desired
from clusterops.kv.sync import PLAN_FORMAT, load_plan

KEY = "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0="


def _plan(items: object, binding: object | None = None) -> str:
    doc = {"format": PLAN_FORMAT, "mount": "secret", "items": items, "binding": binding or {"key": KEY, "paths": {}}}
    return json.dumps(doc, indent=1)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("[1, 2]\n", 1, "is not a clusterops plan"),  # a list, not an object: was an AttributeError
        ('{"format": 5,\n "items": [}\n', 2, "is not JSON"),
        ("[" * 5000 + "]" * 5000, 1, "nested too deeply"),  # was a RecursionError
        (_plan(["app/db"]), 5, "items[0]: must be an object"),
        (_plan([{"path": "a", "action": "create"}]), 5, "items[0]: has no `version`"),
        (_plan([{"path": "a", "action": "explode", "version": 0}]), 7, "items[0].action: must be one of"),
        (_plan([{"path": "a", "action": "create", "version": 0, "keys": {"added": "k"}}]), 10, "keys.added"),
        (_plan({"a": 1}), 4, "items: must be a list"),
        (_plan([], {"key": KEY, "paths": {"a": {"data": [1]}}}), 9, "binding.paths.a.data: must map"),
    ],
)
def test_a_malformed_plan_names_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    p = tmp_path / "plan.json"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_plan(p)
    assert f"{p}:{line}: " in str(err.value) and fragment in str(err.value)


EXPORT = """\
format: clusterops-kv-export/1
source: {mount: secret}
secrets:
  - path: db
    metadata: {current_version: 1}
    versions:
      - {version: 1, data: {password: one}}
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        ("  - path: db\n", "  - 5\n  - path: db\n", 4, "secrets[0]: an exported secret needs a `path`"),
        ("{version: 1, data: {password: one}}", "[1]", 7, "secrets[0].versions[0]: a version needs"),  # AttributeError
        ("{current_version: 1}", "[1]", 5, "secrets[0].metadata: must be an object"),  # was an AttributeError
        ("{current_version: 1}", "{current_version: abc}", 5, "current_version: must be a whole number"),
        ("data: {password: one}", "data: [1]", 7, "versions[0].data: must be an object"),
        ("source: {mount: secret}", "source: [1, 2]", 2, "source: must be an object"),  # was a TypeError
        ("format:", "form:", 1, "is not a clusterops export"),
        ("    versions:\n", "    versions: {\n", 7, "is not a readable export"),
    ],
)
def test_a_malformed_export_names_file_and_line(tmp_path: Path, old: str, new: str, line: int, fragment: str) -> None:
    assert old in EXPORT
    with pytest.raises(ConfigError) as err:
        load_export(EXPORT.replace(old, new).encode(), key=None, where="export.yaml")
    assert f"export.yaml:{line}: " in str(err.value) and fragment in str(err.value)


def test_a_duplicate_export_path_names_the_second_entry() -> None:
    text = EXPORT + "  - path: db\n    versions: []\n"
    with pytest.raises(ConfigError, match=r"^export\.yaml:8: secret entries 1 and 2 both have path 'db'"):
        load_export(text.encode(), key=None, where="export.yaml")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("- a\n- b\n", 1, "must be a mapping with `mount` and `secrets`"),
        ("\n\nsecrets: {}\n", 3, "names no `mount`"),
        ("secrets: {}\nmount: ''\n", 2, "names no `mount`"),
        ("mount: secret\n!!int 5: x\nzz: y\n", 2, "unknown top-level key(s)"),  # mixed key types: was a TypeError
    ],
)
def test_a_whole_document_desired_error_names_a_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    p = tmp_path / "desired.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_desired(p, env={}, read_stdin=lambda: "")
    assert f"{p}:{line}: " in str(err.value) and fragment in str(err.value)


def test_a_stdin_value_error_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "desired.yaml"
    p.write_text("mount: secret\nsecrets:\n  app:\n    data:\n      token: {stdin: token}\n")
    with pytest.raises(ConfigError, match=r"desired\.yaml:5: stdin must hold"):
        load_desired(p, env={}, read_stdin=lambda: "")
