"""The local half of the lock (flock on the state dir) and the holder's description; the cluster
half (Consul session + KV acquire) is proven on real servers in
tests/integration/test_upgrade_lock_identity.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from clusterops.consul.lock import Holder, LocalLock, LockHeld, acquire
from clusterops.errors import ClusterOpsError


def test_a_second_local_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = LocalLock(tmp_path, "consul upgrade of /inv.yaml")
    first.acquire(Holder.me("consul upgrade --to 1.14.11 --apply", "20261201T000000Z-abc123"))
    try:
        with pytest.raises(LockHeld) as err:
            LocalLock(tmp_path, "consul upgrade of /inv.yaml").acquire(Holder.me("consul upgrade --resume"))
        text = str(err.value)
        assert f"pid {os.getpid()}" in text and "run 20261201T000000Z-abc123" in text
        assert socket.gethostname() in text and "since" in text and "nothing was touched" in text
        assert err.value.exit_code == 1
        # another subject (another inventory) is another lock
        other = LocalLock(tmp_path, "consul upgrade of /other.yaml")
        other.acquire(Holder.me("x"))
        other.release()
    finally:
        first.release()
    again = LocalLock(tmp_path, "consul upgrade of /inv.yaml")
    again.acquire(Holder.me("y"))
    again.release()
    assert (first.path.stat().st_mode & 0o777) == 0o600


def test_a_dead_process_on_this_host_is_provably_dead_and_nothing_else_is() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    me = Holder.me("x")
    assert not me.provably_dead()
    assert me.pidns and Holder(me.host, proc.pid, "", "x", "u", 0.0, me.pidns).provably_dead()
    assert not Holder("another-host", proc.pid, "", "x", "u", 0.0, me.pidns).provably_dead()
    # same host name, another PID namespace (a container sharing the host's name) or another boot:
    # the pid names another process there, so nothing is proven
    assert not Holder(me.host, proc.pid, "", "x", "u", 0.0, "boot/pid:[1]").provably_dead()
    assert not Holder(me.host, proc.pid, "", "x", "u", 0.0).provably_dead()  # a holder that did not say
    assert Holder.from_json(me.to_json()) == me and Holder.from_json("garbage") is None


class _ElectingConsul:
    """A server that answers "no leader" to the first `fail` session creates, then behaves."""

    def __init__(self, fail: int) -> None:
        self.fail, self.creates = fail, 0
        self.kv: dict[str, str] = {}

    def call_api(
        self, method: str, path: str, what: str, permission: str | None, **kw: object
    ) -> tuple[object, dict[str, str]]:
        if path == "/v1/session/create":
            self.creates += 1
            if self.creates <= self.fail:
                raise ClusterOpsError("Consul at http://127.0.0.1:8500: session create: 500 No cluster leader")
            return {"ID": f"s{self.creates}"}, {}
        if path.startswith("/v1/kv/"):
            self.kv[path] = dict(kw["params"])["acquire"]  # type: ignore[call-overload]
            return True, {}
        return True, {}  # renew, destroy


def test_the_cluster_lock_waits_out_a_leader_election_and_no_longer(tmp_path: Path) -> None:
    """A --resume right after a crash meets an election: the session create is repeated until a
    server can make one, within the wait; past it, the run stops before touching anything."""
    consul = _ElectingConsul(fail=2)
    lock = acquire([consul], state_dir=tmp_path, subject="s", command="consul upgrade --resume", wait=10)  # type: ignore[list-item]
    try:
        assert lock.session == "s3" and consul.kv == {"/v1/kv/clusterops/lock": "s3"}
    finally:
        lock.release()
    with pytest.raises(ClusterOpsError) as err:
        acquire([_ElectingConsul(fail=99)], state_dir=tmp_path, subject="s", command="x", wait=1.5)  # type: ignore[list-item]
    assert "no server could create a session" in str(err.value) and "nothing was touched" in str(err.value)
    assert not isinstance(err.value, LockHeld)
    again = LocalLock(tmp_path, "s")
    again.acquire(Holder.me("y"))  # the local lock was given back
    again.release()
