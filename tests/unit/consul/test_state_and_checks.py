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
        cluster(leader="nobody", dead=("s2", "s3"), stale_read=True),
    ):
        fired |= set(rules_of(state))
    # CH009 (disagreement), CH014 (not in raft), CH016 (partial read), CH017 (peers), CH018/CH020 (leader
    # changes over observations): below.
    assert set(RULES) - fired == {"CH009", "CH014", "CH016", "CH017", "CH018", "CH020"}, fired
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
    # one election is one change, however many leaderless observations lie between
    assert leader_changes([s1, s1, None, cluster(leader="nobody", stale_read=True), s2]) == ["s1 -> s2"]
    # a watch that starts during an election sees one; an unreadable start is no election
    leaderless = cluster(leader="nobody", stale_read=True)
    assert leader_changes([leaderless, leaderless, s2, s2]) == ["none -> s2"]
    assert leader_changes([None, s2, s2]) == []
    findings = {f.rule_id: f for f in check_observations([s1, None], s2, seconds=5)}
    assert "1 leader change(s) in 5s" in findings["CH018"].message
    assert findings["CH018"].severity.value == "warning"
    assert "CH018" not in {f.rule_id for f in check_observations([s1, s1], s1)}


def test_a_new_term_is_counted_once_whatever_the_term_source_shows() -> None:
    from dataclasses import replace

    from clusterops.consul.checks import leader_changes

    # autopilot's last log term of the new leader catches up one poll later: still one change
    s2_old_term = cluster(leader="s2")
    s2_new_term = replace(s2_old_term, health=tuple(replace(h, last_term=3) for h in s2_old_term.health))
    assert leader_changes([cluster(leader="s1"), s2_old_term, s2_new_term]) == ["s1 -> s2"]
    # the same leader elected again: the agent's own raft term rose
    assert leader_changes([cluster(raft_term=4), cluster(raft_term=5)]) == ["s1 re-elected (term 5)"]
    # an agent that lags reports an older term for a moment: not two more elections
    assert leader_changes([cluster(raft_term=5), cluster(raft_term=4), cluster(raft_term=5)]) == []


def test_a_flapping_leader_is_an_error_above_the_rate() -> None:
    from clusterops.consul.checks import check_observations

    s1, s2, s3 = cluster(leader="s1"), cluster(leader="s2"), cluster(leader="s3")
    flapping = {f.rule_id: f for f in check_observations([s1, s2, s3], s1, seconds=30)}
    assert "CH020" in flapping and "CH018" not in flapping
    assert flapping["CH020"].severity.value == "error"
    assert "3 leader change(s) in 30s" in flapping["CH020"].message
    # one election in a short window is not flapping; two in ten minutes neither
    assert "CH020" not in {f.rule_id for f in check_observations([s1], s2, seconds=8)}
    # a leader restart: one election, and the restarted server may force one more
    assert "CH018" in {f.rule_id for f in check_observations([s1, s2], s2, seconds=8)}
    assert "CH018" in {f.rule_id for f in check_observations([s1, s2], s1, seconds=8)}
    assert "CH018" in {f.rule_id for f in check_observations([s1, s2], s1, seconds=600)}


def test_gate_counts_leader_changes_once_per_term() -> None:
    from dataclasses import replace

    judge = GateJudge(GateSpec())
    s2 = cluster(leader="s2")
    s2_later = replace(s2, health=tuple(replace(h, last_term=3) for h in s2.health))
    for state in (cluster(leader="s1"), cluster(leader="nobody", stale_read=True), s2, s2_later, s2_later):
        judge(state)
    assert judge.leader_changes == 1 and judge.history == ["s2"]


# -- no leader: the outage and its recovery ------------------------------------------------------


