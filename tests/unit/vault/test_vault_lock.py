"""The pure parts of the Vault cluster lock (the record in the KV secret, the expiry judgement), and
taking it through a fake KV that loses answers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from clusterops.consul.lock import Holder, LocalLock, LockHeld
from clusterops.errors import ClusterOpsError
from clusterops.vault.lock import (
    DEFAULT_LOCK_PATH,
    LockRecord,
    VaultLock,
    _acquire_cluster,
    judge,
    lock_path_for,
    split_path,
)

OTHER = Holder("elsewhere", 4242, "run-7", "vault upgrade --to 2.7.2 --apply", "ops", 1000.0, "")


def test_the_record_round_trips_and_holds_no_more_than_the_holder_an_id_and_an_expiry() -> None:
    rec = LockRecord(OTHER, "abc123", 1020.0)
    data = rec.to_data()
    assert set(data) == {"host", "pid", "run_id", "command", "user", "since", "pidns", "lock_id", "expires"}
    assert LockRecord.from_data(data) == rec
    assert LockRecord.from_data({"host": "h"}) is None
    assert LockRecord.from_data(None) is None
    assert LockRecord.from_data({**data, "expires": "soon"}) is None


def test_a_fresh_lock_is_refused_an_expired_one_taken() -> None:
    rec = LockRecord(OTHER, "abc", 1020.0)
    assert judge(rec, 1019.9, resume=False, break_lock=False) == "refuse"
    assert judge(rec, 1019.9, resume=True, break_lock=False) == "refuse"  # not provably dead: another host
    assert judge(rec, 1020.0, resume=False, break_lock=False) == "take"
    assert judge(None, 0.0, resume=False, break_lock=False) == "take"
    assert judge(rec, 1000.0, resume=False, break_lock=True) == "break"


def test_resume_takes_over_a_fresh_lock_only_from_a_provably_dead_holder() -> None:
    me = Holder.me("x")
    dead = LockRecord(Holder(socket.gethostname(), 2**22 + 7, "", "x", "u", 0.0, me.pidns), "id", 1e12)
    alive = LockRecord(Holder(socket.gethostname(), os.getpid(), "", "x", "u", 0.0, me.pidns), "id", 1e12)
    if me.pidns:  # Linux
        assert judge(dead, 0.0, resume=True, break_lock=False) == "takeover"
    assert judge(alive, 0.0, resume=True, break_lock=False) == "refuse"
    assert judge(dead, 0.0, resume=False, break_lock=False) == "refuse"


def test_the_message_names_host_pid_run_and_since() -> None:
    text = LockRecord(OTHER, "abc", 1020.0).describe(1010.0)
    for part in ("elsewhere", "pid 4242", "run run-7", "since 1970-01-01", "expires in 10s"):
        assert part in text


def test_lock_path() -> None:
    assert lock_path_for(None) == (DEFAULT_LOCK_PATH, False)
    assert lock_path_for("/kv/ops/lock/") == ("kv/ops/lock", True)
    assert split_path(DEFAULT_LOCK_PATH) == ("secret", "clusterops/upgrade-lock")


class _ElectingKv:
    """The lock's KV secret on a cluster electing an active node: the first `fail` calls get no
    answer; the first write is applied but its answer is lost."""

    path, mount = "secret/clusterops/upgrade-lock", "secret"

    def __init__(self, fail: int) -> None:
        self.fail, self.calls, self.writes = fail, 0, 0
        self.version = 0
        self.data: LockRecord | None = None

    def _answer(self) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise ClusterOpsError("http://127.0.0.1:8200 answered GET secret/data/x with 500: local node not active")

    def mount_is_kv2(self) -> bool:
        self._answer()
        return True

    def read(self) -> tuple[int, LockRecord | None]:
        self._answer()
        return self.version, self.data

    def write(self, record: LockRecord, cas: int) -> int | None:
        self._answer()
        if cas != self.version:
            return None
        self.version, self.data, self.writes = self.version + 1, record, self.writes + 1
        if self.writes == 1:
            raise ClusterOpsError("http://127.0.0.1:8200 is not answering (ReadTimeout)")  # applied, answer lost
        return self.version


def test_taking_the_lock_waits_out_an_election_and_knows_its_own_lost_write(tmp_path: Path) -> None:
    kv = _ElectingKv(fail=2)
    lock = VaultLock(Holder.me("vault upgrade --resume"), LocalLock(tmp_path, "s"), kv, "mine")  # type: ignore[arg-type]
    _acquire_cluster(lock, resume=True, break_lock=False, configured=False, wait=10)
    assert lock.kv is not None and lock.version == 1 and kv.writes == 1  # taken once, recognised, not refused
    with pytest.raises(ClusterOpsError) as err:
        _acquire_cluster(
            VaultLock(Holder.me("x"), LocalLock(tmp_path, "s"), _ElectingKv(fail=99), "b"),  # type: ignore[arg-type]
            resume=False, break_lock=False, configured=True, wait=1.5,
        )  # fmt: skip
    assert "no node answered for 1.5s" in str(err.value) and "nothing was touched" in str(err.value)
    assert not isinstance(err.value, LockHeld)
