"""The playbook format and runner without servers: schema errors with lines, templating, when,
handlers, continue/abort, timeouts, resume, confirm, JUnit."""

from __future__ import annotations

import json
import time
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
        "name: x\nsteps:\n  - id: a\n    consul.gate:\n      stable_window: soon\n  - id: b\n    pause: {}\n"
        "  - id: c\n    exec: echo\n    on_failure: retry\n",
    )
    with pytest.raises(PlaybookInvalid) as err:
        load_playbook(path)
    text = str(err.value)
    assert f"{path}:5: steps[0].consul.gate.stable_window: 'soon' is not valid: expected a Go-style duration" in text
    assert "[schema: $defs/step/properties/consul.gate" in text or "schema: properties/steps" in text
    assert f"{path}:7: steps[1].pause: 'seconds' is a required property" in text
    assert f"{path}:10: steps[2].on_failure: 'retry' is not valid: expected abort, continue, or" in text
    assert "nothing was run" in text


def test_consul_gate_takes_stable_window_and_the_deprecated_stable_for(tmp_path: Path) -> None:
    from clusterops.playbook.actions import _stable_window

    for name in ("stable_window", "stable_for"):
        path = write(tmp_path, f"name: x\nsteps:\n  - id: a\n    consul.gate:\n      {name}: 3s\n")
        (step,) = load_playbook(path).steps
        assert _stable_window(step.args, "10s") == 3.0
        bad = write(tmp_path, f"name: x\nsteps:\n  - id: a\n    consul.gate:\n      {name}: soon\n")
        with pytest.raises(PlaybookInvalid, match=f"consul.gate.{name}: 'soon' is not valid"):
            load_playbook(bad)
    assert _stable_window({}, "10s") == 10.0


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


# -- a step's timeout never leaves it acting; --var values cannot inject commands ------------------

TICKER = """\
name: ticker
vars: {{out: ticks.txt}}
steps:
  - id: tick
    exec: >-
      {prelude}(while :; do echo bg >> {{{{ out }}}}; sleep 0.02; done) &
      while :; do echo fg >> {{{{ out }}}}; sleep 0.02; done
    timeout: 300ms
    on_failure: {{run: [after], then: abort}}
  - id: next
    exec: "echo next >> {{{{ out }}}}"
  - id: after
    handler: true
    exec: "echo handler >> {{{{ out }}}}"
"""


