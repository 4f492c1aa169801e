"""Shared fixtures: real labs (Consul servers and OpenBao) for the integration tests.

In CI (CI=true) a missing binary or a lab that cannot start fails the test; it never skips.
Outside CI a missing binary skips with the command that provides it.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clusterops.errors import BinaryUnavailable
from clusterops.lab import binaries
from clusterops.lab.cluster import Lab

# Any non-empty CI other than a "false" spelling means CI (GitHub sets "true", others "1" or a name).
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")
CONSUL_A, CONSUL_B = binaries.CONSUL_FROM, binaries.CONSUL_TO

_used_prefixes: set[str] = set()


def free_prefix() -> str:
    """A loopback /24 prefix (127.0.K) with nothing listening on .1-.9, for one lab.

    Chosen at random so that several test runs on one machine (CI and a developer's, or parallel
    helpers) do not collide; never reused within this run.
    """
    from clusterops.lab.processes import listening_sockets

    candidates = [f"127.0.{k}" for k in range(10, 250)]
    random.shuffle(candidates)
    for prefix in candidates:
        if prefix in _used_prefixes:
            continue
        if not listening_sockets([f"{prefix}.{i}" for i in range(1, 10)]):
            _used_prefixes.add(prefix)
            return prefix
    raise RuntimeError("no free 127.0.K prefix for a lab")


def require_binaries(*, vault: bool = False) -> None:
    try:
        for v in binaries.CONSUL_VERSIONS:
            binaries.consul_binary(v, build=False)
        if vault:
            binaries.openbao_binary(binaries.DEFAULT_OPENBAO, install=False)
    except BinaryUnavailable as err:
        if IN_CI:
            pytest.fail(f"CI=true and a server binary is missing: {err}")
        pytest.skip(f"{err} (run `make binaries`)")


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("labs")


@pytest.fixture(scope="session")
def session_lab(lab_root: Path) -> Iterator[Lab]:
    """A healthy 3-server Consul A lab with OpenBao, shared by every read-only test."""
    require_binaries(vault=True)
    lab = Lab(lab_root / "session")
    lab.up(servers=3, consul_version=CONSUL_A, vault=True, prefix=free_prefix())
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def kv_prefix(session_lab: Lab) -> str:
    """A per-test KV path prefix, so tests that share the session lab never see each other's keys."""
    return f"test-{uuid.uuid4().hex[:12]}"


LabFactory = Callable[..., Lab]


@pytest.fixture
def make_lab(lab_root: Path) -> Iterator[LabFactory]:
    """Function-scoped labs for destructive tests; each is torn down after the test."""
    made: list[Lab] = []

    def factory(**kwargs: object) -> Lab:
        require_binaries(vault=bool(kwargs.get("vault")))
        prefix = free_prefix()
        lab = Lab(lab_root / f"lab-{prefix.replace('.', '-')}")
        made.append(lab)
        kwargs.setdefault("consul_version", CONSUL_A)
        lab.up(prefix=prefix, **kwargs)  # type: ignore[arg-type]
        return lab

    yield factory
    for lab in made:
        lab.down()
