"""One CLI language: a walk over every typer command of the app checks the conventions hold everywhere.

`KNOWN_GAPS` would list an option that does not follow the convention yet, with what it should become;
it is empty, and a new command or option must follow the convention.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main

from clusterops.cli.main import app, run

# (command path, option) -> what it should become; empty: every command follows the convention
KNOWN_GAPS: dict[tuple[str, str], str] = {}

Command = Any  # typer's click command (vendored click)


def _commands() -> Iterator[tuple[str, Command]]:
    def walk(cmd: Command, path: list[str]) -> Iterator[tuple[str, Command]]:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    yield from walk(typer.main.get_command(app), [])


def _options(cmd: Command) -> list[Any]:
    return [p for p in cmd.params if p.param_type_name == "option"]


def _long(opt: Any) -> str:
    return next(o for o in opt.opts if o.startswith("--"))


def _gap(path: str, name: str) -> bool:
    return (path, name) in KNOWN_GAPS


COMMANDS = list(_commands())


def test_the_walk_sees_every_group() -> None:
    paths = {p for p, _ in COMMANDS}
    assert {"consul status", "consul check", "kv get", "kv plan", "kv metadata get", "facts collect", "run"} <= paths


def test_every_option_has_help_text() -> None:
    missing = [
        f"{path} {_long(o)}"
        for path, cmd in COMMANDS
        for o in _options(cmd)
        if not (o.help or "").strip() and not _gap(path, _long(o))
    ]
    assert missing == []


def test_no_out_no_journal_dir_one_name_per_concept() -> None:
    names = {(path, n) for path, cmd in COMMANDS for o in _options(cmd) for n in (*o.opts, *o.secondary_opts)}
    assert not [x for x in names if x[1] in ("--out", "--journal-dir")]  # -o/--output and --state-dir instead
    old = [x for x in names if x[1] == "--stable-for"]
    assert {path for path, _ in old} <= {"consul gate", "vault gate"}  # only as a hidden alias of --stable-window
    for path, cmd in COMMANDS:
        for o in _options(cmd):
            if "--stable-for" in o.opts:
                assert o.hidden, path
    for path, cmd in COMMANDS:
        for o in _options(cmd):
            if "-o" in o.opts:
                assert "--output" in o.opts, path


def test_a_short_option_means_one_thing() -> None:
    meaning: dict[str, set[str]] = {}
    for path, cmd in COMMANDS:
        for o in _options(cmd):
            for short in (n for n in o.opts if not n.startswith("--")):
                if not _gap(path, short):
                    meaning.setdefault(short, set()).add(_long(o))
    assert {s: m for s, m in meaning.items() if len(m) > 1} == {}
    assert meaning["-f"] == {"--format"} and meaning["-o"] == {"--output"} and meaning["-n"] == {"--namespace"}


def test_every_format_option_names_its_formats_from_one_vocabulary() -> None:
    from clusterops.cli.options import FORMAT_NAMES

    for path, cmd in COMMANDS:
        for o in _options(cmd):
            if "--format" not in o.opts or _gap(path, "--format"):
                continue
            assert "-f" in o.opts, path
            help_text = o.help or ""
            assert help_text.startswith("Output format: "), (path, help_text)
            named = help_text.removeprefix("Output format: ").rstrip(".").replace(" or ", ", ").split(", ")
            assert set(named) <= set(FORMAT_NAMES) and o.default in named, (path, named)


#: Every command that changes something shows its plan by default and acts only with --apply (the issue
#: "One CLI language": one convention for dry runs). The single-secret KV commands (put, patch, delete of
#: one path, destroy, undelete, rollback, metadata ...) act at once, as `vault kv` does, and are not here.
PLAN_THEN_APPLY = {
    "consul remove-stale-peers",
    "consul upgrade",
    "vault remove-stale-peers",
    "vault upgrade",
    "kv delete",  # with -r
    "kv copy",
    "kv move",
    "kv import",
    "kv undo",
    "run",
}
#: An upgrade does not ask (its plan, then a journaled --apply); every other one asks, and --yes/-y skips it.
CONFIRMING = PLAN_THEN_APPLY - {"consul upgrade", "vault upgrade"}


def test_commands_that_change_things_plan_by_default_and_act_with_apply() -> None:
    by_path = dict(COMMANDS)
    with_apply = {path for path, cmd in COMMANDS for o in _options(cmd) if "--apply" in o.opts}
    assert with_apply == PLAN_THEN_APPLY
    for path in PLAN_THEN_APPLY:
        [apply] = [o for o in _options(by_path[path]) if "--apply" in o.opts]
        assert apply.is_flag and apply.default is False, path  # the plan is the default
    for path in CONFIRMING:
        yes = [o for o in _options(by_path[path]) if "--yes" in o.opts]
        assert len(yes) == 1 and "-y" in yes[0].opts and yes[0].is_flag and yes[0].default is False, path


DURATION_WORDS = ("timeout", "interval", "observe", "stable", "window", "after", "offset")


def test_durations_are_strings_like_5m() -> None:
    bad = [
        f"{path} {_long(o)}"
        for path, cmd in COMMANDS
        for o in _options(cmd)
        if any(w in _long(o) for w in DURATION_WORDS)
        and isinstance(o.default, int | float)
        and not isinstance(o.default, bool)
        and not _gap(path, _long(o))
    ]
    assert bad == []


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_a_usage_error_exits_2(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*path.split(), "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


@pytest.fixture
def silent_port() -> Iterator[tuple[int, socket.socket]]:
    """A loopback port that listens but never answers: any connection attempt is visible afterwards."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    try:
        yield sock.getsockname()[1], sock
    finally:
        sock.close()


