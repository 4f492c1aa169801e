"""Per-node Consul rules (VC0xx): the address logic of Consul's `agent/config/builder.go`, evaluated offline.

`check_node` walks the same steps as Consul's builder (ports, bind_addr, advertise detection, client and
listener addresses, collisions, then `validate()`), but reports every problem instead of stopping at the
first, and adds the operator warnings of the issue (loopback advertise, advertise not on the host, public
client API without ACLs, retry_join mistakes). It also returns a `ConsulView`: the resolved facts the
cross-node rules need.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from clusterops.findings import Finding
from clusterops.validate.catalog import RULES
from clusterops.validate.consul_releases import NEWEST
from clusterops.validate.consul_startup import go_base64_error, startup_problems
from clusterops.validate.facts import HostFacts
from clusterops.validate.load import ConsulNode, Loc, Setting
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
class ConsulView:
    """What the cross-node rules need from one node, resolved."""

    node: ConsulNode
    name: str
    server: bool
    datacenter: str
    bootstrap_expect: int
    advertise: IPAddr | None
    advertise_loc: Loc
    bind: IPAddr | None
    ports: dict[str, int]
    encrypt: str | None
    raft_protocol: int
    retry_join: tuple[tuple[Setting, tuple[str, ...] | None], ...]  # entry, its expanded tokens (None: unknown)
    tls: dict[str, Any]
    advertise_wan: IPAddr | None = None
    retry_join_wan: tuple[tuple[Setting, tuple[str, ...] | None], ...] = ()


class _Ctx:
    def __init__(self, node: ConsulNode, host: HostFacts | None) -> None:
        self.node = node
        self.host = host
        self.findings: list[Finding] = []
        self.needs_facts: list[str] = []

    def add(self, rule_id: str, message: str, loc: Loc | None = None, remedy: str | None = None) -> None:
        loc = loc or Loc(self.node.files[-1] if self.node.files else self.node.source)
        self.findings.append(
            Finding.of(RULES[rule_id], self.node.name, message, remedy=remedy, file=loc.file, line=loc.line)
        )

    def expand(self, key: str, raw: str, loc: Loc) -> list[str] | None:
        """go-sockaddr expansion split on whitespace; None when it cannot be known (reported)."""
        if not is_template(raw):
            return raw.split()
        if self.host is None:
            self.needs_facts.append(f"{key} template")
            return None
        try:
            return evaluate(raw, self.host).split()
        except TemplateError as err:
            self.add("VC014", f"{key}: error parsing {raw!r}: {err}", loc)
            return []
        except Unsupported as err:
            self.add("VC023", f"{key}: {err}", loc)
            return None

    def addrs(self, key: str, default: str | None = None) -> tuple[list[Addr] | None, Loc, bool]:
        """Consul's expandAddrs: (addresses or None when unknown, location, whether the key was set)."""
        setting = self.node.settings.get(key)
        raw = setting.value if setting is not None else default
        loc = setting.loc if setting is not None else self.node.loc(key)
        if raw is None or raw == "":
            return [], loc, setting is not None
        tokens = self.expand(key, str(raw), loc)
        if tokens is None:
            return None, loc, setting is not None
        out: list[Addr] = []
        for tok in tokens:
            if tok.startswith("unix://"):
                out.append(Unix(tok[len("unix://") :]))
                continue
            try:
                out.append(ipaddress.ip_address("::" if tok == "[::]" else tok))
            except ValueError:
                self.add("VC014", f"{key}: invalid ip address: {tok}", loc)
                return [], loc, setting is not None
        return out, loc, setting is not None

    def first_ip(self, key: str) -> tuple[IPAddr | None, bool]:
        """Consul's expandFirstIP: (address or None, known)."""
        addrs, loc, _ = self.addrs(key)
        if addrs is None:
            return None, False
        if len(addrs) > 1:
            self.add("VC014", f"{key}: multiple addresses found: {' '.join(_fmt(a) for a in addrs)}", loc)
            return None, True
        if addrs and isinstance(addrs[0], Unix):
            self.add("VC014", f"{key} cannot be a unix socket", loc)
            return None, True
        first = addrs[0] if addrs else None
        return (first if not isinstance(first, Unix) else None), True


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


