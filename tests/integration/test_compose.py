"""The docker-compose lab (docker-compose.yml, deploy/compose/), checked without a Docker engine.

- structure: every mounted config exists and is read-only, every service has a healthcheck, fixed addresses are
  unique and inside the network's subnet, Consul node names are unique, the facts file matches the compose file;
- `clusterops validate consul|vault --facts deploy/compose/facts.yaml` finds no error (the templates are evaluated for
  the containers' interfaces, and vault-1's environment from the compose file overrides its config file);
- broken copies (a template that matches several addresses, one server with another gossip key, a cluster_addr
  equal to the api_addr) are caught with the right rule ids, so the validation really reads these files;
- differential: the real `consul validate` 1.14.11 accepts each server's config dir and the real `bao server` 2.7.2
  starts with vault-1's config and environment, each inside a network namespace that has the container's addresses
  (the templates resolve against the host they run on, so never on the CI runner itself);
- the same file on a real Docker engine (up, clusterops on it, a rolling upgrade, down) is
  tests/integration/test_compose_engine.py.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl
import pytest
import yaml

from clusterops.lab import binaries
from tests.conftest import IN_CI, require_binaries
from tests.integration.helpers import run_cli
from tests.integration.test_validate_differential import NetNS, _bao_verdict, make_netns

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
FACTS = ROOT / "deploy" / "compose" / "facts.yaml"
CONSUL_SERVICES = ("consul-1", "consul-2", "consul-3")
VAULT_SERVICE = "vault-1"


def _compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())  # PyYAML resolves the `<<: *consul-server` merge keys as Compose does
    assert isinstance(doc, dict)
    return doc


def _consul_dir(service: str) -> Path:
    return ROOT / "deploy" / "compose" / "consul" / service


def _vault_env() -> dict[str, str]:
    env = _compose()["services"][VAULT_SERVICE]["environment"]
    return {str(k): str(v) for k, v in env.items()}


def _service_ip(service: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(_compose()["services"][service]["networks"]["lab"]["ipv4_address"])


def _subnet() -> ipaddress.IPv4Network:
    (pool,) = _compose()["networks"]["lab"]["ipam"]["config"]
    return ipaddress.IPv4Network(pool["subnet"])


def _validate(kind: str, paths: list[Path], facts: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        "validate", kind, *map(str, paths), "--facts", str(facts), "--format", "json", env=dict(os.environ)
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


# -- structure -----------------------------------------------------------------------------------


def test_services_volumes_and_healthchecks() -> None:
    doc = _compose()
    services = doc["services"]
    assert set(services) == {*CONSUL_SERVICES, VAULT_SERVICE}
    declared_volumes = set(doc["volumes"])
    for name, svc in services.items():
        _, _, tag = svc["image"].partition(":")
        assert tag and tag != "latest", f"{name}: pin the image tag"
        test = svc["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL" and test[1].strip(), f"{name}: healthcheck"
        assert svc["hostname"] == name
        binds = [v for v in svc["volumes"] if v["type"] == "bind"]
        assert binds, f"{name}: its config is mounted from deploy/compose/"
        for v in binds:
            source = (ROOT / v["source"]).resolve()
            assert source.is_dir() and any(source.glob("*.hcl")), f"{name}: {v['source']} has no config"
            assert source.is_relative_to(ROOT / "deploy" / "compose")
            assert v["read_only"] is True, f"{name}: mount {v['source']} read-only"
        named = {v["source"] for v in svc["volumes"] if v["type"] == "volume"}
        assert named and named <= declared_volumes, f"{name}: data on a declared named volume"
        assert list(svc["networks"]) == ["lab"]
    for name in CONSUL_SERVICES:
        assert services[name]["image"] == f"hashicorp/consul:${{CONSUL_VERSION:-{binaries.CONSUL_TO}}}"
        assert "/v1/status/leader" in services[name]["healthcheck"]["test"][1]
        # the image's entrypoint chowns /consul/config: our read-only config must be mounted elsewhere
        assert services[name]["volumes"][0]["target"] != "/consul/config"
        assert f"-config-dir={services[name]['volumes'][0]['target']}" in services[name]["command"]
    assert services[VAULT_SERVICE]["image"] == f"openbao/openbao:${{OPENBAO_VERSION:-{binaries.DEFAULT_OPENBAO}}}"
    assert "/v1/sys/health" in services[VAULT_SERVICE]["healthcheck"]["test"][1]


def test_network_addresses_are_fixed_unique_and_inside_the_subnet() -> None:
    doc = _compose()
    assert doc["networks"]["lab"]["driver"] == "bridge"
    subnet = _subnet()
    gateway = ipaddress.IPv4Address(doc["networks"]["lab"]["ipam"]["config"][0]["gateway"])
    ips = {name: _service_ip(name) for name in doc["services"]}
    assert len(set(ips.values())) == len(ips), ips
    for name, ip in ips.items():
        assert ip in subnet and ip not in (subnet.network_address, subnet.broadcast_address, gateway), (name, ip)


def test_consul_node_names_are_unique_and_join_by_service_name() -> None:
    names = []
    for service in CONSUL_SERVICES:
        conf = hcl.loads((_consul_dir(service) / "server.hcl").read_text())
        names.append(conf["node_name"])
        assert conf["node_name"] == service  # facts are keyed by it; the compose hostname says the same
        assert conf["server"] is True and conf["bootstrap_expect"] == len(CONSUL_SERVICES)
        assert conf["retry_join"] == list(CONSUL_SERVICES)
        assert conf["autopilot"]["min_quorum"] == len(CONSUL_SERVICES)
        assert conf["encrypt"]
        for key in ("bind_addr", "advertise_addr"):
            assert "{{" in conf[key] and str(_subnet()) in conf[key], f"{service}: {key} is a template"
    assert len(set(names)) == len(names)


def test_facts_describe_the_compose_containers() -> None:
    facts = yaml.safe_load(FACTS.read_text())["nodes"]
    assert set(facts) == {*CONSUL_SERVICES, VAULT_SERVICE}
    for name, host in facts.items():
        ifaces = {i["name"]: i for i in host["interfaces"]}
        assert set(ifaces) == {"lo", "eth0"} and host["default_route"] == "eth0"
        (eth0,) = ifaces["eth0"]["addresses"]
        assert ipaddress.IPv4Interface(eth0) == ipaddress.IPv4Interface(f"{_service_ip(name)}/{_subnet().prefixlen}")
    assert facts[VAULT_SERVICE]["env"] == _vault_env()  # what `clusterops validate vault` uses as the environment


def test_clusterops_validate_consul_finds_no_error() -> None:
    code, doc = _validate("consul", [_consul_dir(s) for s in CONSUL_SERVICES], FACTS)
    assert code == 0 and doc["findings"] == [], doc  # no error, no warning, no skipped check (VC015)


def test_clusterops_validate_vault_with_the_compose_environment(tmp_path: Path) -> None:
    facts = yaml.safe_load(FACTS.read_text())
    facts["nodes"][VAULT_SERVICE]["env"] = _vault_env()  # straight from docker-compose.yml
    facts_file = tmp_path / "facts.yaml"
    facts_file.write_text(yaml.safe_dump(facts))
    code, doc = _validate("vault", [ROOT / "deploy/compose/vault/vault-1.hcl"], facts_file)
    assert code == 0 and doc["findings"] == [], doc

    # without the environment, the config file alone lacks api_addr/cluster_addr: the env really is what passes
    del facts["nodes"][VAULT_SERVICE]["env"]
    facts_file.write_text(yaml.safe_dump(facts))
    code, doc = _validate("vault", [ROOT / "deploy/compose/vault/vault-1.hcl"], facts_file)
    assert code == 1 and {"VV004", "VV013"} <= {f["rule"] for f in doc["findings"]}, doc


# -- broken copies -------------------------------------------------------------------------------

BIND = 'bind_addr      = "{{ GetPrivateInterfaces | include \\"network\\" \\"172.28.0.0/16\\" | attr \\"address\\" }}"'
BIND_MANY = 'bind_addr      = "{{ GetAllInterfaces | include \\"flags\\" \\"up\\" | join \\"address\\" \\" \\" }}"'


def _copy_consul(tmp_path: Path) -> list[Path]:
    dirs = []
    for service in CONSUL_SERVICES:
        target = tmp_path / service
        shutil.copytree(_consul_dir(service), target)
        dirs.append(target)
    return dirs


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: {old!r} not found once"
    path.write_text(text.replace(old, new))


def test_a_bind_template_matching_several_addresses_is_caught(tmp_path: Path) -> None:
    dirs = _copy_consul(tmp_path)
    _edit(dirs[1] / "server.hcl", BIND, BIND_MANY)
    _, doc = _validate("consul", dirs, FACTS)
    bad = doc["findings"]
    assert {(f["rule"], f["subject"]) for f in bad} == {("VC003", "consul-2")}, bad
    assert "172.28.0.12" in bad[0]["message"] and "127.0.0.1" in bad[0]["message"]


def test_a_server_with_another_gossip_key_is_caught(tmp_path: Path) -> None:
    dirs = _copy_consul(tmp_path)
    text = (dirs[2] / "server.hcl").read_text()
    (key,) = [ln.split('"')[1] for ln in text.splitlines() if ln.startswith("encrypt")]
    _edit(dirs[2] / "server.hcl", key, "c2VjcmV0LWtleS1vZi1hLXRlc3QtMTIzNDU2Nzg5MDE=")
    _, doc = _validate("consul", dirs, FACTS)
    bad = doc["findings"]
    assert {f["rule"] for f in bad} == {"VX006"}, bad
    assert key not in json.dumps(doc)  # the gossip key is a secret: never in a report


def test_a_vault_cluster_addr_equal_to_the_api_addr_is_caught(tmp_path: Path) -> None:
    facts = yaml.safe_load(FACTS.read_text())
    facts["nodes"][VAULT_SERVICE]["env"] = {**_vault_env(), "VAULT_CLUSTER_ADDR": _vault_env()["VAULT_API_ADDR"]}
    facts_file = tmp_path / "facts.yaml"
    facts_file.write_text(yaml.safe_dump(facts))
    code, doc = _validate("vault", [ROOT / "deploy/compose/vault/vault-1.hcl"], facts_file)
    assert code == 1 and {"VV008", "VV016"} <= {f["rule"] for f in doc["findings"]}, doc


# -- differential: the real servers, in network namespaces with the containers' addresses ----------


@pytest.fixture(scope="module")
def container_netns() -> Iterator[dict[str, NetNS]]:
    """One namespace per service: `lo` and `eth0` with the service's address/prefix, default route via the gateway."""
    why = None if os.geteuid() == 0 and shutil.which("ip") else "network namespaces need root and iproute2"
    if why:
        if IN_CI:
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    gateway = _compose()["networks"]["lab"]["ipam"]["config"][0]["gateway"]
    made: dict[str, NetNS] = {}
    try:
        for n, service in enumerate((*CONSUL_SERVICES, VAULT_SERVICE)):
            cidr = f"{_service_ip(service)}/{_subnet().prefixlen}"
            made[service] = make_netns(f"cocmp{os.getpid() % 100000}x{n}", [("eth0", cidr)], gateway)
        yield made
    finally:
        for ns in made.values():
            ns.delete()


