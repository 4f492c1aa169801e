"""Cross-node Consul rules (VX0xx) over the resolved views of the servers validated together.

They run when two or more nodes are given (validating one node alone says nothing about the others).
Consistency rules report each node that differs from the most common value, so the finding points at
the file to change. Secret values (the gossip key) are never shown: nodes are grouped by key instead.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Hashable, Sequence

from clusterops.findings import Finding
from clusterops.validate.catalog import RULES
from clusterops.validate.consul_rules import ConsulView, join_target
from clusterops.validate.load import Loc


def _finding(rule_id: str, view: ConsulView, message: str, loc: Loc) -> Finding:
    return Finding.of(RULES[rule_id], view.name, message, file=loc.file, line=loc.line)


def _differs(
    rule_id: str,
    views: Sequence[ConsulView],
    value: Callable[[ConsulView], Hashable],
    show: Callable[[Hashable], str],
    key: str,
    what: str,
) -> list[Finding]:
    counts = Counter(value(v) for v in views)
    if len(counts) < 2:
        return []
    majority, _ = counts.most_common(1)[0]
    holders = ", ".join(v.name for v in views if value(v) == majority)
    return [
        _finding(
            rule_id, v, f"{what} {show(value(v))} differs from {show(majority)} used by {holders}", v.node.loc(key)
        )
        for v in views
        if value(v) != majority
    ]


def _port_of(name: str) -> Callable[[ConsulView], Hashable]:
    return lambda v: v.ports[name]


def _tls_of(key: str) -> Callable[[ConsulView], Hashable]:
    return lambda v: bool(v.tls.get(key))


def check_cluster(views: Sequence[ConsulView]) -> list[Finding]:
    """Rules across the servers given; servers of WAN-federated datacenters are grouped by datacenter."""
    servers = [v for v in views if v.server]
    if len(views) < 2 or not servers:
        return []
    by_dc: dict[str, list[ConsulView]] = {}
    for v in servers:
        by_dc.setdefault(v.datacenter, []).append(v)
    federated = len(by_dc) > 1 and any(v.retry_join_wan for v in servers)
    if not federated:  # one cluster whose datacenter differs somewhere: a mistake, not a federation
        return _check_dc(servers, views, check_dc=True)
    out: list[Finding] = []
    for group in by_dc.values():
        out += _check_dc(group, [v for v in views if v.datacenter == group[0].datacenter], check_dc=False)
    out += _differs("VX006", servers, _key_label(servers), str, "encrypt", "gossip encryption (WAN too)")
    out += _wan(servers, by_dc)
    return out


def _key_label(servers: Sequence[ConsulView]) -> Callable[[ConsulView], Hashable]:
    keys: dict[str | None, str] = {}
    for v in servers:
        if v.encrypt not in keys:
            keys[v.encrypt] = "none" if v.encrypt is None else f"key #{sum(1 for k in keys if k is not None) + 1}"
    return lambda v: keys[v.encrypt]


def _wan(servers: Sequence[ConsulView], by_dc: dict[str, list[ConsulView]]) -> list[Finding]:
    """WAN side of a federation: unique WAN addresses, and every datacenter reaches another over retry_join_wan."""
    out: list[Finding] = []
    seen: dict[tuple[str, int], ConsulView] = {}
    index: dict[tuple[str, int], str] = {}
    for v in servers:
        if v.advertise_wan is None or v.ports["serf_wan"] <= 0:
            continue
        key = (str(v.advertise_wan), v.ports["serf_wan"])
        index[key] = v.datacenter
        if key in seen:
            loc = v.node.loc("advertise_addr_wan") if v.node.has("advertise_addr_wan") else v.advertise_loc
            out.append(
                _finding(
                    "VX014",
                    v,
                    f"WAN address {key[0]}:{key[1]} is also {seen[key].name}'s ({seen[key].datacenter})",
                    loc,
                )
            )
        else:
            seen[key] = v
    reached: dict[str, set[str]] = {dc: set() for dc in by_dc}
    unknown = False
    for v in servers:
        for _entry, tokens in v.retry_join_wan:
            if tokens is None:
                unknown = True
                continue
            for tok in tokens:
                target = join_target(tok, v.ports["serf_wan"])
                dc = index.get(target) if target is not None else None
                if dc is None:
                    unknown = True
                elif dc != v.datacenter:
                    reached[v.datacenter].add(dc)
                    reached[dc].add(v.datacenter)
    if unknown:
        return out
    for dc, group in by_dc.items():
        if not reached[dc]:
            v = group[0]
            loc = v.retry_join_wan[0][0].loc if v.retry_join_wan else Loc(v.node.files[-1] if v.node.files else "")
            out.append(
                _finding(
                    "VX013",
                    v,
                    f"datacenter {dc} joins no other datacenter over the WAN: no retry_join_wan entry of "
                    f"{', '.join(s.name for s in group)} names a WAN address of "
                    f"{', '.join(sorted(d for d in by_dc if d != dc))} (and none names theirs)",
                    loc,
                )
            )
    return out


def _check_dc(servers: list[ConsulView], views: Sequence[ConsulView], *, check_dc: bool) -> list[Finding]:
    """The rules within one datacenter (one Raft cluster)."""
    out: list[Finding] = []
    if check_dc:
        out += _differs("VX001", servers, lambda v: v.datacenter, repr, "datacenter", "datacenter")
    if len(servers) < 2 and len(views) < 2:
        return out

    expects = [v for v in servers if v.bootstrap_expect > 0]
    out += _differs("VX002", expects, lambda v: v.bootstrap_expect, str, "bootstrap_expect", "bootstrap_expect")
    n = len(servers)
    for v in expects:
        if v.bootstrap_expect != n and len({e.bootstrap_expect for e in expects}) == 1:
            out.append(
                _finding(
                    "VX003",
                    v,
                    f"bootstrap_expect = {v.bootstrap_expect} but {n} servers were given "
                    f"({', '.join(s.name for s in servers)})",
                    v.node.loc("bootstrap_expect"),
                )
            )

    by_addr: dict[tuple[str, int], list[ConsulView]] = {}
    for v in servers:
        if v.advertise is not None:
            by_addr.setdefault((str(v.advertise), v.ports["server"]), []).append(v)
    for (addr, port), group in by_addr.items():
        for v in group[1:]:
            out.append(_finding("VX004", v, f"advertises {addr}:{port}, like {group[0].name}", v.advertise_loc))
    by_name: dict[str, list[ConsulView]] = {}
    for v in views:
        by_name.setdefault(v.name, []).append(v)
    for name, group in by_name.items():
        for v in group[1:]:
            out.append(
                _finding(
                    "VX005", v, f"node name {name!r} is also used by {group[0].node.source}", v.node.loc("node_name")
                )
            )

    if check_dc:
        out += _differs("VX006", servers, _key_label(servers), str, "encrypt", "gossip encryption")

    for port_name in ("server", "serf_lan", "serf_wan"):
        out += _differs("VX007", servers, _port_of(port_name), str, f"ports.{port_name}", f"ports.{port_name}")
    out += _differs("VX008", servers, lambda v: v.raft_protocol, str, "raft_protocol", "raft_protocol")
    for key, label in (
        ("tls.defaults.verify_incoming", "tls.defaults.verify_incoming"),
        ("tls.defaults.verify_outgoing", "tls.defaults.verify_outgoing"),
        ("tls.defaults.verify_server_hostname", "tls.defaults.verify_server_hostname"),
        ("tls.internal_rpc.verify_incoming", "tls.internal_rpc.verify_incoming"),
        ("tls.internal_rpc.verify_server_hostname", "tls.internal_rpc.verify_server_hostname"),
        ("verify_incoming", "verify_incoming"),
        ("verify_outgoing", "verify_outgoing"),
        ("verify_server_hostname", "verify_server_hostname"),
        ("ca", "a CA file"),
    ):
        out += _differs("VX010", servers, _tls_of(key), str, key, label)

    out += _unreachable(servers)
    out += _join_graph(servers)
    if n % 2 == 0:
        out.append(
            _finding(
                "VX011",
                servers[0],
                f"{n} servers: an even number adds no failure tolerance over {n - 1}",
                Loc(servers[0].node.source),
            )
        )
    return out


def _unreachable(servers: Sequence[ConsulView]) -> list[Finding]:
    """A server advertising loopback cannot be reached by servers that advertise routable addresses."""
    routable = [v for v in servers if v.advertise is not None and not v.advertise.is_loopback]
    if not routable:
        return []  # all on one host (or unknown): a same-host cluster works
    return [
        _finding(
            "VX015",
            v,
            f"{v.name} advertises the loopback address {v.advertise} while "
            f"{', '.join(f'{r.name} ({r.advertise})' for r in routable)} advertise routable addresses: "
            "they cannot reach it",
            v.advertise_loc,
        )
        for v in servers
        if v.advertise is not None and v.advertise.is_loopback
    ]


def _complete(servers: Sequence[ConsulView]) -> bool:
    """The whole server set is given (every server expects exactly this many) and every advertise is known."""
    return bool(servers) and all(v.bootstrap_expect == len(servers) and v.advertise is not None for v in servers)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _join_graph(servers: Sequence[ConsulView]) -> list[Finding]:
    """Which servers can reach which through retry_join; report groups that never meet."""
    out: list[Finding] = []
    index: dict[tuple[str, int], int] = {}
    names: dict[str, int] = {}
    for i, v in enumerate(servers):
        for a in (v.advertise, v.bind):
            if a is not None and str(a) not in ("0.0.0.0", "::"):
                index[(str(a), v.ports["serf_lan"])] = i
        names[v.name] = i
    parent = list(range(len(servers)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    unknown_nodes: set[int] = set()
    complete = _complete(servers)
    for i, v in enumerate(servers):
        unresolved: list[str] = []
        dead: list[str] = []
        for entry, tokens in v.retry_join:
            if tokens is None:
                unresolved.append(str(entry.value))
                continue
            for tok in tokens:
                target = join_target(tok, v.ports["serf_lan"])
                if target is None:
                    continue
                j = index.get(target)
                if j is None and target[0] in names and target[1] == servers[names[target[0]]].ports["serf_lan"]:
                    j = names[target[0]]
                if j is None and complete and _is_ip(target[0]):
                    dead.append(tok)
                    continue
                if j is None:
                    unresolved.append(tok)
                    continue
                parent[find(i)] = find(j)
        if dead:
            loc = v.retry_join[0][0].loc if v.retry_join else Loc(v.node.source)
            out.append(
                Finding.of(
                    RULES["VX016"],
                    v.name,
                    f"retry_join {', '.join(dead)}: no server of the {len(servers)} given (all of them, by "
                    f"bootstrap_expect = {len(servers)}) advertises that address",
                    file=loc.file,
                    line=loc.line,
                )
            )
        if unresolved:
            unknown_nodes.add(i)
            out.append(
                Finding.of(
                    RULES["VX012"],
                    v.name,
                    "retry_join targets not matched to a validated server: " + ", ".join(unresolved),
                    file=v.retry_join[0][0].loc.file if v.retry_join else None,
                    line=v.retry_join[0][0].loc.line if v.retry_join else None,
                )
            )
    if unknown_nodes:
        return out  # an unresolved target may join anything: no verdict on connectivity
    groups: dict[int, list[int]] = {}
    for i in range(len(servers)):
        groups.setdefault(find(i), []).append(i)
    if len(groups) > 1:
        ordered = sorted(groups.values(), key=len, reverse=True)
        main = ordered[0]
        for group in ordered[1:]:
            for i in group:
                v = servers[i]
                loc = (
                    v.retry_join[0][0].loc if v.retry_join else Loc(v.node.files[-1] if v.node.files else v.node.source)
                )
                out.append(
                    Finding.of(
                        RULES["VX009"],
                        v.name,
                        f"{v.name} never joins {', '.join(servers[m].name for m in main)} (retry_join: "
                        f"{', '.join(str(e.value) for e, _ in v.retry_join) or 'none'})",
                        file=loc.file,
                        line=loc.line,
                    )
                )
    return out
