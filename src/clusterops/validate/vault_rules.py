"""Vault / OpenBao rules (VV0xx): listeners, api_addr, cluster_addr, raft storage, per node and across nodes.

Startup checks of `command/server.go` and `command/server/config.go` are mirrored with their wording
("Cluster address must be set when using raft storage", "Address %q used for both API and cluster
addresses", "A storage backend must be specified", ...); the operator rules of the issue come on top.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from clusterops.findings import Finding
from clusterops.validate.catalog import RULES
from clusterops.validate.facts import HostFacts
from clusterops.validate.load import Loc, VaultNode
from clusterops.validate.sockaddr import TemplateError, Unsupported, evaluate, is_template

SUPPORTED_LISTENERS = ("tcp", "unix")
# Storage that runs Vault in HA mode: only then are cluster_addr and api_addr used (and required, for raft).
HA_STORAGE = ("raft", "consul", "etcd", "zookeeper", "dynamodb", "spanner")


# Storage / service_registration types OpenBao refuses ("unknown storage type %s"), checked on the real
# `bao server` 2.6.2 and 2.7.2 (tests/integration/test_validate_differential.py). HashiCorp Vault accepts them.
OPENBAO_REMOVED_STORAGE = {
    "consul": "2.0",
    "etcd": "2.0",
    "zookeeper": "2.0",
    "dynamodb": "2.0",
    "mysql": "2.0",
    "s3": "2.0",
    "gcs": "2.0",
    "file": "2.7",
}
OPENBAO_REMOVED_SERVICE_REGISTRATION = {"consul": "2.0"}
OPENBAO_NEWEST = "2.7"
VAULT_NEWEST = "1.20"


@dataclass(frozen=True)
class Target:
    """The product and release whose start-up rules apply."""

    product: str = "vault"  # vault | openbao
    version: tuple[int, int] = (1, 20)

    @classmethod
    def parse(cls, product: str, version: str | None) -> Target:
        product = product.lower()
        if product not in ("vault", "openbao"):
            raise ValueError(f"--target must be vault or openbao, not {product!r}")
        text = (version or (OPENBAO_NEWEST if product == "openbao" else VAULT_NEWEST)).strip().lstrip("v")
        parts = text.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
            raise ValueError(f"not a {product} version: {version!r} (e.g. 2.7.2)")
        return cls(product, (int(parts[0]), int(parts[1])))

    def removed(self, table: dict[str, str], kind: str) -> bool:
        since = table.get(kind)
        if self.product != "openbao" or since is None:
            return False
        a, b = since.split(".")
        return self.version >= (int(a), int(b))

    @property
    def label(self) -> str:
        return f"{'OpenBao' if self.product == 'openbao' else 'Vault'} {self.version[0]}.{self.version[1]}"


def is_ha(node: VaultNode) -> bool:
    """HA storage: only then does the server use (and, for raft, require) api_addr and cluster_addr."""
    storage = node.storage
    if storage is None:
        return False
    ha_enabled = storage.config.get("ha_enabled")
    return (
        storage.type in HA_STORAGE
        or node.ha_storage is not None
        or (ha_enabled is not None and str(ha_enabled.value).lower() == "true")
    )


@dataclass(frozen=True)
class VaultView:
    node: VaultNode
    name: str
    api_addr: str | None
    cluster_addr: str | None
    cluster_addr_loc: Loc
    node_id: str | None
    ha: bool = False
    hosts: tuple[tuple[str, str, Loc], ...] = ()  # (key, host, where): addresses other nodes use


class _Ctx:
    def __init__(self, node: VaultNode, host: HostFacts | None) -> None:
        self.node = node
        self.host = host
        self.findings: list[Finding] = []
        self.skipped: list[str] = []

    def add(self, rule_id: str, message: str, loc: Loc | None = None) -> None:
        loc = loc or Loc(self.node.files[-1] if self.node.files else self.node.source)
        self.findings.append(Finding.of(RULES[rule_id], self.node.name, message, file=loc.file, line=loc.line))

    def single(self, key: str, raw: str, loc: Loc, rule_id: str) -> str | None:
        """ParseSingleIPTemplate: templates expanded, one token; None when unknown or invalid (reported)."""
        if not is_template(raw):
            return raw
        if self.host is None:
            self.skipped.append(f"{key} template")
            return None
        try:
            tokens = evaluate(raw, self.host).split()
        except TemplateError as err:
            self.add(rule_id, f"{key}: unable to parse address template {raw!r}: {err}", loc)
            return None
        except Unsupported as err:
            self.skipped.append(f"{key}: {err}")
            return None
        if len(tokens) > 1:
            self.add(rule_id, f"{key}: multiple addresses found ({' '.join(tokens)!r}), please configure one", loc)
            return None
        return tokens[0] if tokens else ""


def _host_port(text: str) -> tuple[str, int] | str:
    """(host, port) like Go's net.SplitHostPort, or the error text."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1 :].startswith(":"):
            return f"address {text}: missing port in address"
        host, port = text[1:end], text[end + 2 :]
    else:
        if text.count(":") == 0:
            return f"address {text}: missing port in address"
        if text.count(":") > 1:
            return f"address {text}: too many colons in address"
        host, port = text.split(":")
    if not port.isdigit() or int(port) > 65535:
        return f"address {text}: invalid port"
    return host, int(port)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _loopback_or_any(host: str) -> bool:
    ip = _ip(host)
    if ip is None:
        return host.lower() == "localhost"
    return ip.is_loopback or ip.is_unspecified


