"""Pure pieces of the upgrade executor: the order decided from the current leader, and the
judgement of a server's own raft view in a direct probe."""

from __future__ import annotations

import pytest

from clusterops.consul.upgrade.execute import HEALTH_REFRESH, gate_window, next_order
from clusterops.consul.upgrade.reader import probe_verdict


def test_the_current_leader_goes_last_when_it_is_not_upgraded() -> None:
    assert next_order(["s2", "s3", "s1"], "s1", set()) == ["s2", "s3", "s1"]
    # leadership moved from s1 (planned last) to s2, not yet upgraded: s2 goes last now
    assert next_order(["s2", "s1"], "s2", {"s3"}) == ["s1", "s2"]
    assert next_order(["s3", "s4", "s5", "s1"], "s4", {"s2"}) == ["s3", "s5", "s1", "s4"]


def test_an_upgraded_or_unknown_leader_keeps_the_order() -> None:
    assert next_order(["s3", "s1"], "s2", {"s2"}) == ["s3", "s1"]
    assert next_order(["s3", "s1"], None, set()) == ["s3", "s1"]


def test_gate_window_is_never_shorter_than_autopilots_refresh() -> None:
    assert HEALTH_REFRESH == 2.0  # Consul's ServerHealthInterval
    assert gate_window(0.0, 0.5) == HEALTH_REFRESH  # a short server_stabilization_time
    assert gate_window(1.0, None) == 10.0
    assert gate_window(0.0, 10.0) == 10.0
    assert gate_window(15.0, 10.0) == 15.0


@pytest.mark.parametrize(
    ("raft", "ok", "problem"),
    [
        ({"state": "Follower", "last_contact": "35.2ms", "term": "4"}, True, ""),
        ({"state": "Leader", "last_contact": "0", "term": "4"}, True, ""),
        ({"state": "Follower", "last_contact": "7.5s", "term": "4"}, False, "s2 last heard from its leader 7.5s ago"),
        ({"state": "Follower", "last_contact": "never", "term": "1"}, False, "s2 last heard from its leader never"),
        ({"state": "Candidate", "last_contact": "3s", "term": "9"}, False, "s2 is in raft state Candidate"),
        ({}, False, "s2 is in raft state ?"),
    ],
)
def test_probe_judges_the_servers_own_raft_view(raft: dict[str, object], ok: bool, problem: str) -> None:
    probe = probe_verdict("s2", raft, "1.14.11", max_contact=2.0)
    assert probe.ok is ok
    assert probe.problem.startswith(problem)
    assert probe.version == "1.14.11"


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_reads_are_retried_but_cluster_changing_writes_are_sent_once() -> None:
    """Against a port where nothing listens (a real refused connection): a read is tried three
    times, a raft remove-peer, force-leave or transfer-leader exactly once."""
    from clusterops.consul.client import ConsulClient
    from clusterops.errors import ConnectionFailed
    from clusterops.settings import ConsulSettings

    client = ConsulClient(ConsulSettings(address=f"http://127.0.0.1:{_closed_port()}"), attempts=3, max_backoff=0.01)
    with pytest.raises(ConnectionFailed):
        client.leader()
    assert client.requests_made == 3
    for write in (
        lambda: client.remove_raft_peer("abc"),
        lambda: client.force_leave("s3"),
        lambda: client.transfer_leader("abc"),
    ):
        client.requests_made = 0
        with pytest.raises(ConnectionFailed):
            write()
        assert client.requests_made == 1


def test_a_non_voter_by_design_is_gated_as_a_non_voter_and_keeps_its_role() -> None:
    """Read replicas and redundancy-zone standbys (autopilot NodeType, Enterprise) come back as non-voters:
    the gate accepts that for them, and only for them; re-ordering before each server keeps their role."""
    from dataclasses import replace as dc_replace
    from pathlib import Path
    from types import SimpleNamespace
    from typing import Any, cast

    from clusterops.consul.upgrade.execute import ConsulAdapter, UpgradeOptions, Upgrader, node_back_verdict
    from clusterops.consul.upgrade.plan import Step
    from tests.unit.consul.factories import cluster

    state = cluster(non_voters=("s3",))
    assert not node_back_verdict(state, "s3", "1.13.9").ok  # a voter is expected by default
    assert node_back_verdict(state, "s3", "1.13.9", voter=False).ok
    adapter = ConsulAdapter(None)
    adapter.plan_roles({"s1": "leader", "s2": "follower", "s3": "read-replica"})
    assert adapter.node_back(state, "s3", "1.13.9").ok
    assert not adapter.node_back(cluster(non_voters=("s2",)), "s2", "1.13.9").ok  # s2 must come back a voter

    class Fixed(ConsulAdapter):
        def read(self, exclude: frozenset[str]) -> Any:
            return state

    upgrader = Upgrader(
        inventory=cast(Any, SimpleNamespace(names=["s1", "s2", "s3"])),
        reader=None,
        options=UpgradeOptions(target="1.14.11"),
        journal=cast(Any, SimpleNamespace(run_id="r", path=Path("/dev/null"))),
        adapter=Fixed(None),
    )
    none = cast(Any, None)
    base = Step(server="s3", address="", role="read-replica", action="upgrade", from_version="1.13.9",
                to_version="1.14.11", before=none, during=none, after=none)  # fmt: skip
    pending = [base, dc_replace(base, server="s2", role="follower"), dc_replace(base, server="s1", role="follower")]
    order = upgrader.reorder(pending)
    assert {s.server: s.role for s in order} == {"s3": "read-replica", "s2": "follower", "s1": "leader"}