def test_quorum_lost_names_alive_and_dead_voters_and_offers_peers_json() -> None:
    import json

    from clusterops.consul.checks import outage_document, recovery_peers

    state = cluster(leader="nobody", dead=("s2", "s3"), stale_read=True)
    assert state.quorum_lost
    findings = {f.rule_id: f for f in check_cluster(state)}
    lost = findings["CH019"]
    assert "1 of 3 voters alive (s1)" in lost.message and "dead: s2 (failed), s3 (failed)" in lost.message
    assert "read with ?stale from" in lost.message
    peers = [{"id": "id-s1", "address": "10.0.0.1:8300", "non_voter": False}]
    assert recovery_peers(state) == peers
    assert json.dumps(peers, separators=(",", ":")) in lost.remedy
    assert "stop Consul on every surviving server (s1)" in lost.remedy and "raft/peers.json" in lost.remedy
    # no per-peer force-leave / remove-peer remedies while nothing can be committed
    assert not {"CH002", "CH003", "CH006"} & set(findings)
    assert all("force-leave" not in f.remedy and "remove-peer" not in f.remedy for f in findings.values())
    assert "CH016" not in findings  # autopilot is a leader's; its absence is the outage, not a partial read
    doc = outage_document(state)
    assert doc is not None and doc["alive_voters"] == ["s1"] and doc["dead_voters"] == ["s2", "s3"]
    assert doc["peers_json"] == peers
    assert outage_document(cluster()) is None


def test_three_of_five_gone_keeps_the_two_survivors() -> None:
    from clusterops.consul.checks import recovery_peers

    five = [(f"s{i}", f"10.0.0.{i}") for i in range(1, 6)]
    state = cluster(five, leader="nobody", dead=("s1", "s3", "s5"), stale_read=True)
    assert rules_of(state)[0] == "CH019"
    assert [p["address"] for p in recovery_peers(state)] == ["10.0.0.2:8300", "10.0.0.4:8300"]  # type: ignore[index]


def test_raft_protocol_2_gets_the_address_list_format() -> None:
    from clusterops.consul.checks import recovery_peers

    state = cluster(leader="nobody", dead=("s3",), stale_read=True, raft_vsn="2")
    assert recovery_peers(state) == ["10.0.0.1:8300", "10.0.0.2:8300"]


def test_no_leader_with_a_quorum_alive_is_an_election_not_an_outage() -> None:
    state = cluster(leader="nobody", stale_read=True)
    assert not state.quorum_lost
    findings = {f.rule_id: f for f in check_cluster(state)}
    assert "CH001" in findings and "CH019" not in findings
    assert "3 of 3 voters alive" in findings["CH001"].message
    verdict = GateJudge(GateSpec())(state)
    assert not verdict.ok and verdict.reason == "no leader (3 of 3 voters alive)"
    lost = GateJudge(GateSpec())(cluster(leader="nobody", dead=("s2", "s3"), stale_read=True))
    assert "quorum lost" in lost.reason


def test_status_without_a_leader_has_failure_tolerance_0_and_the_outage() -> None:
    from clusterops.consul.status import status_document

    doc = status_document(cluster(leader="nobody", dead=("s3",), stale_read=True))
    assert doc["summary"]["failure_tolerance"] == 0 and doc["summary"]["healthy"] is False
    assert doc["stale_read"] is True and doc["outage"]["quorum_lost"] is False
    assert doc["outage"]["peers_json"] is None  # an election, not a lost quorum: no recovery file


# -- members filtered by ACLs --------------------------------------------------------------------


def test_members_hidden_by_acls_are_detected() -> None:
    assert cluster().filtered_reason() == ""
    empty = cluster(hide_members=("s1", "s2", "s3"))
    assert "filtered by ACLs: it shows 0 of the 3 raft servers" in empty.filtered_reason()
    partial = cluster(hide_members=("s3",))
    assert "lacks raft servers s3" in partial.filtered_reason()
    header = cluster(members_filtered=True)
    assert "filtered by ACLs" in header.filtered_reason()
    # a stale raft peer Consul no longer knows is not a filter
    unknown = cluster(extra_raft=[{"ID": "x", "Node": "(unknown)", "Address": "10.0.0.9:8300"}])
    assert unknown.filtered_reason() == ""


