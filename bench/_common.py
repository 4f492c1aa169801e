"""Shared bits of the benchmarks: import path, a lab in a temp dir, a leader watcher."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def temp_root(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"clusterops-bench-{name}-"))


class LeaderWatcher(threading.Thread):
    """Polls /v1/status/leader on every server every 100 ms; counts elections and leaderless time."""

    def __init__(self, addresses: list[str]) -> None:
        super().__init__(daemon=True)
        self.addresses = addresses
        self.changes = 0
        self.leaderless = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        last = None
        last_t = time.monotonic()
        while not self._halt.is_set():
            leader = ""
            for addr in self.addresses:
                try:
                    leader = session.get(f"{addr}/v1/status/leader", timeout=0.5).json()
                except (requests.RequestException, ValueError):
                    continue
                if leader:
                    break
            now = time.monotonic()
            if not leader:
                self.leaderless += now - last_t
            elif last is not None and leader != last:
                self.changes += 1
            if leader:
                last = leader
            last_t = now
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
