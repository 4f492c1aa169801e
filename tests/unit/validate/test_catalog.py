"""The rule catalog: stable, unique ids; every rule documented and covered by a failing case."""

from __future__ import annotations

import re

from clusterops.validate import catalog
from tests.unit.validate import test_consul_rules, test_vault_rules

# Rules whose failing case lives in a dedicated test rather than a CASES table.
COVERED_ELSEWHERE = {"VC015", "VC024", "VX011", "VC027", "VC029", "VV025", "VV026", "VX013", "VX014"}


def test_ids_are_unique_prefixed_and_documented() -> None:
    ids = [r.id for r in catalog.ALL_RULES]
    assert len(ids) == len(set(ids)) == len(catalog.RULES)
    for rule in catalog.ALL_RULES:
        assert re.fullmatch(r"V[CXV]\d{3}", rule.id)
        assert rule.summary and rule.remedy
    assert all(r.id.startswith("VC") for r in catalog.CONSUL_RULES)
    assert all(r.id.startswith("VX") for r in catalog.CLUSTER_RULES)
    assert all(r.id.startswith("VV") for r in catalog.VAULT_RULES)


def test_every_rule_has_a_failing_case() -> None:
    tested = set(test_consul_rules.CASES) | set(test_vault_rules.CASES) | COVERED_ELSEWHERE
    assert set(catalog.RULES) == tested