def _nobody_connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


FORMAT_COMMANDS = [
    (path, cmd)
    for path, cmd in COMMANDS
    if any("--format" in o.opts for o in _options(cmd)) and not _gap(path, "--format")
]


@pytest.mark.parametrize("path", [p for p, _ in FORMAT_COMMANDS])
def test_an_unknown_format_fails_before_any_io(
    path: str, silent_port: tuple[int, socket.socket], capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    port, sock = silent_port
    monkeypatch.setenv("VAULT_TOKEN", "not-a-real-token")
    assert run(_argv_to_silent_port(path, port, "-f", "xml")) == 2
    err = capsys.readouterr().err
    assert "unknown format 'xml'" in err and "cannot connect" not in err, err
    assert _nobody_connected(sock)


def _argv_to_silent_port(path: str, port: int, *extra: str) -> list[str]:
    """`path` with `extra`, pointed at the silent port, every required argument given a placeholder."""
    cmd = dict(COMMANDS)[path]
    argv = [*path.split(), *extra]
    names = {n for o in _options(cmd) for n in o.opts}
    if "--http-addr" in names:
        argv += ["--http-addr", f"http://127.0.0.1:{port}"]
    if "--address" in names:
        argv += ["--address", f"http://127.0.0.1:{port}"]
    for p in cmd.params:  # required arguments and options get a placeholder
        if p.required and p.param_type_name == "argument":
            argv.append("1")
        elif p.required:
            argv += [_long(p), "1"]
    if path == "consul check":
        argv += ["--observe", "30s"]  # must not watch for 30 s first
    return argv


FAIL_ON_COMMANDS = [path for path, cmd in COMMANDS if any("--fail-on" in o.opts for o in _options(cmd))]


def test_the_findings_commands_share_one_fail_on() -> None:
    assert {"consul check", "vault check", "consul preflight", "vault preflight"} <= set(FAIL_ON_COMMANDS)


@pytest.mark.parametrize("path", FAIL_ON_COMMANDS)
def test_an_unknown_fail_on_level_fails_before_any_io(
    path: str, silent_port: tuple[int, socket.socket], capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    port, sock = silent_port
    monkeypatch.setenv("VAULT_TOKEN", "not-a-real-token")
    assert run(_argv_to_silent_port(path, port, "--fail-on", "critical")) == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())  # rich wraps the box
    assert "unknown level 'critical'; use info, warning or error" in err, err
    assert _nobody_connected(sock)


def test_the_format_check_is_what_stops_it(silent_port: tuple[int, socket.socket]) -> None:
    """The control: a known format goes on to connect (to the silent port, refused by a short timeout)."""
    port, sock = silent_port
    sock.close()  # now nothing listens: the command fails fast with a connection error instead
    assert run(["consul", "status", "-f", "json", "--http-addr", f"http://127.0.0.1:{port}"]) == 2


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run(argv) == 2
    return capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_consul_connection_options_at_the_group_or_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _free_port(), _free_port()
    assert f":{a}" in _error(["consul", "--http-addr", f"http://127.0.0.1:{a}", "status"], capsys)
    assert f":{a}" in _error(["consul", "status", "--http-addr", f"http://127.0.0.1:{a}"], capsys)
    err = _error(
        ["consul", "--http-addr", f"http://127.0.0.1:{a}", "check", "--http-addr", f"http://127.0.0.1:{b}"], capsys
    )
    assert f":{b}" in err and f":{a}" not in err  # the subcommand's wins


def test_vault_connection_options_at_the_group_or_the_subcommand(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "not-a-real-token")
    a, b = _free_port(), _free_port()
    assert f":{a}" in _error(["kv", "--address", f"http://127.0.0.1:{a}", "get", "secret/x"], capsys)
    assert f":{a}" in _error(["kv", "get", "secret/x", "--address", f"http://127.0.0.1:{a}"], capsys)
    err = _error(["kv", "--address", f"http://127.0.0.1:{a}", "metadata", "get", "secret/x", "--address",
                  f"http://127.0.0.1:{b}"], capsys)  # fmt: skip
    assert f":{b}" in err and f":{a}" not in err


OFFLINE = {
    "consul policy",
    "consul preflight",
    "consul upgrade",
    "consul snapshot restore-test",
    "kv keygen",
    "kv policy",
}
#: the raft commands that connect (`vault preflight` probes hosts, `vault snapshot restore-test` a throwaway lab)
VAULT_CONNECTING = {"vault status", "vault check", "vault gate", "vault remove-stale-peers", "vault snapshot save"}


def test_every_connecting_command_takes_its_groups_connection_options() -> None:
    from dataclasses import fields

    from clusterops.cli.options import CONSUL_OPTIONS
    from clusterops.cli.vault import RaftConnection
    from clusterops.cli.vault_options import VAULT_OPTIONS

    wanted = {
        "consul": {"--" + n.replace("_", "-") for n in CONSUL_OPTIONS},
        "kv": {"--" + n.replace("_", "-") for n in VAULT_OPTIONS},
        "vault": {"--" + f.name.replace("_", "-") for f in fields(RaftConnection)},
    }
    for path, cmd in COMMANDS:
        group = path.split()[0]
        if group in wanted and path not in OFFLINE and (group != "vault" or path in VAULT_CONNECTING):
            names = {n for o in _options(cmd) for n in o.opts}
            assert wanted[group] <= names, (path, wanted[group] - names)


def test_the_old_stable_for_spelling_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["consul", "gate", "--stable-for", "soon", "--http-addr", f"http://127.0.0.1:{_free_port()}"], capsys)
    assert "--stable-window: 'soon' is not a duration" in err and "cannot connect" not in err  # the window


def test_vault_connection_options_at_the_raft_group_or_the_subcommand(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "not-a-real-token")
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("BAO_ADDR", raising=False)
    a, b = _free_port(), _free_port()
    assert f":{a}" in _error(["vault", "--address", f"http://127.0.0.1:{a}", "status"], capsys)
    assert f":{a}" in _error(["vault", "check", "--address", f"http://127.0.0.1:{a}"], capsys)
    err = _error(["vault", "--address", f"http://127.0.0.1:{a}", "snapshot", "save", "x.snap", "--address",
                  f"http://127.0.0.1:{b}"], capsys)  # fmt: skip
    assert f":{b}" in err and f":{a}" not in err


def test_vault_gate_takes_the_old_stable_for_spelling(capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "not-a-real-token")
    err = _error(["vault", "gate", "--stable-for", "soon", "--address", f"http://127.0.0.1:{_free_port()}"], capsys)
    assert "--stable-window: 'soon' is not a duration" in err and "cannot connect" not in err


def test_run_needs_a_playbook_but_schema_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["run"]) == 2
    assert "PLAYBOOK" in capsys.readouterr().err
    assert run(["run", "--schema"]) == 0
    assert '"properties"' in capsys.readouterr().out
