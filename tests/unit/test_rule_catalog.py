"""Every rule of every family: a doc, a summary, and a minimal passing and failing input that tell it apart.

The catalog is found, not listed: every `clusterops.findings.Rule` a module of the package holds (alone, or in a
tuple or dict), plus validate's Consul start-up checks. `CASES` gives each rule id two inputs, each a function
from a scratch directory to the rule ids the check produced: the failing one produces the id, the passing one
does not. A rule without a case fails `test_every_rule_has_a_case`, so a new rule cannot land without one.
Rules that need host or cluster facts get their snapshot built directly (frozen dataclasses, facts dicts).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import clusterops
from clusterops.consul.autopilot_facts import AutopilotFacts
from clusterops.consul.checks import check_cluster as consul_check
from clusterops.consul.checks import check_observations
from clusterops.consul.identity import AgentIdentity, identity_findings
from clusterops.consul.inventory import inventory_from_text
from clusterops.consul.permissions import TokenFacts
from clusterops.consul.upgrade.plan import IDENTITY, plan_upgrade
from clusterops.consul.upgrade.run import snapshot_refusals
from clusterops.findings import Finding, Report, Rule
from clusterops.preflight.rules import (
    Endpoint,
    Probe,
    Thresholds,
    clock_findings,
    disk_findings,
    listener_findings,
    process_findings,
    reach_findings,
)
from clusterops.validate import consul_rules, vault_rules
from clusterops.validate.catalog import RULES as VALIDATE_RULES
from clusterops.validate.consul_startup import STARTUP_CHECKS, StartupCheck
from clusterops.validate.facts import facts_from_dict
from clusterops.validate.load import Loc, load_consul
from clusterops.validate.registry import Hit, check, registered
from clusterops.validate.registry import run as run_checks
from clusterops.validate.run import validate_consul, validate_vault
from clusterops.vault.checks import check_cluster as vault_check
from clusterops.vault.state import NodeHealth, VaultClusterState
from clusterops.vault.upgrade import plan_vault_upgrade
from tests.unit.consul.factories import cluster as consul_state
from tests.unit.validate.conftest import cluster_facts, consul_hcl, consul_server, host, vault_hcl
from tests.unit.vault.factories import cluster as vault_state

Ids = Callable[[Path], Iterable[str]]


def _ids(findings: Iterable[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


def all_rules() -> dict[str, Rule]:
    """Every Rule a module of clusterops holds at module level (alone, in a tuple, or in a dict)."""
    found: dict[str, Rule] = {}
    for info in pkgutil.walk_packages(clusterops.__path__, "clusterops."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            items = value.values() if isinstance(value, dict) else value if isinstance(value, tuple) else (value,)
            for rule in items:
                if isinstance(rule, Rule):
                    assert found.setdefault(rule.id, rule) == rule, f"{rule.id} defined twice, differently"
    return found


# -- consul check (CH) -----------------------------------------------------------------------------------------------


def ch(**kw: Any) -> Ids:
    ft = kw.pop("min_failure_tolerance", 1)
    return lambda _tmp: _ids(consul_check(consul_state(**kw), min_failure_tolerance=ft))


def ch_state(make: Callable[[], Any]) -> Ids:
    return lambda _tmp: _ids(consul_check(make()))


def leader_sequence(*leaders: str) -> Ids:
    states = [consul_state(leader=name) for name in leaders]
    return lambda _tmp: _ids(check_observations(states[:-1], states[-1], seconds=60))


FOUR = [(f"s{i}", f"10.0.0.{i}") for i in range(1, 5)]
UNKNOWN_PEER = {"ID": "x", "Node": "(unknown)", "Address": "10.0.0.9:8300"}

CH_CASES: dict[str, tuple[Ids, Ids]] = {
    "CH001": (ch(), ch(leader="nobody")),
    "CH002": (ch(), ch(extra_raft=[{**UNKNOWN_PEER, "Voter": False}])),
    "CH003": (ch(), ch(dead=("s3",))),
    "CH004": (ch(), ch(extra_raft=[{"ID": "id-s2", "Node": "s2", "Address": "10.0.0.9:8300"}])),
    "CH005": (ch(), ch(extra_raft=[{"ID": "id-s9", "Node": "s9", "Address": "10.0.0.2:8300"}])),
    "CH006": (ch(min_failure_tolerance=1), ch(min_failure_tolerance=2)),
    "CH007": (ch(), ch(dead=("s3",))),
    "CH008": (ch(), ch(dead=("s3",))),
    "CH009": (ch(), ch_state(lambda: replace(consul_state(), autopilot_failure_tolerance=0))),
    "CH010": (ch(), ch(versions={"s2": "1.14.11"})),
    "CH011": (ch(), ch(nodes=FOUR)),
    "CH012": (ch(min_failure_tolerance=0), ch(nodes=[("s1", "10.0.0.1")], min_failure_tolerance=0)),
    "CH013": (ch(), ch(autopilot={"CleanupDeadServers": True, "MinQuorum": 0})),
    "CH014": (ch(), ch_state(lambda: replace(consul_state(), raft=consul_state().raft[:2]))),
    "CH015": (ch(), ch(non_voters=("s3",))),
    "CH016": (ch(), ch_state(lambda: replace(consul_state(), unavailable=("autopilot config",)))),
    "CH017": (ch(), ch(peers=["10.0.0.1:8300", "10.0.0.2:8300"])),
    "CH018": (leader_sequence("s1", "s1"), leader_sequence("s1", "s2")),
    "CH019": (ch(leader="nobody", stale_read=True), ch(leader="nobody", dead=("s2", "s3"), stale_read=True)),
    "CH020": (leader_sequence("s1", "s2"), leader_sequence("s1", "s2", "s1", "s2", "s1")),
}

# -- vault check (VH) ------------------------------------------------------------------------------------------------


def vh(**kw: Any) -> Ids:
    ft = kw.pop("min_failure_tolerance", 1)
    return lambda _tmp: _ids(vault_check(vault_state(**kw), min_failure_tolerance=ft))


def vh_with_node(node: NodeHealth) -> Ids:
    def run(_tmp: Path) -> set[str]:
        state = vault_state()
        return _ids(vault_check(VaultClusterState(**{**state.__dict__, "nodes": (*state.nodes, node)})))

    return run


VH_CASES: dict[str, tuple[Ids, Ids]] = {
    "VH001": (vh(), vh(active="nobody")),
    "VH002": (vh(), vh(sealed=("v2",))),
    "VH003": (vh(), vh(uninitialized=("v3",))),
    "VH004": (vh(), vh(down=("v3",))),
    "VH005": (vh(min_failure_tolerance=1), vh(min_failure_tolerance=2)),
    "VH006": (vh(), vh(names=("v1", "v2", "v3", "v4"))),
    "VH007": (
        vh(down=("v3",), autopilot_config={"cleanup_dead_servers": True, "min_quorum": 3}),
        vh(down=("v3",)),
    ),
    "VH008": (vh(), vh(versions={"v2": "2.6.2"})),
    "VH009": (vh(versions={"v1": "2.6.2"}), vh(versions={"v2": "2.6.2"})),
    "VH010": (vh(), vh(non_voters=("v3",))),
    "VH011": (vh(), vh(unhealthy=("v2",))),
    "VH012": (vh(sealed=("v2",)), vh(unhealthy=("v2",))),
    "VH013": (vh(), vh_with_node(NodeHealth("v9", "https://10.0.0.9:8200", reachable=False))),
    "VH014": (
        vh(),
        vh_with_node(NodeHealth("v8", "https://10.0.0.8:8200", reachable=True, code=429, initialized=True)),
    ),
    "VH015": (vh(), vh(names=("v1",))),
    "VH016": (vh(), vh(errors=("raft: permission denied",))),
}

# -- consul upgrade pre-flight (UP) ----------------------------------------------------------------------------------

NAMES = ["s1", "s2", "s3"]


def _inventory(names: Sequence[str]) -> Any:
    lines = ["servers:"] + [
        f"  - {{name: {n}, address: 'http://10.0.0.{i}:8500', driver: {{type: lab, lab_dir: /tmp/x}}}}"
        for i, n in enumerate(names, 1)
    ]
    return inventory_from_text("\n".join(lines) + "\n", "inv.yaml")


def _identity(name: str, answers_as: str | None = None) -> AgentIdentity:
    node = answers_as or name
    return AgentIdentity(
        name,
        f"http://10.0.0.{name[1:]}:8500",
        node_name=node,
        datacenter="dc1",
        node_id=f"id-{node}",
        raft=frozenset((f"id-{n}", n) for n in NAMES),
    )


def up(target: str = "1.14.11", names: Sequence[str] = NAMES, state: dict[str, Any] | None = None, **kw: Any) -> Ids:
    def run(_tmp: Path) -> set[str]:
        plan = plan_upgrade(consul_state(**(state or {})), _inventory(names), target, **kw)
        return _ids(plan.refusals)

    return run


def up_identities(*identities: AgentIdentity) -> Ids:
    def run(_tmp: Path) -> set[str]:
        state = consul_state()
        found = identity_findings(_inventory(NAMES), list(identities), state, IDENTITY)
        return _ids(plan_upgrade(state, _inventory(NAMES), "1.14.11", preflight=found).refusals)

    return run


def up_token(facts: TokenFacts) -> Ids:
    return lambda _tmp: _ids(
        plan_upgrade(consul_state(), _inventory(NAMES), "1.14.11", preflight=snapshot_refusals(facts)).refusals
    )


UP_CASES: dict[str, tuple[Ids, Ids]] = {
    "UP001": (up(), up(state={"leader": "nobody"})),
    "UP002": (up(min_failure_tolerance=1), up(min_failure_tolerance=2)),
    "UP003": (up(), up(state={"dead": ("s3",)})),
    "UP004": (up(), up(state={"dead": ("s3",)})),
    "UP005": (up(), up(names=["s1", "s2"])),
    "UP006": (up("1.15.0", max_minor_jump=2), up("1.16.0", max_minor_jump=2)),
    "UP007": (up(), up(state={"versions": {"s2": "garbage"}})),
    "UP008": (up("1.14.11"), up("2.0.0")),
    "UP009": (up_identities(*(_identity(n) for n in NAMES)), up_identities(_identity("s1"), _identity("s2", "s3"))),
    "UP010": (
        up(autopilot=AutopilotFacts(enterprise=True, disable_upgrade_migration=True)),
        up(autopilot=AutopilotFacts(enterprise=True, disable_upgrade_migration=False)),
    ),
    "UP011": (up_token(TokenFacts(acls_enabled=True, management=True)), up_token(TokenFacts(acls_enabled=True))),
}

# -- vault upgrade pre-flight (VU) -----------------------------------------------------------------------------------

OLD = {"v1": "2.6.2", "v2": "2.6.2", "v3": "2.6.2"}


def vu(target: str = "2.7.2", inventory: Sequence[str] = ("v1", "v2", "v3"), **state: Any) -> Ids:
    """plan_vault_upgrade over the factory's cluster (`state`: its options), the inventory's node names."""
    return lambda _tmp: _ids(
        plan_vault_upgrade(vault_state(**{"versions": OLD, **state}), list(inventory), target).refusals
    )


VU_CASES: dict[str, tuple[Ids, Ids]] = {
    "VU001": (vu(), vu(active="nobody")),
    "VU002": (vu(), vu(sealed=("v3",))),
    "VU003": (vu(), vu(down=("v3",), unhealthy=("v3",))),
    "VU004": (vu(), vu(inventory=("v1",), names=("v1",))),
    "VU005": (vu("2.6.2"), vu("2.5.0")),
    "VU006": (vu("2.7.2"), vu("2.9.0")),
    "VU007": (vu("2.7.2"), vu("latest")),
    "VU008": (vu(), vu(inventory=("v1", "v2"))),
}

# -- host preflight (PF) ---------------------------------------------------------------------------------------------


def pf(findings: Callable[[], list[Finding]]) -> Ids:
    return lambda _tmp: _ids(findings())


def _process(soft: int = 65536, *, used: int = 30, unit: str | None = None, members: int = 3) -> Ids:
    answer = {"pid": 42, "limits": {"soft": soft, "hard": soft}, "open_fds": used, "unit_limit": unit}
    return pf(lambda: process_findings("s1", answer, members, Thresholds()))


def _listener(pid: int | None, port: int = 8300) -> Ids:
    held = [{"proto": "tcp", "addr": "0.0.0.0", "port": port, "pid": pid}]
    return pf(
        lambda: listener_findings("s1", {"pid": 42, "listeners": held}, [Endpoint("tcp", "10.0.0.1", 8300, "RPC")])
    )


def _disk(**over: Any) -> Ids:
    disk = {"path": "/d", "free": 10 << 30, "total": 20 << 30, "mode": 0o700, "uid": 0} | over
    return pf(lambda: disk_findings("s1", {"uid": 0, "disk": disk}, Thresholds()))


def _probe(proto: str, ok: bool | None) -> Ids:
    return pf(lambda: reach_findings([Probe("s1", "s2", proto, 8301, ok, "detail")]))


def _clock(offset: float) -> Ids:
    return pf(lambda: clock_findings({"s1": (0.0, 0.1), "s2": (offset, 0.1)}, Thresholds()))


PF_CASES: dict[str, tuple[Ids, Ids]] = {
    "PF001": (_process(), pf(lambda: process_findings("s1", {"pid": None, "pid_error": "gone"}, 3, Thresholds()))),
    "PF002": (_process(65536), _process(4096)),
    "PF003": (_process(65536, members=3), _process(65536, members=40000)),
    "PF004": (_process(65536, used=30), _process(65536, used=60000)),
    "PF005": (_process(65536, unit="65536"), _process(65536, unit="1024")),
    "PF010": (_listener(42), _listener(42, port=9999)),
    "PF011": (_listener(42), _listener(99)),
    "PF012": (_listener(42), _listener(None)),
    "PF020": (_probe("tcp", True), _probe("tcp", False)),
    "PF021": (_probe("udp", True), _probe("udp", False)),
    "PF022": (_probe("udp", True), _probe("udp", None)),
    "PF030": (_disk(), _disk(free=1 << 20)),
    "PF031": (_disk(), _disk(mode=0o777)),
    "PF032": (_disk(), pf(lambda: disk_findings("s1", {"disk": {"path": "/d", "error": "EACCES"}}, Thresholds()))),
    "PF040": (_clock(0.5), _clock(3.0)),
}

# -- validate: one Consul node (VC) ----------------------------------------------------------------------------------

FACTS = cluster_facts(3)  # s1..s3 and v1..v3 on 10.0.0.N/24
KEY = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
ALL_ADDRESSES = '{{ GetAllInterfaces | join "address" " " }}'


def _write(tmp: Path, configs: dict[str, str]) -> list[str]:
    paths = []
    for name, text in configs.items():
        path = tmp / f"{name}.hcl"
        path.write_text(text)
        paths.append(str(path))
    return paths


def consul(configs: dict[str, str], facts: Any = FACTS, **kw: Any) -> Ids:
    return lambda tmp: _ids(validate_consul(_write(tmp, configs), facts=facts, **kw).findings)


BASE = {"node_name": "s1", "server": True, "data_dir": "/d", "bind_addr": "10.0.0.1"}


def node(extra: str = "", *, facts: Any = FACTS, options: dict[str, Any] | None = None, **settings: Any) -> Ids:
    """One server s1 on 10.0.0.1 (its host in FACTS), with `settings` over the base and `extra` HCL;
    `options`: validate_consul's (consul_version, unknown_keys)."""
    return consul({"s1": consul_hcl({**BASE, **settings}, extra)}, facts=facts, **(options or {}))


