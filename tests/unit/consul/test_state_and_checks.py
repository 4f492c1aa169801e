"""Quorum math, snapshot parsing and every health rule, from JSON shaped like Consul's API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from clusterops.consul.checks import RULES, check_cluster, stale_peers
from clusterops.consul.gate import GateJudge, GateSpec
from clusterops.consul.stale import plan_removals
from clusterops.consul.state import ClusterState, failure_tolerance, quorum_size, state_from_api
from clusterops.consul.status import summarize
from tests.unit.consul.factories import NOW, cluster


@pytest.mark.parametrize(
    ("n", "q", "ft"), [(1, 1, 0), (2, 2, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2), (6, 4, 2), (7, 4, 3)]
)
def test_quorum_table_from_consuls_docs(n: int, q: int, ft: int) -> None:
    assert quorum_size(n) == q
    assert failure_tolerance(n) == ft


def test_dead_voters_still_count_toward_quorum() -> None:
    # The incident: 3 live servers, one dead voter never removed -> 4 voters, quorum 3, FT 0.
    assert failure_tolerance(4, healthy_voters=3) == 0
    assert failure_tolerance(3, healthy_voters=1) == 0


def rules_of(state: ClusterState, **kw: Any) -> list[str]:
    return [f.rule_id for f in check_cluster(state, **kw)]


def test_healthy_cluster_has_no_findings() -> None:
    state = cluster()
    assert rules_of(state) == []
    s = summarize(state)
    assert (s.leader, s.voters, s.quorum, s.failure_tolerance, s.healthy) == ("s1", 3, 2, 1, True)
    assert state.is_stable(state.raft[1])
    assert state.raft[1] and state.health[1].last_contact == pytest.approx(0.0125)


def test_stable_since_is_compared_with_the_stabilization_time() -> None:
    state = cluster(stable_since=NOW - timedelta(seconds=3))
    assert not state.is_stable(state.raft[0])


def test_no_leader() -> None:
    assert "CH001" in rules_of(cluster(leader="nobody"))


def test_unknown_peer_is_stale_with_remove_peer_remedy() -> None:
    state = cluster(extra_raft=[{"ID": "dead-id", "Node": "(unknown)", "Address": "10.0.0.9:8300", "Voter": True}])
    findings = {f.rule_id: f for f in check_cluster(state)}
    assert findings["CH002"].remedy == "consul operator raft remove-peer -id=dead-id"
    assert state.failure_tolerance == 0  # 4 voters, 3 healthy
    assert "CH006" in findings


def test_failed_voter_names_force_leave() -> None:
    state = cluster(dead=("s3",))
    findings = {f.rule_id: f for f in check_cluster(state)}
    assert "consul force-leave s3" in findings["CH003"].remedy
    assert "CH006" in findings and "CH007" in findings and "CH008" in findings
    assert [s.reason for s in stale_peers(state)] == ["failed"]


def test_duplicate_ids_and_addresses() -> None:
    dup = [{"ID": "id-s2", "Node": "s2", "Address": "10.0.0.2:8300", "Leader": False, "Voter": True}]
    assert {"CH004", "CH005"} <= set(rules_of(cluster(extra_raft=dup)))


def test_min_failure_tolerance_is_configurable() -> None:
    five = cluster([(f"s{i}", f"10.0.0.{i}") for i in range(1, 6)], dead=("s5",))
    assert five.failure_tolerance == 1
    assert "CH006" not in rules_of(five, min_failure_tolerance=1)
    assert "CH006" in rules_of(five, min_failure_tolerance=2)


def test_version_skew_even_few_voters_hazards_and_non_voters() -> None:
    assert "CH010" in rules_of(cluster(versions={"s2": "1.14.11"}))
    four = cluster([(f"s{i}", f"10.0.0.{i}") for i in range(1, 5)])
    assert "CH011" in rules_of(four)
    assert "CH012" in rules_of(cluster([("s1", "10.0.0.1")]))
    hazard = cluster(autopilot={"CleanupDeadServers": True, "MinQuorum": 0})
    assert rules_of(hazard) == ["CH013"]
    assert "CH015" in rules_of(cluster(non_voters=("s3",)))


def test_every_rule_has_a_fail_case_here_and_a_stable_id() -> None:
    fired: set[str] = set()
    for state in (
        cluster(leader="nobody"),
        cluster(extra_raft=[{"ID": "x", "Node": "(unknown)", "Address": "10.0.0.9:8300", "Voter": True}]),
        cluster(dead=("s3",)),
        cluster(extra_raft=[{"ID": "id-s2", "Node": "s2", "Address": "10.0.0.2:8300", "Voter": True}]),
        cluster(versions={"s2": "1.14.11"}),
        cluster([(f"s{i}", f"10.0.0.{i}") for i in range(1, 5)]),
        cluster([("s1", "10.0.0.1")]),
        cluster(autopilot={"CleanupDeadServers": True, "MinQuorum": 0}),
        cluster(non_voters=("s3",)),
    ):
        fired |= set(rules_of(state))
    # CH009 (disagreement), CH014 (not in raft), CH016 (partial read), CH017 (peers), CH018 (flapping): below.
    assert set(RULES) - fired == {"CH009", "CH014", "CH016", "CH017", "CH018"}, fired
    assert all(r.id.startswith("CH") and len(r.id) == 5 for r in RULES.values())


def test_disagreement_not_in_raft_and_partial_reads() -> None:
    base = cluster()
    members = [
        {"Name": m.name, "Addr": m.addr, "Port": 8301, "Status": 1, "Tags": {"role": "consul", "build": "1.13.9"}}
        for m in base.members
    ] + [{"Name": "s9", "Addr": "10.0.0.9", "Port": 8301, "Status": 1, "Tags": {"role": "consul"}}]
    raft = {
        "Servers": [
            {"ID": p.id, "Node": p.node, "Address": p.address, "Leader": p.leader, "Voter": p.voter} for p in base.raft
        ]
    }
    state = state_from_api(
        agent="a",
        leader=base.leader_addr,
        raft_configuration=raft,
        members=members,
        autopilot_health={"Healthy": True, "FailureTolerance": 0, "Servers": []},
        unavailable=("autopilot config",),
    )
    assert {"CH009", "CH014", "CH016"} <= set(rules_of(state))


def test_gate_judge_resets_on_leader_change_and_names_conditions() -> None:
    judge = GateJudge(GateSpec(expect_servers=3, expect_version="1.14.11"))
    assert judge(cluster(versions={"s1": "1.14.11", "s2": "1.14.11", "s3": "1.14.11"})).ok
    changed = judge(cluster(leader="s2", versions={"s1": "1.14.11", "s2": "1.14.11", "s3": "1.14.11"}))
    assert not changed.ok and "leader changed to s2" in changed.reason
    assert judge.leader_changes == 1
    assert (
        "not on 1.14.11: s1=1.13.9" in judge(cluster(leader="s2", versions={"s2": "1.14.11", "s3": "1.14.11"})).reason
    )
    assert "stale or dead raft peers: s3 (failed)" in GateJudge(GateSpec())(cluster(dead=("s3",))).reason
    assert GateJudge(GateSpec())("connection refused").reason.startswith("cannot read the cluster")
    assert "2 voters" in GateJudge(GateSpec(expect_servers=3))(cluster(non_voters=("s3",))).reason


def test_removal_plan_refuses_peers_that_answer_and_the_leader() -> None:
    state = cluster(dead=("s3",), extra_raft=[{"ID": "u", "Node": "(unknown)", "Address": "10.0.0.9:8300"}])
    plan = plan_removals(state, answers=lambda addr: addr == "10.0.0.9:8300")
    by_id = {r.peer.id: r for r in plan}
    assert by_id["id-s3"].action == "force-leave" and not by_id["id-s3"].refused
    assert by_id["id-s3"].command == "consul force-leave s3"
    assert by_id["u"].action == "remove-peer" and "answers on 10.0.0.9:8300" in by_id["u"].refused


def test_agent_peers_that_differ_from_the_raft_configuration() -> None:
    lagging = cluster(peers=["10.0.0.1:8300", "10.0.0.2:8300"])
    findings = {f.rule_id: f for f in check_cluster(lagging)}
    assert "CH017" in findings and "10.0.0.3:8300" in findings["CH017"].message
    assert "CH017" not in rules_of(cluster())


def test_staging_servers_are_shown_as_staging() -> None:
    from clusterops.consul.status import server_rows

    rows = {r.node: r.role for r in server_rows(cluster(non_voters=("s3",), staging=("s3",)))}
    assert rows == {"s1": "leader", "s2": "follower", "s3": "staging"}


def test_leader_changes_across_observations_are_ch018() -> None:
    from clusterops.consul.checks import check_observations, leader_changes

    s1, s2 = cluster(leader="s1"), cluster(leader="s2")
    assert leader_changes([s1, s1, None, s2]) == ["s1 -> none", "none -> s2"]
    findings = {f.rule_id: f for f in check_observations([s1, None], s2, seconds=5)}
    assert "2 leader change(s) in 5s" in findings["CH018"].message
    assert "CH018" not in {f.rule_id for f in check_observations([s1, s1], s1)}
