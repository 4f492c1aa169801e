"""The inventory: which servers make up a cluster and how to drive each one.

    cluster: prod                  # optional name
    consul:                        # optional connection settings for every server
      token_file: /etc/clusterops/consul.token
      ca_file: /etc/consul/ca.pem
      tls_skip_verify: false
    drivers:                       # optional named driver settings, shared by servers
      systemd:
        type: ssh                  # lab | ssh | exec
        user: ops
        port: 22
        identity_file: ~/.ssh/id_ed25519
        commands:
          stop: sudo systemctl stop consul
          switch: sudo apt-get install -y consul={version}
          start: sudo systemctl start consul
    servers:
      - name: consul-1             # the Consul node name
        address: http://10.0.0.1:8500
        host: 10.0.0.1             # for ssh (default: the address's host)
        driver: systemd            # a name from drivers:, or an inline mapping

Command templates may use {node}, {host}, {address} and {version} (shell-quoted when
substituted). The lab writes this file for its servers (`clusterops lab inventory`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clusterops.errors import UsageError
from clusterops.settings import normalize_consul_address
from clusterops.yamlsource import Locator, load_yaml, load_yaml_text

DRIVER_TYPES = ("lab", "ssh", "exec")
COMMAND_KEYS = ("stop", "switch", "start")


@dataclass(frozen=True)
class DriverSpec:
    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InventoryServer:
    name: str
    address: str
    host: str
    driver: DriverSpec


@dataclass(frozen=True)
class Inventory:
    path: str
    cluster: str
    servers: tuple[InventoryServer, ...]
    consul: dict[str, Any] = field(default_factory=dict)

    def server(self, name: str) -> InventoryServer | None:
        return next((s for s in self.servers if s.name == name), None)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.servers]


def _driver(raw: Any, keys: tuple[str | int, ...], named: dict[str, DriverSpec], loc: Locator) -> DriverSpec:
    if isinstance(raw, str):
        if raw in named:
            return named[raw]
        if raw == "lab":  # the lab driver cannot work without its lab_dir: refuse here, before any plan
            raise loc.error(keys, "the lab driver needs `lab_dir`: use {type: lab, lab_dir: DIR}")
        if raw in DRIVER_TYPES:
            return DriverSpec(type=raw)
        known = ", ".join(sorted(named)) or "none"
        raise loc.error(keys, f"unknown driver {raw!r} (named drivers: {known}; types: {', '.join(DRIVER_TYPES)})")
    if not isinstance(raw, dict):
        raise loc.error(keys, "must be a driver name or a mapping with a `type`")
    kind = raw.get("type")
    if kind not in DRIVER_TYPES:
        raise loc.error((*keys, "type"), f"must be one of {', '.join(DRIVER_TYPES)}, not {kind!r}")
    commands = raw.get("commands") or {}
    if not isinstance(commands, dict):
        raise loc.error((*keys, "commands"), "must be a mapping of stop/switch/start to command templates")
    for key, value in commands.items():
        if key not in COMMAND_KEYS:
            raise loc.error((*keys, "commands", key), f"unknown command {key!r}; use {', '.join(COMMAND_KEYS)}")
        if not isinstance(value, str) or not value.strip():
            raise loc.error((*keys, "commands", key), "must be a non-empty command string")
    if kind in ("ssh", "exec"):
        missing = [k for k in ("stop", "start") if k not in commands]
        if missing:
            raise loc.error((*keys, "commands"), f"the {kind} driver needs commands for {', '.join(missing)}")
    if kind == "lab" and not raw.get("lab_dir"):
        raise loc.error(keys, "the lab driver needs `lab_dir`")
    settings = {k: v for k, v in raw.items() if k not in ("type", "commands")}
    return DriverSpec(type=kind, settings=settings, commands={str(k): str(v) for k, v in commands.items()})


def parse_inventory(data: Any, loc: Locator) -> Inventory:
    if not isinstance(data, dict):
        raise loc.error((), "an inventory is a mapping with a `servers` list")
    unknown = set(data) - {"cluster", "datacenter", "consul", "drivers", "servers"}
    if unknown:
        raise loc.error((sorted(unknown)[0],), "unknown key (expected cluster, datacenter, consul, drivers, servers)")
    named: dict[str, DriverSpec] = {}
    drivers = data.get("drivers") or {}
    if not isinstance(drivers, dict):
        raise loc.error(("drivers",), "must be a mapping of names to driver settings")
    for name, raw in drivers.items():
        named[str(name)] = _driver(raw, ("drivers", name), {}, loc)
    servers_raw = data.get("servers")
    if not isinstance(servers_raw, list) or not servers_raw:
        raise loc.error(("servers",), "must be a non-empty list of servers")
    servers = []
    seen: set[str] = set()
    for i, raw in enumerate(servers_raw):
        keys: tuple[str | int, ...] = ("servers", i)
        if not isinstance(raw, dict):
            raise loc.error(keys, "each server is a mapping with name, address and driver")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise loc.error((*keys, "name"), "missing or empty (the Consul node name)")
        if name in seen:
            raise loc.error((*keys, "name"), f"duplicate server name {name!r}")
        seen.add(name)
        address = raw.get("address")
        if not isinstance(address, str):
            raise loc.error((*keys, "address"), "missing (the server's HTTP address, e.g. http://10.0.0.1:8500)")
        try:
            address = normalize_consul_address(address)
        except UsageError as err:
            raise loc.error((*keys, "address"), err.message) from None
        host = str(raw.get("host") or urlsplit(address).hostname or "")
        if raw.get("driver") is None:
            raise loc.error(
                (*keys, "driver"), f"missing; use one of {', '.join(DRIVER_TYPES)} or a name from `drivers:`"
            )
        driver = _driver(raw["driver"], (*keys, "driver"), named, loc)
        servers.append(InventoryServer(name=name, address=address, host=host, driver=driver))
    consul = data.get("consul") or {}
    if not isinstance(consul, dict):
        raise loc.error(("consul",), "must be a mapping of connection settings")
    if "token" in consul:
        raise loc.error(
            ("consul", "token"), "tokens do not belong in an inventory; use token_file or CONSUL_HTTP_TOKEN"
        )
    for key, value in consul.items():  # typed here so a wrong type fails at load, not deep in a request
        want = bool if key == "tls_skip_verify" else str
        if not isinstance(value, want):
            raise loc.error(("consul", str(key)), f"must be a {'boolean' if want is bool else 'string'}")
    if consul.get("token_file") and not Path(consul["token_file"]).expanduser().is_file():
        raise loc.error(("consul", "token_file"), f"{consul['token_file']} is not a readable file")
    return Inventory(path=loc.path, cluster=str(data.get("cluster") or ""), servers=tuple(servers), consul=consul)


def load_inventory(path: str | Path) -> Inventory:
    data, loc = load_yaml(path)
    return parse_inventory(data, loc)


def inventory_from_text(text: str, path: str = "<inventory>") -> Inventory:
    data, loc = load_yaml_text(text, path)
    return parse_inventory(data, loc)
