"""The process adapter of the lab: start detached servers, find them again, stop them.

Every process the lab starts runs with its working directory inside the lab dir, so `down` can
find and stop them even when the lab's state file is gone (after a crash or a failed `up`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# Servers started by this process. Keeping the Popen objects lets us reap them (no zombies) and
# keeps Python from warning that a still-running child was garbage-collected; servers outlive the
# CLI invocation that started them by design.
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn(argv: Sequence[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None) -> int:
    """Start a server in its own session with output appended to `log`; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    return proc.pid


def is_running(pid: int | None) -> bool:
    """True when `pid` is a live (not zombie) process. Our own children are reaped on the way."""
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def reap_exited() -> None:
    """Collect every child of ours that has exited (servers another process stopped, too)."""
    for pid in list(_children):
        is_running(pid)


def processes_under(root: Path) -> list[int]:
    """Pids of live processes whose working directory is inside `root`."""
    root = root.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = (entry / "cwd").readlink()
        except OSError:
            continue
        if (cwd == root or root in cwd.parents) and is_running(int(entry.name)):
            found.append(int(entry.name))
    return found


def stop(pid: int | None, *, kill: bool = False, timeout: float = 20.0) -> bool:
    """SIGTERM (or SIGKILL) and wait for the process to be gone; escalate to SIGKILL at `timeout`.

    Returns True when the process had to be killed.
    """
    if not is_running(pid):
        return False
    assert pid is not None
    sig = signal.SIGKILL if kill else signal.SIGTERM
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid):
            return kill
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while is_running(pid):
        time.sleep(0.05)
    return True


def listening_sockets(ips: Sequence[str]) -> list[str]:
    """`ip:port` of TCP sockets in LISTEN state bound to any of `ips` (from /proc/net/tcp)."""
    wanted = set(ips)
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            hex_ip, hex_port = fields[1].split(":")
            ip = ".".join(str(int(hex_ip[i : i + 2], 16)) for i in (6, 4, 2, 0))
            if ip in wanted:
                found.append(f"{ip}:{int(hex_port, 16)}")
    return found
