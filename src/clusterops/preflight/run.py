"""`consul preflight` and `facts collect`: probe every server's host at once and judge what came back.

The shell around the pure rules (`rules.py`): each agent describes itself over HTTP (`/v1/agent/self`: the
addresses and ports it was configured with, its data dir, its LAN member count, whether gossip is
encrypted); the inventory's driver says how to reach the host and find the agent process; one host probe per
server then runs concurrently (`ship.py`), each checking its own process, listeners and data dir and its
connections to every other server. An agent that does not answer over HTTP is still probed, against
Consul's default ports on the inventory's host. Nothing is changed on any host.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clusterops.consul.client import ConsulClient
from clusterops.consul.inventory import Inventory, InventoryServer, load_inventory
from clusterops.consul.upgrade.drivers import render
from clusterops.consul.upgrade.reader import inventory_settings
from clusterops.errors import ClusterOpsError, UsageError
from clusterops.findings import Finding
from clusterops.preflight.rules import (
    Endpoint,
    Probe,
    Thresholds,
    clock_findings,
    disk_findings,
    listener_findings,
    process_findings,
    reach_findings,
)
from clusterops.preflight.ship import ProbeFailed, ProbeResult, run_probe

DEFAULT_PORTS = {"server": 8300, "serf_lan": 8301, "serf_wan": 8302, "http": 8500}


@dataclass(frozen=True)
class AgentView:
    """What one agent says of itself (None fields: it did not answer)."""

    server: str
    host: str
    bind: str | None = None
    advertise: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    server_port: int = DEFAULT_PORTS["server"]
    serf_lan: int = DEFAULT_PORTS["serf_lan"]
    serf_wan: int | None = DEFAULT_PORTS["serf_wan"]
    data_dir: str | None = None
    members: int = 0
    encrypted: bool | None = None
    error: str = ""


def _split(url: str) -> tuple[str, str, int] | None:
    """`tcp://10.0.0.1:8300` -> ("tcp", "10.0.0.1", 8300); None for unix sockets and the like."""
    parts = urlsplit(url)
    if parts.scheme not in ("tcp", "udp") or parts.hostname is None or parts.port is None:
        return None
    return parts.scheme, parts.hostname, parts.port


def endpoints_from_debug_config(debug: dict[str, Any]) -> list[Endpoint]:
    """Every listener the agent's effective configuration names (`DebugConfig` of /v1/agent/self)."""
    out: list[Endpoint] = []

    def add(url: str | None, what: str, *, udp_too: bool = False) -> None:
        split = _split(url) if url else None
        if split is None:
            return
        proto, host, port = split
        out.append(Endpoint(proto, host, port, what))
        if udp_too:
            out.append(Endpoint("udp", host, port, what))

    add(debug.get("RPCBindAddr"), "server RPC")
    if (debug.get("SerfPortLAN") or 0) > 0:
        add(debug.get("SerfBindAddrLAN"), "serf LAN", udp_too=True)
    if (debug.get("SerfPortWAN") or 0) > 0:
        add(debug.get("SerfBindAddrWAN"), "serf WAN", udp_too=True)
    for key, what in (("HTTPAddrs", "HTTP"), ("HTTPSAddrs", "HTTPS"), ("GRPCAddrs", "gRPC"),
                      ("GRPCTLSAddrs", "gRPC TLS"), ("DNSAddrs", "DNS")):  # fmt: skip
        for url in debug.get(key) or []:
            add(url, what)
    return out


def view_from_self(server: InventoryServer, doc: dict[str, Any]) -> AgentView:
    debug = doc.get("DebugConfig") or {}
    bind = debug.get("BindAddr")
    lan = _split(debug.get("SerfAdvertiseAddrLAN") or "")
    stats = (doc.get("Stats") or {}).get("serf_lan") or {}
    members = int(stats["members"]) if str(stats.get("members", "")).isdigit() else 0
    wan_port = debug.get("SerfPortWAN")
    return AgentView(
        server=server.name,
        host=lan[1] if lan else server.host,
        bind=bind if bind not in (None, "", "0.0.0.0", "::") else None,
        advertise=lan[1] if lan else None,
        endpoints=tuple(endpoints_from_debug_config(debug)),
        server_port=int(debug.get("ServerPort") or DEFAULT_PORTS["server"]),
        serf_lan=int(debug.get("SerfPortLAN") or DEFAULT_PORTS["serf_lan"]),
        serf_wan=int(wan_port) if isinstance(wan_port, int) and wan_port > 0 else None,
        data_dir=debug.get("DataDir") or None,
        members=members,
        encrypted=str(stats.get("encrypted", "")).lower() == "true" if "encrypted" in stats else None,
    )


