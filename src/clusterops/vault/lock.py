"""One operator at a time for `vault upgrade`: a lock held in the cluster being upgraded.

The cluster lock is a KV v2 secret (inventory `vault.lock_path`, default
`secret/clusterops/upgrade-lock` when a KV v2 mount `secret/` exists). Its data is the holder record
of `clusterops.consul.lock.Holder` (host, pid, run id, command, user, since; no secret) plus `lock_id`
(a random id naming this run's hold) and `expires` (epoch seconds):

- taking it: a write with `cas=0`, so exactly one of two racing creators wins;
- keeping it: a thread rewrites `expires` every TTL/3 with `cas` at the version it last wrote; a
  cas mismatch means another run took it over, and the run stops before the next node;
- a second run finds it fresh (`expires` in the future): refused, exit 1, naming the holder;
  expired (the holder stopped renewing): taken over with `cas` at the stale version; `--resume`
  also takes over a holder that is provably dead (as for Consul); `--break-lock` takes it anyway
  and says whose it broke;
- released at the end by deleting its metadata, only if it is still this run's.

A run that meets an election (no active node: every node answers 500 or nothing) waits up to 30 s
for one before giving up; a write whose answer was lost is recognised by its `lock_id` when read back.
The expiry is judged with this host's clock against the holder's: keep clocks in sync (NTP); the
TTL is 20 s. No KV v2 mount or no permission: a warning and the local lock only, as for Consul.
The local `flock` (`consul.lock.LocalLock`) is always taken too.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from clusterops.consul.lock import Holder, LocalLock, LockHeld
from clusterops.errors import AuthError, ClusterOpsError, NotFound
from clusterops.vault.client import RaftClient

DEFAULT_LOCK_PATH = "secret/clusterops/upgrade-lock"
LOCK_TTL = 20.0
LEADER_WAIT = 30.0  # seconds to wait for a node able to answer (an election)
RENEW_EVERY = 7.0
CAS_MISMATCH = "check-and-set"
T = TypeVar("T")


@dataclass(frozen=True)
class LockRecord:
    """What the KV secret holds: the holder, this hold's id, and when it expires (pure)."""

    holder: Holder
    lock_id: str
    expires: float

    def to_data(self) -> dict[str, Any]:
        return {**asdict(self.holder), "lock_id": self.lock_id, "expires": self.expires}

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> LockRecord | None:
        if not isinstance(data, dict):
            return None
        holder = Holder.from_json(json.dumps(data))
        try:
            expires = float(data["expires"])
        except (KeyError, TypeError, ValueError):
            return None
        if holder is None:
            return None
        return cls(holder, str(data.get("lock_id", "")), expires)

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def describe(self, now: float) -> str:
        left = self.expires - now
        state = f"expires in {left:.0f}s" if left > 0 else f"expired {-left:.0f}s ago"
        return f"{self.holder.describe()} ({state})"


def judge(record: LockRecord | None, now: float, *, resume: bool, break_lock: bool) -> str:
    """What to do about a lock found held (pure): "take" (expired), "takeover" (--resume, dead),
    "break" (--break-lock) or "refuse"."""
    if record is None or record.expired(now):
        return "take"
    if resume and record.holder.provably_dead():
        return "takeover"
    if break_lock:
        return "break"
    return "refuse"


def split_path(path: str) -> tuple[str, str]:
    """`secret/clusterops/upgrade-lock` -> (`secret`, `clusterops/upgrade-lock`)."""
    mount, _, rest = path.strip("/").partition("/")
    return mount, rest