def node_on(addresses: Sequence[str], **settings: Any) -> Ids:
    base = {"node_name": "s1", "server": True, "data_dir": "/d"}
    facts = facts_from_dict({"nodes": {"s1": host(*addresses)}}, "facts.yaml")
    return consul({"s1": consul_hcl({**base, **settings})}, facts=facts)


def config_dir(*extra_files: str) -> Ids:
    def run(tmp: Path) -> set[str]:
        d = tmp / "s1"
        d.mkdir()
        (d / "base.hcl").write_text('node_name = "s1"\nserver = true\ndata_dir = "/d"\nbind_addr = "10.0.0.1"\n')
        for name in extra_files:
            (d / name).write_text("notes")
        return _ids(validate_consul([str(d)], facts=FACTS).findings)

    return run


VC_CASES: dict[str, tuple[Ids, Ids]] = {
    "VC001": (node(server=True), node(server="true")),
    "VC002": (node(), node(bind_adr="10.0.0.1")),
    "VC003": (node(bind_addr="10.0.0.1"), node(bind_addr=ALL_ADDRESSES)),
    "VC004": (node(advertise_addr="10.0.0.1"), node(advertise_addr="0.0.0.0")),
    "VC005": (
        node_on(["10.0.0.1/24"], bind_addr="0.0.0.0"),
        node_on(["10.0.0.1/24", "10.0.0.2/24"], bind_addr="0.0.0.0"),
    ),
    "VC006": (node(bootstrap_expect=3), node(bootstrap_expect=3, bind_addr="127.0.0.1")),
    "VC007": (node(advertise_addr="10.0.0.1"), node(advertise_addr="10.9.9.9")),
    "VC008": (node("acl {\n  enabled = true\n}", client_addr="0.0.0.0"), node(client_addr="0.0.0.0")),
    "VC009": (node("ports {\n  serf_lan = 8311\n}"), node("ports {\n  serf_lan = 8300\n}")),
    "VC010": (node(bootstrap_expect=3), node(bootstrap_expect=3, bootstrap=True)),
    "VC011": (node(bootstrap_expect=3), node(bootstrap_expect=2)),
    "VC012": (node(retry_join=["10.0.0.2:8301"]), node(retry_join=["10.0.0.2:99999"])),
    "VC013": (node(retry_join=["10.0.0.2"]), node(retry_join=["10.0.0.1"])),
    "VC014": (node(serf_lan="10.0.0.1"), node(serf_lan=ALL_ADDRESSES)),
    "VC015": (node(), node(facts=None)),
    "VC016": (node(bootstrap_expect=3), node(bootstrap_expect=3, server=False)),
    "VC017": (node(raft_protocol=3), node(raft_protocol=2)),
    "VC018": (node(datacenter="dc-1"), node(datacenter="dc 1")),
    "VC019": (node(encrypt=KEY), node(encrypt="not base64!")),
    "VC020": (node("ports {\n  http = 8500\n}"), node("ports {\n  http = 70000\n}")),
    "VC021": (node(data_dir="/d"), node(data_dir="")),
    "VC022": (node(advertise_addr_ipv4="10.0.0.1"), node(advertise_addr_ipv4="::1")),
    "VC023": (node(bind_addr="{{ GetPrivateIP }}"), node(bind_addr="{{ if true }}10.0.0.1{{ end }}")),
    "VC024": (config_dir(), config_dir("README.txt")),
    "VC025": (node(client_addr="127.0.0.1"), node(client_addr="")),
    "VC026": (node('acl {\n  tokens {\n    default = "x"\n  }\n}'), node(acl_token="x")),
    "VC027": (node(options={"unknown_keys": "warn"}), node(bind_adr="10.0.0.1", options={"unknown_keys": "warn"})),
    "VC029": (
        node(server_rejoin_age_max="168h", options={"consul_version": "1.15.10"}),
        node(server_rejoin_age_max="168h", options={"consul_version": "1.15.3"}),
    ),
    "VC028": (node("auto_encrypt {\n  allow_tls = true\n}"), node("auto_encrypt {\n  tls = true\n}")),
}