def default_view(server: InventoryServer, error: str) -> AgentView:
    h = server.host
    endpoints = (
        Endpoint("tcp", h, 8300, "server RPC"),
        Endpoint("tcp", h, 8301, "serf LAN"), Endpoint("udp", h, 8301, "serf LAN"),
        Endpoint("tcp", h, 8302, "serf WAN"), Endpoint("udp", h, 8302, "serf WAN"),
    )  # fmt: skip
    return AgentView(server=server.name, host=h, bind=None, endpoints=endpoints, error=error)


def read_views(inventory: Inventory) -> dict[str, AgentView]:
    settings = inventory_settings(inventory)

    def one(server: InventoryServer) -> AgentView:
        try:
            with ConsulClient(settings.with_address(server.address), attempts=1) as client:
                return view_from_self(server, client.agent_self())
        except ClusterOpsError as err:
            return default_view(server, str(err).splitlines()[0])

    with ThreadPoolExecutor(max_workers=max(1, len(inventory.servers))) as pool:
        return {v.server: v for v in pool.map(one, inventory.servers)}


def _pid_source(server: InventoryServer) -> dict[str, Any]:
    spec = server.driver
    if spec.type == "lab":
        from clusterops.lab.cluster import Lab

        try:
            return {"pid": Lab(str(spec.settings["lab_dir"])).state().server(server.name).pid or 0}
        except (ClusterOpsError, KeyError, OSError) as err:
            return {"pid_command": f"echo 'lab: {err}' >&2; false"}
    if spec.commands.get("pid"):
        return {"pid_command": render(spec.commands["pid"], server, "")}
    if spec.settings.get("unit"):
        return {"unit": str(spec.settings["unit"])}
    return {}


def gossip_key(path: str | None) -> str | None:
    """The key as base64, checked (16, 24 or 32 bytes); the file is named in errors, never its content."""
    if not path:
        return None
    try:
        text = Path(path).expanduser().read_text().strip()
    except OSError as err:
        raise UsageError(f"gossip key file {path}: {err.strerror}") from None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"gossip key file {path}: not a base64 key (as `consul keygen` prints)") from None
    if len(raw) not in (16, 24, 32):
        raise UsageError(f"gossip key file {path}: the key must be 16, 24 or 32 bytes, not {len(raw)}")
    return text


def build_request(
    server: InventoryServer, views: dict[str, AgentView], *, key: str | None, timeout: float, facts: bool = False
) -> dict[str, Any]:
    me = views[server.name]
    targets = []
    if not facts:
        for name, peer in views.items():
            if name == server.name:
                continue
            udp = [peer.serf_lan] + ([peer.serf_wan] if peer.serf_wan else [])
            targets.append({
                "name": name, "host": peer.host, "tcp": [peer.server_port, *udp], "udp": udp,
                "encrypted": peer.encrypted is not False,
            })  # fmt: skip
    return {
        **_pid_source(server),
        "data_dir": me.data_dir,
        "ports": [] if facts else [{"proto": e.proto, "addr": e.addr, "port": e.port} for e in me.endpoints],
        "source": me.bind or me.advertise,
        "targets": targets,
        "gossip_key": key,
        "timeout": timeout,
        "facts": facts,
        **({"unit": str(server.driver.settings["unit"])} if server.driver.settings.get("unit") else {}),
    }