@pytest.mark.parametrize("prelude", ["", "trap '' TERM; "], ids=["stops-on-term", "ignores-term-so-killed"])
def test_a_timed_out_exec_step_acts_no_more_after_it_ended(
    tmp_path: Path, prelude: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clusterops.playbook import actions

    monkeypatch.setattr(actions, "STOP_GRACE", 0.3)
    path = write(tmp_path, TICKER.format(prelude=prelude))
    _, report = run(path, tmp_path, apply=True)
    statuses = {s.id: (s.status, s.summary) for s in report.steps}  # type: ignore[attr-defined]
    assert statuses["tick"][0] == "failed" and "timed out" in statuses["tick"][1] and "stopped" in statuses["tick"][1]
    assert statuses["after"][0] == "ok" and statuses["next"][0] == "not-run"
    lines = (tmp_path / "ticks.txt").read_text().splitlines()
    assert "fg" in lines and "bg" in lines  # both loops did run
    assert lines[-1] == "handler"  # the handler ran only after every tick had stopped
    time.sleep(0.5)  # a window in which a surviving loop would write ~25 more lines
    assert (tmp_path / "ticks.txt").read_text().splitlines() == lines


def test_a_timed_out_pause_and_the_journal_records_it(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nsteps:\n  - id: slow\n    pause: {seconds: 30}\n    timeout: 200ms\n")
    runner, report = run(path, tmp_path, apply=True)
    step = report.steps[0]  # type: ignore[attr-defined]
    assert step.status == "failed" and "timed out after 0.2s of a 30s pause" in step.summary
    assert runner.journal is not None and runner.journal.status == "failed"


@pytest.mark.parametrize(
    "value",
    [
        "x; touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "x' ; touch pwned; echo '",
        'x" && touch pwned #',
        "a\ntouch pwned",
    ],
)
def test_exec_shell_quotes_variables(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path,
        "name: q\nvars: {name: ok}\nsteps:\n  - id: say\n    exec: {command: 'printf %s {{ name }} > said.txt'}\n",
    )
    _, report = run(path, tmp_path, apply=True, vars={"name": value})
    assert report.exit_code == 0  # type: ignore[attr-defined]
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "said.txt").read_text() == value


def test_an_unquoted_command_would_be_injectable(tmp_path: Path) -> None:
    """The control for the test above: the same value spliced in unquoted does run `touch`."""
    import subprocess

    subprocess.run(["sh", "-c", "printf %s x; touch pwned"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "pwned").exists()


def test_variables_are_checked_against_the_schema_at_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\nvars: {s: '1', n: '2'}\nsteps:\n  - id: p\n    pause: {seconds: '{{ s }}'}\n"
        "    timeout: '{{ s }}'\n  - id: c\n    consul.check: {min_failure_tolerance: '{{ n }}'}\n",
    )
    assert load_playbook(path).steps
    with pytest.raises(PlaybookInvalid) as err:
        load_playbook(path, {"s": "abc", "n": "many"})
    text = str(err.value)
    assert f"{path}:5: steps[0].pause.seconds: 'abc' is not valid: expected a number of seconds" in text
    assert f"{path}:6: steps[0].timeout: 'abc' is not valid" in text
    assert f"{path}:8: steps[1].consul.check.min_failure_tolerance: 'many' is not valid" in text
    for bad in ("{seconds: abc}", "{seconds: -1}", "{seconds: .inf}", "{seconds: [1]}"):
        with pytest.raises(PlaybookInvalid, match=r"pb.yaml:4: steps\[0\].pause.seconds"):
            load_playbook(write(tmp_path, f"name: x\nsteps:\n  - id: p\n    pause: {bad}\n"))


def test_the_upgrade_stops_at_a_safe_point_when_asked(tmp_path: Path) -> None:
    """The hook a playbook deadline uses: asked before each server, the run stops there, journaled."""
    from typing import Any, cast

    from clusterops.consul.inventory import inventory_from_text
    from clusterops.consul.upgrade.execute import UpgradeOptions, Upgrader, UpgradeStopped
    from clusterops.consul.upgrade.plan import plan_upgrade
    from clusterops.journal import Journal
    from tests.unit.consul.factories import cluster

    names = ["s1", "s2", "s3"]
    inv = inventory_from_text(
        "servers:\n"
        + "".join(
            f"  - {{name: {n}, address: '10.0.0.{i}:8500', driver: exec}}\n" for i, n in enumerate(names, 1)
        ).replace("driver: exec", "driver: {type: exec, commands: {stop: 'false', start: 'false'}}")
    )
    plan = plan_upgrade(cluster(), inv, "1.14.11")
    journal = Journal.create(tmp_path, kind="upgrade", key="k", params={}, steps=names)
    touched: list[str] = []

    class Driver:
        def stop(self, server: Any) -> None:
            touched.append(server.name)

        switch = start = stop  # type: ignore[assignment]

    upgrader = Upgrader(
        inv, cast(Any, None), UpgradeOptions("1.14.11", snapshot=False), journal,
        driver_factory=lambda s: Driver(), should_stop=lambda: True,
    )  # fmt: skip
    with pytest.raises(UpgradeStopped, match="safe point before s2"):
        upgrader.run(plan, tmp_path)
    assert touched == [] and Journal.load(journal.path).status == "failed"


def test_validate_steps_take_the_target_release_and_product(tmp_path: Path) -> None:
    (tmp_path / "s1.hcl").write_text(
        'server = true\nbootstrap_expect = 1\ndata_dir = "/d"\nbind_addr = "10.0.0.1"\n'
        'addresses {\n  grpc_tls = "127.0.0.1"\n}\n'
    )
    (tmp_path / "v.hcl").write_text(
        'storage "file" {\n  path = "/tmp/x"\n}\nlistener "tcp" {\n  address = "127.0.0.1:8200"\n'
        "  tls_disable = true\n}\n"
    )
    path = write(
        tmp_path,
        "name: v\nvars: {consul: '1.13.9', product: openbao}\nsteps:\n"
        "  - id: c13\n    validate.consul: {nodes: [s1.hcl], live: false, consul_version: '{{ consul }}'}\n"
        "    on_failure: continue\n"
        "  - id: c14\n    validate.consul: {nodes: [s1.hcl], consul_version: '1.14.11'}\n"
        "  - id: c13warn\n"
        "    validate.consul: {nodes: [s1.hcl], consul_version: '1.13', unknown_keys: warn}\n"
        "  - id: bao27\n    validate.vault: {configs: [v.hcl], target: '{{ product }}', version: '2.7.2'}\n"
        "    on_failure: continue\n"
        "  - id: bao26\n    validate.vault: {configs: [v.hcl], target: openbao, version: '2.6.2'}\n"
        "  - id: vault\n    validate.vault: {configs: [v.hcl]}\n",
    )
    _, report = run(path, tmp_path, apply=True)
    steps = {s.id: s for s in report.steps}  # type: ignore[attr-defined]
    assert steps["c13"].status == "failed" and "added in Consul 1.14; the target is Consul 1.13" in steps["c13"].summary
    assert steps["c14"].status == "ok" and steps["c13warn"].status == "ok"
    assert steps["bao27"].status == "failed" and "unknown storage type file (OpenBao 2.7" in steps["bao27"].summary
    assert steps["bao26"].status == "ok" and steps["vault"].status == "ok"


def test_an_unquoted_release_number_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, "name: v\nsteps:\n  - id: c\n    validate.consul: {nodes: [s1.hcl], consul_version: 1.20}\n")
    unquoted = r"pb\.yaml:4: .*consul_version: 1\.2 is not valid: .*quoted \(unquoted, 1\.20 is the number 1\.2\)"
    with pytest.raises(PlaybookInvalid, match=unquoted):
        load_playbook(path)
    path = write(tmp_path, "name: v\nsteps:\n  - id: c\n    validate.vault: {configs: [v.hcl], target: nomad}\n")
    with pytest.raises(PlaybookInvalid, match=r"pb\.yaml:4: .*target: 'nomad' is not valid: expected vault or openbao"):
        load_playbook(path)