# -- validate: across Consul servers (VX) ----------------------------------------------------------------------------


def servers(n: int = 3, *, extra: dict[int, str] | None = None, **per_node: dict[str, Any]) -> Ids:
    """n servers s1..sn of one healthy cluster, with per-node overrides (`s2={...}`) and extra HCL."""
    configs = {
        f"s{i}": consul_hcl(consul_server(i, n, **per_node.get(f"s{i}", {})), (extra or {}).get(i, ""))
        for i in range(1, n + 1)
    }
    return consul(configs, facts=cluster_facts(n))


def federation(dc1_wan: str, dc2_wan: str, **dc2: Any) -> Ids:
    """One server per datacenter, joined over the WAN (retry_join_wan) as given."""

    def server(dc: str, i: int, wan: str, **over: Any) -> str:
        return consul_hcl({"datacenter": dc, "node_name": f"{dc}-s1", "server": True, "data_dir": "/d",
                           "bind_addr": f"10.{i}.0.1", "retry_join_wan": [wan], **over})  # fmt: skip

    facts = facts_from_dict({"nodes": {"dc1-s1": host("10.1.0.1/24"), "dc2-s1": host("10.2.0.1/24")}}, "facts.yaml")
    return consul({"dc1-s1": server("dc1", 1, dc1_wan), "dc2-s1": server("dc2", 2, dc2_wan, **dc2)}, facts=facts)