def _url_port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


def check_vault_node(
    node: VaultNode, host: HostFacts | None, *, nodes_in_set: int = 1, target: Target | None = None
) -> tuple[list[Finding], VaultView]:
    """`nodes_in_set`: the HA nodes validated together (non-HA nodes never form a cluster)."""
    target = target or Target()
    ctx = _Ctx(node, host)
    for p in node.problems:
        ctx.add(p.rule, p.message, p.loc)
    storage = node.storage
    raft = storage is not None and storage.type == "raft"
    # a storage type the target refuses (VV025) never starts: no finding that assumes it would (VV004, ...)
    ha = is_ha(node) and not (storage is not None and target.removed(OPENBAO_REMOVED_STORAGE, storage.type))
    multi = ha and (nodes_in_set > 1 or (raft and storage is not None and bool(storage.retry_join)))
    hosts: list[tuple[str, str, Loc]] = []
    if storage is None:
        ctx.add("VV014", "A storage backend must be specified")
    elif target.removed(OPENBAO_REMOVED_STORAGE, storage.type):
        ctx.add("VV025", f"unknown storage type {storage.type} ({target.label} no longer has it)", storage.loc)
    elif target.product == "openbao" and storage.type == "file":
        ctx.add(
            "VV026",
            "storage.file: the file physical backend is deprecated; use bao operator migrate to move to a "
            "supported storage backend by v2.7.0",
            storage.loc,
        )
    sr = node.service_registration
    if sr is not None and target.removed(OPENBAO_REMOVED_SERVICE_REGISTRATION, str(sr.value)):
        ctx.add("VV025", f"unknown service_registration type {sr.value} ({target.label} no longer has it)", sr.loc)

    cluster_ports: set[int] = set()
    seen: dict[tuple[str, int], int] = {}
    for n, lst in enumerate(node.listeners):
        if lst.type is None:
            ctx.add("VV001", f"listeners.{n}: listener type must be specified", lst.loc)
            continue
        if lst.type not in SUPPORTED_LISTENERS:
            ctx.add("VV001", f"listeners.{n}: unsupported listener type {lst.type!r}", lst.loc)
            continue
        if not lst.tls_disable and (not lst.tls_cert_file or not lst.tls_key_file):
            missing = "tls_cert_file" if not lst.tls_cert_file else "tls_key_file"
            ctx.add("VV018", f"listeners.{n}: '{missing}' must be set (or tls_disable = true)", lst.loc)
        if lst.type != "tcp":
            continue
        addr_raw = str(lst.address.value) if lst.address is not None else "127.0.0.1:8200"
        addr_loc = lst.address.loc if lst.address is not None else lst.loc
        addr = ctx.single("address", addr_raw, addr_loc, "VV002")
        bound: tuple[str, int] | None = None
        if addr is not None:
            hp = _host_port(addr or "127.0.0.1:8200")
            if isinstance(hp, str):
                ctx.add("VV002", f"listeners.{n}: {hp}", addr_loc)
            else:
                bound = hp
                if hp in seen:
                    ctx.add("VV020", f"listeners.{n}: address {addr} is also listener {seen[hp]}'s", addr_loc)
                seen[hp] = n
        if lst.cluster_address is not None:
            ca = ctx.single("cluster_address", str(lst.cluster_address.value), lst.cluster_address.loc, "VV003")
            if ca:
                hp = _host_port(ca)
                if isinstance(hp, str):
                    ctx.add("VV003", f"listeners.{n}: Error resolving cluster_address: {hp}", lst.cluster_address.loc)
                else:
                    cluster_ports.add(hp[1])
        elif bound is not None:
            cluster_ports.add(bound[1] + 1)

    # api_addr
    api_setting = node.settings.get("api_addr")
    api: str | None = None
    if api_setting is not None and str(api_setting.value):
        raw_api = str(api_setting.value)
        api = ctx.single("api_addr", raw_api, api_setting.loc, "VV005")
        if api == "" and is_template(raw_api):
            ctx.add("VV005", f"api_addr template {raw_api!r} rendered to an empty address", api_setting.loc)
        elif api:
            parts = urlsplit(api)
            if parts.scheme in ("http", "https") and not parts.hostname and is_template(raw_api):
                ctx.add(
                    "VV005",
                    f"api_addr template {raw_api!r} rendered to {api!r}: the host is empty (the template matched "
                    "no address on this host)",
                    api_setting.loc,
                )
            elif parts.scheme not in ("http", "https") or not parts.hostname:
                ctx.add("VV005", f"api_addr {api!r} is not a URL with a scheme (https://host:port)", api_setting.loc)
            elif multi and _is_any_host(parts.hostname):
                ctx.add("VV006", f"api_addr {api!r} is ANY but this is a multi-node setup", api_setting.loc)
            elif multi:
                hosts.append(("api_addr", parts.hostname, api_setting.loc))
    elif ha:
        why = "other nodes cannot redirect clients to this one" if multi else "HA storage needs it"
        ctx.add(
            "VV004",
            f"missing API address, please set in configuration or via environment (api_addr, VAULT_API_ADDR or "
            f"BAO_API_ADDR): {why}",
        )

    # cluster_addr
    cl_setting = node.settings.get("cluster_addr")
    cluster: str | None = None
    cluster_loc = cl_setting.loc if cl_setting is not None else node.loc("api_addr")
    if not ha:
        cl_setting = None  # without HA storage the server never reads cluster_addr
    if cl_setting is not None and str(cl_setting.value):
        cluster = ctx.single("cluster_addr", str(cl_setting.value), cl_setting.loc, "VV007")
    elif raft:
        ctx.add("VV013", "Cluster address must be set when using raft storage", storage.loc if storage else None)
    if cluster is None and cl_setting is None and api and ha:
        parts = urlsplit(api)
        if parts.hostname:  # Vault derives it: api_addr's host, port + 1, scheme https
            try:
                port = _url_port(parts.scheme, parts.port) + 1
                host_text = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
                cluster = f"https://{host_text}:{port}"
            except ValueError:
                cluster = None
    if cluster:
        parts = urlsplit(cluster)
        cport: int | None
        try:
            cport = parts.port
        except ValueError:
            cport = None
            ctx.add("VV007", f"Error parsing cluster address {cluster}: invalid port", cluster_loc)
        if not parts.scheme or not parts.hostname:
            ctx.add("VV007", f"Error parsing cluster address {cluster}: invalid URI for request", cluster_loc)
        else:
            if parts.scheme != "https":
                ctx.add(
                    "VV023",
                    f"cluster_addr {cluster!r} uses {parts.scheme}://; Vault always uses https there",
                    cluster_loc,
                )
            effective = _url_port("https", cport)
            if cluster_ports and effective not in cluster_ports and cl_setting is not None:
                ctx.add(
                    "VV008",
                    f"cluster_addr port {effective} is not a cluster_address port of this node "
                    f"({', '.join(str(p) for p in sorted(cluster_ports))})",
                    cluster_loc,
                )
            if multi and cl_setting is not None:
                if _is_any_host(parts.hostname):
                    ctx.add("VV024", f"cluster_addr {cluster!r} is ANY in a multi-node setup", cluster_loc)
                else:
                    hosts.append(("cluster_addr", parts.hostname, cluster_loc))
    if api and cl_setting is not None and api == str(cl_setting.value):
        ctx.add("VV016", f"Address {api!r} used for both API and cluster addresses", cluster_loc)
    tcp = [lst for lst in node.listeners if lst.type == "tcp"]
    if len(tcp) > 1 and (api_setting is None or cl_setting is None):
        missing = " and ".join(k for k, s in (("api_addr", api_setting), ("cluster_addr", cl_setting)) if s is None)
        ctx.add("VV010", f"{len(tcp)} listeners and no {missing}: Vault cannot choose which one to advertise")

    # raft storage
    if raft and storage is not None:
        if not storage.config.get("path") or not storage.config["path"].value:
            ctx.add("VV015", "'path' must be set", storage.loc)
        dc = node.settings.get("disable_clustering")
        if dc is not None and str(dc.value).lower() in ("true", "1"):
            ctx.add("VV019", "Disable clustering cannot be set to true when Raft is the storage type", dc.loc)
        if node.ha_storage is not None:
            ctx.add("VV019", "HA storage cannot be declared when Raft is the storage type", node.ha_storage.loc)
        for rj in storage.retry_join:
            if rj.leader_api_addr and rj.auto_join:
                ctx.add("VV017", "cannot provide both a leader_api_addr and auto_join", rj.loc)
            if rj.auto_join_scheme and rj.auto_join_scheme not in ("http", "https"):
                ctx.add("VV017", f"invalid scheme {rj.auto_join_scheme!r}; must either be http or https", rj.loc)
            if rj.leader_api_addr:
                parts = urlsplit(rj.leader_api_addr)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    ctx.add("VV017", f"leader_api_addr {rj.leader_api_addr!r} is not an http(s):// URL", rj.loc)
                elif multi:
                    hosts.append(("retry_join leader_api_addr", parts.hostname, rj.loc))
            if not rj.leader_api_addr and not rj.auto_join:
                ctx.add("VV017", "retry_join needs leader_api_addr or auto_join", rj.loc)

    if ctx.skipped:
        ctx.add("VV021", "no host facts (or unsupported template) for: " + "; ".join(dict.fromkeys(ctx.skipped)))
    if multi and nodes_in_set <= 1:
        ctx.findings += _mixed_loopback([(node.name, hosts)])
    view = VaultView(node, node.name, api, cluster, cluster_loc, node.node_id, ha, tuple(hosts))
    return ctx.findings, view