class _Kv:
    """KV v2 reads and writes of one secret through any node that answers (a standby forwards)."""

    def __init__(self, client: RaftClient, nodes: Sequence[str], path: str) -> None:
        self.client, self.nodes = client, list(nodes) or [client.base]
        self.mount, self.key = split_path(path)
        self.path = path

    def _first(self, fn: Callable[[str], Any]) -> Any:
        errors = []
        for node in self.nodes:
            try:
                return fn(node)
            except (AuthError, NotFound):
                raise
            except ClusterOpsError as err:
                if CAS_MISMATCH in str(err):
                    raise
                errors.append(str(err).splitlines()[0])
        raise ClusterOpsError(f"no node answered for the lock {self.path}: " + "; ".join(errors))

    def read(self) -> tuple[int, LockRecord | None]:
        """(current version, its record); (0, None) when there is no secret."""

        def get(node: str) -> tuple[int, LockRecord | None]:
            try:
                resp = self.client._request("GET", f"{self.mount}/data/{self.key}", node=node, capability="read")
            except NotFound:
                return 0, None
            body = resp.json().get("data") or {}
            version = int((body.get("metadata") or {}).get("version") or 0)
            return version, LockRecord.from_data(body.get("data"))

        return self._first(get)  # type: ignore[no-any-return]

    def write(self, record: LockRecord, cas: int) -> int | None:
        """The new version, or None when `cas` did not match (someone else wrote first)."""

        def put(node: str) -> int:
            resp = self.client._request(
                "POST", f"{self.mount}/data/{self.key}", node=node, capability="create/update",
                json_body={"options": {"cas": cas}, "data": record.to_data()},
            )  # fmt: skip
            return int(((resp.json() or {}).get("data") or {}).get("version") or 0)

        try:
            return self._first(put)  # type: ignore[no-any-return]
        except ClusterOpsError as err:
            if CAS_MISMATCH in str(err):
                return None
            raise

    def delete(self) -> None:
        self._first(
            lambda node: self.client._request(
                "DELETE", f"{self.mount}/metadata/{self.key}", node=node, capability="delete"
            )
        )

    def mount_is_kv2(self) -> bool:
        mounts = self._first(lambda node: self.client.mounts(node))
        entry = mounts.get(f"{self.mount}/") or {}
        return bool(entry.get("type") == "kv" and str((entry.get("options") or {}).get("version")) == "2")


@dataclass
class VaultLock:
    """Both locks, held. `notes` says what acquiring did (an expired lock taken over, a broken
    lock, the local-only fallback)."""

    holder: Holder
    local: LocalLock
    kv: _Kv | None
    lock_id: str = ""
    version: int = 0
    ttl: float = LOCK_TTL
    renew_every: float = RENEW_EVERY
    notes: tuple[str, ...] = ()
    lost: str = ""
    _guard: threading.Lock | None = None
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None

    def record(self) -> LockRecord:
        return LockRecord(self.holder, self.lock_id, time.time() + self.ttl)

    def _rewrite(self) -> None:
        assert self.kv is not None
        assert self._guard is not None
        with self._guard:
            if self.lost:
                return
            new = self.kv.write(self.record(), self.version)
            if new is None:
                self.lost = f"the lock {self.kv.path} was rewritten by another run"
            else:
                self.version = new

    def set_run_id(self, run_id: str) -> None:
        self.holder = replace(self.holder, run_id=run_id)
        self.local.write(self.holder)
        if self.kv is not None:
            with contextlib.suppress(ClusterOpsError):
                self._rewrite()

    def ensure_held(self) -> None:
        """Raise LockHeld unless the cluster lock is still this run's (read now, from the cluster)."""
        if self.kv is None:
            return
        for attempt in range(3):
            try:
                _version, found = self.kv.read()
                break
            except ClusterOpsError as err:
                if attempt == 2:
                    raise LockHeld(
                        f"cannot confirm that this run still holds the cluster lock {self.kv.path} "
                        f"({str(err).splitlines()[0]}); no other node was stopped"
                    ) from None
                time.sleep(1.0)
        if found is None or found.lock_id != self.lock_id:
            who = found.describe(time.time()) if found else "nobody"
            raise LockHeld(
                f"this run lost the cluster lock {self.kv.path} (it stopped renewing for more than {self.ttl:g}s, "
                f"or the lock was broken); it is now held by {who}; no other node was stopped",
                hint="when no other run is working on the cluster, `--resume` continues this run",
            )

    def start_renewing(self) -> None:
        if self.kv is None:
            return
        self._guard = self._guard or threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name="clusterops-vault-lock", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        assert self._stop is not None
        while not self._stop.wait(self.renew_every):
            with contextlib.suppress(ClusterOpsError):  # no node answered: the TTL leaves room for a miss
                self._rewrite()

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self.kv is not None and not self.lost:
            with contextlib.suppress(ClusterOpsError):
                _version, found = self.kv.read()
                if found is not None and found.lock_id == self.lock_id:  # only if still ours
                    self.kv.delete()
        self.local.release()


def lock_path_for(kv_setting: object) -> tuple[str, bool]:
    """(path, configured): the inventory's `vault.lock_path`, or the default."""
    if kv_setting:
        return str(kv_setting).strip("/"), True
    return DEFAULT_LOCK_PATH, False