VX_CASES: dict[str, tuple[Ids, Ids]] = {
    "VX001": (servers(), servers(s1={"datacenter": "dc2"})),
    "VX002": (servers(), servers(s1={"bootstrap_expect": 5})),
    "VX003": (servers(), servers(**{f"s{i}": {"bootstrap_expect": 5} for i in (1, 2, 3)})),
    "VX004": (servers(), servers(s2={"advertise_addr": "10.0.0.1"})),
    "VX005": (servers(), servers(s2={"node_name": "s1"})),
    "VX006": (servers(**{f"s{i}": {"encrypt": KEY} for i in (1, 2, 3)}), servers(s1={"encrypt": KEY})),
    "VX007": (servers(), servers(extra={1: "ports {\n  serf_lan = 8401\n}"})),
    "VX008": (servers(), servers(s1={"raft_protocol": 2})),
    "VX009": (
        servers(),
        servers(s1={"retry_join": ["10.0.0.2"]}, s2={"retry_join": ["10.0.0.1"]}, s3={"retry_join": ["10.0.0.3"]}),
    ),
    "VX010": (servers(), servers(extra={1: "tls {\n  defaults {\n    verify_incoming = true\n  }\n}"})),
    "VX011": (servers(3), servers(4)),
    "VX012": (servers(), servers(s1={"retry_join": ["provider=aws tag_key=role tag_value=consul"]})),
    "VX013": (federation("10.2.0.1", "10.1.0.1"), federation("10.1.0.1", "10.2.0.1")),
    "VX014": (federation("10.2.0.1", "10.1.0.1"), federation("10.2.0.1", "10.1.0.1", advertise_addr_wan="10.1.0.1")),
    "VX015": (
        servers(),
        servers(s1={"bind_addr": "127.0.0.1", "retry_join": ["10.0.0.2", "10.0.0.3"]}),
    ),
    "VX016": (servers(), servers(s1={"retry_join": ["10.0.0.2", "10.0.0.33"]})),
}

