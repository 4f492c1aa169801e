"""The pure verdicts of the Vault upgrade adapter: node back, cluster ok, order and pre-flight."""

from __future__ import annotations

from clusterops.vault.upgrade_adapter import cluster_ok, failed_others, node_back, node_gate, order, preflight
from tests.unit.vault.factories import cluster


def test_node_back_needs_unsealed_target_version_voter_and_healthy() -> None:
    upgraded = {"v2": "2.7.2", "v1": "2.6.2", "v3": "2.6.2"}
    assert node_back(cluster(versions=upgraded), "v2", "2.7.2").ok
    assert node_back(cluster(versions=upgraded), "v3", "2.7.2").reason == "v3 reports version 2.6.2, not 2.7.2"
    sealed = node_back(cluster(sealed=("v2",)), "v2", "2.7.2").reason
    assert sealed.startswith("v2 is sealed: unseal it") and "unseal_key_file" in sealed
    assert node_back(cluster(down=("v2",)), "v2", "2.7.2").reason == "v2 does not answer yet"
    assert "non-voter" in node_back(cluster(non_voters=("v2",)), "v2", "2.7.2").reason
    assert "not healthy by autopilot" in node_back(cluster(unhealthy=("v2",)), "v2", "2.7.2").reason


def test_cluster_ok_and_the_node_gate() -> None:
    assert cluster_ok(cluster(), 1).ok
    assert cluster_ok(cluster(active="nobody"), 1).reason == "no active node"
    assert cluster_ok(cluster(sealed=("v3",)), 1).reason == "sealed or uninitialised: v3"
    assert cluster_ok(cluster(("v1", "v2", "v4"), gone=("v3",)), 0).reason.startswith("dead raft peers: v3")
    assert cluster_ok(cluster(("v1",)), 1).reason == "failure tolerance 0 is below its pre-upgrade 1"
    assert not node_gate(cluster(unhealthy=("v3",)), "v2", "2.7.2", 1).ok  # v2 fine, the cluster not


def test_order_standbys_first_active_last_and_failed_others() -> None:
    assert order(cluster(active="v2"), ["v1", "v2", "v3"]) == [("v1", "standby"), ("v3", "standby"), ("v2", "active")]
    assert failed_others(cluster(sealed=("v3",), down=("v2",)), "v2") == ["v3"]


def test_preflight_refuses_dead_voters_sealed_nodes_and_downgrades() -> None:
    assert preflight(cluster(), "2.7.2") == []
    assert any("remove-stale-peers" in r for r in preflight(cluster(("v1", "v2", "v4"), gone=("v3",)), "2.7.2"))
    assert any("v2" in r for r in preflight(cluster(sealed=("v2",)), "2.7.2"))
    assert any("downgrade" in r for r in preflight(cluster(), "2.6.2"))
    assert any("not a version" in r for r in preflight(cluster(), "latest"))
