"""Fixtures and helpers for the `clusterops kv` integration tests (imported by tests/integration/test_kv*.py).

The session lab's OpenBao dev server mounts KV v2 at secret/; each test works below its own prefix.
`second_bao` starts an independent OpenBao dev server (for diffs and copies between two servers).
"""

from __future__ import annotations

import io
import os
import secrets
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest

from clusterops.cli.main import run
from clusterops.kv.client import VaultClient
from clusterops.lab import binaries, processes
from clusterops.lab.cluster import Lab
from clusterops.settings import VaultSettings
from clusterops.wait import Verdict, wait_until
from tests.conftest import IN_CI

KV_ENV_PREFIXES = ("VAULT_", "BAO_", "CLUSTEROPS_")


@dataclass(frozen=True)
class Bao:
    addr: str
    token: str

    def settings(self, **kw: Any) -> VaultSettings:
        return VaultSettings(address=self.addr, token=self.token, **kw)

    def client(self, **kw: Any) -> VaultClient:
        return VaultClient(self.settings(**kw))

    def hvac(self) -> hvac.Client:
        return hvac.Client(url=self.addr, token=self.token)


@pytest.fixture
def bao(session_lab: Lab) -> Bao:
    state = session_lab.state()
    assert state.vault is not None
    token = session_lab.vault_token()
    assert token
    return Bao(state.vault.addr, token)


@pytest.fixture
def root(bao: Bao, kv_prefix: str) -> str:
    """This test's root path, e.g. secret/test-0123abcd."""
    return f"secret/{kv_prefix}"


@pytest.fixture
def client(bao: Bao) -> Iterator[VaultClient]:
    with bao.client() as c:
        yield c


class Terminal(io.StringIO):
    """A stdin that says it is a terminal, for `--apply`'s confirmation: the person reads the plan, then
    `before_answer` runs (the world changes while they read), then they type `answer`."""

    def __init__(self, answer: str = "y", before_answer: Callable[[], None] | None = None) -> None:
        super().__init__(answer + "\n")
        self.before_answer = before_answer
        self.asked = 0

    def isatty(self) -> bool:
        return True

    def readline(self, size: int | None = -1, /) -> str:
        self.asked += 1
        if self.before_answer is not None:
            self.before_answer()
        return super().readline(-1 if size is None else size)


@dataclass
class Cli:
    """Runs `clusterops` in-process with the lab's address and token in the environment."""

    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    bao: Bao

    def __call__(
        self, *args: str, stdin: str | io.StringIO | None = None, token: str | None = None
    ) -> tuple[int, str, str]:
        for key in list(os.environ):
            if key.startswith(("VAULT_", "BAO_")):
                self.monkeypatch.delenv(key)
        self.monkeypatch.setenv("VAULT_ADDR", self.bao.addr)
        self.monkeypatch.setenv("VAULT_TOKEN", token or self.bao.token)
        self.monkeypatch.setattr(sys, "stdin", stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin or ""))
        self.capsys.readouterr()
        code = run(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bao: Bao) -> Cli:
    monkeypatch.setenv("HOME", str(Path(os.environ.get("TMPDIR", "/tmp"))))
    return Cli(monkeypatch, capsys, bao)


def subprocess_env(bao: Bao, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(KV_ENV_PREFIXES)}
    env["VAULT_ADDR"] = bao.addr
    env["VAULT_TOKEN"] = bao.token
    env.update(extra)
    return env


def run_sub(*args: str, env: dict[str, str], stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterops.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def restricted_token(bao: Bao, policy_name: str, policy: str) -> str:
    c = bao.hvac()
    c.sys.create_or_update_policy(name=policy_name, policy=policy)
    created = c.auth.token.create(policies=[policy_name], ttl="10m", no_default_policy=False)
    return str(created["auth"]["client_token"])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def second_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    """An independent OpenBao dev server on a free loopback port; root token from the environment, never argv."""
    from clusterops.errors import BinaryUnavailable

    try:
        bao_bin = binaries.openbao_binary(binaries.DEFAULT_OPENBAO, install=False)
    except BinaryUnavailable as err:
        if IN_CI:
            pytest.fail(f"CI=true and OpenBao is missing: {err}")
        pytest.skip(str(err))
    root = tmp_path_factory.mktemp("bao2")
    token = "t-" + secrets.token_hex(16)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env["BAO_DEV_ROOT_TOKEN_ID"] = token
    pid = processes.spawn(
        [str(bao_bin), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"],
        cwd=root,
        log=root / "bao.log",
        env=env,
    )
    server = Bao(f"http://127.0.0.1:{port}", token)

    def observe() -> str:
        if not processes.is_running(pid):
            return "exited"
        try:
            status = server.hvac().sys.read_health_status(method="GET")
        except Exception as err:  # noqa: BLE001 - not up yet
            return type(err).__name__
        return "" if isinstance(status, dict) and not status.get("sealed") else "sealed"

    try:
        wait_until(observe, lambda r: Verdict(not r, r), timeout=30, interval=0.2, what="second OpenBao")
        yield server
    finally:
        processes.stop(pid)


@pytest.fixture
def namespace(bao: Bao) -> Iterator[str]:
    """A fresh OpenBao namespace with KV v2 mounted at secret/, like the root namespace's."""
    ns = f"ns1-{uuid.uuid4().hex[:8]}"
    bao.hvac().adapter.post(f"/v1/sys/namespaces/{ns}")
    inner = hvac.Client(url=bao.addr, token=bao.token, namespace=ns)
    inner.sys.enable_secrets_engine(backend_type="kv", path="secret", options={"version": "2"})
    try:
        yield ns
    finally:
        inner.sys.disable_secrets_engine(path="secret")
        bao.hvac().adapter.delete(f"/v1/sys/namespaces/{ns}")


def write_versions(client: VaultClient, path: str, *versions: dict[str, Any]) -> None:
    ref = client.resolve(path)
    for data in versions:
        client.write(ref, data)


def world(client: VaultClient, *roots: str) -> dict[str, object]:
    """Every secret below each root as the server has it: its metadata (settings, every version and its
    state and times) and the data of every live version. Equal before and after: nothing was touched."""
    from clusterops.errors import NotFound
    from clusterops.kv.tree import walk

    out: dict[str, object] = {}
    for root in roots:
        base = client.resolve(root)
        for rel in ["", *walk(client, base)]:
            ref = base.child(rel) if rel else base
            try:
                meta = client.read_metadata(ref)
            except NotFound:  # the root itself is often a folder, not a secret
                continue
            data = tuple(client.read_version(ref, v.version).data for v in meta.versions if v.state == "live")
            out[str(ref)] = (meta, data)
    return out