def _is_any_host(host: str) -> bool:
    ip = _ip(host)
    return ip is not None and ip.is_unspecified


def _mixed_loopback(nodes: Sequence[tuple[str, Sequence[tuple[str, str, Loc]]]]) -> list[Finding]:
    """A cluster on one host (every address loopback, distinct ports) works; loopback mixed with routable
    addresses cannot: the nodes on other hosts cannot reach a loopback address."""
    routable = [(n, k, h) for n, hs in nodes for k, h, _ in hs if not _loopback_or_any(h)]
    if not routable:
        return []
    out: list[Finding] = []
    example = f"{routable[0][1]} {routable[0][2]} ({routable[0][0]})"
    for name, hs in nodes:
        for key, h, loc in hs:
            if _loopback_or_any(h):
                rule = "VV024" if key == "cluster_addr" else "VV006"
                out.append(
                    Finding.of(
                        RULES[rule],
                        name,
                        f"{key} host {h} is loopback while the set also uses routable addresses (e.g. {example}): "
                        "nodes on other hosts cannot reach it",
                        file=loc.file,
                        line=loc.line,
                    )
                )
    return out


def _norm(url: str) -> str:
    return url.rstrip("/").lower()


def check_vault_cluster(views: Sequence[VaultView]) -> list[Finding]:
    views = [v for v in views if v.ha]  # non-HA nodes given together do not form a cluster
    if len(views) < 2:
        return []
    out: list[Finding] = _mixed_loopback([(v.name, v.hosts) for v in views])
    seen: dict[str, VaultView] = {}
    for v in views:
        if v.cluster_addr:
            key = _norm(v.cluster_addr)
            if key in seen:
                out.append(
                    Finding.of(
                        RULES["VV009"],
                        v.name,
                        f"cluster_addr {v.cluster_addr} is also {seen[key].name}'s",
                        file=v.cluster_addr_loc.file,
                        line=v.cluster_addr_loc.line,
                    )
                )
            else:
                seen[key] = v
    ids: dict[str, VaultView] = {}
    for v in views:
        if v.node_id:
            if v.node_id in ids:
                s = v.node.storage
                loc = s.config["node_id"].loc if s and "node_id" in s.config else Loc(v.node.source)
                out.append(
                    Finding.of(
                        RULES["VV011"],
                        v.name,
                        f"raft node_id {v.node_id!r} is also used by {ids[v.node_id].node.source}",
                        file=loc.file,
                        line=loc.line,
                    )
                )
            else:
                ids[v.node_id] = v
    out += _retry_join_targets(views)
    return out


