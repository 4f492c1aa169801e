"""Host facts: the YAML format, its errors (file and line), and the `ip -j` reader behind --live."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from clusterops.errors import ConfigError
from clusterops.validate.facts import load_facts
from clusterops.validate.live import ADDRESS_ENV, host_from_ip_json

GOOD = """
nodes:
  s1:
    interfaces:
      - name: lo
        addresses: ["127.0.0.1/8", "::1/128"]
      - name: eth0
        flags: up|broadcast
        addresses: 10.0.0.1/24 10.0.0.9
    default_route: {interface: eth0}
    env: {VAULT_API_ADDR: "https://10.0.0.1:8200"}
default:
  interfaces: [{name: eth0, flags: [up, point-to-point], addresses: [192.168.1.2/24]}]
"""


def test_facts_file(tmp_path: Path) -> None:
    p = tmp_path / "facts.yaml"
    p.write_text(GOOD)
    facts = load_facts(p)
    s1 = facts.nodes["s1"]
    assert [i.name for i in s1.interfaces] == ["lo", "eth0"]
    assert s1.interfaces[0].flags == {"up", "loopback"}  # the default for `lo`
    assert s1.interfaces[1].addresses[1] == ipaddress.ip_interface("10.0.0.9/32")
    assert s1.default_interface == "eth0" and s1.env["VAULT_API_ADDR"].startswith("https://")
    assert s1.has_address(ipaddress.ip_address("127.0.5.3"))  # all of 127/8 answers on lo
    assert facts.for_node("nope", "s9") is facts.default
    assert facts.default is not None and facts.default.interfaces[0].flags == {"up", "pointtopoint"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("nodes: [\n", "not valid YAML"),
        ("hosts: {}\n", "unknown top-level keys"),
        ("nodes:\n  s1:\n    interfaces: [{name: eth0, addresses: [10.0.0.300/24]}]\n", "not an address/prefix"),
        ("nodes:\n  s1:\n    interfaces: [{name: eth0, flags: [shiny]}]\n", "unknown flag"),
        ("nodes:\n  s1:\n    interfaces: [{name: eth0}]\n    default_route: eth9\n", "not declared"),
        ("nodes:\n  s1:\n    interfaces: [{addresses: []}]\n", "needs a 'name'"),
    ],
)
def test_bad_facts_are_config_errors(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "facts.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_facts(p)
    assert fragment in str(err.value) and str(p) in str(err.value)


def test_live_reader_parses_ip_json() -> None:
    addrs = [
        {
            "ifindex": 1,
            "ifname": "lo",
            "flags": ["LOOPBACK", "UP", "LOWER_UP"],
            "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}],
        },
        {
            "ifindex": 2,
            "ifname": "eth0",
            "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
            "addr_info": [
                {"family": "inet", "local": "192.0.2.2", "prefixlen": 24},
                {"family": "inet6", "local": "fd00::2", "prefixlen": 64},
            ],
        },
        {"ifindex": 3, "ifname": "ifb0", "flags": ["BROADCAST", "NOARP"], "addr_info": []},
    ]
    routes = [{"dst": "default", "dev": "eth0", "flags": []}, {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"}]
    host = host_from_ip_json(addrs, routes)
    assert [(i.name, sorted(i.flags)) for i in host.interfaces] == [
        ("lo", ["loopback", "running", "up"]),
        ("eth0", ["broadcast", "multicast", "running", "up"]),
        ("ifb0", ["broadcast"]),
    ]
    assert host.default_interface == "eth0"  # `default dev X` without a gateway is ignored, as go-sockaddr does
    assert "VAULT_TOKEN" not in ADDRESS_ENV and "BAO_API_ADDR" in ADDRESS_ENV


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("- a\n- b\n", 1, "the facts file must be a mapping"),
        ("nodes: {}\nhosts: {}\n", 2, "unknown top-level keys"),
        ("nodes:\n  s1:\n    interfaces:\n      - {name: lo}\n      - {addresses: []}\n", 5, "interface #2 needs"),
        ("nodes:\n  s1:\n    interfaces:\n      - name: eth0\n        flags: [up, shiny]\n", 5, "unknown flag"),
        ("default:\n  interfaces:\n    - name: e\n      addresses:\n        - 10.0.0.1/8\n        - 10.0.0.300/24\n",
         6, "default: interface e: '10.0.0.300/24' is not an address/prefix"),
        ("nodes:\n  s1:\n    interfaces: [{name: eth0}]\n    default_route: [eth0]\n", 4, "must name an interface"),
        ("nodes:\n  s1:\n    interfaces: [{name: eth0}]\n    default_route: eth9\n", 4, "not declared"),
        ("nodes:\n  s1: [1]\n", 2, "node s1: a host must be a mapping"),
    ],
)  # fmt: skip
def test_facts_errors_name_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    p = tmp_path / "facts.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_facts(p)
    assert str(err.value).startswith(f"{p}:{line}: ") and fragment in str(err.value)


def test_facts_env_lines_point_into_the_file(tmp_path: Path) -> None:
    p = tmp_path / "facts.yaml"
    p.write_text("nodes:\n  s1:\n    env:\n      A: x\n      B: y\ndefault:\n  env: {C: z}\n")
    facts = load_facts(p)
    assert facts.nodes["s1"].env_lines == {"A": 4, "B": 5} and facts.nodes["s1"].path == str(p)
    assert facts.default is not None and facts.default.env_lines == {"C": 7}
