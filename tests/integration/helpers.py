"""Helpers for integration tests: run the real CLI against a lab, wait for cluster conditions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from clusterops.consul.client import ConsulClient
from clusterops.consul.state import ClusterState, read_cluster_state
from clusterops.errors import ClusterOpsError
from clusterops.lab.cluster import Lab
from clusterops.wait import Verdict, wait_until


def lab_env(lab: Lab, server: str = "s1", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSUL_", "VAULT_", "BAO_"))}
    env["CONSUL_HTTP_ADDR"] = lab.state().server(server).http_addr
    if lab.state().acl:
        env["CONSUL_HTTP_TOKEN_FILE"] = str(lab.management_token_file)
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterops.cli.main", *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,  # never a terminal, wherever the suite runs: a confirmation needs --yes
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def lab_client(lab: Lab, server: str = "s1") -> ConsulClient:
    return lab.client(lab.state().server(server), attempts=3)


def read_any(lab: Lab, prefer: str = "s1") -> ClusterState | None:
    """The cluster as the first answering server sees it (a stopped server is skipped)."""
    names = [prefer] + [s.name for s in lab.state().servers if s.name != prefer]
    for name in names:
        try:
            with lab_client(lab, name) as client:
                return read_cluster_state(client)
        except ClusterOpsError:
            continue
    return None


def wait_for_state(
    lab: Lab, predicate: Callable[[ClusterState], bool], *, what: str, timeout: float = 60, server: str = "s1"
) -> ClusterState:
    result = wait_until(
        lambda: read_any(lab, server),
        lambda s: Verdict(s is not None and predicate(s), what),
        timeout=timeout,
        interval=0.5,
        what=what,
    ).observation
    assert result is not None
    return result