def _endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL, the port defaulted by scheme; None when it is not one."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), _url_port(parts.scheme, port)


def _api_tls(v: VaultView, port: int) -> bool | None:
    """Whether the node's TCP listener on `port` speaks TLS; None when no single listener tells."""
    found = set()
    for lst in v.node.listeners:
        if lst.type != "tcp":
            continue
        raw = str(lst.address.value) if lst.address is not None else "127.0.0.1:8200"
        hp = _host_port(raw) if not is_template(raw) else None
        if isinstance(hp, tuple) and hp[1] == port:
            found.add(not lst.tls_disable)
    return found.pop() if len(found) == 1 else None


def _retry_join_targets(views: Sequence[VaultView]) -> list[Finding]:
    """retry_join leader_api_addr against the validated nodes: another node's api_addr (host and port),
    with the scheme that node's listener speaks. The scheme is compared apart, so a http/https slip is
    said as such rather than as an unknown target."""
    by_endpoint: dict[tuple[str, int], VaultView] = {}
    for v in views:
        ep = _endpoint(v.api_addr) if v.api_addr else None
        if ep is not None:
            by_endpoint[ep] = v
    out: list[Finding] = []
    for v in views:
        s = v.node.storage
        if s is None or not by_endpoint:
            continue
        for rj in s.retry_join:
            ep = _endpoint(rj.leader_api_addr) if rj.leader_api_addr else None
            if ep is None:
                continue  # absent or not a URL: VV017 per node
            target = by_endpoint.get(ep)
            if target is None:
                out.append(
                    _at(
                        "VV012",
                        v,
                        rj.loc,
                        f"retry_join leader_api_addr {rj.leader_api_addr} is not the api_addr of any node validated",
                    )
                )
                continue
            if target is v:
                out.append(
                    _at(
                        "VV012",
                        v,
                        rj.loc,
                        f"retry_join leader_api_addr {rj.leader_api_addr} is this node's own api_addr: a node "
                        "cannot join itself",
                    )
                )
                continue
            scheme = urlsplit(str(rj.leader_api_addr)).scheme
            tls = _api_tls(target, ep[1])
            if tls is not None and tls != (scheme == "https"):
                # On bao 2.7.2, https:// to a tls_disable listener logs "failed to get raft challenge ...
                # http: server gave HTTP response to HTTPS client" every 2 s and never joins.
                speaks = (
                    "TLS (https)"
                    if tls
                    else 'plain http (tls_disable = true; the server logs "http: server gave HTTP response to '
                    'HTTPS client")'
                )
                out.append(
                    _at(
                        "VV027",
                        v,
                        rj.loc,
                        f"retry_join leader_api_addr {rj.leader_api_addr} uses {scheme}:// but {target.name}'s "
                        f"listener on port {ep[1]} speaks {speaks}: the join request never succeeds",
                    )
                )
    return out


def _at(rule_id: str, v: VaultView, loc: Loc, message: str) -> Finding:
    return Finding.of(RULES[rule_id], v.name, message, file=loc.file, line=loc.line)
