"""One operator at a time: a Consul session lock on the cluster, plus a local lock on the journal.

Every run that changes a cluster (`consul upgrade --apply|--resume`, `remove-stale-peers --apply`,
a playbook's `consul.upgrade` step) holds both while it works:

- the **cluster lock**: the KV key `clusterops/lock` acquired with a Consul session
  (`PUT /v1/session/create`, then `PUT /v1/kv/<key>?acquire=<session>`). The session has a TTL, no
  node checks (the servers it was created on are restarted during an upgrade; a serfHealth check
  would drop the lock at the first restart), `Behavior: release` and no lock delay. A thread renews
  it through whichever server answers; if the run dies, the session expires (Consul allows up to
  twice the TTL) and the key is free again. It lives in the cluster's replicated KV, so it
  survives leader changes and is seen from any host.
- the **local lock**: `flock` on a file in the state directory, named after what is locked (the
  inventory, or the agent address), so two runs on one host never share a journal.

A run that finds either lock held is refused at once (`LockHeld`, exit 1) with the holder: host,
pid, run id, command and since when. `--resume` takes over a cluster lock whose holder is provably
dead (same host, same PID namespace since this boot, its pid gone); `--break-lock` takes over any
cluster lock and says what it broke.
A token without `session:write`/`key:write` gets a warning and the local lock only.

This module talks to Consul's session and KV endpoints through the adapter's public
`get_json`/`call_api` (errors translated as everywhere else). Each write says whether it is
idempotent: a session create is not (a retried create whose first answer was lost leaves a
second session behind), renew, destroy and acquire-by-the-same-session are (Consul answers the
same when they are done twice). The create is still repeated while no server can make one (a
`--resume` right after a crash often meets a leader election): a session whose answer was lost
holds no key and expires after its TTL, so a repeat costs nothing but that.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from clusterops.errors import AuthError, ClusterOpsError, UnsafePlan

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient

LOCK_KEY = "clusterops/lock"
SESSION_TTL = 20.0  # seconds; Consul invalidates an unrenewed session after up to twice this
LEADER_WAIT = 30.0  # seconds a run waits for a server able to create its session (an election)
PERM_LOCK = "session:write and key:write on clusterops/lock"


class LockHeld(UnsafePlan):
    """Another run holds the cluster or the local lock; nothing was touched (exit 1)."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    run_id: str
    command: str
    user: str
    since: float
    pidns: str = ""  # boot id and PID namespace: a pid means something only inside them

    @classmethod
    def me(cls, command: str, run_id: str = "") -> Holder:
        return cls(socket.gethostname(), os.getpid(), run_id, command, _user(), time.time(), _pid_namespace())

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        ago = max(0, int(time.time() - self.since))
        run = f" run {self.run_id}" if self.run_id else ""
        return f"`{self.command}`{run} by {self.user} on host {self.host}, pid {self.pid}, since {since} ({ago}s ago)"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Holder | None:
        try:
            raw = json.loads(text or "")
            return cls(
                host=str(raw["host"]), pid=int(raw["pid"]), run_id=str(raw.get("run_id", "")),
                command=str(raw.get("command", "")), user=str(raw.get("user", "")), since=float(raw["since"]),
                pidns=str(raw.get("pidns", "")),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def provably_dead(self) -> bool:
        """True only when the holder ran on this host, in this PID namespace since this boot, and its
        process is gone. A host name alone proves nothing: a container sharing the host's name
        (`--uts=host`, `--network host`) has its own pids, so a live holder there has no pid here."""
        here = _pid_namespace()
        if self.host != socket.gethostname() or not here or self.pidns != here:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, someone else's
            return False
        return False


def _pid_namespace() -> str:
    """`<boot id>/<pid namespace>` of this process, or "" where Linux does not say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        return f"{boot}/{Path('/proc/self/ns/pid').readlink()}"
    except (OSError, UnicodeDecodeError):
        return ""


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# -- the local lock ---------------------------------------------------------------------------


class LocalLock:
    """`flock` on `<state_dir>/locks/<name>.lock`; the file holds the holder's description."""

    def __init__(self, state_dir: Path, subject: str) -> None:
        digest = hashlib.sha256(subject.encode()).hexdigest()[:16]
        self.path = state_dir / "locks" / f"consul-{digest}.lock"
        self.subject = subject
        self._fh: IO[str] | None = None

    def acquire(self, holder: Holder) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fh = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            other = Holder.from_json(fh.read())
            fh.close()
            who = other.describe() if other else "another process"
            raise LockHeld(
                f"refused: {self.subject} is locked on this host by {who} (local lock {self.path}); "
                "nothing was touched",
                hint="wait for that run to finish; a live local run cannot be broken, stop it first",
            ) from None
        self._fh = fh
        self.write(holder)

    def write(self, holder: Holder) -> None:
        if self._fh is None:
            return
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(holder.to_json())
        self._fh.flush()
        self.path.chmod(0o600)

    def release(self) -> None:
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


# -- the cluster lock -------------------------------------------------------------------------


def _put(
    client: ConsulClient, what: str, path: str, params: list[tuple[str, Any]], body: Any = None, *, idempotent: bool
) -> Any:
    return client.call_api(
        "PUT", path, what, PERM_LOCK, params=params, body=body, idempotent=idempotent, allow_404=True
    )[0]


def _get(client: ConsulClient, what: str, path: str) -> Any:
    return client.get_json(path, what, PERM_LOCK, allow_404=True)


def create_session(client: ConsulClient, name: str, ttl: float = SESSION_TTL) -> str:
    body = {"Name": name, "TTL": f"{int(ttl)}s", "Behavior": "release", "LockDelay": "0s", "NodeChecks": [],
            "Checks": []}  # fmt: skip
    reply = _put(client, "session create", "/v1/session/create", [], body, idempotent=False)
    return str((reply or {}).get("ID", ""))


def destroy_session(client: ConsulClient, session: str) -> None:
    _put(client, "session destroy", f"/v1/session/destroy/{session}", [], idempotent=True)


def renew_session(client: ConsulClient, session: str) -> bool:
    """True if renewed; False when Consul no longer knows the session (it expired)."""
    reply = _put(client, "session renew", f"/v1/session/renew/{session}", [], idempotent=True)
    return bool(reply)


def try_acquire(client: ConsulClient, key: str, session: str, value: str) -> bool:
    return bool(
        _put(client, f"kv acquire {key}", f"/v1/kv/{key}", [("acquire", session)], value, idempotent=True) is True
    )


def read_holder(client: ConsulClient, key: str) -> tuple[str, Holder | None]:
    """(session holding `key` or "", the holder it describes)."""
    reply = _get(client, f"kv get {key}", f"/v1/kv/{key}")
    if not reply:
        return "", None
    item = reply[0]
    value = base64.b64decode(item["Value"]) if item.get("Value") else b""
    return str(item.get("Session") or ""), Holder.from_json(value)


@dataclass
class Lock:
    """Both locks, held. `notes` says what acquiring did (a take-over, a broken lock, a fallback)."""

    holder: Holder
    local: LocalLock
    clients: Sequence[ConsulClient]
    key: str = LOCK_KEY
    session: str = ""
    notes: tuple[str, ...] = ()
    ttl: float = SESSION_TTL
    lost: str = ""  # set when the session could not be kept

    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None

    def _first(self, fn: Callable[[ConsulClient], Any]) -> Any:
        errors = []
        for client in self.clients:
            try:
                return fn(client)
            except AuthError:
                raise
            except ClusterOpsError as err:
                errors.append(str(err).splitlines()[0])
        raise ClusterOpsError("no server answered: " + "; ".join(errors))

    def set_run_id(self, run_id: str) -> None:
        """Name the run once its journal exists (the value is rewritten under the same session)."""
        self.holder = replace(self.holder, run_id=run_id)
        self.local.write(self.holder)
        if self.session:
            with contextlib.suppress(ClusterOpsError):
                self._first(lambda c: try_acquire(c, self.key, self.session, self.holder.to_json()))

    def ensure_held(self) -> None:
        """Raise LockHeld unless the cluster lock is still this run's (read now, from the cluster).

        Called right before each server is stopped: a run that was paused or cut off for longer than
        the session's TTL (a suspended laptop, a stalled VM) has lost its session, and another run
        may have taken the lock meanwhile; it must not stop another server."""
        if not self.session:
            return  # the local lock only (warned when it was taken)
        for attempt in range(3):  # an idempotent read: a leader election right after a hand-over may fail it
            try:
                session, other = self._first(lambda c: read_holder(c, self.key))
                break
            except ClusterOpsError as err:
                if attempt == 2:
                    raise LockHeld(
                        f"cannot confirm that this run still holds the cluster lock {self.key} "
                        f"({str(err).splitlines()[0]}); no other server was stopped"
                    ) from None
                time.sleep(1.0)
        if session != self.session:
            who = other.describe() if other and session else (f"session {session}" if session else "nobody")
            raise LockHeld(
                f"this run lost the cluster lock {self.key} (its session expired: the run was paused or cut "
                f"off for more than {2 * self.ttl:g}s); it is now held by {who}; no other server was stopped",
                hint="when no other run is working on the cluster, `--resume` continues this run",
            )

    def start_renewing(self) -> None:
        if not self.session:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name="clusterops-lock", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        assert self._stop is not None
        while not self._stop.wait(self.ttl / 4):
            try:
                if not self._first(lambda c: renew_session(c, self.session)):
                    self.lost = f"session {self.session} expired"
                    # take it back if nobody else did meanwhile (the lock was free)
                    self._take_back()
            except ClusterOpsError:
                continue  # no server answered this time: the TTL leaves room for a few misses

    def _take_back(self) -> None:
        new = self._first(lambda c: create_session(c, _session_name(self.holder), self.ttl))
        if self._first(lambda c: try_acquire(c, self.key, new, self.holder.to_json())):
            self.session, self.lost = new, ""
        else:
            self._first(lambda c: destroy_session(c, new))

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.session:
            with contextlib.suppress(ClusterOpsError):
                self._first(lambda c: destroy_session(c, self.session))  # Behavior=release frees the key
        self.local.release()


def _session_name(holder: Holder) -> str:
    return f"clusterops {holder.command} (pid {holder.pid} on {holder.host})"


def acquire(
    clients: Sequence[ConsulClient],
    *,
    state_dir: Path,
    subject: str,
    command: str,
    run_id: str = "",
    resume: bool = False,
    break_lock: bool = False,
    key: str = LOCK_KEY,
    ttl: float = SESSION_TTL,
    wait: float = LEADER_WAIT,
) -> Lock:
    """Take the local lock, then the cluster lock; raise LockHeld naming the holder if either is held."""
    holder = Holder.me(command, run_id)
    local = LocalLock(state_dir, subject)
    local.acquire(holder)
    lock = Lock(holder, local, clients, key=key, ttl=ttl)
    try:
        _acquire_cluster(lock, resume=resume, break_lock=break_lock, wait=wait)
    except BaseException:
        local.release()
        raise
    lock.start_renewing()
    return lock


def _create_session(lock: Lock, wait: float) -> str:
    """A new session through the first server able to make one, waiting up to `wait` seconds for one
    (no leader, a server restarting): each try either made no session or one that holds nothing and
    expires after its TTL."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return str(lock._first(lambda c: create_session(c, _session_name(lock.holder), lock.ttl)))
        except AuthError:
            raise
        except ClusterOpsError as err:
            if time.monotonic() >= deadline:
                raise ClusterOpsError(
                    f"cannot take the cluster lock {lock.key}: no server could create a session for "
                    f"{wait:g}s (no leader?); nothing was touched: {err}"
                ) from None
            time.sleep(1.0)


def _acquire_cluster(lock: Lock, *, resume: bool, break_lock: bool, wait: float = LEADER_WAIT) -> None:
    notes: list[str] = []
    try:
        session = _create_session(lock, wait)
    except AuthError as err:
        lock.notes = (_fallback(lock, err),)
        return
    value = lock.holder.to_json()
    try:
        if not lock._first(lambda c: try_acquire(c, lock.key, session, value)):
            held_by, other = lock._first(lambda c: read_holder(c, lock.key))
            who = other.describe() if other else f"session {held_by}"
            dead = other is not None and other.provably_dead()
            if break_lock or (resume and dead):
                if held_by:
                    lock._first(lambda c: destroy_session(c, held_by))
                if not lock._first(lambda c: try_acquire(c, lock.key, session, value)):
                    raise LockHeld(f"refused: the cluster lock {lock.key} was taken again at once; nothing was touched")
                why = "broke the cluster lock" if break_lock and not dead else "took over the cluster lock"
                notes.append(f"{why} {lock.key} held by {who}" + (" (that process is gone)" if dead else ""))
            else:
                if dead:
                    hint = (
                        f"that process is gone: --resume takes the lock over, or wait up to {2 * lock.ttl:g}s "
                        "for its session to expire"
                    )
                else:
                    hint = (
                        "wait for it to finish; if it died on another host, its session expires "
                        f"within {2 * lock.ttl:g}s and --resume takes over; --break-lock takes it anyway"
                    )
                raise LockHeld(
                    f"refused: another run holds the cluster lock {lock.key}: {who}; nothing was touched", hint=hint
                )
    except AuthError as err:  # may create a session but not write the key
        with contextlib.suppress(ClusterOpsError):
            lock._first(lambda c: destroy_session(c, session))
        lock.notes = (_fallback(lock, err),)
        return
    except BaseException:
        with contextlib.suppress(ClusterOpsError):
            lock._first(lambda c: destroy_session(c, session))
        raise
    lock.session = session
    lock.notes = tuple(notes)


def _fallback(lock: Lock, err: AuthError) -> str:
    return (
        f"warning: the token may not take the cluster lock {lock.key} ({str(err).splitlines()[0]}); "
        f"only the local lock {lock.local.path} guards this run: a run from another host is not excluded"
    )


@contextlib.contextmanager
def held(
    clients: Sequence[ConsulClient],
    *,
    state_dir: Path,
    subject: str,
    command: str,
    run_id: str = "",
    resume: bool = False,
    break_lock: bool = False,
    on_note: Callable[[str], None] = lambda n: None,
) -> Iterator[Lock]:
    lock = acquire(
        clients, state_dir=state_dir, subject=subject, command=command, run_id=run_id, resume=resume,
        break_lock=break_lock,
    )  # fmt: skip
    try:
        for note in lock.notes:
            on_note(note)
        yield lock
    finally:
        lock.release()
