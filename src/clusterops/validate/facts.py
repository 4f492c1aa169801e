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
from clusterops.yamlsource import Locator, PathPart, load_yaml_text

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


Keys = tuple[PathPart, ...]


def _error(where: str, message: str, loc: Locator | None, keys: Keys) -> ConfigError:
    """`where` is "FILE" or "FILE: node X"; with a locator the error reads "FILE:LINE: node X: message"."""
    if loc is None or not where.startswith(loc.path):
        return ConfigError(message, path=where)
    label = where[len(loc.path) :].lstrip(": ")
    return ConfigError(f"{label}: {message}" if label else message, path=loc.path, line=loc.line(keys))


def parse_flags(raw: object, name: str, where: str, *, loc: Locator | None = None, keys: Keys = ()) -> frozenset[str]:
    if raw is None:
        flags = {"up"}
        if name == "lo":
            flags.add("loopback")
        return frozenset(flags)
    if isinstance(raw, str):
        raw = [p for p in raw.replace(",", "|").split("|") if p.strip()]
    if not isinstance(raw, list):
        raise _error(where, f"interface {name}: flags must be a list of names", loc, keys)
    out = set()
    for i, f in enumerate(raw):
        key = str(f).strip().lower()
        key = _FLAG_ALIASES.get(key, key)
        if key not in KNOWN_FLAGS:
            raise _error(where, f"interface {name}: unknown flag {f!r}; use {', '.join(KNOWN_FLAGS)}", loc, (*keys, i))
        out.add(key)
    return frozenset(out)


def parse_address(raw: object, name: str, where: str, *, loc: Locator | None = None, keys: Keys = ()) -> IPIface:
    text = str(raw).strip()
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise _error(where, f"interface {name}: {text!r} is not an address/prefix", loc, keys) from None


def host_from_dict(data: object, where: str, *, loc: Locator | None = None, keys: Keys = ()) -> HostFacts:
    if not isinstance(data, dict):
        raise _error(where, "a host must be a mapping with 'interfaces'", loc, keys)
    raw_ifaces = data.get("interfaces") or []
    if not isinstance(raw_ifaces, list):
        raise _error(where, "'interfaces' must be a list", loc, (*keys, "interfaces"))
    ifaces = []
    for n, raw in enumerate(raw_ifaces, start=1):
        at: Keys = (*keys, "interfaces", n - 1)
        if not isinstance(raw, dict) or not raw.get("name"):
            raise _error(where, f"interface #{n} needs a 'name'", loc, at)
        name = str(raw["name"])
        addrs = raw.get("addresses") or []
        if isinstance(addrs, str):
            addrs = addrs.split()
        if not isinstance(addrs, list):
            raise _error(where, f"interface {name}: 'addresses' must be a list", loc, (*at, "addresses"))
        ifaces.append(
            Interface(
                name=name,
                flags=parse_flags(raw.get("flags"), name, where, loc=loc, keys=(*at, "flags")),
                addresses=tuple(
                    parse_address(a, name, where, loc=loc, keys=(*at, "addresses", i)) for i, a in enumerate(addrs)
                ),
                index=n,
            )
        )
    route = data.get("default_route")
    if isinstance(route, dict):
        route = route.get("interface")
    if isinstance(route, list | dict):
        raise _error(
            where, "default_route must name an interface (or be {interface: NAME})", loc, (*keys, "default_route")
        )
    if route is not None and route not in {i.name for i in ifaces}:
        raise _error(
            where, f"default_route names interface {route!r}, which is not declared", loc, (*keys, "default_route")
        )
    env = data.get("env") or {}
    if not isinstance(env, dict):
        raise _error(where, "'env' must be a mapping of variable to value", loc, (*keys, "env"))
    return HostFacts(
        interfaces=tuple(ifaces),
        default_interface=str(route) if route is not None else None,
        env={str(k): str(v) for k, v in env.items()},
        source=where,
    )


def facts_from_dict(data: Any, source: str, *, loc: Locator | None = None) -> Facts:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _error(source, "the facts file must be a mapping with 'nodes'", loc, ())
    unknown = set(data) - {"nodes", "default"}
    if unknown:
        first = sorted(unknown, key=str)[0]
        raise _error(
            source, f"unknown top-level keys {sorted(map(str, unknown))}; use 'nodes' and 'default'", loc, (first,)
        )
    nodes_raw = data.get("nodes") or {}
    if not isinstance(nodes_raw, dict):
        raise _error(source, "'nodes' must map node names to hosts", loc, ("nodes",))
    nodes = {str(k): host_from_dict(v, f"{source}: node {k}", loc=loc, keys=("nodes", k)) for k, v in nodes_raw.items()}
    default = (
        host_from_dict(data["default"], f"{source}: default", loc=loc, keys=("default",))
        if data.get("default")
        else None
    )
    return Facts(nodes=nodes, default=default, source=source)


def load_facts(path: str | Path) -> Facts:
    """Read a facts file; every error names the file and, where the YAML parses, the line."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read facts file: {err.strerror or err}", path=str(p)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"not UTF-8 text (byte {err.start})", path=str(p), line=line) from None
    data, loc = load_yaml_text(text, str(p))
    if loc.lines.get(()) is None:
        loc.lines[()] = 1  # an empty document: a whole-file error points at its start
    facts = facts_from_dict(data, str(p), loc=loc)
    return _with_env_lines(facts, loc)


def _with_env_lines(facts: Facts, loc: Locator) -> Facts:
    """Record the file and the line of each env variable, so findings on env values point at the facts file."""
    import dataclasses

    lines: dict[tuple[str, str], int] = {}  # (node or "", variable) -> line
    for keys, line in loc.lines.items():
        if len(keys) == 4 and keys[0] == "nodes" and keys[2] == "env":
            lines[(str(keys[1]), str(keys[3]))] = line
        elif len(keys) == 3 and keys[0] == "default" and keys[1] == "env":
            lines[("", str(keys[2]))] = line

    def add(name: str, host: HostFacts) -> HostFacts:
        own = {var: line for (n, var), line in lines.items() if n == name}
        return dataclasses.replace(host, path=loc.path, env_lines=own)

    return Facts(
        nodes={k: add(k, v) for k, v in facts.nodes.items()},
        default=add("", facts.default) if facts.default is not None else None,
        source=facts.source,
    )
