"""The playbook format and runner without servers: schema errors with lines, templating, when,
handlers, continue/abort, timeouts, resume, confirm, JUnit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clusterops.errors import UsageError
from clusterops.playbook.model import PlaybookInvalid, load_playbook, schema
from clusterops.playbook.runner import Runner, junit
from clusterops.playbook.template import evaluate, render

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "pb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(path: Path, tmp_path: Path, **kw: object) -> tuple[Runner, object]:
    extra = kw.pop("vars", None)
    runner = Runner(load_playbook(path, extra), state_dir=tmp_path / "state", **kw)  # type: ignore[arg-type]
    return runner, runner.run()


def test_shipped_playbooks_are_valid_and_the_schema_is_published() -> None:
    for pb in sorted((REPO / "playbooks").glob("*.yaml")):
        if pb.name == "kv-desired.yaml":
            continue
        assert load_playbook(pb).steps, pb
    assert schema()["$schema"].startswith("https://json-schema.org/")


def test_schema_errors_name_the_line_and_the_schema_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\nsteps:\n  - id: a\n    consul.gate:\n      stable_for: soon\n  - id: b\n    pause: {}\n"
        "  - id: c\n    exec: echo\n    on_failure: retry\n",
    )
    with pytest.raises(PlaybookInvalid) as err:
        load_playbook(path)
    text = str(err.value)
    assert f"{path}:5: steps[0].consul.gate.stable_for: 'soon' does not match" in text
    assert "[schema: $defs/step/properties/consul.gate" in text or "schema: properties/steps" in text
    assert f"{path}:7: steps[1].pause: 'seconds' is a required property" in text
    assert f"{path}:10: steps[2].on_failure" in text
    assert "nothing was run" in text


def test_semantic_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\nsteps:\n  - id: a\n    exec: echo {{ nope }}\n  - id: a\n    pause: {seconds: 1}\n"
        "  - id: b\n    exec: 'true'\n    pause: {seconds: 1}\n"
        "  - id: c\n    exec: 'false'\n    on_failure: {run: [zz]}\n",
    )
    with pytest.raises(PlaybookInvalid) as err:
        load_playbook(path)
    text = str(err.value)
    assert "undefined variable {{ nope }}" in text
    assert "step id 'a' is used more than once" in text
    assert "needs exactly one action, found exec, pause" in text
    assert "on_failure runs unknown step 'zz'" in text


def test_templating_and_conditions() -> None:
    variables = {"n": 3, "target": "1.14.11", "steps": {"pre": {"status": "ok"}}}
    assert render("{{ n }}", variables) == 3
    assert render({"to": "v{{ target }}", "l": ["{{ n }}x"]}, variables) == {"to": "v1.14.11", "l": ["3x"]}
    assert evaluate("{{ steps.pre.status }} == ok", variables)
    assert evaluate("not {{ steps.pre.status }} == failed", variables)
    assert not evaluate(False, variables)
    with pytest.raises(UsageError, match="undefined variable"):
        render("{{ missing }}", variables)
    with pytest.raises(UsageError, match="not true or false"):
        evaluate("maybe", variables)


PLAYBOOK = """\
name: demo
vars:
  greeting: hello
  do_extra: "false"
steps:
  - id: one
    exec: "echo {{ greeting }} > {{ playbook_dir }}/one.txt"
  - id: extra
    when: "{{ do_extra }}"
    exec: "touch {{ playbook_dir }}/extra.txt"
  - id: flaky
    exec: "test -f {{ playbook_dir }}/ok-now"
    on_failure: {run: [cleanup], then: abort}
  - id: last
    exec: "touch {{ playbook_dir }}/last.txt"
  - id: cleanup
    handler: true
    exec: "touch {{ playbook_dir }}/cleanup.txt"
"""


def test_apply_abort_runs_the_handler_and_resume_does_not_redo_finished_steps(tmp_path: Path) -> None:
    path = write(tmp_path, PLAYBOOK)
    _, report = run(path, tmp_path, apply=True)
    statuses = {s.id: s.status for s in report.steps}  # type: ignore[attr-defined]
    assert statuses == {"one": "ok", "extra": "skipped", "flaky": "failed", "cleanup": "ok", "last": "not-run"}
    assert report.exit_code == 1  # type: ignore[attr-defined]
    assert (tmp_path / "cleanup.txt").exists() and not (tmp_path / "last.txt").exists()

    (tmp_path / "one.txt").unlink()
    (tmp_path / "ok-now").touch()
    _, again = run(path, tmp_path, apply=True, resume=True)
    statuses = {s.id: s.status for s in again.steps}  # type: ignore[attr-defined]
    assert statuses["one"] == "ok" and not (tmp_path / "one.txt").exists()  # not redone
    assert statuses["flaky"] == "ok" and statuses["last"] == "ok" and again.exit_code == 0  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="no unfinished run"):
        run(path, tmp_path, apply=True, resume=True)


def test_plan_changes_nothing_and_continue_keeps_going(tmp_path: Path) -> None:
    path = write(tmp_path, PLAYBOOK.replace("then: abort", "then: continue"))
    _, plan = run(path, tmp_path, apply=False)
    assert all(s.status == "ok" for s in plan.steps if s.id != "extra")  # type: ignore[attr-defined]
    assert not list(tmp_path.glob("*.txt")) and not (tmp_path / "state").exists()
    _, applied = run(path, tmp_path, apply=True)
    statuses = {s.id: s.status for s in applied.steps}  # type: ignore[attr-defined]
    assert statuses["flaky"] == "failed" and statuses["last"] == "ok" and applied.exit_code == 1  # type: ignore[attr-defined]


def test_vars_override_timeouts_and_confirm(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: t\nvars: {wait: '5'}\nsteps:\n  - id: slow\n    pause: {seconds: '{{ wait }}'}\n    timeout: 200ms\n"
        "    on_failure: continue\n  - id: ask\n    confirm: {prompt: 'go?'}\n",
    )
    _, report = run(path, tmp_path, apply=True)
    steps = {s.id: s for s in report.steps}  # type: ignore[attr-defined]
    assert steps["slow"].status == "failed" and "timed out after 0.2s" in steps["slow"].summary
    assert steps["ask"].status == "failed" and "rerun with --yes" in steps["ask"].summary
    _, report = run(path, tmp_path, apply=True, assume_yes=True, vars={"wait": "0"})
    assert report.exit_code == 0  # type: ignore[attr-defined]


def test_junit_and_json_report(tmp_path: Path) -> None:
    path = write(tmp_path, PLAYBOOK)
    _, report = run(path, tmp_path, apply=True)
    suite = ET.fromstring(junit(report))  # type: ignore[arg-type]
    assert suite.get("tests") == "5" and suite.get("failures") == "1" and suite.get("skipped") == "2"
    doc = json.loads(json.dumps(report.to_dict()))  # type: ignore[attr-defined]
    assert doc["status"] == "failed" and doc["mode"] == "apply" and doc["journal"].endswith(".json")