# -- validate: Vault / OpenBao (VV) ----------------------------------------------------------------------------------

TLS = '  tls_cert_file = "/c"\n  tls_key_file = "/k"\n'
LISTEN = '  address = "0.0.0.0:8200"\n'


def vault(*, target: str = "vault", version: str | None = None, facts: bool = True, **over: str) -> Ids:
    """The healthy 3-node raft set v1..v3 on 10.0.0.N, with nodes replaced by `over` (v1="...")."""
    configs = {f"v{i}": over.get(f"v{i}", vault_hcl(i)) for i in (1, 2, 3)}
    chosen = cluster_facts(3) if facts else None
    return lambda tmp: _ids(validate_vault(_write(tmp, configs), facts=chosen, target=target, version=version).findings)


def tcp(*bodies: str) -> str:
    """listener "tcp" blocks with these bodies."""
    return "\n".join('listener "tcp" {\n' + body + "}" for body in bodies)


def alone(storage: str, target: str, version: str | None = None) -> Ids:
    """One non-HA node with this storage type, validated for this target."""
    text = (
        f'storage "{storage}" {{\n  path = "/tmp/x"\n}}\nlistener "tcp" {{\n  address = "127.0.0.1:8200"\n'
        '  tls_disable = true\n}\napi_addr = "http://127.0.0.1:8200"\n'
    )
    facts = cluster_facts(names=("n",))
    return lambda tmp: _ids(
        validate_vault(_write(tmp, {"n": text}), facts=facts, target=target, version=version).findings
    )


