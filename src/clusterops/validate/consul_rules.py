"""Per-node Consul rules (VC0xx): the address logic of Consul's `agent/config/builder.go`, evaluated offline.

Two steps. `resolve_node` walks the builder's steps (ports, bind_addr, advertise detection, client and listener
addresses) and returns a frozen `ConsulView`: every address as the builder expands it with the file and line it
comes from, the ports, the role, what each template expanded to, the errors met while resolving and what could
not be known without host facts. The cross-node rules (`cluster_rules`) read the same view.

Then `CHECKS`, one small pure function per rule registered with its catalog rule, in the builder's order (the
collisions, then `validate()`), so that the findings come in the order Consul meets them; Consul stops at the
first, we report them all. On top come the operator warnings of the issue (loopback advertise, advertise not on
the host, public client API without ACLs, retry_join mistakes). `check_node` is resolve, then the loop.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from clusterops.findings import Finding
from clusterops.validate import registry
from clusterops.validate.consul_releases import NEWEST
from clusterops.validate.consul_startup import STARTUP_CHECKS, go_base64_error, startup_problems
from clusterops.validate.facts import HostFacts
from clusterops.validate.load import ConsulNode, Loc, Setting
from clusterops.validate.registry import Check, Hit, check, each, item_check
from clusterops.validate.sockaddr import TemplateError, Unsupported, evaluate, in_rfc, is_template

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

PORT_DEFAULTS = {
    "dns": 8600,
    "http": 8500,
    "https": -1,
    "grpc": -1,
    "grpc_tls": -1,
    "serf_lan": 8301,
    "serf_wan": 8302,
    "server": 8300,
}
LISTENERS = ("dns", "http", "https", "grpc", "grpc_tls")
# The advertise keys of one IP family (builder: expandFirstIP, then the family check of validate()).
FAMILY_KEYS = (
    ("advertise_addr_ipv4", 4),
    ("advertise_addr_ipv6", 6),
    ("advertise_addr_wan_ipv4", 4),
    ("advertise_addr_wan_ipv6", 6),
)
TLS_KEYS = (
    "tls.defaults.verify_incoming",
    "tls.defaults.verify_outgoing",
    "tls.defaults.verify_server_hostname",
    "tls.internal_rpc.verify_incoming",
    "tls.internal_rpc.verify_server_hostname",
    "verify_incoming",
    "verify_incoming_rpc",
    "verify_outgoing",
    "verify_server_hostname",
)

# Consul's ipaddr.GetPrivateIPv4 blocks (ipaddr/detect.go), IPv4 part.
_CONSUL_PRIVATE_V4 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
    )
)
_CONSUL_PRIVATE_V6 = tuple(
    ipaddress.ip_network(n) for n in ("::1/128", "fe80::/10", "fc00::/7", "fec0::/10", "2001:db8::/32")
)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$")


@dataclass(frozen=True)
class Unix:
    path: str


Addr = IPAddr | Unix


@dataclass(frozen=True)
class Addrs:
    """One address key as Consul's expandAddrs reads it."""

    key: str
    addrs: tuple[Addr, ...] | None  # None: not known offline (no host facts, or a template we cannot evaluate)
    loc: Loc
    set: bool  # written in the config (else the default applies)


@dataclass(frozen=True)
class Unresolved:
    """An error met while resolving `key` (an invalid port, address or template)."""

    key: str
    hit: Hit


@dataclass(frozen=True)
class Detection:
    """The builder's advertise detection for an ANY bind_addr: the host's private IPv4 (public IPv6) addresses."""

    kind: str  # "private IPv4" or "public IPv6"
    found: tuple[IPAddr, ...]


@dataclass(frozen=True)
class Join:
    """One retry_join / retry_join_wan entry as written, and what it expands to."""

    key: str  # retry_join or retry_join_wan
    entry: Setting
    kind: str  # "discover" (go-discover), "template" or "plain"
    tokens: tuple[str, ...] | None  # None: not known offline (go-discover, or a template we cannot evaluate)
    errors: tuple[Hit, ...] = ()  # met expanding the template


