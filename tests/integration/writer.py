"""A concurrent KV writer for upgrade tests and benchmarks: >= 20 acknowledged writes per second.

Each write goes to one server (rotating on failure); a write counts as acknowledged only when
Consul answered 200 true. Every acknowledged key must read back after the upgrade.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass
class WriteLog:
    acknowledged: dict[str, str] = field(default_factory=dict)
    failed: int = 0
    ok_times: list[float] = field(default_factory=list)

    def longest_gap(self, start: float, end: float) -> float:
        """Longest time without an acknowledged write between start and end."""
        times = [start, *sorted(t for t in self.ok_times if start <= t <= end), end]
        return max(b - a for a, b in itertools.pairwise(times))


class Writer(threading.Thread):
    def __init__(self, addresses: list[str], *, rate: float = 25.0, prefix: str = "writer", token: str | None = None):
        super().__init__(daemon=True)
        self.addresses = addresses
        self.interval = 1.0 / rate
        self.prefix = prefix
        self.log = WriteLog()
        self._halt = threading.Event()
        self._session = requests.Session()
        self._headers = {"X-Consul-Token": token} if token else {}
        self.started_at = 0.0
        self.stopped_at = 0.0

    def run(self) -> None:
        self.started_at = time.monotonic()
        n, target = 0, 0
        next_at = time.monotonic()
        while not self._halt.is_set():
            key, value = f"{self.prefix}/{n:06d}", f"v{n}"
            addr = self.addresses[target % len(self.addresses)]
            try:
                r = self._session.put(f"{addr}/v1/kv/{key}", data=value, headers=self._headers, timeout=2)
                if r.status_code == 200 and r.text.strip() == "true":
                    self.log.acknowledged[key] = value
                    self.log.ok_times.append(time.monotonic())
                    n += 1
                else:
                    self.log.failed += 1
                    target += 1
            except requests.RequestException:
                self.log.failed += 1
                target += 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        self.stopped_at = time.monotonic()

    def stop(self) -> WriteLog:
        self._halt.set()
        self.join(timeout=10)
        return self.log

    def missing(self, address: str) -> list[str]:
        """Acknowledged keys that do not read back (with their value) from `address`."""
        r = self._session.get(f"{address}/v1/kv/{self.prefix}/?recurse=true", headers=self._headers, timeout=10)
        r.raise_for_status()
        import base64

        stored = {e["Key"]: base64.b64decode(e["Value"] or b"").decode() for e in r.json()}
        return [k for k, v in self.log.acknowledged.items() if stored.get(k) != v]


class LeaderWatch(threading.Thread):
    """Asks every server for the leader every 100 ms; records each period in which none named one
    (start, end in time.monotonic()), so a test can tell when a leaderless period began."""

    def __init__(self, addresses: list[str], *, token: str | None = None) -> None:
        super().__init__(daemon=True)
        self.addresses = addresses
        self.periods: list[tuple[float, float]] = []
        self._halt = threading.Event()
        self._headers = {"X-Consul-Token": token} if token else {}

    def _leader(self, session: requests.Session) -> str:
        for addr in self.addresses:
            try:
                leader = session.get(f"{addr}/v1/status/leader", headers=self._headers, timeout=0.5).json()
            except (requests.RequestException, ValueError):
                continue
            if leader:
                return str(leader)
        return ""

    def run(self) -> None:
        session = requests.Session()
        since: float | None = None
        while not self._halt.is_set():
            now = time.monotonic()
            if self._leader(session):
                if since is not None:
                    self.periods.append((since, now))
                    since = None
            elif since is None:
                since = now
            time.sleep(0.1)
        if since is not None:
            self.periods.append((since, time.monotonic()))

    def stop(self) -> list[tuple[float, float]]:
        self._halt.set()
        self.join(timeout=10)
        return self.periods

    def leaderless_after(self, t: float) -> list[tuple[float, float]]:
        return [p for p in self.periods if p[1] > t]
