"""The private Docker engine of the compose tests must not outlive a test run that is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.integration.docker_engine import unmount_below

_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tests.integration.docker_engine import DockerEngine
    engine = DockerEngine(root=Path(sys.argv[1]), compose_binary=Path("/bin/true"))
    engine._launch()
    print(engine.process.pid, flush=True)
    time.sleep(600)  # a test in progress: killed from outside (a CI timeout, Ctrl-C twice, `kill -9`)
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_the_engine_stops_when_the_test_run_is_killed() -> None:
    """dockerd ran in its own session and nothing tied it to the test process: a test run killed
    mid-way (SIGKILL, or SIGTERM, which skips every `finally`) left the daemon, its containerd and
    every container with its published ports running."""
    if shutil.which("dockerd") is None:
        if IN_CI:
            pytest.fail("CI=true and dockerd is missing (scripts/docker-deps.sh installs it)")
        pytest.skip("dockerd is missing")
    root = Path(tempfile.mkdtemp(prefix="co-dk-", dir="/tmp"))
    repo = Path(__file__).resolve().parents[2]
    run = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(root)], cwd=repo, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )  # fmt: skip
    dockerd = 0
    try:
        assert run.stdout is not None
        dockerd = int(run.stdout.readline())
        assert _alive(dockerd)
        run.send_signal(signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 120  # dockerd's own shutdown: waits on a condition, not a sleep
        while _alive(dockerd) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(dockerd), "dockerd outlived the killed test run"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if run.stdout is not None:
            run.stdout.close()
        if dockerd and _alive(dockerd):
            os.kill(dockerd, signal.SIGKILL)  # the daemon this test started
            time.sleep(1)
        for proc in Path("/proc").iterdir():  # its containerd, if any
            if proc.name.isdigit():
                try:
                    if str(root) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                        os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    continue
        unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)
    assert not root.exists()  # nothing left: no mount, no directory