def test_consul_validate_accepts_each_server_config(container_netns: dict[str, NetNS], tmp_path: Path) -> None:
    require_binaries()
    consul = binaries.consul_binary(binaries.CONSUL_TO, build=False)
    for service in CONSUL_SERVICES:
        proc = container_netns[service].run([str(consul), "validate", str(_consul_dir(service))])
        assert proc.returncode == 0, f"{service}: {proc.stdout}{proc.stderr}"
        assert "Configuration is valid!" in proc.stdout
    # and it is the same Consul that refuses the broken copy our VC003 catches
    dirs = _copy_consul(tmp_path)
    _edit(dirs[1] / "server.hcl", BIND, BIND_MANY)
    proc = container_netns["consul-2"].run([str(consul), "validate", str(dirs[1])])
    assert proc.returncode != 0 and "bind_addr cannot contain multiple addresses" in proc.stdout + proc.stderr


def test_openbao_starts_with_vault_1s_config_and_environment(
    container_netns: dict[str, NetNS], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_binaries(vault=True)
    bao = binaries.openbao_binary(binaries.DEFAULT_OPENBAO, install=False)
    for key, value in _vault_env().items():
        monkeypatch.setenv(key, value)  # inherited by `ip netns exec ... bao server`, as the container's env
    monkeypatch.setenv("VAULT_RAFT_PATH", str(tmp_path / "raft"))  # instead of the container's /openbao/file volume
    (tmp_path / "raft").mkdir()
    log = tmp_path / "bao.log"
    failed, evidence = _bao_verdict(container_netns[VAULT_SERVICE], bao, ROOT / "deploy/compose/vault", log)
    assert not failed, evidence
    text = log.read_text()
    assert "Api Address: http://172.28.0.21:8200" in text
    assert "Cluster Address: https://172.28.0.21:8201" in text
    assert 'addr: "172.28.0.21:8200", cluster address: "172.28.0.21:8201"' in text  # the listener's templates

    # the broken copy our VV016 catches: OpenBao refuses to start as well
    monkeypatch.setenv("VAULT_CLUSTER_ADDR", _vault_env()["VAULT_API_ADDR"])
    failed, evidence = _bao_verdict(container_netns[VAULT_SERVICE], bao, ROOT / "deploy/compose/vault", log)
    assert failed and "used for both API and cluster addresses" in evidence, evidence