V1 = vault_hcl(1)
TEMPLATE_API = vault_hcl(1, api="https://{{ GetPrivateIP }}:8200")
TWO_LISTENERS = tcp(LISTEN + TLS, '  address = "0.0.0.0:9200"\n' + TLS)
VV_CASES: dict[str, tuple[Ids, Ids]] = {
    "VV001": (vault(), vault(v1=vault_hcl(1, listener='listener "udp" {\n  address = "0.0.0.0:8200"\n}'))),
    "VV002": (vault(), vault(v1=vault_hcl(1, listener=tcp('  address = "10.0.0.1"\n' + TLS)))),
    "VV003": (vault(), vault(v1=vault_hcl(1, listener=tcp(LISTEN + '  cluster_address = "x"\n' + TLS)))),
    "VV004": (vault(), vault(v1=vault_hcl(1, api=None))),
    "VV005": (vault(), vault(v1=vault_hcl(1, api="10.0.0.1:8200"))),
    "VV006": (vault(), vault(v1=vault_hcl(1, api="https://127.0.0.1:8200"))),
    "VV007": (vault(), vault(v1=vault_hcl(1, cluster="10.0.0.1:8201"))),
    "VV008": (vault(), vault(v1=vault_hcl(1, cluster="https://10.0.0.1:443"))),
    "VV009": (vault(), vault(v2=vault_hcl(2, cluster="https://10.0.0.1:8201"))),
    "VV010": (
        vault(v1=vault_hcl(1, listener=TWO_LISTENERS)),
        vault(v1=vault_hcl(1, cluster=None, listener=TWO_LISTENERS)),
    ),
    "VV011": (vault(), vault(v2=vault_hcl(2).replace('node_id = "v2"', 'node_id = "v1"'))),
    "VV012": (vault(), vault(v1=V1.replace("https://10.0.0.2:8200", "https://10.0.0.9:8200"))),
    "VV013": (vault(), vault(v1=vault_hcl(1, cluster=None))),
    "VV014": (vault(), vault(v1=vault_hcl(1, storage=""))),
    "VV015": (vault(), vault(v1=V1.replace('path    = "/var/lib/bao"', ""))),
    "VV016": (vault(), vault(v1=vault_hcl(1, cluster="https://10.0.0.1:8200"))),
    "VV017": (vault(), vault(v1=V1.replace('leader_api_addr = "https://10.0.0.2:8200"', 'auto_join_scheme = "http"'))),
    "VV018": (vault(), vault(v1=vault_hcl(1, listener=tcp(LISTEN + '  cluster_address = "0.0.0.0:8201"\n')))),
    "VV019": (vault(), vault(v1=vault_hcl(1, extra="disable_clustering = true"))),
    "VV020": (vault(), vault(v1=vault_hcl(1, listener=tcp(LISTEN + TLS, LISTEN + TLS)))),
    "VV021": (vault(v1=TEMPLATE_API), vault(v1=TEMPLATE_API, facts=False)),
    "VV022": (vault(), vault(v1=vault_hcl(1, extra='storage "inmem" {}'))),
    "VV023": (vault(), vault(v1=vault_hcl(1, cluster="http://10.0.0.1:8201"))),
    "VV024": (vault(), vault(v1=vault_hcl(1, cluster="https://127.0.0.1:8201"))),
    "VV025": (alone("consul", "vault"), alone("consul", "openbao", "2.6.2")),
    "VV026": (alone("file", "vault"), alone("file", "openbao", "2.6.2")),
    "VV027": (vault(), vault(v1=V1.replace("https://10.0.0.2:8200", "http://10.0.0.2:8200"))),
}