@dataclass(frozen=True)
class ConsulView:
    """One node resolved: what the node rules and the cross-node rules read."""

    node: ConsulNode
    name: str
    host: HostFacts | None
    release: str
    servers_in_set: int
    server: bool
    datacenter: str
    bootstrap_expect: int
    encrypt: str | None
    raft_protocol: int
    tls: Mapping[str, Any]
    ports: Mapping[str, int]  # -1: disabled (or invalid, reported)
    bind_addrs: Addrs
    bind: IPAddr | None  # bind_addr when it is exactly one IP
    advertise: IPAddr | None  # advertise_addr, else detected for an ANY bind_addr, else bind_addr
    advertise_loc: Loc
    detection: Detection | None  # only when the advertise address was detected on the host facts
    family: tuple[tuple[str, int, IPAddr | None], ...]  # (key, IP version it must have, its address)
    wan: IPAddr | None  # the Serf WAN advertise address: advertise_addr_wan, else the advertise address
    client: Addrs
    listeners: Mapping[str, tuple[tuple[Addr, ...] | None, Loc]]  # enabled client listeners: addresses, where
    on_host: bool | None  # the advertise address is on an interface of the host (None: unknown)
    joins: tuple[Join, ...]
    joins_wan: tuple[Join, ...]
    errors: tuple[Unresolved, ...]  # in the order met
    skipped: tuple[str, ...]  # what needs host facts that were not given

    @property
    def advertise_wan(self) -> IPAddr | None:
        return self.wan if self.wan is not None and not _is_any(self.wan) else None

    @property
    def retry_join(self) -> tuple[tuple[Setting, tuple[str, ...] | None], ...]:
        """(entry, its expanded tokens or None when unknown)."""
        return tuple((j.entry, j.tokens) for j in self.joins)

    @property
    def retry_join_wan(self) -> tuple[tuple[Setting, tuple[str, ...] | None], ...]:
        return tuple((j.entry, j.tokens) for j in self.joins_wan)


class _Resolver:
    """The builder's expand helpers, recording what goes wrong instead of stopping (used by `resolve_node` only)."""

    def __init__(self, node: ConsulNode, host: HostFacts | None) -> None:
        self.node = node
        self.host = host
        self.errors: list[Unresolved] = []
        self.skipped: list[str] = []

    def error(self, key: str, rule: str, message: str, loc: Loc) -> None:
        self.errors.append(Unresolved(key, Hit(rule, message, loc)))

    def expand(self, key: str, raw: str, loc: Loc) -> tuple[list[str] | None, tuple[Hit, ...]]:
        """go-sockaddr expansion split on whitespace (None when it cannot be known), and the errors met."""
        if not is_template(raw):
            return raw.split(), ()
        if self.host is None:
            self.skipped.append(f"{key} template")
            return None, ()
        try:
            return evaluate(raw, self.host).split(), ()
        except TemplateError as err:
            return [], (Hit("VC014", f"{key}: error parsing {raw!r}: {err}", loc),)
        except Unsupported as err:
            return None, (Hit("VC023", f"{key}: {err}", loc),)

    def port(self, name: str, server: bool) -> int:
        """The builder's portVal: the default when unset, -1 when disabled (or invalid, recorded)."""
        key = f"ports.{name}"
        v = self.node.get(key)
        if v is None:
            return 8503 if name == "grpc_tls" and server else PORT_DEFAULTS[name]
        if v <= 0:
            return -1
        if v > 65535:
            self.error(key, "VC020", f"{key}: invalid port: {v}", self.node.loc(key))
            return -1
        return int(v)

    def addrs(self, key: str, default: str | None = None) -> Addrs:
        """Consul's expandAddrs."""
        setting = self.node.settings.get(key)
        raw = setting.value if setting is not None else default
        loc = setting.loc if setting is not None else self.node.loc(key)
        written = setting is not None
        if raw is None or raw == "":
            return Addrs(key, (), loc, written)
        tokens, hits = self.expand(key, str(raw), loc)
        self.errors += (Unresolved(key, h) for h in hits)
        if tokens is None:
            return Addrs(key, None, loc, written)
        out: list[Addr] = []
        for tok in tokens:
            if tok.startswith("unix://"):
                out.append(Unix(tok[len("unix://") :]))
                continue
            try:
                out.append(ipaddress.ip_address("::" if tok == "[::]" else tok))
            except ValueError:
                self.error(key, "VC014", f"{key}: invalid ip address: {tok}", loc)
                return Addrs(key, (), loc, written)
        return Addrs(key, tuple(out), loc, written)

    def first_ip(self, key: str) -> tuple[IPAddr | None, bool]:
        """Consul's expandFirstIP: (address or None, known)."""
        found = self.addrs(key)
        addrs, loc = found.addrs, found.loc
        if addrs is None:
            return None, False
        if len(addrs) > 1:
            self.error(key, "VC014", f"{key}: multiple addresses found: {' '.join(_fmt(a) for a in addrs)}", loc)
            return None, True
        if addrs and isinstance(addrs[0], Unix):
            self.error(key, "VC014", f"{key} cannot be a unix socket", loc)
            return None, True
        first = addrs[0] if addrs else None
        return (first if not isinstance(first, Unix) else None), True

    def join(self, key: str, entry: Setting) -> Join:
        raw = str(entry.value)
        if _is_go_discover(raw):
            return Join(key, entry, "discover", None)
        if is_template(raw):
            tokens, hits = self.expand(key, raw, entry.loc)
            return Join(key, entry, "template", tuple(tokens) if tokens is not None else None, hits)
        return Join(key, entry, "plain", (raw,))