def acquire(
    client: RaftClient,
    nodes: Sequence[str],
    *,
    state_dir: Path,
    subject: str,
    command: str,
    lock_path: str = DEFAULT_LOCK_PATH,
    configured: bool = False,
    run_id: str = "",
    resume: bool = False,
    break_lock: bool = False,
    ttl: float = LOCK_TTL,
    renew_every: float = RENEW_EVERY,
    wait: float = LEADER_WAIT,
) -> VaultLock:
    """Take the local lock, then the cluster lock; raise LockHeld naming the holder if either is held."""
    holder = Holder.me(command, run_id)
    local = LocalLock(state_dir, subject)
    local.acquire(holder)
    lock = VaultLock(holder, local, _Kv(client, nodes, lock_path), secrets.token_hex(8), ttl=ttl,
                     renew_every=renew_every, _guard=threading.Lock())  # fmt: skip
    try:
        _acquire_cluster(lock, resume=resume, break_lock=break_lock, configured=configured, wait=wait)
    except BaseException:
        local.release()
        raise
    lock.start_renewing()
    return lock


def _acquire_cluster(
    lock: VaultLock, *, resume: bool, break_lock: bool, configured: bool, wait: float = LEADER_WAIT
) -> None:
    kv = lock.kv
    assert kv is not None
    try:
        if not configured and not _answered(lambda: kv.mount_is_kv2(), kv.path, wait):
            lock.notes = (_fallback(lock, f"no KV v2 mount {kv.mount}/; set vault.lock_path in the inventory"),)
            lock.kv = None
            return
        _answered(lambda: _take(lock, kv, resume=resume, break_lock=break_lock), kv.path, wait)
    except AuthError as err:
        lock.notes = (_fallback(lock, str(err).splitlines()[0]),)
        lock.kv = None
    except NotFound as err:  # no such mount (a configured path on a missing mount)
        lock.notes = (_fallback(lock, str(err).splitlines()[0]),)
        lock.kv = None


def _answered(fn: Callable[[], T], path: str, wait: float) -> T:
    """`fn()`, repeated for up to `wait` seconds while no node can answer it (no active node yet:
    a `--resume` right after a crash often meets an election). A refusal, a missing permission or
    mount is an answer. Repeating is safe: `_take` recognises its own write whose answer was lost."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return fn()
        except (AuthError, NotFound, LockHeld):
            raise
        except ClusterOpsError as err:
            if time.monotonic() >= deadline:
                raise ClusterOpsError(
                    f"cannot take the cluster lock {path}: no node answered for {wait:g}s (no active node?); "
                    f"nothing was touched: {str(err).splitlines()[0]}"
                ) from None
            time.sleep(1.0)


def _take(lock: VaultLock, kv: _Kv, *, resume: bool, break_lock: bool) -> None:
    """One attempt at taking the lock (`_answered` repeats it while no node answers)."""
    for _attempt in range(3):
        version, found = kv.read()
        if found is not None and found.lock_id == lock.lock_id:  # our own write, its answer lost
            lock.version = version
            return
        if version == 0:
            new = kv.write(lock.record(), 0)
            if new is not None:
                lock.version = new
                return
            continue  # another creator won the race: judge what it wrote
        now = time.time()
        verdict = judge(found, now, resume=resume, break_lock=break_lock)
        who = found.describe(now) if found else f"an unreadable record (version {version})"
        if verdict == "refuse":
            raise LockHeld(
                f"refused: another run holds the cluster lock {kv.path}: {who}; nothing was touched",
                hint=(
                    "wait for it to finish; if it died, its lock expires within "
                    f"{lock.ttl:g}s and the next run takes it over; --break-lock takes it anyway"
                ),
            )
        new = kv.write(lock.record(), version)
        if new is None:
            continue  # rewritten meanwhile (a renewal, or another taker): look again
        lock.version = new
        if found is not None:
            what = {"take": "took over the expired cluster lock", "takeover": "took over the cluster lock",
                    "break": "broke the cluster lock"}[verdict]  # fmt: skip
            dead = " (that process is gone)" if verdict == "takeover" else ""
            lock.notes = (f"{what} {kv.path} held by {who}{dead}",)
        return
    raise LockHeld(f"refused: the cluster lock {kv.path} kept changing under this run; nothing was touched")


def _fallback(lock: VaultLock, why: str) -> str:
    path = lock.kv.path if lock.kv else DEFAULT_LOCK_PATH
    return (
        f"warning: no cluster lock {path} ({why}); "
        f"only the local lock {lock.local.path} guards this run: a run from another host is not excluded"
    )


@contextlib.contextmanager
def held(
    client: RaftClient,
    nodes: Sequence[str],
    *,
    on_note: Callable[[str], None] = lambda n: None,
    **kwargs: Any,
) -> Iterator[VaultLock]:
    lock = acquire(client, nodes, **kwargs)
    try:
        for note in lock.notes:
            on_note(note)
        yield lock
    finally:
        lock.release()
