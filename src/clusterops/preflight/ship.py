"""Run the host probe on a server's host through the inventory's driver, with its request on stdin.

`lab` and `exec` servers run on this machine (the exec driver's commands run locally too), so the probe
runs under this Python; `ssh` servers get `python3 -I -S -` through the same OpenSSH arguments the ssh driver
uses for its commands. The probe's source and its JSON request (which may hold the gossip key) travel on
stdin only: never in an argv, a log or a report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from clusterops.consul.inventory import InventoryServer
from clusterops.consul.upgrade.drivers import SshDriver, driver_for
from clusterops.errors import ClusterOpsError


class ProbeFailed(ClusterOpsError):
    """The probe could not run on a host (ssh refused, no python3 there, ...)."""

    exit_code = 2


def probe_source() -> str:
    """aesgcm's source then the probe's: one script, stdlib only."""
    package = resources.files("clusterops.preflight")
    future = "from __future__ import annotations"
    parts = [(package / name).read_text().replace(future, "") for name in ("aesgcm.py", "hostprobe.py")]
    return future + "\n" + "\n".join(parts)


@dataclass(frozen=True)
class ProbeResult:
    server: str
    answer: dict[str, Any]
    started: float  # this machine's clock around the probe, for the clock offset
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def host_argv(server: InventoryServer) -> list[str]:
    """How to start Python on the server's host: isolated and without site packages (`-I -S`), as the probe
    needs only the standard library."""
    if server.driver.type == "ssh":
        driver = driver_for(server)
        assert isinstance(driver, SshDriver)
        return driver.argv("python3 -I -S -")
    return [sys.executable, "-I", "-S", "-"]


def run_probe(server: InventoryServer, request: dict[str, Any], *, timeout: float = 60.0) -> ProbeResult:
    script = probe_source() + f"\nmain({json.dumps(json.dumps(request))})\n"
    argv = host_argv(server)
    started = time.time()
    try:
        proc = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"{server.name}: the host probe did not finish within {timeout:g}s") from None
    except OSError as err:
        raise ProbeFailed(f"{server.name}: cannot run {argv[0]}: {err.strerror}") from None
    finished = time.time()
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        raise ProbeFailed(f"{server.name}: the host probe failed (exit {proc.returncode}): {tail}")
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ProbeFailed(f"{server.name}: the host probe printed no answer") from None
    return ProbeResult(server=server.name, answer=answer, started=started, finished=finished)
