"""Vault / OpenBao rules (VV0xx): listeners, api_addr, cluster_addr, raft storage, per node and across nodes.

Startup checks of `command/server.go` and `command/server/config.go` are mirrored with their wording
("Cluster address must be set when using raft storage", "Address %q used for both API and cluster
addresses", "A storage backend must be specified", ...); the operator rules of the issue come on top.

Per node, two steps: `resolve_vault_node` builds a frozen `VaultView` (each listener's address and cluster
address as the server expands them, api_addr and cluster_addr expanded or derived, the cluster ports, the
addresses other nodes use, the errors met expanding templates, what needs host facts), then `CHECKS` runs one
small pure function per rule over it, in the order the server meets the problems. `check_vault_cluster`
compares the views of the nodes given together.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from clusterops.findings import Finding
from clusterops.validate import registry
from clusterops.validate.catalog import RULES
from clusterops.validate.facts import HostFacts
from clusterops.validate.load import Listener, Loc, Setting, VaultNode
from clusterops.validate.registry import Check, Hit, check, each, item_check
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
class ListenerView:
    """One listener block; for a tcp listener its address and cluster_address as the server expands them."""

    index: int
    listener: Listener
    address: str | None = None  # expanded ('' for an empty template result); None: not tcp, or not known offline
    address_loc: Loc = field(default_factory=Loc)
    address_error: Hit | None = None  # met expanding the template
    bound: tuple[str, int] | None = None  # (host, port) it listens on
    address_problem: str | None = None  # why the address is not host:port
    cluster_address_error: Hit | None = None
    cluster_address_problem: str | None = None
    cluster_port: int | None = None  # its cluster_address port, else its port + 1


@dataclass(frozen=True)
class VaultView:
    """One node resolved: what the node rules and the cross-node rules read."""

    node: VaultNode
    name: str
    api_addr: str | None  # expanded; None when unset or not known offline
    cluster_addr: str | None  # expanded, or derived from api_addr as the server does
    cluster_addr_loc: Loc
    node_id: str | None
    ha: bool = False
    hosts: tuple[tuple[str, str, Loc], ...] = ()  # (key, host, where): addresses other nodes use
    target: Target = Target()
    raft: bool = False
    multi: bool = False  # HA and a cluster: other nodes given, or raft retry_join
    nodes_in_set: int = 1
    listeners: tuple[ListenerView, ...] = ()
    cluster_ports: frozenset[int] = frozenset()
    api_error: Hit | None = None  # met expanding the api_addr template
    cluster_setting: Setting | None = None  # cluster_addr as written; None without HA storage (never read then)
    cluster_error: Hit | None = None  # met expanding the cluster_addr template
    skipped: tuple[str, ...] = ()  # what needs host facts that were not given (or a template we cannot evaluate)


class _Resolver:
    """The server's ParseSingleIPTemplate, recording what could not be known (used by `resolve_vault_node` only)."""

    def __init__(self, host: HostFacts | None) -> None:
        self.host = host
        self.skipped: list[str] = []

    def single(self, key: str, raw: str, loc: Loc, rule_id: str) -> tuple[str | None, Hit | None]:
        """Templates expanded, one token; None when unknown or invalid (with the error met)."""
        if not is_template(raw):
            return raw, None
        if self.host is None:
            self.skipped.append(f"{key} template")
            return None, None
        try:
            tokens = evaluate(raw, self.host).split()
        except TemplateError as err:
            return None, Hit(rule_id, f"{key}: unable to parse address template {raw!r}: {err}", loc)
        except Unsupported as err:
            self.skipped.append(f"{key}: {err}")
            return None, None
        if len(tokens) > 1:
            return None, Hit(
                rule_id, f"{key}: multiple addresses found ({' '.join(tokens)!r}), please configure one", loc
            )
        return (tokens[0] if tokens else ""), None

    def listener(self, n: int, lst: Listener) -> ListenerView:
        if lst.type != "tcp":
            return ListenerView(n, lst)
        addr_raw = str(lst.address.value) if lst.address is not None else "127.0.0.1:8200"
        addr_loc = lst.address.loc if lst.address is not None else lst.loc
        addr, addr_error = self.single("address", addr_raw, addr_loc, "VV002")
        hp = _host_port(addr or "127.0.0.1:8200") if addr is not None else None
        bound = hp if isinstance(hp, tuple) else None
        ca_error: Hit | None = None
        ca_hp: tuple[str, int] | str | None = None
        if lst.cluster_address is not None:
            setting = lst.cluster_address
            ca, ca_error = self.single("cluster_address", str(setting.value), setting.loc, "VV003")
            ca_hp = _host_port(ca) if ca else None
            cluster_port = ca_hp[1] if isinstance(ca_hp, tuple) else None
        else:
            cluster_port = bound[1] + 1 if bound is not None else None
        return ListenerView(
            n,
            lst,
            address=addr,
            address_loc=addr_loc,
            address_error=addr_error,
            bound=bound,
            address_problem=hp if isinstance(hp, str) else None,
            cluster_address_error=ca_error,
            cluster_address_problem=ca_hp if isinstance(ca_hp, str) else None,
            cluster_port=cluster_port,
        )


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


