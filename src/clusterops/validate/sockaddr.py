"""An offline evaluator of go-sockaddr templates (`{{ GetPrivateInterfaces | attr "address" }}`) over host facts.

Consul and Vault expand these templates with go-sockaddr v1.0.2 on the live host. We evaluate them against
the declared facts of the *target* host, reproducing go-sockaddr's semantics (read from its source):

- source functions: `GetAllInterfaces` (all addresses, interface then address order, up or down),
  `GetDefaultInterfaces` (error without a default route), `GetPrivateInterfaces` / `GetPublicInterfaces`
  (type IP, forwardable, up, sorted `default,type,size`, then inside / outside RFC 6890), `GetPrivateIP`,
  `GetPublicIP` (first of those), `GetPrivateIPs` (no `up` filter; RFC 6890 minus the forwarding
  blacklist, sorted `type,size`), `GetPublicIPs`, `GetInterfaceIP "re"` (unanchored regexp on the name,
  forwardable, sorted `+type,+size`, first), `GetInterfaceIPs "re"`;
- `include` / `exclude` by address, name, port (unanchored regexps), network (network-within-network
  containment; `a|b` evaluated once per value and concatenated, so duplicates on include and "keeps one copy
  per value not matched" on exclude), rfc(s) (same `|` rule), size, type (same `|` rule), flag(s) (interface
  flags all required, address attributes any one, the two groups OR-ed; `down` matches everything);
- `sort` (address, default, name, port, private, size, type; `+`/`-`), `limit`, `offset`, `unique`,
  `math` (address, network, mask), `attr` (first item, "" on an empty list), `join`.

Only what Consul users write is supported: text and `{{ pipeline }}` actions (with `{{-`/`-}}` trimming and
comments), pipelines of function calls with string and integer literals, `.` and parenthesised pipelines.
Other template actions raise `Unsupported` (the caller reports "cannot evaluate", it never guesses); what
go-sockaddr itself rejects raises `TemplateError` with go-sockaddr's wording.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from clusterops.validate.facts import HostFacts, Interface, IPIface

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


class TemplateError(Exception):
    """go-sockaddr (or Go's text/template) would reject this template on every host."""


class Unsupported(Exception):
    """A template construct this evaluator does not implement; the result is unknown."""


@dataclass(frozen=True)
class IfAddr:
    ip: IPIface
    iface: Interface

    @property
    def type_code(self) -> int:  # go-sockaddr: TypeUnix 1 < TypeIPv4 2 < TypeIPv6 4
        return 2 if self.ip.version == 4 else 4

    def sockaddr_string(self) -> str:
        full = 32 if self.ip.version == 4 else 128
        return str(self.ip.ip) if self.ip.network.prefixlen == full else f"{self.ip.ip}/{self.ip.network.prefixlen}"


def is_template(value: str) -> bool:
    return "{{" in value


# -- RFC tables (go-sockaddr rfc.go) ----------------------------------------------------------------

FORWARDING_BLACKLIST = 4294967295

_RFCS_RAW: dict[int, tuple[str, ...]] = {
    919: ("255.255.255.255/32",),
    1112: ("224.0.0.0/4",),
    1122: ("0.0.0.0/8", "127.0.0.0/8"),
    1918: ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
    2544: ("198.18.0.0/15",),
    2765: ("::ffff:0:0/96",),
    2928: ("2001::/16",),
    3056: ("2002::/16",),
    3068: ("192.88.99.0/24", "2002:c058:6301::/120"),
    3171: ("224.0.0.0/4",),
    3330: (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ),
    3849: ("2001:db8::/32",),
    3927: ("169.254.0.0/16",),
    4038: ("::ffff:0:0/96",),
    4193: ("fc00::/7",),
    4291: ("::/128", "::1/128", "::/96", "::ffff:0:0/96", "fe80::/10", "fec0::/10", "ff00::/8"),
    4380: ("2001::/32",),
    4773: ("2001::/23",),
    4843: ("2001:10::/28",),
    5180: ("2001:200::/48",),
    5735: ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15"),
    5737: ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
    6052: ("64:ff9b::/96",),
    6333: ("192.0.0.0/29",),
    6598: ("100.64.0.0/10",),
    6666: ("100::/64",),
    6890: (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.0.0/29",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::1/128",
        "::/128",
        "64:ff9b::/96",
        "::ffff:0:0/96",
        "100::/64",
        "2001::/16",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
    ),
    7335: ("192.0.0.0/29",),
    FORWARDING_BLACKLIST: (
        "0.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::1/128",
        "::/128",
        "::ffff:0:0/96",
        "2001:db8::/32",
        "2001:10::/28",
        "fe80::/10",
    ),
}
RFCS: dict[int, tuple[Net, ...]] = {k: tuple(ipaddress.ip_network(n) for n in v) for k, v in _RFCS_RAW.items()}


def contains(net: Net, ip: IPIface) -> bool:
    """go-sockaddr Contains: same family and the address's *network* lies within `net`."""
    if net.version != ip.version:
        return False
    inner = ip.network
    return int(net.network_address) <= int(inner.network_address) and int(net.broadcast_address) >= int(
        inner.broadcast_address
    )


def in_rfc(rfc: int, ip: IPIface) -> bool:
    return any(contains(n, ip) for n in RFCS[rfc])


def forwardable(ip: IPIface) -> bool:
    return not in_rfc(FORWARDING_BLACKLIST, ip)


# -- Go net.IP predicates ------------------------------------------------------------------------


def _go_attrs(ip: IPAddr) -> dict[str, bool]:
    b = ip.packed
    if ip.version == 4:
        unspecified = int(ip) == 0
        loopback = b[0] == 127
        multicast = b[0] & 0xF0 == 0xE0
        ll_unicast = b[0] == 169 and b[1] == 254
        ll_multicast = b[0] == 224 and b[1] == 0 and b[2] == 0
        if_multicast = False
        bcast = int(ip) == 0xFFFFFFFF
    else:
        unspecified = int(ip) == 0
        loopback = int(ip) == 1
        multicast = b[0] == 0xFF
        ll_unicast = b[0] == 0xFE and b[1] & 0xC0 == 0x80
        ll_multicast = b[0] == 0xFF and b[1] & 0x0F == 0x02
        if_multicast = b[0] == 0xFF and b[1] & 0x0F == 0x01
        bcast = False
    glob = not (bcast or unspecified or loopback or multicast or ll_unicast)
    return {
        "global unicast": glob,
        "interface-local multicast": if_multicast,
        "link-local multicast": ll_multicast,
        "link-local unicast": ll_unicast,
        "loopback": loopback,
        "multicast": multicast,
        "unspecified": unspecified,
    }


# -- sources -------------------------------------------------------------------------------------


def all_interfaces(host: HostFacts) -> list[IfAddr]:
    return [IfAddr(a, i) for i in host.interfaces for a in i.addresses]


def _sorted(addrs: Sequence[IfAddr], cmps: Sequence[Callable[[IfAddr, IfAddr], int]]) -> list[IfAddr]:
    def chain(p: IfAddr, q: IfAddr) -> int:
        for cmp in cmps:
            x = cmp(p, q)
            if x:
                return x
        return 0

    return sorted(addrs, key=functools.cmp_to_key(chain))


def _private_or_public(host: HostFacts, *, private: bool) -> list[IfAddr]:
    addrs = [a for a in all_interfaces(host) if forwardable(a.ip) and a.iface.up]
    addrs = _sorted(addrs, [_cmp_default(host), _cmp_type, _cmp_size])
    return [a for a in addrs if in_rfc(6890, a.ip) == private]


def private_interfaces(host: HostFacts) -> list[IfAddr]:
    return _private_or_public(host, private=True)


def public_interfaces(host: HostFacts) -> list[IfAddr]:
    return _private_or_public(host, private=False)


def default_interfaces(host: HostFacts) -> list[IfAddr]:
    if host.default_interface is None:
        raise TemplateError("No default route found")
    return [a for a in all_interfaces(host) if a.iface.name == host.default_interface]


def _compile(regexp: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(regexp)
    except re.error as err:
        raise TemplateError(f"Unable to compile {what} regexp {regexp!r}: {err}") from None


def get_private_ips(host: HostFacts) -> str:
    addrs = _sorted(all_interfaces(host), [_cmp_type, _cmp_size])
    return " ".join(str(a.ip.ip) for a in addrs if in_rfc(6890, a.ip) and forwardable(a.ip))


def get_public_ips(host: HostFacts) -> str:
    addrs = _sorted(all_interfaces(host), [_cmp_type, _cmp_size])
    return " ".join(str(a.ip.ip) for a in addrs if not in_rfc(6890, a.ip))


def get_interface_ip(host: HostFacts, name_re: str) -> str:
    rx = _compile(name_re, "name")
    addrs = [a for a in all_interfaces(host) if rx.search(a.iface.name) and forwardable(a.ip)]
    addrs = _sorted(addrs, [_cmp_type, _cmp_size])
    return str(addrs[0].ip.ip) if addrs else ""


def get_interface_ips(host: HostFacts, name_re: str) -> str:
    rx = _compile(name_re, "name")
    addrs = _sorted([a for a in all_interfaces(host) if rx.search(a.iface.name)], [_cmp_type, _cmp_size])
    return " ".join(str(a.ip.ip) for a in addrs)


# -- comparators (-1 receiver first, 1 argument first, 0 defer) ------------------------------------


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _cmp_address(p: IfAddr, q: IfAddr) -> int:
    return _sign(int(p.ip.ip) - int(q.ip.ip)) if p.ip.version == q.ip.version else 0


def _cmp_default(host: HostFacts) -> Callable[[IfAddr, IfAddr], int]:
    def cmp(p: IfAddr, q: IfAddr) -> int:
        d = host.default_interface
        if d is None:
            return 0
        pd, qd = p.iface.name == d, q.iface.name == d
        return -1 if pd and not qd else (1 if qd and not pd else 0)

    return cmp


def _cmp_name(p: IfAddr, q: IfAddr) -> int:
    return _sign((p.iface.name > q.iface.name) - (p.iface.name < q.iface.name))


def _cmp_port(p: IfAddr, q: IfAddr) -> int:
    return 0


def _cmp_private(p: IfAddr, q: IfAddr) -> int:
    pin = in_rfc(6890, p.ip)
    if p.ip.version != q.ip.version:
        return -1 if pin else 0
    qin = in_rfc(6890, q.ip)
    return -1 if pin and not qin else (1 if qin and not pin else 0)


def _cmp_size(p: IfAddr, q: IfAddr) -> int:
    if p.ip.version != q.ip.version:
        return 0
    return _sign(p.ip.network.prefixlen - q.ip.network.prefixlen)


def _cmp_type(p: IfAddr, q: IfAddr) -> int:
    return _sign(p.type_code - q.type_code)


def _neg(cmp: Callable[[IfAddr, IfAddr], int]) -> Callable[[IfAddr, IfAddr], int]:
    return lambda p, q: -cmp(p, q)


# -- filters -------------------------------------------------------------------------------------

_IFACE_FLAGS = {"broadcast", "loopback", "multicast", "point-to-point", "up", "down"}
_ADDR_FLAGS = {
    "forwardable",
    "global unicast",
    "interface-local multicast",
    "link-local multicast",
    "link-local unicast",
    "loopback",
    "multicast",
    "unspecified",
}
_GO_FLAG_NAME = {"point-to-point": "pointtopoint"}


def _by_flag(param: str, addrs: Sequence[IfAddr]) -> tuple[list[IfAddr], list[IfAddr]]:
    want_flags: set[str] = set()
    want_attrs: set[str] = set()
    check_flags = check_attrs = False
    for name in param.lower().split("|"):
        if name not in _IFACE_FLAGS | _ADDR_FLAGS:
            raise TemplateError(f"Unknown interface flag: {name!r}")
        if name == "down":
            check_flags = True
            want_flags.discard("up")
            continue
        if name in _IFACE_FLAGS:
            check_flags = True
            want_flags.add(_GO_FLAG_NAME.get(name, name))
        if name in _ADDR_FLAGS:
            check_attrs = True
            want_attrs.add(name)
    matched: list[IfAddr] = []
    rest: list[IfAddr] = []
    for a in addrs:
        ok = check_flags and want_flags <= a.iface.flags
        if not ok and check_attrs:
            attrs = _go_attrs(a.ip.ip)
            ok = any(attrs[w] for w in want_attrs if w != "forwardable") or (
                "forwardable" in want_attrs and forwardable(a.ip)
            )
        (matched if ok else rest).append(a)
    return matched, rest


def _by_type(param: str, addrs: Sequence[IfAddr]) -> tuple[list[IfAddr], list[IfAddr]]:
    types = param.lower().split("|")
    for t in types:
        if t not in ("ip", "ipv4", "ipv6", "unix"):
            raise TemplateError(f"unsupported type {t!r} {param!r}")
    matched: list[IfAddr] = []
    rest: list[IfAddr] = []
    for a in addrs:
        for t in types:
            ok = t == "ip" or (t == "ipv4" and a.ip.version == 4) or (t == "ipv6" and a.ip.version == 6)
            (matched if ok else rest).append(a)
    return matched, rest


def _by_network(param: str, addrs: Sequence[IfAddr]) -> tuple[list[IfAddr], list[IfAddr]]:
    matched: list[IfAddr] = []
    rest: list[IfAddr] = []
    for text in param.split("|"):
        try:
            net = ipaddress.ip_interface(text.strip()).network
        except ValueError:
            raise TemplateError(f"unable to create an IP address from {text!r}") from None
        for a in addrs:
            (matched if contains(net, a.ip) else rest).append(a)
    return matched, rest


def _by_rfcs(param: str, addrs: Sequence[IfAddr]) -> tuple[list[IfAddr], list[IfAddr]]:
    matched: list[IfAddr] = []
    rest: list[IfAddr] = []
    for text in param.split("|"):
        if not text.isdigit():
            raise TemplateError(f"unable to lookup RFC number {text!r}: unable to parse RFC number {text!r}")
        rfc = int(text)
        if rfc not in RFCS:
            raise TemplateError(f"unable to lookup RFC number {text!r}: unsupported RFC {rfc}")
        for a in addrs:
            (matched if in_rfc(rfc, a.ip) else rest).append(a)
    return matched, rest


def _by_regexp(param: str, addrs: Sequence[IfAddr], what: str) -> tuple[list[IfAddr], list[IfAddr]]:
    rx = _compile(param, what)
    matched: list[IfAddr] = []
    rest: list[IfAddr] = []
    for a in addrs:
        subject = {"address": a.sockaddr_string(), "name": a.iface.name, "port": "0"}[what]
        (matched if rx.search(subject) else rest).append(a)
    return matched, rest


def _by_size(param: str, addrs: Sequence[IfAddr]) -> tuple[list[IfAddr], list[IfAddr]]:
    if not param.isdigit():
        raise TemplateError(f"invalid exclude size argument ({param!r})")
    size = int(param)
    matched: list[IfAddr] = []
    rest: list[IfAddr] = []
    for a in addrs:
        if size > (32 if a.ip.version == 4 else 128):
            raise TemplateError(f"mask size out of bounds for IPv{a.ip.version} address: {size}")
        (matched if a.ip.network.prefixlen == size else rest).append(a)
    return matched, rest


def _select(kind: str, selector: str, param: str, addrs: Sequence[IfAddr]) -> tuple[list[IfAddr], list[IfAddr]]:
    s = selector.lower()
    if s in ("address", "name", "port"):
        return _by_regexp(param, addrs, s)
    if s in ("flag", "flags"):
        return _by_flag(param, addrs)
    if s == "network":
        return _by_network(param, addrs)
    if s in ("rfc", "rfcs"):
        return _by_rfcs(param, addrs)
    if s == "size":
        return _by_size(param, addrs)
    if s == "type":
        return _by_type(param, addrs)
    raise TemplateError(f"invalid {kind} selector {selector!r}")


def sort_by(param: str, addrs: Sequence[IfAddr], host: HostFacts) -> list[IfAddr]:
    keys: dict[str, Callable[[IfAddr, IfAddr], int]] = {
        "address": _cmp_address,
        "default": _cmp_default(host),
        "name": _cmp_name,
        "port": _cmp_port,
        "private": _cmp_private,
        "size": _cmp_size,
        "type": _cmp_type,
    }
    cmps = []
    for clause in param.split(","):
        c = clause.strip().lower()
        desc = c.startswith("-")
        key = c.lstrip("+-")
        if key not in keys or c.count("+") + c.count("-") > 1:
            raise TemplateError(f"unknown sort type: {clause!r}")
        cmps.append(_neg(keys[key]) if desc else keys[key])
    return _sorted(addrs, cmps)


# -- attributes ----------------------------------------------------------------------------------


def _go_flags(iface: Interface) -> str:
    order = ("up", "broadcast", "loopback", "pointtopoint", "multicast", "running")
    names = [f for f in order if f in iface.flags]
    return "|".join(names) if names else "0"


def _bare(ip: IPAddr) -> str:
    return str(ip)


def attribute(name: str, a: IfAddr) -> str:
    n = name.lower()
    ip, net = a.ip.ip, a.ip.network
    v4 = ip.version == 4
    bits = 32 if v4 else 128
    if n == "name" and a.iface.name:
        return a.iface.name
    if n == "flags":
        return _go_flags(a.iface)
    if n == "address":
        return str(ip)
    if n == "host":
        return _bare(ip)
    if n == "port":
        return "0"
    if n == "netmask":
        return str(net.netmask)
    if n == "network":
        return str(net.network_address)
    if n == "mask_bits":
        return str(net.prefixlen)
    if n == "binary":
        return format(int(ip), f"0{bits}b")
    if n == "hex":
        return format(int(ip), f"0{bits // 4}x")
    if n == "octets":
        return " ".join(str(b) for b in ip.packed)
    if n in ("first_usable", "last_usable"):
        lo, hi = int(net.network_address), int(net.broadcast_address)
        if v4 and net.prefixlen < 31:
            lo, hi = lo + 1, hi - 1
        addr_cls: Callable[[int], IPAddr] = ipaddress.IPv4Address if v4 else ipaddress.IPv6Address
        return str(addr_cls(lo if n == "first_usable" else hi))
    if n == "size":
        return str(1 << (bits - net.prefixlen))
    if n == "broadcast" and v4:
        return str(net.broadcast_address)
    if n == "uint32" and v4:
        return str(int(ip))
    if n == "uint128" and not v4:
        return str(int(ip))
    if n == "string":
        return a.sockaddr_string()
    if n == "type":
        return "IPv4" if v4 else "IPv6"
    raise TemplateError(f"unsupported attribute name {n!r}")


# -- math ----------------------------------------------------------------------------------------

_SIGN = re.compile(r"^\s*[+-]")


def _math_one(op: str, value: str, a: IfAddr) -> IfAddr:
    o = op.lower()
    v4 = a.ip.version == 4
    bits = 32 if v4 else 128
    prefix = a.ip.network.prefixlen

    def make(n: int, plen: int) -> IfAddr:
        n %= 1 << bits
        addr = ipaddress.IPv4Address(n) if v4 else ipaddress.IPv6Address(n)
        return IfAddr(ipaddress.ip_interface(f"{addr}/{plen}"), a.iface)

    if o in ("address", "network"):
        if not _SIGN.match(value):
            raise TemplateError(f"sign (+/-) is required for operation {op!r}")
        try:
            i = int(value.strip())
        except ValueError:
            raise TemplateError(f"unable to convert {value!r} to int for operation {op!r}") from None
        if o == "address":
            return make(int(a.ip.ip) + i, prefix)
        host_mask = (1 << (bits - prefix)) - 1
        net = int(a.ip.network.network_address)
        if i >= 0:
            return make(net + (i & host_mask), prefix)
        return make(net + ((1 + i + host_mask) & host_mask), prefix)
    if o == "mask":
        if not value.isdigit() or int(value) > bits:
            raise TemplateError(f"parameter for operation {op!r} must be between 0 and {bits}")
        m = int(value)
        masked = int(a.ip.ip) & (((1 << m) - 1) << (bits - m)) if m else 0
        return make(masked, min(m, prefix))
    raise TemplateError(f"unsupported math operation: {op!r}")


# -- the template language -----------------------------------------------------------------------

_GO_BUILTINS = {
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
}
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil"}

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\\n]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<dot>\.[A-Za-z_][A-Za-z0-9_.]*|\.)
    | (?P<var>\$[A-Za-z0-9_]*)
    | (?P<punct>:=|=|\||\(|\)|,|'(?:[^'\\]|\\.)+')
    )""",
    re.X,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    body = text[1:-1]
    try:
        return str(body.encode("latin-1", "backslashreplace").decode("unicode_escape"))
    except UnicodeDecodeError:
        raise TemplateError(f"bad string literal {text}") from None


def _lex_action(body: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(body):
        if body[pos:].strip() == "":
            break
        m = _TOKEN.match(body, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"unexpected {body[pos:].strip()[:1]!r} in command")
        kind = m.lastgroup or ""
        toks.append(_Tok(kind, m.group(kind)))
        pos = m.end()
    return toks


class _Evaluator:
    def __init__(self, host: HostFacts) -> None:
        self.host = host

    # Each function: (argument kinds, implementation). Kinds: s string, u uint, i int, L IfAddrs, A any.
    def functions(self) -> dict[str, tuple[str, Callable[..., Any]]]:
        h = self.host
        return {
            "GetAllInterfaces": ("", lambda: all_interfaces(h)),
            "GetDefaultInterfaces": ("", lambda: default_interfaces(h)),
            "GetPrivateInterfaces": ("", lambda: private_interfaces(h)),
            "GetPublicInterfaces": ("", lambda: public_interfaces(h)),
            "GetPrivateIP": ("", lambda: (lambda x: str(x[0].ip.ip) if x else "")(private_interfaces(h))),
            "GetPublicIP": ("", lambda: (lambda x: str(x[0].ip.ip) if x else "")(public_interfaces(h))),
            "GetPrivateIPs": ("", lambda: get_private_ips(h)),
            "GetPublicIPs": ("", lambda: get_public_ips(h)),
            "GetInterfaceIP": ("s", lambda r: get_interface_ip(h, r)),
            "GetInterfaceIPs": ("s", lambda r: get_interface_ips(h, r)),
            "include": ("ssL", lambda s, p, xs: _select("include", s, p, xs)[0]),
            "exclude": ("ssL", lambda s, p, xs: _select("exclude", s, p, xs)[1]),
            "sort": ("sL", lambda p, xs: sort_by(p, xs, h)),
            "limit": ("uL", lambda n, xs: list(xs[:n])),
            "offset": ("iL", _offset),
            "unique": ("sL", _unique),
            "math": ("ssL", lambda o, v, xs: [_math_one(o, v, a) for a in xs]),
            "attr": ("sA", _attr),
            "join": ("ssL", lambda n, sep, xs: sep.join(attribute(n, a) for a in xs)),
        }

    def run(self, template: str) -> str:
        out: list[str] = []
        pos = 0
        funcs = self.functions()
        while True:
            start = template.find("{{", pos)
            if start < 0:
                out.append(template[pos:])
                break
            text = template[pos:start]
            end = template.find("}}", start + 2)
            if end < 0:
                raise TemplateError("unclosed action")
            body = template[start + 2 : end]
            if body.startswith("- ") or body.startswith("-\t") or body.startswith("-\n") or body == "-":
                text = text.rstrip()
                body = body[1:]
            trim_right = body.endswith(" -") or body.endswith("\t-") or body.endswith("\n-")
            if trim_right:
                body = body[:-1]
            out.append(text)
            pos = end + 2
            if trim_right:
                while pos < len(template) and template[pos] in " \t\r\n":
                    pos += 1
            stripped = body.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    raise TemplateError("unclosed comment")
                continue
            out.append(_print(self.pipeline(_lex_action(body), funcs)))
        return "".join(out)

    def pipeline(self, toks: list[_Tok], funcs: dict[str, tuple[str, Callable[..., Any]]]) -> Any:
        if not toks:
            raise TemplateError("missing value for command")
        if toks[0].kind == "ident" and toks[0].text in _KEYWORDS:
            raise Unsupported(f"template action {toks[0].text!r} is not supported by the offline evaluator")
        for t in toks:
            if t.kind == "var" or t.text in (":=", "="):
                raise Unsupported("template variables are not supported by the offline evaluator")
        commands: list[list[_Tok]] = [[]]
        depth = 0
        for t in toks:
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
                if depth < 0:
                    raise TemplateError("unexpected right paren")
            if t.text == "|" and depth == 0:
                commands.append([])
            else:
                commands[-1].append(t)
        if depth:
            raise TemplateError("unclosed left paren")
        value: Any = _NOTHING
        for cmd in commands:
            if not cmd:
                raise TemplateError("missing command")
            value = self.command(cmd, value, funcs)
        return value

    def _operands(self, toks: list[_Tok], funcs: dict[str, tuple[str, Callable[..., Any]]]) -> list[Any]:
        ops: list[Any] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.text == "(":
                depth, j = 1, i + 1
                while j < len(toks) and depth:
                    depth += {"(": 1, ")": -1}.get(toks[j].text, 0)
                    j += 1
                ops.append(self.pipeline(toks[i + 1 : j - 1], funcs))
                i = j
                continue
            ops.append(self.operand(t, funcs))
            i += 1
        return ops

    def operand(self, t: _Tok, funcs: dict[str, tuple[str, Callable[..., Any]]]) -> Any:
        if t.kind in ("str", "raw"):
            return _unquote(t.text)
        if t.kind == "num":
            try:
                return int(t.text, 0)
            except ValueError:
                return float(t.text)
        if t.kind == "dot":
            if t.text != ".":
                raise Unsupported(f"field access {t.text} is not supported by the offline evaluator")
            return all_interfaces(self.host)
        if t.kind == "ident":
            if t.text in ("true", "false"):
                return t.text == "true"
            if t.text in funcs:
                return self.call(t.text, [], _NOTHING, funcs)
            if t.text in _GO_BUILTINS:
                raise Unsupported(f"function {t.text!r} is not supported by the offline evaluator")
            raise TemplateError(f'function "{t.text}" not defined')
        raise TemplateError(f"unexpected {t.text!r} in operand")

    def command(self, cmd: list[_Tok], piped: Any, funcs: dict[str, tuple[str, Callable[..., Any]]]) -> Any:
        head = cmd[0]
        if head.kind == "ident" and (head.text in funcs or head.text in _GO_BUILTINS):
            if head.text not in funcs:
                raise Unsupported(f"function {head.text!r} is not supported by the offline evaluator")
            return self.call(head.text, self._operands(cmd[1:], funcs), piped, funcs)
        if head.kind == "ident" and head.text not in ("true", "false"):
            raise TemplateError(f'function "{head.text}" not defined')
        ops = self._operands(cmd, funcs)
        if len(ops) > 1 or piped is not _NOTHING:
            raise TemplateError(f"can't give argument to non-function {head.text}")
        return ops[0]

    def call(self, name: str, args: list[Any], piped: Any, funcs: dict[str, tuple[str, Callable[..., Any]]]) -> Any:
        kinds, fn = funcs[name]
        if piped is not _NOTHING:
            args = [*args, piped]
        if len(args) != len(kinds):
            raise TemplateError(f"wrong number of args for {name}: want {len(kinds)} got {len(args)}")
        converted = [_convert(name, k, a) for k, a in zip(kinds, args, strict=True)]
        return fn(*converted)


class _Nothing:
    pass


_NOTHING = _Nothing()


def _convert(fn: str, kind: str, value: Any) -> Any:
    if kind == "s":
        if isinstance(value, str):
            return value
        raise TemplateError(f"wrong type for value; expected string; got {_go_type(value)} (calling {fn})")
    if kind in ("u", "i"):
        if isinstance(value, int) and not isinstance(value, bool) and (kind == "i" or value >= 0):
            return value
        raise TemplateError(f"wrong type for value; expected {'uint' if kind == 'u' else 'int'}; got {_go_type(value)}")
    if kind == "L":
        if isinstance(value, list):
            return value
        raise TemplateError(f"wrong type for value; expected sockaddr.IfAddrs; got {_go_type(value)}")
    return value


def _go_type(value: Any) -> str:
    if isinstance(value, list):
        return "sockaddr.IfAddrs"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    return "string"


def _offset(off: int, addrs: list[IfAddr]) -> list[IfAddr]:
    n = abs(off)
    if n > len(addrs):
        raise TemplateError(
            f"unable to seek past the end of the interface array: offset ({n}) exceeds the number of "
            f"interfaces ({len(addrs)})"
        )
    return addrs[len(addrs) - n :] if off < 0 else addrs[n:]


def _unique(selector: str, addrs: list[IfAddr]) -> list[IfAddr]:
    s = selector.lower()
    if s not in ("address", "name"):
        raise TemplateError(f"unsupported unique constraint {selector!r}")
    out: list[IfAddr] = []
    last = ""
    for a in addrs:
        key = a.sockaddr_string() if s == "address" else a.iface.name
        if last == "" or last != key:
            last = key
            out.append(a)
    return out


def _attr(name: str, value: Any) -> str:
    if isinstance(value, list):
        return attribute(name, value[0]) if value else ""
    if isinstance(value, IfAddr):
        return attribute(name, value)
    raise TemplateError(f"unable to obtain attribute {name} from type {_go_type(value)} ({value})")


def _print(value: Any) -> str:
    """Go's default formatting of the pipeline's value (lists print as structs, never as an address)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(f"{{{a.sockaddr_string()} {a.iface.name}}}" for a in value) + "]"
    if isinstance(value, IfAddr):
        return f"{{{value.sockaddr_string()} {value.iface.name}}}"
    return str(value)


def evaluate(template: str, host: HostFacts) -> str:
    """Expand `template` on `host` as go-sockaddr's `template.Parse` would; text without `{{` is returned as is."""
    if not is_template(template):
        return template
    return _Evaluator(host).run(template)