CASES: dict[str, tuple[Ids, Ids]] = {
    **CH_CASES,
    **VH_CASES,
    **UP_CASES,
    **VU_CASES,
    **PF_CASES,
    **VC_CASES,
    **VX_CASES,
    **VV_CASES,
}
RULES = all_rules()


def test_every_rule_has_a_case() -> None:
    assert sorted(set(RULES) - set(CASES)) == [], "rules without a passing and a failing case"
    assert sorted(set(CASES) - set(RULES)) == [], "cases of rules that do not exist"


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_is_documented_and_its_cases_tell_pass_from_fail(tmp_path: Path, rule_id: str) -> None:
    rule = RULES[rule_id]
    assert rule.summary.strip() and rule.doc.strip() and rule.remedy.strip(), rule
    passing, failing = CASES[rule_id]
    (tmp_path / "pass").mkdir()
    (tmp_path / "fail").mkdir()
    assert rule_id not in set(passing(tmp_path / "pass"))
    assert rule_id in set(failing(tmp_path / "fail"))


@pytest.mark.parametrize("check", STARTUP_CHECKS, ids=lambda c: c.name)
def test_every_startup_check_tells_its_passing_from_its_failing_example(tmp_path: Path, check: StartupCheck) -> None:
    """The start-up checks carry their own examples (consul_startup.STARTUP_CHECKS); each reports its rule."""
    assert check.doc.strip() and check.rule in VALIDATE_RULES
    for name, text, fails in (("pass", check.passing, False), ("fail", check.failing, True)):
        path = tmp_path / f"{name}.hcl"
        path.write_text(f'data_dir = "/d"\nbind_addr = "10.0.0.1"\n{text}\n')
        report = validate_consul([str(path)], consul_version=check.since)
        hits = [f.message for f in report.findings if f.rule_id == check.rule]
        message = check.check(load_consul(path, release=check.since))
        assert (message is not None) is fails, (check.name, text)
        assert (message in hits) if fails else not hits, (check.name, text, hits)


