"""Attacks on the upgrade lock from outside, on a real Consul lab."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clusterops.consul import lock as cluster_lock
from clusterops.consul.lock import Holder, LockHeld
from tests.conftest import CONSUL_B, IN_CI, LabFactory
from tests.integration.helpers import lab_client

_HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from clusterops.consul import lock
    from clusterops.consul.client import ConsulClient
    from clusterops.settings import ConsulSettings
    client = ConsulClient(ConsulSettings(address=sys.argv[1], timeout=5.0), attempts=3)
    held = lock.acquire([client], state_dir=__import__("pathlib").Path(sys.argv[2]), subject="holder",
                        command="consul upgrade --to 1.14.11 --apply")
    print(os.getpid(), flush=True)
    sys.stdin.read()  # hold the lock until the test closes stdin
    held.release()
    """
)


def _unused_pid() -> int:
    """A pid no process has in this PID namespace (the holder gets it in its own namespace)."""
    return next(p for p in range(30000, 1000, -7) if not Path(f"/proc/{p}").exists())


def test_resume_never_takes_over_a_live_holder_in_another_pid_namespace(make_lab: LabFactory, tmp_path: Path) -> None:
    """A run in a container that shares the host's name (`--uts=host`, `--network host`, a CI runner)
    but not its PID namespace holds the lock. Its pid does not exist here, so `--resume` judged it
    "provably dead" and took over the lock of a live run: two upgrades at once."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--pid", "--fork", "true"], check=False).returncode != 0:
        if IN_CI:
            pytest.fail("CI=true and `unshare --pid` is not available")
        pytest.skip("`unshare --pid` is not available")
    lab = make_lab(servers=1)
    addr = lab.state().server("s1").http_addr
    pid = _unused_pid()
    # a new PID namespace (same host name: UTS is shared) whose python, forked by sh, gets `pid`
    script = f'echo {pid - 1} > /proc/sys/kernel/ns_last_pid && {sys.executable} -c "$HOLDER" {addr} {tmp_path}/h'
    env = {**os.environ, "HOLDER": _HOLDER}
    holder = subprocess.Popen(
        [unshare, "--pid", "--fork", "--mount-proc", "sh", "-c", script],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.strip() == str(pid), line
        with lab_client(lab) as client:
            session, seen = cluster_lock.read_holder(client, cluster_lock.LOCK_KEY)
            assert session and seen is not None and seen.pid == pid and seen.host == Holder.me("x").host
            with pytest.raises(LockHeld, match=f"pid {pid}"):
                taken = cluster_lock.acquire(
                    [client], state_dir=tmp_path / "me", subject="me", command="consul upgrade --resume", resume=True
                )
                taken.release()
            assert cluster_lock.read_holder(client, cluster_lock.LOCK_KEY)[0] == session  # still the holder's
    finally:
        for pipe in (holder.stdin, holder.stdout, holder.stderr):
            if pipe is not None:
                pipe.close()  # closing stdin lets the holder release and exit
        holder.wait(timeout=30)


def test_a_run_that_lost_its_lock_stops_no_other_server(make_lab: LabFactory, tmp_path: Path) -> None:
    """The run's session expired (its laptop was suspended for longer than twice the TTL) and another
    operator took the lock. The renewal noticed, failed to take it back, set `lost`, and nothing read it:
    the first run went on stopping servers while the second held the lock."""
    import time

    from tests.integration.test_consul_upgrade import versions, wait_journal, write_inventory
    from tests.integration.test_upgrade_lock_identity import events, upgrade

    lab = make_lab(servers=3)
    inventory = write_inventory(lab, tmp_path)
    state_dir = tmp_path / "state"
    run = upgrade(inventory, state_dir, lab, "--apply")
    try:
        wait_journal(state_dir, lambda st: "gating" in st.values())  # the first server is back, being gated
        other = Holder("ops-laptop", 4242, "", "consul upgrade --to 1.14.11 --apply", "bob", time.time())
        with lab_client(lab) as client:
            ours, _ = cluster_lock.read_holder(client, cluster_lock.LOCK_KEY)
            cluster_lock.destroy_session(client, ours)  # what a TTL expiry does
            theirs = cluster_lock.create_session(client, "bob", ttl=60)
            assert cluster_lock.try_acquire(client, cluster_lock.LOCK_KEY, theirs, other.to_json())
        out, err = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 1, out[-2000:] + err
    assert "lost the cluster lock clusterops/lock" in err and "by bob on host ops-laptop" in err
    assert len([e for e in events(out) if e["event"] == "stopping"]) == 1  # the first server only
    assert sorted(versions(lab).values()).count(CONSUL_B) == 1
    with lab_client(lab) as client:
        assert cluster_lock.read_holder(client, cluster_lock.LOCK_KEY)[0] == theirs  # bob's lock untouched
