"""Builders for validate tests: a healthy 3-server Consul cluster and 3-node OpenBao raft cluster as text,
plus facts, written to tmp dirs. Each rule test mutates one thing and looks for its rule id."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clusterops.findings import Report
from clusterops.validate.facts import Facts, facts_from_dict
from clusterops.validate.run import validate_consul, validate_vault


def hcl_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(hcl_value(x) for x in v) + "]"
    return json.dumps(v)


def consul_hcl(settings: dict[str, Any], extra: str = "") -> str:
    lines = [f"{k} = {hcl_value(v)}" for k, v in settings.items() if v is not None]
    return "\n".join(lines) + "\n" + extra + "\n"


def consul_server(i: int, n: int = 3, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "datacenter": "dc1",
        "node_name": f"s{i}",
        "server": True,
        "bootstrap_expect": n,
        "data_dir": "/var/lib/consul",
        "bind_addr": f"10.0.0.{i}",
        "retry_join": [f"10.0.0.{j}" for j in range(1, n + 1) if j != i],
    }
    base.update(over)
    return base


def host(*addrs: str, name: str = "eth0", extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "interfaces": [
            {"name": "lo", "flags": ["up", "loopback"], "addresses": ["127.0.0.1/8", "::1/128"]},
            {"name": name, "flags": ["up", "broadcast", "multicast"], "addresses": list(addrs)},
            *(extra or []),
        ],
        "default_route": name,
    }


def cluster_facts(n: int = 3, *, names: tuple[str, ...] = (), **hosts: dict[str, Any]) -> Facts:
    """Facts for s1..sn and v1..vn (10.0.0.i), plus `names` on 10.0.0.1."""
    nodes = {name: host("10.0.0.1/24") for name in names}
    nodes.update({f"s{i}": host(f"10.0.0.{i}/24") for i in range(1, n + 1)})
    nodes.update({f"v{i}": host(f"10.0.0.{i}/24") for i in range(1, n + 1)})
    nodes.update(hosts)
    return facts_from_dict({"nodes": nodes}, "facts.yaml")


RunConsul = Callable[..., Report]


@pytest.fixture
def run_consul(tmp_path: Path) -> RunConsul:
    def run(configs: dict[str, str], facts: Facts | None = None, *, no_facts: bool = False) -> Report:
        paths = []
        for name, text in configs.items():
            p = tmp_path / f"{name}.hcl"
            p.write_text(text)
            paths.append(str(p))
        return validate_consul(paths, facts=None if no_facts else (facts or cluster_facts(len(configs))))

    return run


def vault_hcl(
    i: int,
    *,
    api: str | None = "default",
    cluster: str | None = "default",
    listener: str | None = None,
    storage: str | None = None,
    extra: str = "",
) -> str:
    api_line = f'api_addr = "https://10.0.0.{i}:8200"' if api == "default" else (f'api_addr = "{api}"' if api else "")
    cl_line = (
        f'cluster_addr = "https://10.0.0.{i}:8201"'
        if cluster == "default"
        else (f'cluster_addr = "{cluster}"' if cluster else "")
    )
    joins = "\n".join(
        f'  retry_join {{\n    leader_api_addr = "https://10.0.0.{j}:8200"\n  }}' for j in (1, 2, 3) if j != i
    )
    storage_block = (
        storage
        if storage is not None
        else f'storage "raft" {{\n  path    = "/var/lib/bao"\n  node_id = "v{i}"\n{joins}\n}}'
    )
    listener_block = (
        listener
        if listener is not None
        else 'listener "tcp" {\n  address         = "0.0.0.0:8200"\n  cluster_address = "0.0.0.0:8201"\n'
        '  tls_cert_file   = "/etc/bao/tls.crt"\n  tls_key_file    = "/etc/bao/tls.key"\n}'
    )
    return f"{storage_block}\n{listener_block}\n{api_line}\n{cl_line}\n{extra}\n"


RunVault = Callable[..., Report]


@pytest.fixture
def run_vault(tmp_path: Path) -> RunVault:
    def run(configs: dict[str, str], facts: Facts | None = None, *, no_facts: bool = False) -> Report:
        paths = []
        for name, text in configs.items():
            p = tmp_path / f"{name}.hcl"
            p.write_text(text)
            paths.append(str(p))
        chosen = facts or cluster_facts(len(configs), names=tuple(configs))
        return validate_vault(paths, facts=None if no_facts else chosen)

    return run


def rule_ids(report: Report) -> set[str]:
    return {f.rule_id for f in report.findings}
