"""Host facts: the interfaces, addresses and default route of each target host.

Address checks (go-sockaddr templates, Consul's detection of the one private IPv4 when it binds 0.0.0.0,
"is the advertised address on this host") depend on the machine the server runs on, not on the CI runner.
`--facts FILE` declares them per node; `--live` reads the current host (`clusterops.validate.live`).

Facts file (YAML):

    nodes:                          # keyed by node: Consul node_name / Vault raft node_id,
      consul-1:                     # or the config file's stem / config directory's name
        interfaces:
          - name: lo
            flags: [up, loopback]           # default: [up], plus loopback for `lo`
            addresses: [127.0.0.1/8, ::1/128]
          - name: eth0
            flags: [up, broadcast, multicast]
            addresses: [10.0.0.11/24]       # address/prefix; a bare address is a /32 or /128
        default_route: eth0                 # the interface of `default via ...` (or {interface: eth0})
        env:                                # optional: the server's environment (VAULT_API_ADDR, BAO_*...)
          VAULT_API_ADDR: https://10.0.0.11:8200
    default: { interfaces: [...], default_route: eth0 }   # optional: for nodes not listed

Flags are Go's `net.Flags` names: up, broadcast, loopback, point-to-point (or pointtopoint), multicast,
running. Interface order is the host's order (go-sockaddr keeps it for ties).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterops.errors import ConfigError

IPIface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

KNOWN_FLAGS = ("up", "broadcast", "loopback", "pointtopoint", "multicast", "running")
_FLAG_ALIASES = {"point-to-point": "pointtopoint", "p2p": "pointtopoint", "lower_up": "running"}


@dataclass(frozen=True)
class Interface:
    name: str
    flags: frozenset[str]
    addresses: tuple[IPIface, ...]
    index: int = 0

    @property
    def up(self) -> bool:
        return "up" in self.flags

    @property
    def loopback(self) -> bool:
        return "loopback" in self.flags


@dataclass(frozen=True)
class HostFacts:
    """One host: interfaces in order, the default-route interface, and the server's environment."""

    interfaces: tuple[Interface, ...]
    default_interface: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    path: str | None = None  # the facts file, when the facts came from one
    env_lines: Mapping[str, int] = field(default_factory=dict)  # env variable -> its line in that file

    def all_addresses(self) -> list[tuple[IPIface, Interface]]:
        return [(a, i) for i in self.interfaces for a in i.addresses]

    def has_address(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """True if `ip` is configured on an interface, or falls in a loopback interface's network
        (Linux answers on all of 127.0.0.0/8 through `lo`)."""
        for addr, iface in self.all_addresses():
            if addr.ip == ip:
                return True
            if iface.loopback and addr.version == ip.version and ip in addr.network:
                return True
        return False


@dataclass(frozen=True)
class Facts:
    """Facts for a set of nodes; `default` applies to nodes not listed."""

    nodes: Mapping[str, HostFacts]
    default: HostFacts | None = None
    source: str = ""

    def for_node(self, *names: str | None) -> HostFacts | None:
        for name in names:
            if name and name in self.nodes:
                return self.nodes[name]
        return self.default


def parse_flags(raw: object, name: str, where: str) -> frozenset[str]:
    if raw is None:
        flags = {"up"}
        if name == "lo":
            flags.add("loopback")
        return frozenset(flags)
    if isinstance(raw, str):
        raw = [p for p in raw.replace(",", "|").split("|") if p.strip()]
    if not isinstance(raw, list):
        raise ConfigError(f"interface {name}: flags must be a list of names", path=where)
    out = set()
    for f in raw:
        key = str(f).strip().lower()
        key = _FLAG_ALIASES.get(key, key)
        if key not in KNOWN_FLAGS:
            raise ConfigError(
                f"interface {name}: unknown flag {f!r}; use {', '.join(KNOWN_FLAGS)}",
                path=where,
            )
        out.add(key)
    return frozenset(out)


def parse_address(raw: object, name: str, where: str) -> IPIface:
    text = str(raw).strip()
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise ConfigError(f"interface {name}: {text!r} is not an address/prefix", path=where) from None


def host_from_dict(data: object, where: str) -> HostFacts:
    if not isinstance(data, dict):
        raise ConfigError("a host must be a mapping with 'interfaces'", path=where)
    raw_ifaces = data.get("interfaces") or []
    if not isinstance(raw_ifaces, list):
        raise ConfigError("'interfaces' must be a list", path=where)
    ifaces = []
    for n, raw in enumerate(raw_ifaces, start=1):
        if not isinstance(raw, dict) or not raw.get("name"):
            raise ConfigError(f"interface #{n} needs a 'name'", path=where)
        name = str(raw["name"])
        addrs = raw.get("addresses") or []
        if isinstance(addrs, str):
            addrs = addrs.split()
        if not isinstance(addrs, list):
            raise ConfigError(f"interface {name}: 'addresses' must be a list", path=where)
        ifaces.append(
            Interface(
                name=name,
                flags=parse_flags(raw.get("flags"), name, where),
                addresses=tuple(parse_address(a, name, where) for a in addrs),
                index=n,
            )
        )
    route = data.get("default_route")
    if isinstance(route, dict):
        route = route.get("interface")
    if route is not None and route not in {i.name for i in ifaces}:
        raise ConfigError(f"default_route names interface {route!r}, which is not declared", path=where)
    env = data.get("env") or {}
    if not isinstance(env, dict):
        raise ConfigError("'env' must be a mapping of variable to value", path=where)
    return HostFacts(
        interfaces=tuple(ifaces),
        default_interface=str(route) if route is not None else None,
        env={str(k): str(v) for k, v in env.items()},
        source=where,
    )


def facts_from_dict(data: Any, source: str) -> Facts:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the facts file must be a mapping with 'nodes'", path=source)
    unknown = set(data) - {"nodes", "default"}
    if unknown:
        raise ConfigError(f"unknown top-level keys {sorted(unknown)}; use 'nodes' and 'default'", path=source)
    nodes_raw = data.get("nodes") or {}
    if not isinstance(nodes_raw, dict):
        raise ConfigError("'nodes' must map node names to hosts", path=source)
    nodes = {str(k): host_from_dict(v, f"{source}: node {k}") for k, v in nodes_raw.items()}
    default = host_from_dict(data["default"], f"{source}: default") if data.get("default") else None
    return Facts(nodes=nodes, default=default, source=source)


def load_facts(path: str | Path) -> Facts:
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read facts file: {err.strerror or err}", path=str(p)) from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", path=str(p)) from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError("nested too deeply", path=str(p)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"invalid YAML: {problem}", path=str(p), line=line) from None
    facts = facts_from_dict(data, str(p))
    return _with_env_lines(facts, text, str(p))


def _with_env_lines(facts: Facts, text: str, path: str) -> Facts:
    """Record the file and the line of each env variable, so findings on env values point at the facts file."""
    import dataclasses

    import yaml

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return facts
    lines: dict[tuple[str, str], int] = {}  # (node or "", variable) -> line

    def mapping(node: object) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            return {}
        return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}

    top = mapping(root)
    hosts = [(name, h) for name, h in mapping(top.get("nodes")).items()]
    if "default" in top:
        hosts.append(("", top["default"]))
    for name, h in hosts:
        env = mapping(h).get("env")
        if isinstance(env, yaml.MappingNode):
            for k, _v in env.value:
                lines[(name, str(k.value))] = k.start_mark.line + 1

    def add(name: str, host: HostFacts) -> HostFacts:
        own = {var: line for (n, var), line in lines.items() if n == name}
        return dataclasses.replace(host, path=path, env_lines=own)

    return Facts(
        nodes={k: add(k, v) for k, v in facts.nodes.items()},
        default=add("", facts.default) if facts.default is not None else None,
        source=facts.source,
    )