def _fmt(a: Addr) -> str:
    return a.path if isinstance(a, Unix) else str(a)


def _hostport(a: IPAddr, port: int) -> str:
    return f"[{a}]:{port}" if a.version == 6 else f"{a}:{port}"


def _is_any(a: object) -> bool:
    return str(a) in ("0.0.0.0", "::", "[::]")


def detect_private_ipv4(host: HostFacts) -> list[IPAddr]:
    """Consul's ipaddr.GetPrivateIPv4: IPv4 of up non-loopback interfaces (loopback only when there are none)."""
    up = [(a, i) for i in host.interfaces if i.up and not i.loopback for a in i.addresses]
    if not up:
        up = [(a, i) for i in host.interfaces if i.up and i.loopback for a in i.addresses]
    return [a.ip for a, _ in up if a.version == 4 and any(a.ip in n for n in _CONSUL_PRIVATE_V4)]


def detect_public_ipv6(host: HostFacts) -> list[IPAddr]:
    """Consul's ipaddr.GetPublicIPv6: IPv6 addresses of all interfaces outside its private blocks."""
    return [a.ip for a, _ in host.all_addresses() if a.version == 6 and not any(a.ip in n for n in _CONSUL_PRIVATE_V6)]


def _private_or_loopback(ip: IPAddr) -> bool:
    return ip.is_loopback or ip.is_private or ip.is_link_local


