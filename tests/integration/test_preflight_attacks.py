"""Attacks on `consul preflight`'s listener check with real processes on this host."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

from clusterops.preflight.rules import Endpoint, listener_findings
from tests.conftest import IN_CI

_PROBE = textwrap.dedent(
    """
    import json, sys
    from clusterops.preflight.hostprobe import listeners
    print(json.dumps(listeners(json.loads(sys.argv[1]), int(sys.argv[2]))))
    """
)


def test_a_port_whose_owner_the_probe_cannot_see_is_never_reported_ok() -> None:
    """A probe that may not read other users' /proc/PID/fd (an ssh driver logged in without root) sees
    every socket with no owner. A port taken by another process then passed as listening: no finding."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        if IN_CI:
            pytest.fail("CI=true and setpriv (util-linux) is missing")
        pytest.skip("setpriv (util-linux) is missing")
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # another process's listener (root's)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # the agent: not the holder
    try:
        wanted = [{"proto": "tcp", "addr": "127.0.0.1", "port": port}]
        seen = subprocess.run(
            [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", _PROBE,
             json.dumps(wanted), str(agent.pid)],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        answer = {"pid": agent.pid, "listeners": json.loads(seen.stdout)}
        assert answer["listeners"] == [{"proto": "tcp", "addr": "127.0.0.1", "port": port, "pid": None}]
        findings = listener_findings("s1", answer, [Endpoint("tcp", "127.0.0.1", port, "serf LAN")])
        assert [f.rule_id for f in findings] == ["PF012"]
        assert f"127.0.0.1:{port}" in findings[0].message and "cannot tell" in findings[0].message
    finally:
        agent.kill()
        agent.wait()
        squatter.close()
