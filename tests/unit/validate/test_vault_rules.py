"""Every Vault/OpenBao rule (VV) has a failing case; a healthy 3-node raft cluster has no finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.validate.facts import facts_from_dict
from clusterops.validate.load import load_vault
from clusterops.validate.run import validate_vault
from tests.unit.validate.conftest import RunVault, cluster_facts, host, rule_ids, vault_hcl

TLS = '  tls_cert_file = "/c"\n  tls_key_file = "/k"\n'


def nodes(**over: str) -> dict[str, str]:
    return {f"v{i}": over.get(f"v{i}", vault_hcl(i)) for i in (1, 2, 3)}


def test_healthy_raft_cluster_has_no_finding(run_vault: RunVault) -> None:
    report = run_vault(nodes())
    assert report.findings == ()
    assert report.subjects == ("v1", "v2", "v3")


CASES: dict[str, tuple[dict[str, str], str]] = {
    "VV001": (
        {"v1": vault_hcl(1, listener='listener "udp" {\n  address = "0.0.0.0:8200"\n}')},
        "unsupported listener type 'udp'",
    ),
    "VV002": (
        {"v1": vault_hcl(1, listener='listener "tcp" {\n  address = "10.0.0.1"\n' + TLS + "}")},
        "missing port in address",
    ),
    "VV003": (
        {
            "v1": vault_hcl(
                1, listener='listener "tcp" {\n  address = "0.0.0.0:8200"\n  cluster_address = "x"\n' + TLS + "}"
            )
        },
        "Error resolving cluster_address",
    ),
    "VV004": ({"v1": vault_hcl(1, api=None)}, "missing API address, please set in configuration"),
    "VV005": ({"v1": vault_hcl(1, api="10.0.0.1:8200")}, "is not a URL with a scheme"),
    "VV006": ({"v1": vault_hcl(1, api="https://127.0.0.1:8200")}, "is loopback while the set also uses routable"),
    "VV007": ({"v1": vault_hcl(1, cluster="10.0.0.1:8201")}, "invalid URI for request"),
    "VV008": (
        {"v1": vault_hcl(1, cluster="https://10.0.0.1:443")},
        "cluster_addr port 443 is not a cluster_address port",
    ),
    "VV009": ({"v2": vault_hcl(2, cluster="https://10.0.0.1:8201")}, "is also v1's"),
    "VV010": (
        {
            "v1": vault_hcl(
                1,
                cluster=None,
                listener='listener "tcp" {\n  address = "0.0.0.0:8200"\n' + TLS + "}\n"
                'listener "tcp" {\n  address = "0.0.0.0:9200"\n' + TLS + "}",
            )
        },
        "2 listeners and no cluster_addr",
    ),
    "VV011": (
        {"v2": vault_hcl(2).replace('node_id = "v2"', 'node_id = "v1"')},
        "raft node_id 'v1' is also used by",
    ),
    "VV012": ({"v1": vault_hcl(1).replace("https://10.0.0.2:8200", "https://10.0.0.9:8200")}, "not the api_addr"),
    "VV013": ({"v1": vault_hcl(1, cluster=None)}, "Cluster address must be set when using raft storage"),
    "VV014": ({"v1": vault_hcl(1, storage="")}, "A storage backend must be specified"),
    "VV015": ({"v1": vault_hcl(1).replace('path    = "/var/lib/bao"', "")}, "'path' must be set"),
    "VV016": ({"v1": vault_hcl(1, cluster="https://10.0.0.1:8200")}, "used for both API and cluster addresses"),
    "VV017": (
        {
            "v1": vault_hcl(1).replace(
                'leader_api_addr = "https://10.0.0.2:8200"',
                'leader_api_addr = "https://10.0.0.2:8200"\n auto_join = "provider=aws"',
            )
        },
        "cannot provide both a leader_api_addr and auto_join",
    ),
    "VV018": (
        {"v1": vault_hcl(1, listener='listener "tcp" {\n  address = "0.0.0.0:8200"\n}')},
        "'tls_cert_file' must be set",
    ),
    "VV019": ({"v1": vault_hcl(1, extra="disable_clustering = true")}, "Disable clustering cannot be set to true"),
    "VV020": (
        {
            "v1": vault_hcl(
                1,
                listener='listener "tcp" {\n  address = "0.0.0.0:8200"\n' + TLS + "}\n"
                'listener "tcp" {\n  address = "0.0.0.0:8200"\n' + TLS + "}",
            )
        },
        "is also listener 0's",
    ),
    "VV021": ({"v1": vault_hcl(1, api="https://{{ GetPrivateIP }}:8200")}, "api_addr template"),
    "VV022": ({"v1": vault_hcl(1, extra='storage "inmem" {}')}, 'only one "storage" block is permitted'),
    "VV023": ({"v1": vault_hcl(1, cluster="http://10.0.0.1:8201")}, "Vault always uses https there"),
    "VV024": ({"v1": vault_hcl(1, cluster="https://127.0.0.1:8201")}, "is loopback while the set also uses routable"),
    "VV027": (
        {"v1": vault_hcl(1).replace("https://10.0.0.2:8200", "http://10.0.0.2:8200")},
        "uses http:// but v2's listener on port 8200 speaks TLS",
    ),
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_vault_rule_fires(run_vault: RunVault, rule_id: str) -> None:
    over, fragment = CASES[rule_id]
    report = run_vault(nodes(**over), no_facts=rule_id == "VV021")
    hits = [f for f in report.findings if f.rule_id == rule_id]
    assert hits, [f.to_dict() for f in report.findings]
    assert any(fragment in f.message for f in hits), [f.message for f in hits]
    assert all(f.file for f in hits)


def test_two_listener_blocks_are_two_listeners(tmp_path: Path) -> None:
    p = tmp_path / "v1.hcl"
    p.write_text(
        vault_hcl(
            1,
            listener='listener "tcp" {\n  address = "0.0.0.0:8200"\n' + TLS + "}\n"
            'listener "tcp" {\n  address = "127.0.0.1:9200"\n  tls_disable = true\n}',
        )
    )
    node = load_vault(p)
    assert [(lst.address.value if lst.address else None, lst.tls_disable) for lst in node.listeners] == [
        ("0.0.0.0:8200", False),
        ("127.0.0.1:9200", True),
    ]
    assert [lst.loc.line for lst in node.listeners] == [11, 16]


def test_env_overrides_config_bao_before_vault(tmp_path: Path) -> None:
    p = tmp_path / "v1.hcl"
    p.write_text(vault_hcl(1, api="https://10.0.0.99:8200"))
    node = load_vault(p, env={"VAULT_API_ADDR": "https://10.0.0.5:8200", "BAO_API_ADDR": "https://10.0.0.1:8200"})
    assert node.get("api_addr") == "https://10.0.0.1:8200"
    assert node.loc("api_addr").file == str(p)  # the process environment: no file of its own


def test_a_finding_on_an_env_value_points_at_the_facts_file_and_line(tmp_path: Path) -> None:
    from clusterops.validate.facts import load_facts

    p = tmp_path / "v1.hcl"
    p.write_text(vault_hcl(1))
    facts = tmp_path / "facts.yaml"
    facts.write_text(
        "nodes:\n  v1:\n    interfaces:\n      - name: eth0\n        flags: [up]\n"
        "        addresses: [10.0.0.1/24]\n    env:\n      BAO_API_ADDR: 10.0.0.1:8200\n"
    )
    report = validate_vault([str(p)], facts=load_facts(facts))
    (hit,) = [f for f in report.findings if f.rule_id == "VV005"]
    assert (hit.file, hit.line) == (str(facts), 8)


def test_facts_naming_no_validated_node_are_refused(tmp_path: Path) -> None:
    from clusterops.errors import UsageError

    p = tmp_path / "v1.hcl"
    p.write_text(vault_hcl(1))
    facts = facts_from_dict({"nodes": {"vault-1": host("10.0.0.1/24")}}, "facts.yaml")
    with pytest.raises(UsageError, match=r"no node of the facts \(vault-1\) matches a validated node \(v1\)"):
        validate_vault([str(p)], facts=facts)


def test_template_rendering_an_empty_host_says_so(run_vault: RunVault) -> None:
    cfg = vault_hcl(1, api='https://{{ GetInterfaceIP \\"eth9\\" }}:8200')
    report = run_vault({"v1": cfg, "v2": vault_hcl(2), "v3": vault_hcl(3)})
    assert any("the host is empty" in f.message for f in report.findings if f.rule_id == "VV005"), report.findings


def test_env_from_facts_is_applied_per_node(tmp_path: Path) -> None:
    p = tmp_path / "v1.hcl"
    p.write_text(vault_hcl(1, api=None, cluster=None))
    facts = facts_from_dict(
        {"nodes": {"v1": {**host("10.0.0.1/24"), "env": {"VAULT_CLUSTER_ADDR": "https://10.0.0.1:8201"}}}}, "f"
    )
    report = validate_vault([str(p)], facts=facts)
    assert "VV013" not in rule_ids(report)


def test_single_node_without_api_addr_is_fine(run_vault: RunVault) -> None:
    text = 'storage "inmem" {}\nlistener "tcp" {\n  address = "127.0.0.1:8200"\n  tls_disable = true\n}\n'
    assert run_vault({"dev": text}).findings == ()


def test_templates_need_facts_and_use_them(run_vault: RunVault) -> None:
    cfg = vault_hcl(1, api="https://{{ GetPrivateIP }}:8200", cluster="https://{{ GetPrivateIP }}:8201")
    report = run_vault({"v1": cfg, "v2": vault_hcl(2), "v3": vault_hcl(3)}, cluster_facts())
    assert report.findings == ()


def _loopback_node(i: int) -> str:
    joins = "\n".join(
        f'  retry_join {{\n    leader_api_addr = "http://127.0.0.1:{8200 + 10 * j}"\n  }}' for j in (1, 2, 3) if j != i
    )
    port = 8200 + 10 * i
    return (
        f'storage "raft" {{\n  path = "/tmp/raft-{i}"\n  node_id = "n{i}"\n{joins}\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  cluster_address = "127.0.0.1:{port + 1}"\n'
        f'  tls_disable = true\n}}\napi_addr = "http://127.0.0.1:{port}"\n'
        f'cluster_addr = "https://127.0.0.1:{port + 1}"\n'
    )


def test_same_host_raft_cluster_on_loopback_with_distinct_ports_is_fine(run_vault: RunVault) -> None:
    report = run_vault({f"n{i}": _loopback_node(i) for i in (1, 2, 3)})
    assert report.findings == (), [f.message for f in report.findings]


def test_loopback_mixed_with_routable_addresses_is_an_error(run_vault: RunVault) -> None:
    mixed = _loopback_node(1).replace("http://127.0.0.1:8220", "http://10.0.0.2:8200")
    report = run_vault({"n1": mixed})
    assert [f.rule_id for f in report.findings if "loopback while" in f.message] == ["VV006", "VV024", "VV006"]
    assert report.exit_code() == 1


def test_non_ha_configs_given_together_do_not_form_a_cluster(run_vault: RunVault) -> None:
    text = (
        'storage "{kind}" {{\n  path = "/tmp/x"\n}}\n'
        'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
    )
    report = run_vault({"a": text.format(kind="inmem", port=8200), "b": text.format(kind="file", port=8300)})
    assert report.findings == (), [f.message for f in report.findings]


@pytest.mark.parametrize(
    ("storage", "target", "version", "expected"),
    [
        ("file", "openbao", "2.7.2", ("VV025", "unknown storage type file")),
        ("file", "openbao", "2.6.2", ("VV026", "the file physical backend is deprecated")),
        ("consul", "openbao", "2.6.2", ("VV025", "unknown storage type consul")),
        ("file", "vault", None, None),
        ("consul", "vault", "1.15", None),
    ],
)
def test_target_product_and_version_choose_the_storage_types(
    tmp_path: Path, storage: str, target: str, version: str | None, expected: tuple[str, str] | None
) -> None:
    p = tmp_path / "n.hcl"
    p.write_text(
        f'storage "{storage}" {{\n  path = "/tmp/x"\n}}\nlistener "tcp" {{\n  address = "127.0.0.1:8200"\n'
        '  tls_disable = true\n}\napi_addr = "http://127.0.0.1:8200"\n'
    )
    report = validate_vault([str(p)], target=target, version=version, facts=cluster_facts(names=("n",)))
    got = [(f.rule_id, f.message) for f in report.findings if f.rule_id in ("VV025", "VV026")]
    if expected is None:
        assert got == []
    else:
        assert len(got) == 1 and got[0][0] == expected[0] and expected[1] in got[0][1]


def test_a_refused_storage_gets_no_finding_that_assumes_the_node_starts(tmp_path: Path) -> None:
    # storage "consul" is HA storage: without api_addr Vault needs one (VV004); OpenBao refuses the storage
    # outright, so VV025 is the only finding
    p = tmp_path / "n.hcl"
    p.write_text(
        'storage "consul" {\n  address = "127.0.0.1:8500"\n  path = "vault/"\n}\n'
        'listener "tcp" {\n  address = "127.0.0.1:8200"\n  tls_disable = true\n}\n'
    )
    facts = cluster_facts(names=("n",))
    bao = validate_vault([str(p)], target="openbao", version="2.7.2", facts=facts)
    assert [(f.rule_id, f.message) for f in bao.findings] == [
        ("VV025", "unknown storage type consul (OpenBao 2.7 no longer has it)")
    ]
    vault = validate_vault([str(p)], target="vault", facts=facts)
    assert [f.rule_id for f in vault.findings] == ["VV004"]


def test_openbao_refuses_consul_service_registration(tmp_path: Path) -> None:
    p = tmp_path / "n.hcl"
    p.write_text(
        'storage "inmem" {}\nservice_registration "consul" {\n  address = "127.0.0.1:8500"\n}\n'
        'listener "tcp" {\n  address = "127.0.0.1:8200"\n  tls_disable = true\n}\n'
    )
    bao = validate_vault([str(p)], target="openbao", version="2.6.2", facts=cluster_facts(names=("n",)))
    assert [(f.rule_id, f.message, f.line) for f in bao.findings] == [
        ("VV025", "unknown service_registration type consul (OpenBao 2.6 no longer has it)", 2)
    ]
    assert validate_vault([str(p)], target="vault", facts=cluster_facts(names=("n",))).findings == ()


def test_an_unknown_target_is_a_usage_error(tmp_path: Path) -> None:
    from clusterops.errors import UsageError

    p = tmp_path / "n.hcl"
    p.write_text('storage "inmem" {}\n')
    with pytest.raises(UsageError, match="--target must be vault or openbao"):
        validate_vault([str(p)], target="nomad")


def test_sarif_and_github_name_the_facts_file_for_an_env_finding(tmp_path: Path) -> None:
    import io
    import json
    from urllib.parse import urlsplit

    from clusterops.report import render
    from clusterops.validate.facts import load_facts

    p = tmp_path / "v1.hcl"
    p.write_text(vault_hcl(1, cluster=None))
    facts = tmp_path / "facts.yaml"
    facts.write_text(
        "nodes:\n  v1:\n    interfaces:\n      - name: eth0\n        flags: [up]\n"
        "        addresses: [10.0.0.1/24]\n    env:\n      VAULT_CLUSTER_ADDR: 10.0.0.1:8201\n"
    )
    report = validate_vault([str(p)], facts=load_facts(facts))
    out = io.StringIO()
    render(report, "sarif", out)
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in json.loads(out.getvalue())["runs"][0]["results"]
        for loc in r.get("locations", [])
    ]
    assert str(facts) in uris and all(Path(urlsplit(u).path).exists() for u in uris), uris
    out = io.StringIO()
    render(report, "github", out)
    assert f"file={facts}".replace(":", "%3A") in out.getvalue() or f"file={facts}" in out.getvalue()


def test_retry_join_naming_the_node_itself_is_reported(run_vault: RunVault) -> None:
    own = vault_hcl(1).replace("https://10.0.0.2:8200", "https://10.0.0.1:8200")
    report = run_vault(nodes(v1=own))
    assert [(f.rule_id, f.subject) for f in report.findings] == [("VV012", "v1")]
    assert "this node's own api_addr: a node cannot join itself" in report.findings[0].message


def test_retry_join_scheme_matching_a_plain_http_listener_is_fine(run_vault: RunVault) -> None:
    def plain(i: int) -> str:
        listener = (
            'listener "tcp" {\n  address = "0.0.0.0:8200"\n  cluster_address = "0.0.0.0:8201"\n  tls_disable = true\n}'
        )
        return (
            vault_hcl(i, api=f"http://10.0.0.{i}:8200", listener=listener)
            .replace("https://10.0.0.", "http://10.0.0.")
            .replace('cluster_addr = "http://', 'cluster_addr = "https://')
        )

    report = run_vault({f"v{i}": plain(i) for i in (1, 2, 3)})
    assert report.findings == (), [f.message for f in report.findings]
    broken = plain(2).replace("http://10.0.0.1:8200", "https://10.0.0.1:8200")
    report = run_vault({"v1": plain(1), "v2": broken, "v3": plain(3)})
    assert [(f.rule_id, f.subject) for f in report.findings] == [("VV027", "v2")]
    assert (
        'speaks plain http (tls_disable = true; the server logs "http: server gave HTTP response'
        in report.findings[0].message
    )


@pytest.mark.parametrize("seal", ["shamir", "transit"])
def test_the_labs_own_raft_configs_validate_with_no_finding(tmp_path: Path, seal: str) -> None:
    """The configs `clusterops lab vault up --nodes 3` writes (generated offline, nothing started)."""
    from clusterops.lab.openbao_cluster import BaoClusterState, BaoNode, OpenBaoCluster

    lab = OpenBaoCluster(tmp_path / "lab")
    state = BaoClusterState(
        root=str(tmp_path / "lab"),
        prefix="127.0.42",
        nodes=tuple(BaoNode(f"v{i}", f"127.0.42.{i}", "2.7.2") for i in (1, 2, 3)),
        seal=seal,
        transit_addr="http://127.0.42.20:8200" if seal == "transit" else "",
    )
    paths = []
    for node in state.nodes:
        p = tmp_path / f"{node.name}.hcl"
        p.write_text(lab._config(state, node))
        paths.append(str(p))
    report = validate_vault(paths, facts=None)
    assert report.findings == (), [f.to_dict() for f in report.findings]
    # the same set with one node's join target on the wrong scheme is caught (the lab listeners are plain http)
    Path(paths[0]).write_text(lab._config(state, state.nodes[0]).replace("http://127.0.42.2", "https://127.0.42.2"))
    assert [f.rule_id for f in validate_vault(paths, facts=None).findings] == ["VV027"]


def test_an_unbalanced_ipv6_bracket_is_a_finding_not_a_crash(run_vault: RunVault) -> None:
    broken = vault_hcl(1, api="https://[::1:8200", cluster="https://[10.0.0.1:8201").replace(
        "https://10.0.0.2:8200", "https://[10.0.0.2:8200"
    )
    report = run_vault(nodes(v1=broken))
    got = {(f.rule_id, f.message) for f in report.findings if f.subject == "v1"}
    assert ("VV005", "api_addr 'https://[::1:8200' is not a URL with a scheme (https://host:port)") in got
    assert ("VV007", "Error parsing cluster address https://[10.0.0.1:8201: invalid URI for request") in got
    assert ("VV017", "leader_api_addr 'https://[10.0.0.2:8200' is not an http(s):// URL") in got
