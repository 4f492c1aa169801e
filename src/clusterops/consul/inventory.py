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
substituted). For `consul preflight` and `facts collect`, which read the agent process on its host, an
exec or ssh driver may name the agent's systemd `unit` (its MainPID is the agent) or a `pid` command that
prints the pid; `consul.gossip_key_file` lets the UDP gossip probes reach an encrypted cluster.
The lab writes this file for its servers (`clusterops lab inventory`).

The schema is strict: an unknown key (`ca_cert` for `ca_file`) is an error naming its line, and
values must have their type (`tls_skip_verify: "false"` is a string, not a boolean, and is refused
rather than read as "true"). Command templates are checked here, at load time, not at the first stop.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clusterops.errors import UsageError
from clusterops.settings import normalize_consul_address
from clusterops.yamlsource import Locator, load_yaml, load_yaml_text

DRIVER_TYPES = ("lab", "ssh", "exec")
COMMAND_KEYS = ("stop", "switch", "start", "pid")
PLACEHOLDERS = ("node", "host", "address", "version")
SERVER_KEYS = ("name", "address", "host", "driver")
# connection settings: key -> the type it must have
CONSUL_KEYS: dict[str, type] = {
    "token_file": str, "ca_file": str, "client_cert": str, "client_key": str, "tls_skip_verify": bool,
    "gossip_key_file": str,
}  # fmt: skip
# driver settings per type (besides `type` and `commands`): key -> accepted types
DRIVER_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "lab": {"lab_dir": (str,)},
    "exec": {"timeout": (int, float), "unit": (str,)},
    "ssh": {"timeout": (int, float), "user": (str,), "port": (int,), "identity_file": (str,), "host": (str,),
            "options": (list,), "unit": (str,)},
}  # fmt: skip
_TYPE_NAMES = {str: "a string", bool: "true or false (not quoted)", int: "a number", float: "a number", list: "a list"}


# spellings other tools use (CONSUL_CACERT, Vault's ca_cert, ...) for our keys
ALIASES = {"ca_cert": "ca_file", "cacert": "ca_file", "ca_path": "ca_file", "cert_file": "client_cert",
           "key_file": "client_key", "skip_verify": "tls_skip_verify", "insecure": "tls_skip_verify"}  # fmt: skip


def _closest(word: str, choices: list[str]) -> str:
    import difflib

    alias = ALIASES.get(word.lower())
    near = [alias] if alias in choices else difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def _check_keys(raw: dict[Any, Any], allowed: list[str], keys: tuple[str | int, ...], loc: Locator) -> None:
    for key in raw:
        if key not in allowed:
            raise loc.error((*keys, key), f"unknown key (expected {', '.join(allowed)}){_closest(str(key), allowed)}")


def _check_type(value: Any, types: tuple[type, ...], keys: tuple[str | int, ...], loc: Locator) -> None:
    # bool is an int in Python: `port: true` must not pass as a number
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise loc.error(keys, f"must be {_TYPE_NAMES[types[0]]}, not {type(value).__name__} {value!r}")


def _check_template(template: str, keys: tuple[str | int, ...], loc: Locator) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        raise loc.error(keys, f"not a valid command template ({err}); write a literal brace as {{{{ or }}}}") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            raise loc.error(
                keys, f"unknown placeholder {{{name}}}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )


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
    datacenter: str = ""  # when given, every server must report it

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
        raise loc.error((*keys, "commands"), "must be a mapping of stop/switch/start/pid to command templates")
    for key, value in commands.items():
        if key not in COMMAND_KEYS:
            raise loc.error((*keys, "commands", key), f"unknown command {key!r}; use {', '.join(COMMAND_KEYS)}")
        if not isinstance(value, str) or not value.strip():
            raise loc.error((*keys, "commands", key), "must be a non-empty command string")
        _check_template(value, (*keys, "commands", key), loc)
    allowed = DRIVER_KEYS[kind]
    _check_keys(raw, ["type", "commands", *allowed], keys, loc)
    for key, types in allowed.items():
        if key in raw and raw[key] is not None:
            _check_type(raw[key], types, (*keys, key), loc)
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
        _check_keys(raw, list(SERVER_KEYS), keys, loc)
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
        if raw.get("host") is not None:
            _check_type(raw["host"], (str,), (*keys, "host"), loc)
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
    _check_keys(consul, list(CONSUL_KEYS), ("consul",), loc)
    for key, kind in CONSUL_KEYS.items():
        if consul.get(key) is not None:
            _check_type(consul[key], (kind,), ("consul", key), loc)
    if consul.get("token_file") and not Path(consul["token_file"]).expanduser().is_file():
        raise loc.error(("consul", "token_file"), f"{consul['token_file']} is not a readable file")
    for key in ("cluster", "datacenter"):
        if data.get(key) is not None:
            _check_type(data[key], (str,), (key,), loc)
    return Inventory(
        path=loc.path,
        cluster=str(data.get("cluster") or ""),
        servers=tuple(servers),
        consul=consul,
        datacenter=str(data.get("datacenter") or ""),
    )


def load_inventory(path: str | Path) -> Inventory:
    data, loc = load_yaml(path)
    return parse_inventory(data, loc)


def inventory_from_text(text: str, path: str = "<inventory>") -> Inventory:
    data, loc = load_yaml_text(text, path)
    return parse_inventory(data, loc)