def _port(ctx: _Ctx, name: str, server: bool) -> int:
    key = f"ports.{name}"
    v = ctx.node.get(key)
    if v is None:
        return 8503 if name == "grpc_tls" and server else PORT_DEFAULTS[name]
    if v <= 0:
        return -1
    if v > 65535:
        ctx.add("VC020", f"{key}: invalid port: {v}", ctx.node.loc(key))
        return -1
    return int(v)


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


def check_node(
    node: ConsulNode, host: HostFacts | None, *, servers_in_set: int = 1, release: str = NEWEST
) -> tuple[list[Finding], ConsulView]:
    ctx = _Ctx(node, host)
    for p in node.problems:
        ctx.add(p.rule, p.message, p.loc)
    for rule, key, message in startup_problems(node, release):
        ctx.add(rule, message, node.loc(key))
    server = bool(node.get("server", False))

    # ports (builder: portVal)
    ports = {name: _port(ctx, name, server) for name in PORT_DEFAULTS}

    # bind_addr (default 0.0.0.0): exactly one IP
    bind_loc = node.loc("bind_addr")
    bind_addrs, _, _ = ctx.addrs("bind_addr", "0.0.0.0")
    bind: IPAddr | None = None
    bind_known = bind_addrs is not None
    if bind_addrs is not None:
        raw_bind = node.get("bind_addr", "0.0.0.0")
        if not bind_addrs:
            ctx.add(
                "VC003", f"bind_addr cannot be empty (bind_addr = {json.dumps(raw_bind)} gives no address)", bind_loc
            )
        elif len(bind_addrs) > 1:
            ctx.add(
                "VC003",
                "bind_addr cannot contain multiple addresses. Use 'addresses.{dns,http,https}' instead. "
                f"(it gives {' '.join(_fmt(a) for a in bind_addrs)})",
                bind_loc,
            )
        elif isinstance(bind_addrs[0], Unix):
            ctx.add("VC003", "bind_addr cannot be a unix socket", bind_loc)
        else:
            bind = bind_addrs[0]

    # advertise: raw ANY check first, as builder does
    for key, text in (("advertise_addr", "Advertise address"), ("advertise_addr_wan", "Advertise WAN address")):
        raw = node.get(key)
        if isinstance(raw, str) and _is_any(raw):
            ctx.add("VC004", f"{text} cannot be 0.0.0.0, :: or [::] ({key} = {raw!r})", node.loc(key))

    adv_ip, adv_known = ctx.first_ip("advertise_addr")
    advertise: IPAddr | None = adv_ip if adv_ip is not None and not _is_any(adv_ip) else None
    advertise_loc = node.loc("advertise_addr") if adv_ip is not None else bind_loc
    if advertise is None and adv_known and bind is not None:
        if _is_any(bind):
            kind = "private IPv4" if bind.version == 4 else "public IPv6"
            if host is None:
                ctx.needs_facts.append(f"detection of the {kind} address for bind_addr {bind}")
            else:
                found = detect_private_ipv4(host) if bind.version == 4 else detect_public_ipv6(host)
                if not found:
                    ctx.add("VC005", f"No {kind} address found", bind_loc)
                elif len(found) > 1:
                    ctx.add(
                        "VC005",
                        f"Multiple {kind} addresses found. Please configure one with 'bind' and/or 'advertise'. "
                        f"(found {', '.join(str(a) for a in found)})",
                        bind_loc,
                    )
                else:
                    advertise = found[0]
        else:
            advertise = bind
    elif adv_ip is not None and _is_any(adv_ip) and not _is_any(str(node.get("advertise_addr", ""))):
        ctx.needs_facts.append("advertise_addr template resolving to ANY")

    for key, version in (
        ("advertise_addr_ipv4", 4),
        ("advertise_addr_ipv6", 6),
        ("advertise_addr_wan_ipv4", 4),
        ("advertise_addr_wan_ipv6", 6),
    ):
        ip, _ = ctx.first_ip(key)
        if ip is not None and ip.version != version:
            ctx.add("VC022", f"{key} must be an ipv{version} address", node.loc(key))
    wan_ip, _ = ctx.first_ip("advertise_addr_wan")
    advertise_wan = wan_ip if wan_ip is not None else advertise
    ctx.first_ip("serf_lan")
    ctx.first_ip("serf_wan")

    # client addresses and listeners
    client, client_loc, _ = ctx.addrs("client_addr", "127.0.0.1")
    client_ips: list[IPAddr] | None = None
    if client is not None:
        if any(isinstance(a, Unix) for a in client):
            ctx.add("VC014", "client_addr cannot be a unix socket", client_loc)
            client_ips = []
        else:
            client_ips = [a for a in client if not isinstance(a, Unix)]
            if not client_ips:
                ctx.add(
                    "VC025",
                    "client_addr is empty, client services (DNS, HTTP, HTTPS, GRPC) will not be "
                    "listening for connections",
                    client_loc,
                )
    listeners: dict[str, tuple[list[Addr] | None, Loc]] = {}
    for name in ("dns", "http", "https", "grpc", "grpc_tls"):
        own, own_loc, own_set = ctx.addrs(f"addresses.{name}")
        port = ports[name]
        if port <= 0:
            continue
        if own_set and own is None:
            listeners[name] = (None, own_loc)
        elif own:
            listeners[name] = (own, own_loc)
        else:
            listeners[name] = (list(client_ips) if client_ips is not None else None, client_loc)
    if "dns" in listeners and listeners["dns"][0] and any(isinstance(a, Unix) for a in listeners["dns"][0] or []):
        ctx.add("VC014", "DNS address cannot be a unix socket", listeners["dns"][1])

    # collisions, in Consul's order: DNS (tcp+udp), HTTP, HTTPS, RPC Advertise, Serf Advertise LAN / WAN
    inuse: dict[str, str] = {}

    def unique(label: str, net: str, addr: Addr, port: int, loc: Loc) -> None:
        text = addr.path if isinstance(addr, Unix) else _hostport(addr, port)
        key = ("unix" if isinstance(addr, Unix) else net) + ":" + text
        if key in inuse:
            ctx.add("VC009", f"{label} address {text} already configured for {inuse[key]}", loc)
        else:
            inuse[key] = label

    for name, label in (("dns", "DNS"), ("http", "HTTP"), ("https", "HTTPS")):
        addrs, loc = listeners.get(name, ([], Loc()))
        for a in addrs or []:
            unique(label, "tcp", a, ports[name], loc)
            if name == "dns" and not isinstance(a, Unix):
                unique(label, "udp", a, ports[name], loc)
    if advertise is not None:
        if ports["server"] > 0:
            unique("RPC Advertise", "tcp", advertise, ports["server"], advertise_loc)
        if ports["serf_lan"] > 0:
            unique("Serf Advertise LAN", "tcp", advertise, ports["serf_lan"], advertise_loc)
    if advertise_wan is not None and ports["serf_wan"] > 0:
        unique("Serf Advertise WAN", "tcp", advertise_wan, ports["serf_wan"], node.loc("advertise_addr_wan"))

    # validate(): raft_protocol, datacenter, data_dir, bootstrap, encrypt are checks of consul_startup (above);
    # here only the values the view and the operator rules need
    raft = node.get("raft_protocol", 3)
    dc = str(node.get("datacenter", "dc1")).lower()
    expect = int(node.get("bootstrap_expect", 0))
    encrypt = node.get("encrypt")

    # operator warnings
    multi = expect > 1 or servers_in_set > 1
    if advertise is not None and advertise.is_loopback and server and multi:
        ctx.add(
            "VC006", f"advertise address {advertise} is a loopback address in a multi-server cluster", advertise_loc
        )
    if advertise is not None and not _is_any(advertise):
        if host is None:
            ctx.needs_facts.append("advertise address present on the host")
        elif not host.has_address(advertise):
            ctx.add("VC007", f"advertise address {advertise} is not on any interface of the host", advertise_loc)
    acl_on = bool(node.get("acl.enabled", False)) or node.has("acl_datacenter")
    if not acl_on:
        exposed: list[str] = []
        first_loc: Loc | None = None
        for name in ("http", "https", "grpc", "grpc_tls", "dns"):
            addrs, loc = listeners.get(name, ([], Loc()))
            for a in addrs or []:
                if not isinstance(a, Unix) and (_is_any(a) or not _private_or_loopback(a)):
                    what = "ANY" if _is_any(a) else "public"
                    exposed.append(f"{name} on {what} {_hostport(a, ports[name])}")
                    first_loc = first_loc or loc
        if exposed:
            ctx.add("VC008", f"ACLs are disabled and the client API listens on {', '.join(exposed)}", first_loc)

    # retry_join
    joins: list[tuple[Setting, tuple[str, ...] | None]] = []
    for entry in node.list("retry_join"):
        raw = str(entry.value)
        if _is_go_discover(raw):
            bad = [p for p in raw.split() if "=" not in p]
            if bad:
                ctx.add(
                    "VC012",
                    f"retry_join entry {raw!r}: go-discover settings must be key=value, not {bad[0]!r}",
                    entry.loc,
                )
            joins.append((entry, None))
            continue
        if is_template(raw):
            tokens = ctx.expand("retry_join", raw, entry.loc)
            joins.append((entry, tuple(tokens) if tokens is not None else None))
            continue
        problem = _retry_join_problem(raw)
        if problem:
            ctx.add("VC012", f"retry_join entry {raw!r}: {problem}", entry.loc)
        joins.append((entry, (raw,)))
    if joins and server and all(toks is not None for _, toks in joins):
        self_names = {str(a) for a in (advertise, bind) if a is not None and not _is_any(a)} | {node.name}
        targets = [join_target(t, ports["serf_lan"]) for _, toks in joins for t in toks or ()]
        if targets and all(t is not None and t[0] in self_names and t[1] == ports["serf_lan"] for t in targets):
            ctx.add(
                "VC013",
                f"retry_join names only this node: {', '.join(str(e.value) for e, _ in joins)}",
                joins[0][0].loc,
            )

    joins_wan: list[tuple[Setting, tuple[str, ...] | None]] = []
    for entry in node.list("retry_join_wan"):
        raw = str(entry.value)
        if _is_go_discover(raw):
            joins_wan.append((entry, None))
        elif is_template(raw):
            tokens = ctx.expand("retry_join_wan", raw, entry.loc)
            joins_wan.append((entry, tuple(tokens) if tokens is not None else None))
        else:
            problem = _retry_join_problem(raw)
            if problem:
                ctx.add("VC012", f"retry_join_wan entry {raw!r}: {problem}", entry.loc)
            joins_wan.append((entry, (raw,)))

    if ctx.needs_facts:
        ctx.add("VC015", "no host facts for this node; skipped: " + "; ".join(dict.fromkeys(ctx.needs_facts)))

    tls = {
        k: node.get(k)
        for k in (
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
    }
    tls["ca"] = bool(
        node.get("tls.defaults.ca_file")
        or node.get("tls.defaults.ca_path")
        or node.get("ca_file")
        or node.get("ca_path")
        or node.get("tls.internal_rpc.ca_file")
    )
    view = ConsulView(
        node=node,
        name=node.name,
        server=server,
        datacenter=dc,
        bootstrap_expect=expect,
        advertise=advertise,
        advertise_loc=advertise_loc,
        bind=bind if bind_known else None,
        ports=ports,
        encrypt=str(encrypt) if encrypt else None,
        raft_protocol=int(raft) if isinstance(raft, int) else 3,
        retry_join=tuple(joins),
        tls=tls,
        advertise_wan=advertise_wan if advertise_wan is not None and not _is_any(advertise_wan) else None,
        retry_join_wan=tuple(joins_wan),
    )
    return ctx.findings, view


__all__ = ["ConsulView", "check_node", "detect_private_ipv4", "go_base64_error", "in_rfc", "join_target"]
