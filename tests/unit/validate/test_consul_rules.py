"""Every Consul rule (VC, VX) has a failing case here, and the healthy cluster has no finding at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clusterops.findings import Severity
from clusterops.validate.facts import facts_from_dict
from clusterops.validate.run import validate_consul
from tests.unit.validate.conftest import (
    RunConsul,
    cluster_facts,
    consul_hcl,
    consul_server,
    host,
    rule_ids,
)

KEY = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="


def cluster(n: int = 3, *, extra: dict[int, str] | None = None, **per_node: dict[str, Any]) -> dict[str, str]:
    out = {}
    for i in range(1, n + 1):
        over = per_node.get(f"s{i}", {})
        out[f"s{i}"] = consul_hcl(consul_server(i, n, **over), (extra or {}).get(i, ""))
    return out


def test_a_healthy_cluster_has_no_finding(run_consul: RunConsul) -> None:
    report = run_consul(cluster())
    assert report.findings == ()
    assert report.exit_code() == 0
    assert report.subjects == ("s1", "s2", "s3")


ANY_BIND = {"bind_addr": "0.0.0.0"}
TEMPLATE_ALL = '{{ GetAllInterfaces | join "address" " " }}'

# rule id -> (per-node overrides, extra text per node, facts overrides, expected message fragment)
CASES: dict[str, tuple[dict[str, dict[str, Any]], dict[int, str], dict[str, Any], str]] = {
    "VC001": ({"s1": {"server": "true"}}, {}, {}, "'server' expected type 'bool', got unconvertible type 'string'"),
    "VC002": ({"s1": {"bind_adr": "10.0.0.1"}}, {}, {}, "invalid config key bind_adr (did you mean bind_addr?)"),
    "VC003": ({"s1": {"bind_addr": TEMPLATE_ALL}}, {}, {}, "bind_addr cannot contain multiple addresses"),
    "VC004": ({"s1": {"advertise_addr": "0.0.0.0"}}, {}, {}, "Advertise address cannot be 0.0.0.0, :: or [::]"),
    "VC005": (
        {"s1": ANY_BIND},
        {},
        {"s1": host("10.0.0.1/24", extra=[{"name": "docker0", "addresses": ["172.17.0.1/16"]}])},
        "Multiple private IPv4 addresses found. Please configure one with 'bind' and/or 'advertise'.",
    ),
    "VC006": ({"s1": {"bind_addr": "127.0.0.1"}}, {}, {}, "loopback address in a multi-server cluster"),
    "VC007": ({"s1": {"advertise_addr": "10.9.9.9"}}, {}, {}, "not on any interface of the host"),
    "VC008": ({"s1": {"client_addr": "0.0.0.0"}}, {}, {}, "ACLs are disabled and the client API listens on http"),
    "VC009": ({}, {1: "ports {\n  serf_lan = 8300\n}"}, {}, "already configured for RPC Advertise"),
    "VC010": ({"s1": {"bootstrap": True}}, {}, {}, "'bootstrap_expect > 0' and 'bootstrap = true' are mutually"),
    "VC011": ({"s1": {"bootstrap_expect": 2}}, {}, {}, "2 servers will provide no failure tolerance"),
    "VC012": ({"s1": {"retry_join": ["10.0.0.2:99999", "10.0.0.3"]}}, {}, {}, "port '99999'"),
    "VC013": ({"s1": {"retry_join": ["10.0.0.1"]}}, {}, {}, "retry_join names only this node"),
    "VC014": ({"s1": {"serf_lan": TEMPLATE_ALL}}, {}, {}, "serf_lan: multiple addresses found: 127.0.0.1 ::1"),
    "VC016": ({"s1": {"server": False}}, {}, {}, "'bootstrap_expect > 0' requires 'server = true'"),
    "VC017": ({"s1": {"raft_protocol": 2}}, {}, {}, "raft_protocol version 2 is not supported"),
    "VC018": ({"s1": {"datacenter": "DC 1"}}, {}, {}, "datacenter can only contain lowercase alphanumeric"),
    "VC019": ({"s1": {"encrypt": "not base64!"}}, {}, {}, "encrypt has invalid key"),
    "VC020": ({}, {1: "ports {\n  http = 70000\n}"}, {}, "ports.http: invalid port: 70000"),
    "VC021": ({"s1": {"data_dir": None}}, {}, {}, "data_dir cannot be empty"),
    "VC022": ({"s1": {"advertise_addr_ipv4": "::1"}}, {}, {}, "advertise_addr_ipv4 must be an ipv4 address"),
    "VC023": ({"s1": {"bind_addr": "{{ if true }}10.0.0.1{{ end }}"}}, {}, {}, "not supported by the offline"),
    "VC025": ({"s1": {"client_addr": ""}}, {}, {}, "client_addr is empty"),
    "VC026": (
        {"s1": {"acl_token": "x"}},
        {},
        {},
        "The 'acl_token' field is deprecated. Use the 'acl.tokens.default' field instead.",
    ),
    "VC028": ({}, {1: "auto_encrypt {\n  tls = true\n}"}, {}, "auto_encrypt.tls can only be used on a client."),
    "VX001": ({"s1": {"datacenter": "dc2"}}, {}, {}, "datacenter 'dc2' differs from 'dc1' used by s2, s3"),
    "VX002": ({"s1": {"bootstrap_expect": 5}}, {}, {}, "bootstrap_expect 5 differs from 3"),
    "VX003": ({f"s{i}": {"bootstrap_expect": 5} for i in (1, 2, 3)}, {}, {}, "bootstrap_expect = 5 but 3 servers"),
    "VX004": ({"s2": {"advertise_addr": "10.0.0.1"}}, {}, {}, "advertises 10.0.0.1:8300, like s1"),
    "VX005": ({"s2": {"node_name": "s1"}}, {}, {}, "node name 's1' is also used by"),
    "VX006": ({"s1": {"encrypt": KEY}}, {}, {}, "gossip encryption key #1 differs from none"),
    "VX007": ({}, {1: "ports {\n  serf_lan = 8401\n}"}, {}, "ports.serf_lan 8401 differs from 8301"),
    "VX008": ({"s1": {"raft_protocol": 2}}, {}, {}, "raft_protocol 2 differs from 3"),
    "VX009": (
        {"s1": {"retry_join": ["10.0.0.2"]}, "s2": {"retry_join": ["10.0.0.1"]}, "s3": {"retry_join": ["10.0.0.3"]}},
        {},
        {},
        "s3 never joins s1, s2",
    ),
    "VX010": ({}, {1: "tls {\n  defaults {\n    verify_incoming = true\n  }\n}"}, {}, "verify_incoming True differs"),
    "VX012": ({"s1": {"retry_join": ["provider=aws tag_key=role tag_value=consul"]}}, {}, {}, "provider=aws"),
    "VX015": (
        {"s1": {"bind_addr": "127.0.0.1", "retry_join": ["10.0.0.2", "10.0.0.3"]}},
        {},
        {"s1": host("127.0.0.2/8")},
        "s1 advertises the loopback address 127.0.0.1 while s2 (10.0.0.2), s3 (10.0.0.3) advertise routable",
    ),
    "VX016": (
        {"s1": {"retry_join": ["10.0.0.2", "10.0.0.33"]}},
        {},
        {},
        "retry_join 10.0.0.33: no server of the 3 given (all of them, by bootstrap_expect = 3) advertises",
    ),
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_with_its_message_file_and_line(run_consul: RunConsul, rule_id: str) -> None:
    per_node, extra, facts_over, fragment = CASES[rule_id]
    report = run_consul(cluster(extra=extra, **per_node), cluster_facts(**facts_over))
    hits = [f for f in report.findings if f.rule_id == rule_id]
    assert hits, [f.to_dict() for f in report.findings]
    assert any(fragment in f.message for f in hits), [f.message for f in hits]
    assert all(f.file for f in hits)
    expected_exit = 1 if any(f.severity is Severity.ERROR for f in report.findings) else 0
    assert report.exit_code() == expected_exit


def test_vc005_passes_with_one_private_ipv4_and_says_no_address_when_only_public(run_consul: RunConsul) -> None:
    ok = run_consul(cluster(s1=ANY_BIND))
    assert "VC005" not in rule_ids(ok)
    public = run_consul(cluster(s1=ANY_BIND), cluster_facts(s1=host("8.8.4.4/24")))
    assert [f.message for f in public.findings if f.rule_id == "VC005"] == ["No private IPv4 address found"]


def test_vc008_is_quiet_with_acls_on(run_consul: RunConsul) -> None:
    report = run_consul(cluster(s1={"client_addr": "0.0.0.0"}, extra={1: "acl {\n  enabled = true\n}"}))
    assert "VC008" not in rule_ids(report)


def test_vc015_without_facts_reports_what_was_skipped_instead_of_guessing(run_consul: RunConsul) -> None:
    report = run_consul(cluster(s1=ANY_BIND), no_facts=True)
    infos = [f for f in report.findings if f.rule_id == "VC015"]
    assert infos and all(f.severity is Severity.INFO for f in infos)
    assert "detection of the private IPv4 address" in next(f.message for f in infos if f.subject == "s1")
    assert "VC005" not in rule_ids(report) and report.exit_code() == 0


def test_vc024_skipped_file_in_a_config_dir(tmp_path: Path) -> None:
    d = tmp_path / "s1"
    d.mkdir()
    (d / "10-base.hcl").write_text(consul_hcl(consul_server(1, 1)))
    (d / "README.txt").write_text("notes")
    report = validate_consul([str(d)], facts=cluster_facts())
    assert rule_ids(report) == {"VC024", "VC011"}  # bootstrap_expect = 1 is the same as bootstrap mode


def test_vx011_even_number_of_servers(run_consul: RunConsul) -> None:
    report = run_consul(cluster(4), cluster_facts(4))
    assert {"VX011", "VC011"} <= rule_ids(report)


def test_config_dir_merges_in_name_order_lists_appended_later_scalars_win(tmp_path: Path) -> None:
    d = tmp_path / "s1"
    d.mkdir()
    (d / "20-addr.json").write_text('{"bind_addr": "10.0.0.1", "retry_join": ["10.0.0.3"]}')
    (d / "10-base.hcl").write_text(consul_hcl(consul_server(1, bind_addr="10.9.9.9", retry_join=["10.0.0.2"])))
    (d / "30-empty.hcl").write_text("")
    from clusterops.validate.load import load_consul

    node = load_consul(d)
    assert node.get("bind_addr") == "10.0.0.1"
    assert node.loc("bind_addr").file == str(d / "20-addr.json") and node.loc("bind_addr").line == 1
    assert [s.value for s in node.list("retry_join")] == ["10.0.0.2", "10.0.0.3"]
    assert node.files == (str(d / "10-base.hcl"), str(d / "20-addr.json"))


def test_repeated_lists_in_one_hcl_file_are_concatenated_and_start_join_appended(tmp_path: Path) -> None:
    from clusterops.validate.load import load_consul

    p = tmp_path / "s1.hcl"
    p.write_text('retry_join = ["a"]\nretry_join = ["b"]\nstart_join = ["c"]\nBIND_ADDR = "10.0.0.1"\n')
    node = load_consul(p, release="1.14")  # 1.15 deprecates start_join (VC026)
    assert [s.value for s in node.list("retry_join")] == ["a", "b", "c"]
    assert node.get("bind_addr") == "10.0.0.1" and node.problems == ()


def test_repeated_block_in_one_file_is_consuls_decode_error(tmp_path: Path) -> None:
    from clusterops.validate.load import load_consul

    p = tmp_path / "s1.hcl"
    p.write_text("ports {\n  http = 1\n}\nports {\n  dns = 2\n}\n")
    assert [(x.rule, x.message, x.loc.line) for x in load_consul(p).problems] == [
        ("VC001", "'ports' expected a map, got 'slice'", 4)
    ]


def test_templates_are_evaluated_for_the_target_host(run_consul: RunConsul) -> None:
    bind = '{{ GetPrivateInterfaces | include "network" "10.0.0.0/8" | attr "address" }}'
    configs = cluster(**{f"s{i}": {"bind_addr": bind} for i in (1, 2, 3)})
    assert run_consul(configs).findings == ()
    facts = facts_from_dict({"default": host("192.168.1.5/24")}, "f")
    report = run_consul(configs, facts)
    assert "bind_addr cannot be empty" in " ".join(f.message for f in report.findings if f.rule_id == "VC003")


@pytest.mark.parametrize(
    "block",
    ["autopilot {\n  min_quorum = 3\n}", "dns_config {\n  soa {\n    refresh = 3600\n    min_ttl = 0\n  }\n}"],
)
def test_unsigned_integer_keys_take_numbers(tmp_path: Path, block: str) -> None:
    # Consul declares these *uint / *uint32; a number is what it wants (found by the compose lab's configs).
    (tmp_path / "a.hcl").write_text(f'server = true\nbind_addr = "10.0.0.1"\n{block}\n')
    report = validate_consul([str(tmp_path / "a.hcl")])
    assert not [f for f in report.findings if f.rule_id == "VC001"], report.findings


def _dc(i: int, dc: str, wan: list[str], **over: Any) -> dict[str, Any]:
    base = consul_server(i, 3, datacenter=dc, node_name=f"{dc}-s{i}", retry_join_wan=wan, **over)
    base["bind_addr"] = f"10.{1 if dc == 'dc1' else 2}.0.{i}"
    base["retry_join"] = [f"10.{1 if dc == 'dc1' else 2}.0.{j}" for j in (1, 2, 3) if j != i]
    return base


def _federation(tmp_path: Path, dc2_wan: list[str], dc1_wan: str = "10.2.0.1", **over: Any) -> set[str]:
    paths, nodes = [], {}
    for dc in ("dc1", "dc2"):
        for i in (1, 2, 3):
            wan = [dc1_wan] if dc == "dc1" else dc2_wan
            p = tmp_path / f"{dc}-s{i}.hcl"
            p.write_text(consul_hcl(_dc(i, dc, wan, **(over if (dc, i) == ("dc2", 1) else {}))))
            paths.append(str(p))
            nodes[f"{dc}-s{i}"] = host(f"10.{1 if dc == 'dc1' else 2}.0.{i}/24")
    report = validate_consul(paths, facts=facts_from_dict({"nodes": nodes}, "f"))
    return {f.rule_id for f in report.findings}


def test_federated_datacenters_are_checked_per_datacenter_and_over_the_wan(tmp_path: Path) -> None:
    assert _federation(tmp_path, ["10.1.0.1"]) == set()  # two healthy datacenters, joined over the WAN
    # each datacenter names only its own servers over the WAN: the federation never forms
    (tmp_path / "x").mkdir()
    assert _federation(tmp_path / "x", ["10.2.0.2"], dc1_wan="10.1.0.2") == {"VX013"}
    (tmp_path / "y").mkdir()
    assert "VX014" in _federation(tmp_path / "y", ["10.1.0.1"], advertise_addr_wan="10.1.0.1")


def test_different_datacenter_without_wan_joins_is_still_a_mistake(run_consul: RunConsul) -> None:
    report = run_consul(cluster(s1={"datacenter": "dc2"}))
    assert "VX001" in rule_ids(report)
