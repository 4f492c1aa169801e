from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clusterops import __version__
from clusterops.cli.main import run


def test_version(capsys: object) -> None:
    assert run(["--version"]) == 0


def test_help_lists_the_command_groups() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "clusterops.cli.main", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for group in ("lab", "consul", "validate", "kv"):
        assert group in out


def test_usage_error_exits_2() -> None:
    assert run(["lab", "no-such-command"]) == 2


def test_help_imports_no_http_client() -> None:
    # `clusterops --help` must stay fast: the CLI module may not import the heavy libraries.
    code = (
        "import sys, clusterops.cli.main; "
        "print(sorted(m for m in ('consul', 'hvac', 'requests', 'yaml', 'hcl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert __version__


# -- every unexpected error is exit 2 and a short message; the listed malformed inputs ---------------


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_unexpected_error_is_exit_2_without_a_traceback_unless_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("secret-ish detail")

    monkeypatch.setattr("clusterops.playbook.model.load_playbook", broken)
    monkeypatch.delenv("CLUSTEROPS_DEBUG", raising=False)
    code, text = _run(["run", str(tmp_path / "pb.yaml")], capsys)
    assert code == 2 and "Traceback" not in text and "secret-ish" not in text
    assert "error: unexpected TypeError at clusterops/" in text and "--debug" in text
    code, text = _run(["--debug", "run", str(tmp_path / "pb.yaml")], capsys)
    assert code == 2 and "Traceback" in text and "secret-ish detail" in text

    def eof(*args: object, **kwargs: object) -> None:
        raise EOFError

    monkeypatch.setattr("clusterops.playbook.model.load_playbook", eof)
    code, text = _run(["run", str(tmp_path / "pb.yaml")], capsys)
    assert code == 2 and "unexpected EOFError" in text  # typer would make it "Aborted!", exit 1


SERVER = (
    "servers:\n  - name: s1\n    address: 127.0.0.1:1\n"
    "    driver: {type: exec, commands: {stop: 'true', start: 'true'}}\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("consul:\n  token_file: 5\n" + SERVER, "inventory.yaml:2: consul.token_file: must be a string"),
        ("servers:\n  - name: s1\n    address: 127.0.0.1:1\n    driver: lab\n",
         "inventory.yaml:4: servers[0].driver: the lab driver needs `lab_dir`"),
        ("servers:\n  - name: s1\n    address: 'http://[::1:8500'\n    driver: exec\n",
         "inventory.yaml:3: servers[0].address: Consul address"),
    ],
)  # fmt: skip
def test_malformed_inventories_fail_at_load_and_leave_no_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(text)
    state = tmp_path / "state"
    code, out = _run(["consul", "upgrade", "-i", str(inventory), "--to", "1.14.11", "--apply", "--state-dir",
                      str(state)], capsys)  # fmt: skip
    assert code == 2 and expected in out and "Traceback" not in out
    assert not state.exists()  # failed before any snapshot or journal


def test_a_pause_that_is_not_a_number_is_refused_at_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pb = tmp_path / "pb.yaml"
    pb.write_text('name: x\nsteps:\n  - id: p\n    pause: {seconds: "abc"}\n')
    code, out = _run(["run", str(pb), "--apply", "--state-dir", str(tmp_path / "state")], capsys)
    assert code == 2 and f"{pb}:4: steps[0].pause.seconds: 'abc' is not valid" in out
    assert not (tmp_path / "state").exists()


def test_a_journal_without_steps_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pb = tmp_path / "pb.yaml"
    pb.write_text("name: x\nsteps:\n  - id: p\n    pause: {seconds: 0}\n")
    journal = tmp_path / "state" / "playbook" / "20261201T000000Z-abcdef.json"
    journal.parent.mkdir(parents=True)
    journal.write_text('{\n  "run_id": "r",\n  "kind": "playbook",\n  "key": "k",\n  "status": "running"\n}\n')
    code, out = _run(["run", str(pb), "--resume", "--state-dir", str(tmp_path / "state")], capsys)
    assert code == 2 and f"{journal}:1: steps: missing or not a list of steps" in out


def test_a_missing_ca_file_is_named(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSUL_CACERT", "/nonexistent/ca.pem")
    code, out = _run(["consul", "status", "--http-addr", "https://127.0.0.1:1"], capsys)
    assert code == 2 and "the CA file (--ca-file, CONSUL_CACERT) /nonexistent/ca.pem does not exist" in out


def test_yaml_alias_bombs_and_self_references_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    bomb += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    pb = tmp_path / "pb.yaml"
    pb.write_text("\n".join(bomb) + "\nname: x\nsteps: [{id: p, pause: {seconds: 0}}]\n")
    code, out = _run(["run", str(pb)], capsys)
    assert code == 2 and "expands to more than 100000 values through YAML aliases" in out
    pb.write_text("name: &n [*n]\nsteps: [{id: p, pause: {seconds: 0}}]\n")
    code, out = _run(["run", str(pb)], capsys)
    assert code == 2 and f"{pb}:1: a YAML alias refers to a value that contains it" in out