def test_every_validate_rule_is_registered_with_the_check_that_reports_it() -> None:
    consul = registered(consul_rules.CHECKS)
    vault = registered(vault_rules.CHECKS)
    assert {r.id for r in consul} == {i for i in VALIDATE_RULES if i.startswith("VC")}
    across = {i for i in VALIDATE_RULES if i.startswith("VV")} - {r.id for r in vault}
    assert across == {"VV009", "VV011", "VV012", "VV027"}  # check_vault_cluster, across the nodes
    assert all(VALIDATE_RULES[r.id] is r for r in (*consul, *vault))


def test_a_check_reporting_a_rule_it_does_not_declare_is_refused() -> None:
    def sloppy(_view: object) -> Iterator[Hit]:
        yield Hit("VC004", "not mine")

    with pytest.raises(ValueError, match="sloppy reported VC004, which it does not declare"):
        run_checks([check(sloppy, "VC003")], object(), "n1", Loc("n1.hcl"))


def test_sarif_carries_the_rule_doc() -> None:
    from clusterops.report.sarif import document

    rule = RULES["VC003"]
    report = Report("t", (Finding.of(rule, "n1", "m"),), rules=(rule,))
    (entry,) = document(report)["runs"][0]["tool"]["driver"]["rules"]
    assert entry["fullDescription"] == {"text": rule.doc} and rule.doc