# -- reading: the shell's choices, over a stand-in for the adapter -------------------------------


class FakeConsul:
    """Answers like a Consul agent's endpoints; records which were called and how."""

    address = "http://10.0.0.1:8500"

    def __init__(self, *, leader: str, raft_no_leader: bool = False, members: list[Any] | None = None,
                 filtered: bool = False, members_later: list[Any] | None = None,
                 token: str | None = "t") -> None:  # fmt: skip
        from clusterops.settings import ConsulSettings

        self.settings = ConsulSettings(address=self.address, token=token)
        base = cluster()
        self._leader = leader
        self._raft_no_leader = raft_no_leader
        led = bool(leader) and not raft_no_leader  # a stale read mid-election names no leader
        servers = [{"ID": p.id, "Node": p.node, "Address": p.address, "Leader": p.leader and led,
                    "Voter": p.voter} for p in base.raft]  # fmt: skip
        self._raft = {"Servers": servers}
        self._members = members if members is not None else [
            {"Name": m.name, "Addr": m.addr, "Port": 8301, "Status": 1, "Tags": {"role": "consul"}}
            for m in base.members
        ]  # fmt: skip
        self._members_later = members_later
        self._filtered = filtered
        self.calls: list[str] = []

    def leader(self) -> str:
        self.calls.append("leader")
        return self._leader

    def peers(self) -> list[str]:
        return [p["Address"] for p in self._raft["Servers"]]

    def raft_configuration(self, *, stale: bool = False) -> dict[str, Any]:
        from clusterops.consul.client import NoLeader

        self.calls.append("raft?stale" if stale else "raft")
        if not stale and self._raft_no_leader:
            raise NoLeader("Consul at a: operator/raft/configuration: 500 rpc error getting client")
        return self._raft

    def members_read(self) -> Any:
        from clusterops.consul.client import MembersRead

        self.calls.append("members")
        if self._members_later is not None and self.calls.count("members") > 1:
            return MembersRead(self._members_later, False)
        return MembersRead(self._members, self._filtered)

    def agent_self(self) -> dict[str, Any]:
        from clusterops.errors import AuthError

        raise AuthError("refused agent/self: permission denied (needs agent:read)")

    def autopilot_health(self) -> dict[str, Any]:
        self.calls.append("autopilot")
        return {"Healthy": True, "FailureTolerance": 1, "Servers": []}

    def autopilot_configuration(self) -> dict[str, Any]:
        return {}

    def autopilot_state(self) -> None:
        return None


def test_no_leader_reads_the_raft_configuration_stale_and_skips_autopilot() -> None:
    from clusterops.consul.state import read_cluster_state

    fake = FakeConsul(leader="")
    state = read_cluster_state(fake)  # type: ignore[arg-type]
    assert state.stale_read and state.leader is None and len(state.voters) == 3
    assert "raft?stale" in fake.calls and "raft" not in fake.calls and "autopilot" not in fake.calls
    assert "agent/self (raft term)" in state.unavailable  # optional: agent:read is not required
    assert "CH016" not in rules_of(state)


def test_a_leader_lost_between_two_reads_falls_back_to_the_stale_configuration() -> None:
    from clusterops.consul.state import read_cluster_state

    fake = FakeConsul(leader="10.0.0.1:8300", raft_no_leader=True)
    state = read_cluster_state(fake)  # type: ignore[arg-type]
    assert state.stale_read and state.leader is None
    assert fake.calls.count("raft") == 1 and fake.calls.count("raft?stale") == 1


def test_members_filtered_by_acls_are_refused_naming_node_read() -> None:
    from clusterops.consul.state import read_cluster_state
    from clusterops.errors import AuthError

    with pytest.raises(AuthError, match="node:read") as err:
        read_cluster_state(FakeConsul(leader="10.0.0.1:8300", members=[], filtered=True))  # type: ignore[arg-type]
    assert "0 of the 3 raft servers" in str(err.value)
    # anonymous tokens get no header: an empty list while raft names servers is enough
    with pytest.raises(AuthError, match="node:read"):
        read_cluster_state(FakeConsul(leader="", members=[]))  # type: ignore[arg-type]


