"""Adapter: the current host's interfaces and default route, as `HostFacts` (for `--live`).

Reads `ip -j addr show` and `ip -j -4 route show` (iproute2), the same sources go-sockaddr uses on Linux
(interfaces from the kernel, the default interface from the first `default via <gw> dev <if>` route of the
IPv4 table). The server environment is taken from this process, but only the variables that override
address settings (`ADDRESS_ENV`): never tokens.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

from clusterops.errors import UsageError
from clusterops.validate.facts import HostFacts, Interface

_NAMES = ("API_ADDR", "REDIRECT_ADDR", "ADVERTISE_ADDR", "CLUSTER_ADDR", "RAFT_NODE_ID", "RAFT_PATH")
ADDRESS_ENV = frozenset(f"{p}_{n}" for p in ("VAULT", "BAO") for n in _NAMES)

_FLAG_MAP = {
    "UP": "up",
    "BROADCAST": "broadcast",
    "LOOPBACK": "loopback",
    "POINTOPOINT": "pointtopoint",
    "MULTICAST": "multicast",
    "LOWER_UP": "running",
}


def _ip_json(*args: str) -> Any:
    exe = shutil.which("ip")
    if exe is None:
        raise UsageError("--live needs the `ip` command (iproute2) to read this host's interfaces")
    proc = subprocess.run([exe, "-j", *args], capture_output=True, text=True, check=False, timeout=10)
    if proc.returncode != 0:
        raise UsageError(f"`ip -j {' '.join(args)}` failed: {proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout or "[]")
    except ValueError as err:
        raise UsageError(f"cannot read the output of `ip -j {' '.join(args)}`: {err}") from None


def host_from_ip_json(addr_json: list[dict[str, Any]], route_json: list[dict[str, Any]]) -> HostFacts:
    """Pure: build facts from `ip -j addr show` and `ip -j -4 route show` output."""
    ifaces = []
    for n, link in enumerate(addr_json, start=1):
        name = str(link.get("ifname", f"if{n}"))
        flags = frozenset(_FLAG_MAP[f] for f in link.get("flags", []) if f in _FLAG_MAP)
        addrs = []
        for info in link.get("addr_info", []):
            if info.get("family") not in ("inet", "inet6") or "local" not in info:
                continue
            addrs.append(ipaddress.ip_interface(f"{info['local']}/{info.get('prefixlen', 128)}"))
        ifaces.append(Interface(name=name, flags=flags, addresses=tuple(addrs), index=int(link.get("ifindex", n))))
    default = None
    for route in route_json:
        if route.get("dst") == "default" and route.get("gateway") and route.get("dev"):
            default = str(route["dev"])
            break
    return HostFacts(interfaces=tuple(ifaces), default_interface=default, source="live")


def live_host(environ: Mapping[str, str] | None = None) -> HostFacts:
    host = host_from_ip_json(_ip_json("addr", "show"), _ip_json("-4", "route", "show"))
    env = os.environ if environ is None else environ
    server_env = {k: v for k, v in env.items() if k in ADDRESS_ENV}
    return HostFacts(host.interfaces, host.default_interface, server_env, "live")
