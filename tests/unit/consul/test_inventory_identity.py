"""The inventory is strictly typed, and each address must answer as the server it names."""

from __future__ import annotations

import pytest

from clusterops.consul.autopilot_facts import facts_from_api
from clusterops.consul.identity import AgentIdentity, identity_findings, identity_from_api
from clusterops.consul.inventory import inventory_from_text
from clusterops.consul.upgrade.plan import IDENTITY, plan_upgrade
from clusterops.errors import ConfigError
from tests.unit.consul.factories import cluster
from tests.unit.consul.test_upgrade_plan import lab_inventory_text

BASE = "servers:\n  - {name: s1, address: 'http://10.0.0.1:8500', driver: {type: lab, lab_dir: /tmp/x}}\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('consul:\n  tls_skip_verify: "false"\n' + BASE,
         "inv.yaml:2: consul.tls_skip_verify: must be true or false (not quoted), not str 'false'"),
        ("consul:\n  ca_cert: /etc/ca.pem\n" + BASE, "inv.yaml:2: consul.ca_cert: unknown key"),
        ("consul:\n  ca_cert: /etc/ca.pem\n" + BASE, "did you mean 'ca_file'?"),
        ("servers:\n  - name: s1\n    address: 'a:1'\n    drivr: lab\n", "inv.yaml:4: servers[0].drivr: unknown key"),
        ("servers:\n  - {name: a, address: 'a:1', driver: {type: exec, commands: {stop: 'x {nod}', start: y}}}\n",
         "inv.yaml:2: servers[0].driver.commands.stop: unknown placeholder {nod}"),
        ("servers:\n  - {name: a, address: 'a:1', driver: {type: exec, commands: {stop: 'x {', start: y}}}\n",
         "not a valid command template"),
        ("servers:\n  - {name: a, address: 'a:1', driver: {type: ssh, port: '22', commands: {stop: x, start: y}}}\n",
         "servers[0].driver.port: must be a number"),
        ("servers:\n  - {name: a, address: 'a:1', driver: {type: ssh, usr: ops, commands: {stop: x, start: y}}}\n",
         "servers[0].driver.usr: unknown key"),
        ("datacenter: 1\n" + BASE, "datacenter: must be a string"),
    ],
)  # fmt: skip
def test_a_mistyped_inventory_is_an_error_with_the_line(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        inventory_from_text(text, "inv.yaml")
    assert where in str(err.value)


def test_a_well_typed_inventory_still_loads() -> None:
    inv = inventory_from_text("datacenter: dc1\nconsul:\n  tls_skip_verify: true\n  ca_file: /ca.pem\n" + BASE)
    assert inv.consul["tls_skip_verify"] is True and inv.datacenter == "dc1"


# /v1/agent/self answers with a "Config" block carrying Datacenter, NodeName and NodeID (observed on
# the lab's Consul 1.13.9 and 1.14.11, see tests/integration/test_upgrade_lock_identity.py).
def agent_self(name: str, node_id: str, dc: str = "dc1") -> dict[str, object]:
    return {"Config": {"Datacenter": dc, "NodeName": name, "NodeID": node_id, "Server": True}}


def raft(ids: dict[str, str]) -> dict[str, object]:
    return {
        "Servers": [{"ID": i, "Node": n, "Address": "x:8300", "Leader": False, "Voter": True} for n, i in ids.items()]
    }


THIS = {"s1": "id-s1", "s2": "id-s2", "s3": "id-s3"}
INV = inventory_from_text(lab_inventory_text(["s1", "s2", "s3"]))


def identities(answers: dict[str, tuple[str, str, dict[str, str]]]) -> list[AgentIdentity]:
    return [
        identity_from_api(name, f"http://10.0.0.{i}:8500", agent_self(node, nid), raft(ids))
        for i, (name, (node, nid, ids)) in enumerate(answers.items(), 1)
    ]


def test_addresses_that_answer_as_their_servers_pass() -> None:
    ids = identities({n: (n, THIS[n], THIS) for n in THIS})
    assert identity_findings(INV, ids, cluster(), IDENTITY) == []


def test_two_swapped_addresses_are_refused_naming_both() -> None:
    ids = identities({"s1": ("s2", "id-s2", THIS), "s2": ("s1", "id-s1", THIS), "s3": ("s3", "id-s3", THIS)})
    findings = identity_findings(INV, ids, cluster(), IDENTITY)
    assert [f.subject for f in findings] == ["s1", "s2"]
    assert "answers as node 's2', not 's1'" in findings[0].message
    plan = plan_upgrade(cluster(), INV, "1.14.11", preflight=findings)
    assert not plan.ok and {f.rule_id for f in plan.refusals} == {"UP009"}


def test_an_address_of_another_cluster_with_the_same_node_names_is_refused() -> None:
    other = {"s1": "other-1", "s2": "other-2", "s3": "other-3"}
    ids = identities({"s1": ("s1", "id-s1", THIS), "s2": ("s2", "other-2", other), "s3": ("s3", "id-s3", THIS)})
    findings = identity_findings(INV, ids, cluster(), IDENTITY)
    assert [f.subject for f in findings] == ["s2"]
    assert "belongs to another cluster" in findings[0].message and "other-2" in findings[0].message


def test_the_wrong_address_is_found_even_when_the_snapshot_was_read_through_it() -> None:
    other = {"s1": "other-1", "s2": "other-2", "s3": "other-3"}
    ids = identities({"s1": ("s1", "other-1", other), "s2": ("s2", "id-s2", THIS), "s3": ("s3", "id-s3", THIS)})
    snapshot_of_the_other_cluster = cluster(extra_raft=None)  # raft IDs are id-s* here; the majority decides
    findings = identity_findings(INV, ids, snapshot_of_the_other_cluster, IDENTITY)
    assert [f.subject for f in findings] == ["s1"]


def test_a_wrong_datacenter_and_a_silent_address_are_refused() -> None:
    ids = identities({n: (n, THIS[n], THIS) for n in THIS})
    ids[2] = AgentIdentity("s3", "http://10.0.0.3:8500", error="cannot connect")
    inv = inventory_from_text("datacenter: dc2\n" + lab_inventory_text(["s1", "s2", "s3"]))
    findings = identity_findings(inv, ids, cluster(), IDENTITY)
    assert [f.subject for f in findings] == ["s1", "s2", "s3"]
    assert "datacenter 'dc1', not 'dc2'" in findings[0].message
    assert "cannot be asked who it is" in findings[2].message


# -- Enterprise autopilot, from recorded API shapes ----------------------------------------------
# Field names and enum values: hashicorp/consul api/operator_autopilot.go (commit 402148293b05):
# AutopilotConfiguration.DisableUpgradeMigration; AutopilotState{Servers map[id]AutopilotServer,
# ReadReplicas, RedundancyZones, Upgrade *AutopilotUpgrade}; AutopilotServer{ID, Name, Version,
# ReadReplica, Status, NodeType}; AutopilotServerType voter | read-replica | zone-voter |
# zone-extra-voter | zone-standby; AutopilotUpgradeStatus idle | ... | disabled. The sample config is
# the one on developer.hashicorp.com/consul/api-docs/operator/autopilot ("Read Configuration").
ENT_CONFIG = {
    "CleanupDeadServers": True, "LastContactThreshold": "200ms", "MaxTrailingLogs": 250,
    "ServerStabilizationTime": "10s", "RedundancyZoneTag": "", "DisableUpgradeMigration": False,
    "UpgradeVersionTag": "", "CreateIndex": 4, "ModifyIndex": 4,
}  # fmt: skip


def ap_server(
    name: str, node_type: str, *, version: str = "1.13.9+ent", read_replica: bool = False
) -> dict[str, object]:
    return {
        "ID": f"id-{name}", "Name": name, "Address": "10.0.0.1:8300", "NodeStatus": "alive", "Version": version,
        "LastContact": "0s", "LastTerm": 2, "LastIndex": 100, "Healthy": True, "StableSince": "2026-11-26T11:55:00Z",
        "ReadReplica": read_replica, "Status": "non-voter" if node_type != "voter" else "voter", "Meta": {},
        "NodeType": node_type,
    }  # fmt: skip


def ent_state(extra: dict[str, dict[str, object]] | None = None, upgrade: str = "idle") -> dict[str, object]:
    servers = {f"id-{n}": ap_server(n, "voter") for n in ("s1", "s2", "s3")} | (extra or {})
    return {
        "Healthy": True, "FailureTolerance": 1, "OptimisticFailureTolerance": 1, "Servers": servers,
        "Leader": "id-s1", "Voters": ["id-s1", "id-s2", "id-s3"],
        "ReadReplicas": [k for k, v in servers.items() if v["ReadReplica"]], "Upgrade": {"Status": upgrade},
    }  # fmt: skip


def test_enterprise_with_upgrade_migration_on_is_refused_with_the_remedy() -> None:
    facts = facts_from_api(ENT_CONFIG, ent_state())
    assert facts.enterprise and facts.disable_upgrade_migration is False
    plan = plan_upgrade(cluster(), INV, "1.14.11", autopilot=facts)
    refusal = next(f for f in plan.refusals if f.rule_id == "UP010")
    assert "disable-upgrade-migration=true" in refusal.remedy
    off = facts_from_api(ENT_CONFIG | {"DisableUpgradeMigration": True}, ent_state(upgrade="disabled"))
    assert plan_upgrade(cluster(), INV, "1.14.11", autopilot=off).ok


def test_open_source_reports_the_field_too_and_is_not_refused() -> None:
    # the OSS 1.13/1.14 config carries DisableUpgradeMigration=false; its state has no Upgrade block
    oss_state = {k: v for k, v in ent_state().items() if k not in ("Upgrade", "ReadReplicas")}
    for s in oss_state["Servers"].values():  # type: ignore[attr-defined]
        s["Version"] = "1.13.9"
    facts = facts_from_api(ENT_CONFIG, oss_state)
    assert not facts.enterprise
    assert plan_upgrade(cluster(), INV, "1.14.11", autopilot=facts).ok


def test_non_voters_by_design_are_planned_as_what_they_are() -> None:
    nodes = [("s1", "10.0.0.1"), ("s2", "10.0.0.2"), ("s3", "10.0.0.3"), ("r1", "10.0.0.4"), ("z1", "10.0.0.5")]
    state = cluster(nodes, non_voters=("r1", "z1"))
    extra = {"id-r1": ap_server("r1", "read-replica", read_replica=True), "id-z1": ap_server("z1", "zone-standby")}
    facts = facts_from_api(ENT_CONFIG | {"DisableUpgradeMigration": True}, ent_state(extra))
    inv = inventory_from_text(lab_inventory_text(["s1", "s2", "s3", "r1", "z1"]))
    plan = plan_upgrade(state, inv, "1.14.11", autopilot=facts)
    assert plan.ok, plan.refusals
    assert [(s.server, s.role) for s in plan.steps] == [
        ("r1", "read-replica"), ("z1", "zone-standby"), ("s2", "follower"), ("s3", "follower"), ("s1", "leader")
    ]  # fmt: skip
    replica = plan.steps[0]
    assert replica.during.failure_tolerance == replica.before.failure_tolerance  # a non-voter down costs no vote
    # without the autopilot facts the same inventory is a mismatch: that is what NodeType fixes
    assert "UP005" in {f.rule_id for f in plan_upgrade(state, inv, "1.14.11").refusals}
