"""One Version type: strict for what an operator types, lenient the way Consul reports versions."""

from __future__ import annotations

import pytest

from clusterops.consul.inventory import inventory_from_text
from clusterops.consul.upgrade.execute import node_back_verdict
from clusterops.consul.upgrade.plan import plan_upgrade
from clusterops.consul.upgrade.run import journal_key
from clusterops.consul.version import Version, same_version
from clusterops.errors import UsageError
from tests.unit.consul.factories import cluster
from tests.unit.consul.test_upgrade_plan import lab_inventory_text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1.14", "names no patch release"),
        ("v1.14", "names no patch release"),
        (" 1.14.11", "whitespace"),
        ("1.14.11 ", "whitespace"),
        ("1.14.11-rc1", "pre-release"),
        ("latest", "not a version"),
        ("1.14.x", "not a version"),
        ("", "not a version"),
        ("\uff11.14.11", "not a version"),  # fullwidth 1: `\d` took it and planned 1.14.11
        ("1.\u0661\u0664.11", "not a version"),  # Arabic-Indic 14
        ("01.14.11", "not a version"),  # leading zeros: Consul never prints them, semver forbids them
        ("1.014.11", "not a version"),
        ("1.14.011", "not a version"),
        ("1.14.11\n", "whitespace"),
    ],
)
def test_a_target_is_refused_not_half_accepted(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        Version.target(text)


def test_a_prerelease_target_is_accepted_only_on_purpose() -> None:
    v = Version.target("1.22.0-rc1", allow_prerelease=True)
    assert str(v) == "1.22.0-rc1" and v < Version.target("1.22.0") and v > Version.target("1.21.9")


@pytest.mark.parametrize(
    ("reported", "canonical"),
    [
        ("1.14.11", "1.14.11"),  # autopilot Version (go-version String())
        ("v1.14.11", "1.14.11"),
        ("1.14.11+ent", "1.14.11"),  # Enterprise build metadata
        ("1.14.11:7b0b5e53", "1.14.11"),  # the serf `build` tag: version, then the git sha
        ("1.14.11+ent:7b0b5e53", "1.14.11"),
        ("1.22.0-rc1", "1.22.0-rc1"),
    ],
)
def test_versions_are_read_as_consul_reports_them(reported: str, canonical: str) -> None:
    v = Version.reported(reported)
    assert v is not None and str(v) == canonical


def test_equality_ignores_build_metadata_but_not_prerelease() -> None:
    assert same_version("1.14.11+ent", "v1.14.11") and same_version("1.14.11", Version.target("v1.14.11"))
    assert not same_version("1.14.11-rc1", "1.14.11") and not same_version("", "1.14.11")
    assert Version.reported("1.14.10") < Version.target("1.14.11")  # type: ignore[operator]
    assert Version.reported("rc1.2.3") is None
    assert Version.reported("\uff11.14.11") is None and Version.reported("01.14.11") is None
    assert Version.reported("1.0.0") == Version.target("1.0.0")  # a zero alone is not a leading zero


def test_v_prefixed_target_plans_and_gates_like_the_plain_one() -> None:
    inv = inventory_from_text(lab_inventory_text(["s1", "s2", "s3"]))
    plan = plan_upgrade(cluster(versions={"s1": "1.14.11+ent"}), inv, "v1.14.11")
    assert plan.ok and plan.target == "1.14.11"
    assert {s.server: s.action for s in plan.steps} == {"s1": "skip", "s2": "upgrade", "s3": "upgrade"}
    assert all(s.to_version == "1.14.11" for s in plan.steps)
    # the per-server gate accepts the version as Consul reports it (was a string comparison)
    assert node_back_verdict(cluster(versions={"s2": "1.14.11+ent"}), "s2", "1.14.11").ok
    assert not node_back_verdict(cluster(versions={"s2": "1.14.11-rc1"}), "s2", "1.14.11").ok
    assert journal_key(inv, "v1.14.11") == journal_key(inv, "1.14.11")


def test_a_major_jump_has_its_own_rule_and_message() -> None:
    inv = inventory_from_text(lab_inventory_text(["s1", "s2", "s3"]))
    refusals = plan_upgrade(cluster(), inv, "2.0.0").refusals
    assert {f.rule_id for f in refusals} == {"UP008"}
    assert "new major version (1.x -> 2.x)" in refusals[0].message
    assert "minor" not in refusals[0].message
    minor = plan_upgrade(cluster(), inv, "1.17.0").refusals
    assert {f.rule_id for f in minor} == {"UP006"}


def test_an_unreadable_reported_version_is_refused_by_name() -> None:
    inv = inventory_from_text(lab_inventory_text(["s1", "s2", "s3"]))
    refusals = plan_upgrade(cluster(versions={"s2": "weird"}), inv, "1.14.11").refusals
    assert [(f.rule_id, f.subject) for f in refusals] == [("UP007", "s2")]
