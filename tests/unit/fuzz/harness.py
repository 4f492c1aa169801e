"""Run the real CLI entry (`clusterops.cli.main.run`) in-process on one input and classify the outcome.

No server is ever contacted: every socket connect is refused in-process, and the first step that
would reach a server raises `ConnectionFailed(NO_SERVER)` instead, so an input that loads cleanly
ends there ("accepted") and a malformed one must fail before it, at load time.
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clusterops.cli.main import run
from clusterops.errors import ConnectionFailed

NO_SERVER = "fuzz: no server contacted"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def accepted(self) -> bool:
        return NO_SERVER in self.err

    def first_error(self) -> str:
        for line in self.err.splitlines():
            if line.startswith("error:"):
                return line
        return (self.err.strip().splitlines() or self.out.strip().splitlines() or [""])[0]


def _refuse(*_args: object, **_kw: object) -> None:
    raise ConnectionFailed(NO_SERVER)


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut every path to a server: sockets refuse; the readers/clients raise NO_SERVER."""

    def no_connect(self: socket.socket, *args: object) -> None:
        raise ConnectionRefusedError(NO_SERVER)

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", no_connect)
    monkeypatch.setattr("clusterops.consul.upgrade.reader.ClusterReader.read", _refuse)
    monkeypatch.setattr("clusterops.consul.client.ConsulClient.__init__", _refuse)
    monkeypatch.setattr("clusterops.kv.client.VaultClient.__init__", _refuse)


@contextlib.contextmanager
def _captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out, err
    finally:
        sys.stdin = stdin


def invoke(argv: list[str]) -> Outcome:
    with _captured() as (out, err):
        code = run(argv)
    return Outcome(code, out.getvalue(), err.getvalue())


def names_line(outcome: Outcome, path: Path) -> bool:
    return re.search(re.escape(str(path)) + r":\d+", outcome.text) is not None