def _split(url: str) -> SplitResult:
    """urlsplit; text it refuses (an unbalanced '[' around an IPv6 host) reads as no URL at all."""
    try:
        return urlsplit(url)
    except ValueError:
        return SplitResult("", "", "", "", "")


def _url_host(url: str) -> str | None:
    """The host of an http(s) URL, or None when it is not one."""
    parts = _split(url)
    return parts.hostname if parts.scheme in ("http", "https") and parts.hostname else None


def _cluster_uri(cluster: str | None) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a cluster_addr that parses as a URI, the port defaulted to https's (also when
    it is invalid: VV007 says so); None when it does not parse."""
    if not cluster:
        return None
    parts = _split(cluster)
    if not parts.scheme or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, parts.hostname, _url_port("https", port)


def _derived_cluster_addr(api: str) -> str | None:
    """Vault's default cluster_addr: api_addr's host, port + 1, scheme https."""
    parts = _split(api)
    if not parts.hostname:
        return None
    try:
        port = _url_port(parts.scheme, parts.port) + 1
    except ValueError:
        return None
    host_text = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"https://{host_text}:{port}"


def resolve_vault_node(
    node: VaultNode, host: HostFacts | None, *, nodes_in_set: int = 1, target: Target | None = None
) -> VaultView:
    """The node as the server reads it (pure: the node and host facts in). `nodes_in_set`: the HA nodes
    validated together (non-HA nodes never form a cluster)."""
    target = target or Target()
    r = _Resolver(host)
    storage = node.storage
    raft = storage is not None and storage.type == "raft"
    # a storage type the target refuses (VV025) never starts: no finding that assumes it would (VV004, ...)
    ha = is_ha(node) and not (storage is not None and target.removed(OPENBAO_REMOVED_STORAGE, storage.type))
    multi = ha and (nodes_in_set > 1 or (raft and storage is not None and bool(storage.retry_join)))
    listeners = tuple(r.listener(n, lst) for n, lst in enumerate(node.listeners))
    hosts: list[tuple[str, str, Loc]] = []

    api_setting = node.settings.get("api_addr")
    api: str | None = None
    api_error: Hit | None = None
    if api_setting is not None and str(api_setting.value):
        api, api_error = r.single("api_addr", str(api_setting.value), api_setting.loc, "VV005")
        api_host = _url_host(api) if api else None
        if multi and api_host and not _is_any_host(api_host):
            hosts.append(("api_addr", api_host, api_setting.loc))

    cl_setting = node.settings.get("cluster_addr")
    cluster_loc = cl_setting.loc if cl_setting is not None else node.loc("api_addr")
    if not ha:
        cl_setting = None  # without HA storage the server never reads cluster_addr
    cluster: str | None = None
    cluster_error: Hit | None = None
    if cl_setting is not None and str(cl_setting.value):
        cluster, cluster_error = r.single("cluster_addr", str(cl_setting.value), cl_setting.loc, "VV007")
    if cluster is None and cl_setting is None and api and ha:
        cluster = _derived_cluster_addr(api)
    uri = _cluster_uri(cluster)
    if uri is not None and multi and cl_setting is not None and not _is_any_host(uri[1]):
        hosts.append(("cluster_addr", uri[1], cluster_loc))

    if raft and storage is not None and multi:
        for rj in storage.retry_join:
            leader_host = _url_host(rj.leader_api_addr) if rj.leader_api_addr else None
            if leader_host:
                hosts.append(("retry_join leader_api_addr", leader_host, rj.loc))

    return VaultView(
        node=node,
        name=node.name,
        api_addr=api,
        cluster_addr=cluster,
        cluster_addr_loc=cluster_loc,
        node_id=node.node_id,
        ha=ha,
        hosts=tuple(hosts),
        target=target,
        raft=raft,
        multi=multi,
        nodes_in_set=nodes_in_set,
        listeners=listeners,
        cluster_ports=frozenset(lst.cluster_port for lst in listeners if lst.cluster_port is not None),
        api_error=api_error,
        cluster_setting=cl_setting,
        cluster_error=cluster_error,
        skipped=tuple(r.skipped),
    )


# -- the rules, in the order the server meets them ------------------------------------------------------------------


def _load_problems(v: VaultView) -> Iterator[Hit]:
    """What the loader met (a second storage block)."""
    for p in v.node.problems:
        yield Hit(p.rule, p.message, p.loc)


def _storage_declared(v: VaultView) -> Iterator[Hit]:
    if v.node.storage is None:
        yield Hit("VV014", "A storage backend must be specified")


def _storage_type_known(v: VaultView) -> Iterator[Hit]:
    storage, t = v.node.storage, v.target
    if storage is not None and t.removed(OPENBAO_REMOVED_STORAGE, storage.type):
        yield Hit("VV025", f"unknown storage type {storage.type} ({t.label} no longer has it)", storage.loc)


def _storage_not_deprecated(v: VaultView) -> Iterator[Hit]:
    storage, t = v.node.storage, v.target
    if storage is None or storage.type != "file" or t.product != "openbao":
        return
    if not t.removed(OPENBAO_REMOVED_STORAGE, storage.type):
        yield Hit(
            "VV026",
            "storage.file: the file physical backend is deprecated; use bao operator migrate to move to a "
            "supported storage backend by v2.7.0",
            storage.loc,
        )


def _service_registration_known(v: VaultView) -> Iterator[Hit]:
    sr, t = v.node.service_registration, v.target
    if sr is not None and t.removed(OPENBAO_REMOVED_SERVICE_REGISTRATION, str(sr.value)):
        yield Hit("VV025", f"unknown service_registration type {sr.value} ({t.label} no longer has it)", sr.loc)


# Per listener, listener by listener as the server reads them.
def _listener_type(v: VaultView, lv: ListenerView) -> Iterator[Hit]:
    lst = lv.listener
    if lst.type is None:
        yield Hit("VV001", f"listeners.{lv.index}: listener type must be specified", lst.loc)
    elif lst.type not in SUPPORTED_LISTENERS:
        yield Hit("VV001", f"listeners.{lv.index}: unsupported listener type {lst.type!r}", lst.loc)


def _listener_tls(v: VaultView, lv: ListenerView) -> Iterator[Hit]:
    lst = lv.listener
    if lst.type in SUPPORTED_LISTENERS and not lst.tls_disable and (not lst.tls_cert_file or not lst.tls_key_file):
        missing = "tls_cert_file" if not lst.tls_cert_file else "tls_key_file"
        yield Hit("VV018", f"listeners.{lv.index}: '{missing}' must be set (or tls_disable = true)", lst.loc)


def _listener_address(v: VaultView, lv: ListenerView) -> Iterator[Hit]:
    if lv.address_error is not None:
        yield lv.address_error
    if lv.address_problem is not None:
        yield Hit("VV002", f"listeners.{lv.index}: {lv.address_problem}", lv.address_loc)


def _listener_unique(v: VaultView, lv: ListenerView) -> Iterator[Hit]:
    earlier = [e.index for e in v.listeners[: lv.index] if lv.bound is not None and e.bound == lv.bound]
    if earlier:
        yield Hit(
            "VV020", f"listeners.{lv.index}: address {lv.address} is also listener {earlier[-1]}'s", lv.address_loc
        )


def _listener_cluster_address(v: VaultView, lv: ListenerView) -> Iterator[Hit]:
    if lv.cluster_address_error is not None:
        yield lv.cluster_address_error
    if lv.cluster_address_problem is not None and lv.listener.cluster_address is not None:
        yield Hit(
            "VV003",
            f"listeners.{lv.index}: Error resolving cluster_address: {lv.cluster_address_problem}",
            lv.listener.cluster_address.loc,
        )


def _api_addr_is_url(v: VaultView) -> Iterator[Hit]:
    setting = v.node.settings.get("api_addr")
    if v.api_error is not None:
        yield v.api_error
    if setting is None or v.api_addr is None:
        return
    raw, api = str(setting.value), v.api_addr
    if api == "" and is_template(raw):
        yield Hit("VV005", f"api_addr template {raw!r} rendered to an empty address", setting.loc)
    elif api:
        parts = _split(api)
        if parts.scheme in ("http", "https") and not parts.hostname and is_template(raw):
            yield Hit(
                "VV005",
                f"api_addr template {raw!r} rendered to {api!r}: the host is empty (the template matched "
                "no address on this host)",
                setting.loc,
            )
        elif parts.scheme not in ("http", "https") or not parts.hostname:
            yield Hit("VV005", f"api_addr {api!r} is not a URL with a scheme (https://host:port)", setting.loc)


def _api_addr_not_any(v: VaultView) -> Iterator[Hit]:
    host = _url_host(v.api_addr) if v.api_addr else None
    setting = v.node.settings.get("api_addr")
    if v.multi and host and _is_any_host(host) and setting is not None:
        yield Hit("VV006", f"api_addr {v.api_addr!r} is ANY but this is a multi-node setup", setting.loc)


def _api_addr_set(v: VaultView) -> Iterator[Hit]:
    setting = v.node.settings.get("api_addr")
    if v.ha and (setting is None or not str(setting.value)):
        why = "other nodes cannot redirect clients to this one" if v.multi else "HA storage needs it"
        yield Hit(
            "VV004",
            f"missing API address, please set in configuration or via environment (api_addr, VAULT_API_ADDR or "
            f"BAO_API_ADDR): {why}",
        )


def _cluster_addr_set(v: VaultView) -> Iterator[Hit]:
    setting, storage = v.cluster_setting, v.node.storage
    if v.raft and not (setting is not None and str(setting.value)):
        yield Hit("VV013", "Cluster address must be set when using raft storage", storage.loc if storage else None)


def _cluster_addr_is_url(v: VaultView) -> Iterator[Hit]:
    if v.cluster_error is not None:
        yield v.cluster_error
    if not v.cluster_addr:
        return
    parts = _split(v.cluster_addr)
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        yield Hit("VV007", f"Error parsing cluster address {v.cluster_addr}: invalid port", v.cluster_addr_loc)
    if not parts.scheme or not parts.hostname:
        yield Hit(
            "VV007", f"Error parsing cluster address {v.cluster_addr}: invalid URI for request", v.cluster_addr_loc
        )


def _cluster_addr_https(v: VaultView) -> Iterator[Hit]:
    url = _cluster_uri(v.cluster_addr)
    if url is not None and url[0] != "https":
        yield Hit(
            "VV023",
            f"cluster_addr {v.cluster_addr!r} uses {url[0]}://; Vault always uses https there",
            v.cluster_addr_loc,
        )


def _cluster_addr_port(v: VaultView) -> Iterator[Hit]:
    url = _cluster_uri(v.cluster_addr)
    if url is None or v.cluster_setting is None or not v.cluster_ports or url[2] in v.cluster_ports:
        return
    yield Hit(
        "VV008",
        f"cluster_addr port {url[2]} is not a cluster_address port of this node "
        f"({', '.join(str(p) for p in sorted(v.cluster_ports))})",
        v.cluster_addr_loc,
    )


def _cluster_addr_not_any(v: VaultView) -> Iterator[Hit]:
    url = _cluster_uri(v.cluster_addr)
    if url is not None and v.multi and v.cluster_setting is not None and _is_any_host(url[1]):
        yield Hit("VV024", f"cluster_addr {v.cluster_addr!r} is ANY in a multi-node setup", v.cluster_addr_loc)


def _api_and_cluster_differ(v: VaultView) -> Iterator[Hit]:
    s = v.cluster_setting
    if v.api_addr and s is not None and v.api_addr == str(s.value):
        yield Hit("VV016", f"Address {v.api_addr!r} used for both API and cluster addresses", v.cluster_addr_loc)


def _addresses_chosen(v: VaultView) -> Iterator[Hit]:
    tcp = [lst for lst in v.node.listeners if lst.type == "tcp"]
    settings = (("api_addr", v.node.settings.get("api_addr")), ("cluster_addr", v.cluster_setting))
    if len(tcp) > 1 and any(s is None for _, s in settings):
        missing = " and ".join(k for k, s in settings if s is None)
        yield Hit("VV010", f"{len(tcp)} listeners and no {missing}: Vault cannot choose which one to advertise")


def _raft_path(v: VaultView) -> Iterator[Hit]:
    storage = v.node.storage
    if v.raft and storage is not None and (not storage.config.get("path") or not storage.config["path"].value):
        yield Hit("VV015", "'path' must be set", storage.loc)


def _raft_clustering(v: VaultView) -> Iterator[Hit]:
    if not v.raft:
        return
    dc = v.node.settings.get("disable_clustering")
    if dc is not None and str(dc.value).lower() in ("true", "1"):
        yield Hit("VV019", "Disable clustering cannot be set to true when Raft is the storage type", dc.loc)
    if v.node.ha_storage is not None:
        yield Hit("VV019", "HA storage cannot be declared when Raft is the storage type", v.node.ha_storage.loc)


def _raft_retry_join(v: VaultView) -> Iterator[Hit]:
    storage = v.node.storage
    if not v.raft or storage is None:
        return
    for rj in storage.retry_join:
        if rj.leader_api_addr and rj.auto_join:
            yield Hit("VV017", "cannot provide both a leader_api_addr and auto_join", rj.loc)
        if rj.auto_join_scheme and rj.auto_join_scheme not in ("http", "https"):
            yield Hit("VV017", f"invalid scheme {rj.auto_join_scheme!r}; must either be http or https", rj.loc)
        if rj.leader_api_addr and _url_host(rj.leader_api_addr) is None:
            yield Hit("VV017", f"leader_api_addr {rj.leader_api_addr!r} is not an http(s):// URL", rj.loc)
        if not rj.leader_api_addr and not rj.auto_join:
            yield Hit("VV017", "retry_join needs leader_api_addr or auto_join", rj.loc)


def _host_facts_given(v: VaultView) -> Iterator[Hit]:
    if v.skipped:
        yield Hit("VV021", "no host facts (or unsupported template) for: " + "; ".join(dict.fromkeys(v.skipped)))


def _loopback_not_mixed(v: VaultView) -> Iterator[Hit]:
    """VV006 for api_addr and retry_join hosts, VV024 for cluster_addr: one comparison of all the node's
    addresses (with other nodes given, `check_vault_cluster` compares them across the set instead)."""
    if v.multi and v.nodes_in_set <= 1:
        for _name, hit in _mixed_loopback([(v.name, v.hosts)]):
            yield hit


# The node checks, in the order the server meets the problems.
CHECKS: tuple[Check[VaultView], ...] = (
    check(_load_problems, "VV022"),
    check(_storage_declared, "VV014"),
    check(_storage_type_known, "VV025"),
    check(_storage_not_deprecated, "VV026"),
    check(_service_registration_known, "VV025"),
    each(
        lambda v: v.listeners,
        item_check(_listener_type, "VV001"),
        item_check(_listener_tls, "VV018"),
        item_check(_listener_address, "VV002"),
        item_check(_listener_unique, "VV020"),
        item_check(_listener_cluster_address, "VV003"),
    ),
    check(_api_addr_is_url, "VV005"),
    check(_api_addr_not_any, "VV006"),
    check(_api_addr_set, "VV004"),
    check(_cluster_addr_set, "VV013"),
    check(_cluster_addr_is_url, "VV007"),
    check(_cluster_addr_https, "VV023"),
    check(_cluster_addr_port, "VV008"),
    check(_cluster_addr_not_any, "VV024"),
    check(_api_and_cluster_differ, "VV016"),
    check(_addresses_chosen, "VV010"),
    check(_raft_path, "VV015"),
    check(_raft_clustering, "VV019"),
    check(_raft_retry_join, "VV017"),
    check(_host_facts_given, "VV021"),
    check(_loopback_not_mixed, "VV006", "VV024"),
)


def check_vault_node(
    node: VaultNode, host: HostFacts | None, *, nodes_in_set: int = 1, target: Target | None = None
) -> tuple[list[Finding], VaultView]:
    """`nodes_in_set`: the HA nodes validated together (non-HA nodes never form a cluster)."""
    view = resolve_vault_node(node, host, nodes_in_set=nodes_in_set, target=target)
    default = Loc(node.files[-1] if node.files else node.source)
    return registry.run(CHECKS, view, node.name, default), view


def _is_any_host(host: str) -> bool:
    ip = _ip(host)
    return ip is not None and ip.is_unspecified


def _mixed_loopback(nodes: Sequence[tuple[str, Sequence[tuple[str, str, Loc]]]]) -> Iterator[tuple[str, Hit]]:
    """A cluster on one host (every address loopback, distinct ports) works; loopback mixed with routable
    addresses cannot: the nodes on other hosts cannot reach a loopback address. (node name, hit) pairs."""
    routable = [(n, k, h) for n, hs in nodes for k, h, _ in hs if not _loopback_or_any(h)]
    if not routable:
        return
    example = f"{routable[0][1]} {routable[0][2]} ({routable[0][0]})"
    for name, hs in nodes:
        for key, h, loc in hs:
            if _loopback_or_any(h):
                rule = "VV024" if key == "cluster_addr" else "VV006"
                yield (
                    name,
                    Hit(
                        rule,
                        f"{key} host {h} is loopback while the set also uses routable addresses (e.g. {example}): "
                        "nodes on other hosts cannot reach it",
                        loc,
                    ),
                )


def _norm(url: str) -> str:
    return url.rstrip("/").lower()


def check_vault_cluster(views: Sequence[VaultView]) -> list[Finding]:
    views = [v for v in views if v.ha]  # non-HA nodes given together do not form a cluster
    if len(views) < 2:
        return []
    out = [
        Finding.of(
            RULES[hit.rule],
            name,
            hit.message,
            file=hit.loc.file if hit.loc else None,
            line=hit.loc.line if hit.loc else None,
        )
        for name, hit in _mixed_loopback([(v.name, v.hosts) for v in views])
    ]
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
    parts = _split(url)
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