@dataclass
class PreflightResult:
    views: dict[str, Any]  # server -> what its agent said of itself (AgentView for Consul)
    results: dict[str, ProbeResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    wall: float = 0.0

    @property
    def probe_seconds(self) -> float:
        return sum(r.seconds for r in self.results.values())


def probe_all(
    servers: Sequence[InventoryServer],
    make_request: Callable[[InventoryServer], dict[str, Any]],
    *,
    concurrency: int | None = None,
    on_done: Callable[[str, str], None] = lambda server, outcome: None,
) -> tuple[dict[str, ProbeResult], dict[str, str], float]:
    import time

    results: dict[str, ProbeResult] = {}
    failures: dict[str, str] = {}

    def one(server: InventoryServer) -> None:
        try:
            results[server.name] = run_probe(server, make_request(server))
            on_done(server.name, "ok")
        except ProbeFailed as err:
            failures[server.name] = str(err)
            on_done(server.name, "failed")

    started = time.monotonic()
    workers = concurrency or max(1, len(servers))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, servers))
    return results, failures, time.monotonic() - started


def preflight(
    inventory_path: str | Path,
    *,
    thresholds: Thresholds | None = None,
    gossip_key_file: str | None = None,
    probe_timeout: float = 1.5,
    concurrency: int | None = None,
    on_done: Callable[[str, str], None] = lambda server, outcome: None,
) -> PreflightResult:
    thresholds = thresholds or Thresholds()
    inventory = load_inventory(inventory_path)
    key = gossip_key(gossip_key_file or inventory.consul.get("gossip_key_file"))
    views = read_views(inventory)
    results, failures, wall = probe_all(
        inventory.servers,
        lambda s: build_request(s, views, key=key, timeout=probe_timeout),
        concurrency=concurrency,
        on_done=on_done,
    )
    out = PreflightResult(views=views, results=results, failures=failures, wall=wall)
    members = max([v.members for v in views.values()] + [len(inventory.servers)])
    judge(out, {name: v.endpoints for name, v in views.items()}, members, thresholds)
    return out


def judge(
    out: PreflightResult, endpoints: dict[str, tuple[Endpoint, ...]], members: int, thresholds: Thresholds
) -> None:
    """Findings from every probe's answer: the part of a preflight that is the same for Consul and Vault."""
    offsets = {}
    for name, result in sorted(out.results.items()):
        answer = result.answer
        out.findings += process_findings(name, answer, members, thresholds)
        out.findings += listener_findings(name, answer, endpoints.get(name, ()))
        out.findings += disk_findings(name, answer, thresholds)
        for r in answer.get("reach", []):
            out.probes.append(Probe(name, r["target"], r["proto"], int(r["port"]), r["ok"], r["detail"]))
        mid = (result.started + result.finished) / 2
        offsets[name] = (float(answer["time"]) - mid, (result.finished - result.started) / 2)
    out.findings += reach_findings(out.probes)
    out.findings += clock_findings(offsets, thresholds)


def collect_facts(
    inventory_path: str | Path, *, concurrency: int | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Per server, what `validate --facts` reads, from its own host: interfaces, default route, address env."""
    from clusterops.validate.live import host_from_ip_json

    inventory = load_inventory(inventory_path)
    views = {s.name: default_view(s, "") for s in inventory.servers}
    results, failures, _ = probe_all(
        inventory.servers,
        lambda s: build_request(s, views, key=None, timeout=1.0, facts=True),
        concurrency=concurrency,
    )
    nodes: dict[str, Any] = {}
    for name, result in sorted(results.items()):
        facts = result.answer.get("facts") or {}
        if facts.get("addr") is None or facts.get("route") is None:
            failures[name] = f"{name}: `ip -j` is not available on its host (iproute2)"
            continue
        host = host_from_ip_json(facts["addr"], facts["route"])
        node: dict[str, Any] = {
            "interfaces": [
                {"name": i.name, "flags": sorted(i.flags), "addresses": [str(a) for a in i.addresses]}
                for i in host.interfaces
            ],
        }
        if host.default_interface:
            node["default_route"] = host.default_interface
        if facts.get("env"):
            node["env"] = dict(sorted(facts["env"].items()))
        nodes[name] = node
    return {"nodes": nodes}, failures
