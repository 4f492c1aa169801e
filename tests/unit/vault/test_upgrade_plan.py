"""`plan_vault_upgrade` (pure): order, quorum views and every pre-flight refusal."""

from __future__ import annotations

from clusterops.vault.upgrade import plan_vault_upgrade
from tests.unit.vault.factories import cluster

OLD = {"v1": "2.6.2", "v2": "2.6.2", "v3": "2.6.2"}


def rules(plan: object) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in plan.refusals:  # type: ignore[attr-defined]
        out.setdefault(f.rule_id, []).append(f.subject)
    return out


def test_standbys_first_the_active_node_last_with_quorum_views() -> None:
    plan = plan_vault_upgrade(cluster(active="v2", versions=OLD), ["v1", "v2", "v3"], "2.7.2")
    assert plan.ok and plan.leader == "v2" and plan.baseline_failure_tolerance == 1
    assert [(s.server, s.role, s.action) for s in plan.steps] == [
        ("v1", "standby", "upgrade"), ("v3", "standby", "upgrade"), ("v2", "active", "upgrade"),
    ]  # fmt: skip
    step = plan.steps[0]
    assert (step.before.quorum, step.during.servers_up, step.during.failure_tolerance) == (2, 2, 1)


def test_nodes_on_the_target_are_skipped() -> None:
    plan = plan_vault_upgrade(cluster(versions={**OLD, "v2": "2.7.2"}), ["v1", "v2", "v3"], "2.7.2")
    assert plan.ok and [s.action for s in plan.steps] == ["skip", "upgrade", "upgrade"]


def test_refusals_no_active_sealed_dead_voter_low_ft_downgrade_jump_and_mismatch() -> None:
    names = ["v1", "v2", "v3"]
    assert "VU001" in rules(plan_vault_upgrade(cluster(active="nobody", versions=OLD), names, "2.7.2"))
    assert rules(plan_vault_upgrade(cluster(sealed=("v3",), versions=OLD), names, "2.7.2"))["VU002"] == ["v3"]
    dead = plan_vault_upgrade(cluster(down=("v3",), unhealthy=("v3",), versions=OLD), names, "2.7.2")
    assert rules(dead)["VU003"] == ["v3"]
    assert all("remove-stale-peers" in f.remedy for f in dead.refusals if f.rule_id == "VU003")
    assert "VU004" in rules(plan_vault_upgrade(cluster(("v1",), versions=OLD), ["v1"], "2.7.2"))
    assert rules(plan_vault_upgrade(cluster(versions=OLD), names, "2.5.0"))["VU005"] == ["v2", "v3", "v1"]
    assert "VU006" in rules(plan_vault_upgrade(cluster(versions=OLD), names, "2.9.0"))
    assert "VU006" in rules(plan_vault_upgrade(cluster(versions=OLD), names, "3.0.0"))
    assert "VU007" in rules(plan_vault_upgrade(cluster(versions=OLD), names, "latest"))
    assert rules(plan_vault_upgrade(cluster(versions=OLD), ["v1", "v2"], "2.7.2"))["VU008"] == ["inventory"]