def _retry_join_problem(entry: str) -> str | None:
    """Why a non-template, non-go-discover retry_join entry is malformed, or None."""
    host = entry
    port: str | None = None
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            return "missing ']' in bracketed IPv6 address"
        host, rest = entry[1:end], entry[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return f"unexpected {rest!r} after the address"
            port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{host!r} is not an IPv6 address"
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    elif entry.count(":") > 1:
        try:
            ipaddress.IPv6Address(entry)
            return None
        except ValueError:
            return "not an IPv6 address (put IPv6 addresses in brackets to add a port)"
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        return f"port {port!r} is not a number between 1 and 65535"
    if not entry.startswith("["):
        try:
            ipaddress.IPv4Address(host)
            return None
        except ValueError:
            if re.fullmatch(r"[0-9.]+", host):
                return f"{host!r} is not a valid IPv4 address"
            if not _HOSTNAME.match(host):
                return f"{host!r} is neither an IP address nor a host name"
    return None


def _is_go_discover(entry: str) -> bool:
    return "provider=" in entry


def join_target(token: str, default_port: int) -> tuple[str, int] | None:
    """(host, port) for an IP or host entry, or None for go-discover / malformed."""
    if _is_go_discover(token) or _retry_join_problem(token):
        return None
    if token.startswith("["):
        end = token.index("]")
        host, rest = token[1:end], token[end + 1 :]
        return host, int(rest[1:]) if rest else default_port
    if token.count(":") == 1:
        host, port = token.split(":")
        return host, int(port)
    return token, default_port


def _advertise(r: _Resolver, bind: IPAddr | None, bind_loc: Loc) -> tuple[IPAddr | None, Loc, Detection | None]:
    """The builder's advertise address: advertise_addr, else bind_addr, else (ANY bind) the one private IPv4
    (public IPv6) address of the host; where it comes from; the detection when it ran."""
    node, host = r.node, r.host
    adv_ip, adv_known = r.first_ip("advertise_addr")
    advertise = adv_ip if adv_ip is not None and not _is_any(adv_ip) else None
    loc = node.loc("advertise_addr") if adv_ip is not None else bind_loc
    detection: Detection | None = None
    if advertise is None and adv_known and bind is not None:
        if not _is_any(bind):
            return bind, loc, None
        kind = "private IPv4" if bind.version == 4 else "public IPv6"
        if host is None:
            r.skipped.append(f"detection of the {kind} address for bind_addr {bind}")
        else:
            found = detect_private_ipv4(host) if bind.version == 4 else detect_public_ipv6(host)
            detection = Detection(kind, tuple(found))
            advertise = found[0] if len(found) == 1 else None
    elif adv_ip is not None and _is_any(adv_ip) and not _is_any(str(node.get("advertise_addr", ""))):
        r.skipped.append("advertise_addr template resolving to ANY")
    return advertise, loc, detection


def _listeners(r: _Resolver, ports: Mapping[str, int]) -> tuple[Addrs, dict[str, tuple[tuple[Addr, ...] | None, Loc]]]:
    """client_addr, and the address each enabled client listener uses: its own addresses.*, else client_addr."""
    client = r.addrs("client_addr", "127.0.0.1")
    client_ips: tuple[Addr, ...] | None = client.addrs
    if client.addrs is not None and any(isinstance(a, Unix) for a in client.addrs):
        r.error("client_addr", "VC014", "client_addr cannot be a unix socket", client.loc)
        client_ips = ()
    listeners: dict[str, tuple[tuple[Addr, ...] | None, Loc]] = {}
    for name in LISTENERS:
        own = r.addrs(f"addresses.{name}")
        if ports[name] <= 0:
            continue
        if own.set and own.addrs is None:
            listeners[name] = (None, own.loc)
        elif own.addrs:
            listeners[name] = (own.addrs, own.loc)
        else:
            listeners[name] = (client_ips, client.loc)
    dns, dns_loc = listeners.get("dns", (None, Loc()))
    if dns and any(isinstance(a, Unix) for a in dns):
        r.error("addresses.dns", "VC014", "DNS address cannot be a unix socket", dns_loc)
    return client, listeners


def _tls(node: ConsulNode) -> dict[str, Any]:
    """The TLS settings the servers of a cluster should share (VX010)."""
    tls = {k: node.get(k) for k in TLS_KEYS}
    tls["ca"] = bool(
        node.get("tls.defaults.ca_file")
        or node.get("tls.defaults.ca_path")
        or node.get("ca_file")
        or node.get("ca_path")
        or node.get("tls.internal_rpc.ca_file")
    )
    return tls


def resolve_node(
    node: ConsulNode, host: HostFacts | None, *, servers_in_set: int = 1, release: str = NEWEST
) -> ConsulView:
    """The builder's resolution of one node, errors recorded in the order met (pure: the node and host facts in)."""
    r = _Resolver(node, host)
    server = bool(node.get("server", False))
    ports = {name: r.port(name, server) for name in PORT_DEFAULTS}
    bind_addrs = r.addrs("bind_addr", "0.0.0.0")  # exactly one IP, else VC003
    one = bind_addrs.addrs[0] if bind_addrs.addrs is not None and len(bind_addrs.addrs) == 1 else None
    bind = one if one is not None and not isinstance(one, Unix) else None
    advertise, advertise_loc, detection = _advertise(r, bind, bind_addrs.loc)
    family = tuple((key, version, r.first_ip(key)[0]) for key, version in FAMILY_KEYS)
    wan_ip, _ = r.first_ip("advertise_addr_wan")
    r.first_ip("serf_lan")
    r.first_ip("serf_wan")
    client, listeners = _listeners(r, ports)
    on_host: bool | None = None
    if advertise is not None and not _is_any(advertise):
        if host is None:
            r.skipped.append("advertise address present on the host")
        else:
            on_host = host.has_address(advertise)
    joins = tuple(r.join("retry_join", entry) for entry in node.list("retry_join"))
    joins_wan = tuple(r.join("retry_join_wan", entry) for entry in node.list("retry_join_wan"))
    raft = node.get("raft_protocol", 3)
    encrypt = node.get("encrypt")
    return ConsulView(
        node=node,
        name=node.name,
        host=host,
        release=release,
        servers_in_set=servers_in_set,
        server=server,
        datacenter=str(node.get("datacenter", "dc1")).lower(),
        bootstrap_expect=int(node.get("bootstrap_expect", 0)),
        encrypt=str(encrypt) if encrypt else None,
        raft_protocol=int(raft) if isinstance(raft, int) else 3,
        tls=_tls(node),
        ports=ports,
        bind_addrs=bind_addrs,
        bind=bind,
        advertise=advertise,
        advertise_loc=advertise_loc,
        detection=detection,
        family=family,
        wan=wan_ip if wan_ip is not None else advertise,
        client=client,
        listeners=listeners,
        on_host=on_host,
        joins=joins,
        joins_wan=joins_wan,
        errors=tuple(r.errors),
        skipped=tuple(r.skipped),
    )


# -- the rules, in the builder's order ------------------------------------------------------------------------------


def _load_problems(v: ConsulView) -> Iterator[Hit]:
    """What the loader met decoding the files (types, unknown and deprecated keys, skipped files): one family,
    as the loader finds them in one walk over the files, in file and line order."""
    for p in v.node.problems:
        yield Hit(p.rule, p.message, p.loc)


def _startup(v: ConsulView) -> Iterator[Hit]:
    """The builder's start-up refusals, one small check each in `consul_startup.STARTUP_CHECKS`."""
    for rule, key, message in startup_problems(v.node, v.release):
        yield Hit(rule, message, v.node.loc(key))


def _resolves(*keys: str) -> Callable[[ConsulView], Iterator[Hit]]:
    """The errors met resolving `keys` (VC014 invalid address, VC020 invalid port, VC023 template not evaluable
    offline), where the builder meets them."""

    def resolves(v: ConsulView) -> Iterator[Hit]:
        for e in v.errors:
            if e.key in keys:
                yield e.hit

    resolves.__name__ = f"resolves({', '.join(keys)})"
    return resolves


def _bind_is_one_ip(v: ConsulView) -> Iterator[Hit]:
    addrs, loc = v.bind_addrs.addrs, v.bind_addrs.loc
    if addrs is None:
        return
    if not addrs:
        raw = v.node.get("bind_addr", "0.0.0.0")
        yield Hit("VC003", f"bind_addr cannot be empty (bind_addr = {json.dumps(raw)} gives no address)", loc)
    elif len(addrs) > 1:
        yield Hit(
            "VC003",
            "bind_addr cannot contain multiple addresses. Use 'addresses.{dns,http,https}' instead. "
            f"(it gives {' '.join(_fmt(a) for a in addrs)})",
            loc,
        )
    elif isinstance(addrs[0], Unix):
        yield Hit("VC003", "bind_addr cannot be a unix socket", loc)


def _advertise_is_not_any(v: ConsulView) -> Iterator[Hit]:
    """Checked on the value as written, before expansion, as the builder does."""
    for key, text in (("advertise_addr", "Advertise address"), ("advertise_addr_wan", "Advertise WAN address")):
        raw = v.node.get(key)
        if isinstance(raw, str) and _is_any(raw):
            yield Hit("VC004", f"{text} cannot be 0.0.0.0, :: or [::] ({key} = {raw!r})", v.node.loc(key))


def _one_detected_address(v: ConsulView) -> Iterator[Hit]:
    d = v.detection
    if d is None or len(d.found) == 1:
        return
    if not d.found:
        yield Hit("VC005", f"No {d.kind} address found", v.bind_addrs.loc)
    else:
        yield Hit(
            "VC005",
            f"Multiple {d.kind} addresses found. Please configure one with 'bind' and/or 'advertise'. "
            f"(found {', '.join(str(a) for a in d.found)})",
            v.bind_addrs.loc,
        )


def _family(key: str) -> Callable[[ConsulView], Iterator[Hit]]:
    def family(v: ConsulView) -> Iterator[Hit]:
        for k, version, ip in v.family:
            if k == key and ip is not None and ip.version != version:
                yield Hit("VC022", f"{key} must be an ipv{version} address", v.node.loc(key))

    family.__name__ = f"family({key})"
    return family


def _client_addr_not_empty(v: ConsulView) -> Iterator[Hit]:
    if v.client.addrs == ():
        yield Hit(
            "VC025",
            "client_addr is empty, client services (DNS, HTTP, HTTPS, GRPC) will not be listening for connections",
            v.client.loc,
        )


def _unique_listeners(v: ConsulView) -> Iterator[Hit]:
    """The builder's collision check, in its order: DNS (tcp+udp), HTTP, HTTPS, RPC Advertise, Serf LAN / WAN."""
    inuse: dict[str, str] = {}

    def unique(label: str, net: str, addr: Addr, port: int, loc: Loc) -> Iterator[Hit]:
        text = addr.path if isinstance(addr, Unix) else _hostport(addr, port)
        key = ("unix" if isinstance(addr, Unix) else net) + ":" + text
        if key in inuse:
            yield Hit("VC009", f"{label} address {text} already configured for {inuse[key]}", loc)
        else:
            inuse[key] = label

    for name, label in (("dns", "DNS"), ("http", "HTTP"), ("https", "HTTPS")):
        addrs, loc = v.listeners.get(name, ((), Loc()))
        for a in addrs or ():
            yield from unique(label, "tcp", a, v.ports[name], loc)
            if name == "dns" and not isinstance(a, Unix):
                yield from unique(label, "udp", a, v.ports[name], loc)
    if v.advertise is not None:
        if v.ports["server"] > 0:
            yield from unique("RPC Advertise", "tcp", v.advertise, v.ports["server"], v.advertise_loc)
        if v.ports["serf_lan"] > 0:
            yield from unique("Serf Advertise LAN", "tcp", v.advertise, v.ports["serf_lan"], v.advertise_loc)
    if v.wan is not None and v.ports["serf_wan"] > 0:
        yield from unique("Serf Advertise WAN", "tcp", v.wan, v.ports["serf_wan"], v.node.loc("advertise_addr_wan"))


def _advertise_not_loopback(v: ConsulView) -> Iterator[Hit]:
    multi = v.bootstrap_expect > 1 or v.servers_in_set > 1
    if v.advertise is not None and v.advertise.is_loopback and v.server and multi:
        yield Hit(
            "VC006",
            f"advertise address {v.advertise} is a loopback address in a multi-server cluster",
            v.advertise_loc,
        )


def _advertise_on_host(v: ConsulView) -> Iterator[Hit]:
    if v.on_host is False:
        yield Hit("VC007", f"advertise address {v.advertise} is not on any interface of the host", v.advertise_loc)


def _client_api_not_public(v: ConsulView) -> Iterator[Hit]:
    if bool(v.node.get("acl.enabled", False)) or v.node.has("acl_datacenter"):
        return
    exposed: list[str] = []
    first_loc: Loc | None = None
    for name in ("http", "https", "grpc", "grpc_tls", "dns"):
        addrs, loc = v.listeners.get(name, ((), Loc()))
        for a in addrs or ():
            if not isinstance(a, Unix) and (_is_any(a) or not _private_or_loopback(a)):
                what = "ANY" if _is_any(a) else "public"
                exposed.append(f"{name} on {what} {_hostport(a, v.ports[name])}")
                first_loc = first_loc or loc
    if exposed:
        yield Hit("VC008", f"ACLs are disabled and the client API listens on {', '.join(exposed)}", first_loc)


# Per retry_join / retry_join_wan entry; an entry is go-discover, a template or plain, so one of these speaks.
def _discover_settings(v: ConsulView, j: Join) -> Iterator[Hit]:
    if j.kind == "discover":
        raw = str(j.entry.value)
        bad = [p for p in raw.split() if "=" not in p]
        if bad:
            yield Hit(
                "VC012", f"{j.key} entry {raw!r}: go-discover settings must be key=value, not {bad[0]!r}", j.entry.loc
            )


def _entry_resolves(v: ConsulView, j: Join) -> Iterator[Hit]:
    yield from j.errors


def _entry_well_formed(v: ConsulView, j: Join) -> Iterator[Hit]:
    if j.kind == "plain":
        raw = str(j.entry.value)
        problem = _retry_join_problem(raw)
        if problem:
            yield Hit("VC012", f"{j.key} entry {raw!r}: {problem}", j.entry.loc)


def _joins_not_only_self(v: ConsulView) -> Iterator[Hit]:
    if not v.joins or not v.server or any(j.tokens is None for j in v.joins):
        return
    self_names = {str(a) for a in (v.advertise, v.bind) if a is not None and not _is_any(a)} | {v.name}
    targets = [join_target(t, v.ports["serf_lan"]) for j in v.joins for t in j.tokens or ()]
    if targets and all(t is not None and t[0] in self_names and t[1] == v.ports["serf_lan"] for t in targets):
        yield Hit(
            "VC013",
            f"retry_join names only this node: {', '.join(str(j.entry.value) for j in v.joins)}",
            v.joins[0].entry.loc,
        )


def _host_facts_given(v: ConsulView) -> Iterator[Hit]:
    if v.skipped:
        yield Hit("VC015", "no host facts for this node; skipped: " + "; ".join(dict.fromkeys(v.skipped)))


_RESOLVES = ("VC014", "VC023")
_LOADER = ("VC001", "VC002", "VC024", "VC026", "VC027", "VC029")

# The node checks, in the order Consul's builder meets the problems. Families of several ids: the loader's
# problems and the start-up checks (each its own small function, in consul_startup), and the resolution
# errors of a key (VC014 / VC020 / VC023: what expanding that key met), placed where the builder expands it.
CHECKS: tuple[Check[ConsulView], ...] = (
    check(_load_problems, *_LOADER),
    check(_startup, *dict.fromkeys(c.rule for c in STARTUP_CHECKS)),
    check(_resolves(*(f"ports.{name}" for name in PORT_DEFAULTS)), "VC020"),
    check(_resolves("bind_addr"), *_RESOLVES),
    check(_bind_is_one_ip, "VC003"),
    check(_advertise_is_not_any, "VC004"),
    check(_resolves("advertise_addr"), *_RESOLVES),
    check(_one_detected_address, "VC005"),
    *(c for key, _ in FAMILY_KEYS for c in (check(_resolves(key), *_RESOLVES), check(_family(key), "VC022"))),
    check(_resolves("advertise_addr_wan", "serf_lan", "serf_wan"), *_RESOLVES),
    check(_resolves("client_addr"), *_RESOLVES),
    check(_client_addr_not_empty, "VC025"),
    check(_resolves(*(f"addresses.{name}" for name in LISTENERS)), *_RESOLVES),
    check(_unique_listeners, "VC009"),
    check(_advertise_not_loopback, "VC006"),
    check(_advertise_on_host, "VC007"),
    check(_client_api_not_public, "VC008"),
    each(
        lambda v: v.joins,
        item_check(_discover_settings, "VC012"),
        item_check(_entry_resolves, *_RESOLVES),
        item_check(_entry_well_formed, "VC012"),
    ),
    check(_joins_not_only_self, "VC013"),
    each(lambda v: v.joins_wan, item_check(_entry_resolves, *_RESOLVES), item_check(_entry_well_formed, "VC012")),
    check(_host_facts_given, "VC015"),
)


def check_node(
    node: ConsulNode, host: HostFacts | None, *, servers_in_set: int = 1, release: str = NEWEST
) -> tuple[list[Finding], ConsulView]:
    view = resolve_node(node, host, servers_in_set=servers_in_set, release=release)
    default = Loc(node.files[-1] if node.files else node.source)
    return registry.run(CHECKS, view, node.name, default), view


__all__ = [
    "CHECKS",
    "ConsulView",
    "check_node",
    "detect_private_ipv4",
    "go_base64_error",
    "in_rfc",
    "join_target",
    "resolve_node",
]