def test_a_partial_list_without_the_header_is_read_again_before_judging() -> None:
    from clusterops.consul.state import read_cluster_state
    from clusterops.errors import AuthError

    full = FakeConsul(leader="10.0.0.1:8300")._members
    # anonymous (no header is ever sent): read again, and judge only a complete list
    fake = FakeConsul(leader="10.0.0.1:8300", members=full[:2], members_later=full, token=None)
    state = read_cluster_state(fake)  # type: ignore[arg-type]
    assert {m.name for m in state.members} == {"s1", "s2", "s3"}
    assert fake.calls.count("members") == 2
    with pytest.raises(AuthError, match="lacks raft servers s3"):
        read_cluster_state(FakeConsul(leader="10.0.0.1:8300", members=full[:2], token=None))  # type: ignore[arg-type]
    # with a token Consul would have said "filtered": a member gossip has not brought yet is judged
    fake = FakeConsul(leader="10.0.0.1:8300", members=full[:2])
    assert read_cluster_state(fake).member("s3") is None  # type: ignore[arg-type]


def test_a_check_waits_briefly_for_an_election_but_not_for_a_lost_quorum() -> None:
    from clusterops.consul import state as state_mod

    now = [0.0]
    reads: list[ClusterState] = [cluster(leader="nobody", stale_read=True)] * 3 + [cluster()]
    it = iter(reads)
    orig = state_mod.read_cluster_state
    state_mod.read_cluster_state = lambda _c: next(it)  # type: ignore[assignment]
    try:
        settled = state_mod.read_settled_state(
            None,  # type: ignore[arg-type]
            grace=6, interval=0.5, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s),
        )  # fmt: skip
        assert settled.leader is not None and now[0] == 1.5
        lost = iter([cluster(leader="nobody", dead=("s2", "s3"), stale_read=True), cluster()])
        state_mod.read_cluster_state = lambda _c: next(lost)  # type: ignore[assignment]
        now[0] = 0.0
        assert state_mod.read_settled_state(None, clock=lambda: now[0]).quorum_lost  # type: ignore[arg-type]
        assert now[0] == 0.0
    finally:
        state_mod.read_cluster_state = orig  # type: ignore[assignment]


def test_survivors_not_voting_or_not_in_the_stale_configuration_are_kept() -> None:
    from dataclasses import replace

    from clusterops.consul.checks import recovery_peers
    from clusterops.consul.state import Member

    # seen on the lab: a server autopilot had pruned rejoined as a non-voter, then both voters died
    only_non_voter = cluster(leader="nobody", non_voters=("s1",), dead=("s2", "s3"), stale_read=True)
    assert recovery_peers(only_non_voter) == [{"id": "id-s1", "address": "10.0.0.1:8300", "non_voter": False}]
    # a non-voter next to a surviving voter stays a non-voter (autopilot promotes it later)
    mixed = cluster(leader="nobody", non_voters=("s2",), dead=("s3",), stale_read=True)
    assert {str(p["id"]): p["non_voter"] for p in recovery_peers(mixed)} == {"id-s1": False, "id-s2": True}  # type: ignore[index]
    # an alive server this configuration lacks is found by its serf tags
    lost = cluster(leader="nobody", dead=("s2", "s3"), stale_read=True)
    s9 = Member("s9", "10.0.0.9", 8301, "alive", True, "1.13.9", 3, node_id="id-s9", raft_port=8300)
    peers = recovery_peers(replace(lost, members=(*lost.members, s9)))
    assert {"id": "id-s9", "address": "10.0.0.9:8300", "non_voter": False} in peers
    finding = next(f for f in check_cluster(replace(lost, members=(*lost.members, s9))) if f.rule_id == "CH019")
    assert "other alive servers (not voters): s9" in finding.message and "(s1, s9)" in finding.remedy
