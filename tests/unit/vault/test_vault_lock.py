"""The pure parts of the Vault cluster lock: the record in the KV secret and the expiry judgement."""

from __future__ import annotations

import os
import socket

from clusterops.consul.lock import Holder
from clusterops.vault.lock import DEFAULT_LOCK_PATH, LockRecord, judge, lock_path_for, split_path

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
