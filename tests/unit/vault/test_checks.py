"""The Vault raft rules: a pass and a fail case for each, over states shaped like OpenBao's answers."""

from __future__ import annotations

from clusterops.findings import Severity
from clusterops.vault.checks import RULES, check_cluster, dead_voters
from clusterops.vault.gate import GateSpec, judge
from clusterops.vault.state import NodeHealth, VaultClusterState
from tests.unit.vault.factories import cluster


def ids(state: VaultClusterState, **kw: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in check_cluster(state, **kw):
        out.setdefault(f.rule_id, []).append(f.subject)
    return out


def test_a_healthy_cluster_has_no_findings_and_passes_the_gate() -> None:
    state = cluster()
    assert ids(state) == {}
    assert state.failure_tolerance == 1 and state.quorum == 2
    assert judge(state, GateSpec(expect_voters=3, expect_version="2.7.2")).ok
    five = cluster(("v1", "v2", "v3", "v4", "v5"))
    assert ids(five, min_failure_tolerance=2) == {} and five.failure_tolerance == 2


def test_no_active_node() -> None:
    state = cluster(active="nobody")
    assert "VH001" in ids(state)
    assert judge(state, GateSpec()).reason == "no active node"


def test_sealed_and_uninitialised_nodes() -> None:
    found = ids(cluster(sealed=("v2",), uninitialized=("v3",)))
    assert found["VH002"] == ["v2"] and found["VH003"] == ["v3"]
    assert "VH012" not in found  # a sealed node is reported once, as sealed
    assert judge(cluster(sealed=("v2",)), GateSpec()).reason == "v2 is sealed"


def test_the_incident_a_replaced_node_stays_a_voter() -> None:
    # v3 replaced by v4 on a new address: raft lists v1 v2 v3 v4, only v3 is dead and backed by no node
    state = cluster(("v1", "v2", "v4"), gone=("v3",))
    found = ids(state)
    assert found["VH004"] == ["v3"]
    assert found["VH005"] == ["cluster"]  # 4 voters, 3 healthy, quorum 3: tolerance 0
    assert found["VH006"] == ["cluster"]
    assert found["VH007"] == ["cluster"]  # OpenBao's default: cleanup_dead_servers=false
    assert state.failure_tolerance == 0
    finding = next(f for f in check_cluster(state) if f.rule_id == "VH004")
    assert "bao operator raft remove-peer v3" in finding.remedy
    assert not judge(state, GateSpec()).ok


def test_a_dead_voter_whose_node_does_not_answer() -> None:
    state = cluster(down=("v3",))
    found = ids(state)
    assert found["VH004"] == ["v3"]
    assert "VH013" not in found  # reported once, as the dead voter
    assert [d.server.node_id for d in dead_voters(state)] == ["v3"]


def test_a_healthy_peer_is_never_dead_even_if_no_node_backs_it() -> None:
    # v3 answers raft (autopilot calls it healthy) but is missing from the inventory: not dead
    state = cluster()
    state = VaultClusterState(**{**state.__dict__, "nodes": state.nodes[:2]})
    assert dead_voters(state) == []
    assert "VH004" not in ids(state)


def test_cleanup_on_means_no_cleanup_finding() -> None:
    config = {"cleanup_dead_servers": True, "min_quorum": 3, "dead_server_last_contact_threshold": "10m"}
    assert "VH007" not in ids(cluster(down=("v3",), autopilot_config=config))


def test_failure_tolerance_minimum_is_a_parameter() -> None:
    assert "VH005" not in ids(cluster())
    assert ids(cluster(), min_failure_tolerance=2)["VH005"] == ["cluster"]


def test_even_and_few_voters() -> None:
    assert "VH006" in ids(cluster(("v1", "v2", "v3", "v4")))
    assert "VH015" in ids(cluster(("v1",)))
    assert "VH006" not in ids(cluster())


def test_version_skew_and_a_standby_older_than_the_active() -> None:
    upgrading = ids(cluster(versions={"v2": "2.7.2", "v3": "2.7.2", "v1": "2.6.2"}))
    assert upgrading == {"VH008": ["cluster"]}  # standbys newer than the active node: the safe order
    wrong = ids(cluster(versions={"v1": "2.7.2", "v2": "2.6.2", "v3": "2.7.2"}))
    assert wrong["VH009"] == ["v2"] and "VH008" in wrong
    assert RULES["VH009"].severity is Severity.ERROR
    # versions compare as numbers, not strings
    assert "VH009" not in ids(cluster(versions={"v1": "2.9.0", "v2": "2.10.0", "v3": "2.10.0"}))
    assert judge(cluster(versions={"v2": "2.6.2"}), GateSpec(expect_version="2.7.2")).reason == (
        "v2 runs 2.6.2, want 2.7.2"
    )


def test_non_voters_and_unhealthy_nodes() -> None:
    assert ids(cluster(non_voters=("v3",)))["VH010"] == ["v3"]
    assert judge(cluster(non_voters=("v3",)), GateSpec()).reason == "v3 is not a voter yet"
    found = ids(cluster(unhealthy=("v2",)))
    assert found["VH012"] == ["v2"] and found["VH011"] == ["cluster"]


def test_unreachable_node_and_node_outside_raft() -> None:
    state = cluster()
    extra = NodeHealth("v9", "https://10.0.0.9:8200", reachable=False, error="https://10.0.0.9:8200 is not answering")
    lonely = NodeHealth("v8", "https://10.0.0.8:8200", reachable=True, code=429, initialized=True, sealed=False)
    state = VaultClusterState(**{**state.__dict__, "nodes": (*state.nodes, extra, lonely)})
    found = ids(state)
    assert found["VH013"] == ["v9"] and found["VH014"] == ["v8"]


def test_unreadable_raft_state() -> None:
    state = cluster(errors=("raft: permission denied",))
    assert ids(state)["VH016"] == ["cluster"]
    assert judge(state, GateSpec()).reason.startswith("raft state unreadable")


def test_every_rule_fires_somewhere_here_and_ids_are_stable() -> None:
    fired: set[str] = set()
    for state in (
        cluster(active="nobody"),
        cluster(sealed=("v2",), uninitialized=("v3",)),
        cluster(("v1", "v2", "v4"), gone=("v3",)),
        cluster(versions={"v1": "2.7.2", "v2": "2.6.2"}),
        cluster(non_voters=("v3",), unhealthy=("v2",)),
        cluster(("v1",)),
        cluster(errors=("x",)),
    ):
        fired |= set(ids(state))
    unreachable = cluster()
    unreachable = VaultClusterState(
        **{
            **unreachable.__dict__,
            "nodes": (
                *unreachable.nodes,
                NodeHealth("v9", "https://10.0.0.9:8200", reachable=False),
                NodeHealth("v8", "https://10.0.0.8:8200", reachable=True, code=429, initialized=True, sealed=False),
            ),
        }
    )
    fired |= set(ids(unreachable))
    assert fired == set(RULES)
    assert sorted(RULES) == [f"VH{i:03d}" for i in range(1, 17)]
    assert all(rule.remedy for rule in RULES.values())
