"""Differential tests: our verdict (error / no error) against the real servers, on the same host.

Every case runs inside a network namespace whose interfaces are the host facts we validate with (read back
from the namespace with `ip -j`, the `--live` code path):

- `consul validate DIR` of Consul 1.14.11 and 1.13.9 for a corpus of valid and broken configs;
- an actual `consul agent` start for the address-detection cases (one private IPv4, two, only a public one);
- `bao server -config=FILE` (OpenBao, non-dev, inmem or raft storage in a tmp dir, loopback addresses).

Each comparison is printed (run with `-s` to see the agreement rate). A disagreement fails the test unless
it is listed in EXPLAINED with the reason it is intended. Namespaces are deleted in fixture teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clusterops.errors import ConfigError
from clusterops.findings import Report, Severity
from clusterops.lab import binaries
from clusterops.validate.facts import Facts, HostFacts
from clusterops.validate.live import host_from_ip_json
from clusterops.validate.run import validate_consul, validate_vault
from tests.conftest import IN_CI, require_binaries

# -- network namespaces --------------------------------------------------------------------------


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=20)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class NetNS:
    name: str
    spawned: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True, timeout=timeout, check=False
        )

    def spawn(self, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.name, *argv], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.spawned.append(proc)
        return proc

    def facts(self) -> HostFacts:
        addrs = json.loads(_ip("-n", self.name, "-j", "addr", "show") or "[]")
        routes = json.loads(_ip("-n", self.name, "-j", "-4", "route", "show") or "[]")
        return host_from_ip_json(addrs, routes)

    def delete(self) -> None:
        for proc in self.spawned:  # the servers this test started, by their own id
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


def make_netns(name: str, interfaces: Sequence[tuple[str, str]], gateway: str | None) -> NetNS:
    """`interfaces`: (name, address/prefix) of veth ends inside the namespace; default route via `gateway`."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    _ip("netns", "add", name)
    ns = NetNS(name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        for n, (ifname, cidr) in enumerate(interfaces):
            _ip("-n", name, "link", "add", ifname, "type", "veth", "peer", "name", f"peer{n}")
            _ip("-n", name, "addr", "add", cidr, "dev", ifname)
            _ip("-n", name, "link", "set", ifname, "up")
            _ip("-n", name, "link", "set", f"peer{n}", "up")
        if gateway and interfaces:
            _ip("-n", name, "route", "add", "default", "via", gateway, "dev", interfaces[0][0])
    except BaseException:
        ns.delete()
        raise
    return ns


HOSTS = {
    "one": ([("eth0", "10.77.0.2/24")], "10.77.0.1"),
    "two": ([("eth0", "10.77.0.2/24"), ("eth1", "172.18.0.2/16")], "10.77.0.1"),
    "public": ([("eth0", "8.8.4.4/24")], "8.8.4.1"),
    "loopback": ([], None),
    # corpus hosts: a Tailscale node, and the two datacenters of a federation example
    "tailnet": ([("eth0", "192.168.1.10/24"), ("tailscale0", "100.64.0.2/32")], "192.168.1.1"),
    "dc1net": ([("eth0", "10.5.0.2/24"), ("eth1", "192.169.7.2/24")], "10.5.0.1"),
    "dc2net": ([("eth0", "10.6.0.2/24"), ("eth1", "192.169.7.4/24")], "10.6.0.1"),
    "vagrant": ([("enp0s8", "192.168.10.21/24")], "192.168.10.1"),
    "mac": ([("en0", "10.0.1.4/24")], "10.0.1.1"),
}


@pytest.fixture(scope="module")
def namespaces() -> Iterator[dict[str, NetNS]]:
    why = None if os.geteuid() == 0 and shutil.which("ip") else "network namespaces need root and iproute2"
    if why:
        if IN_CI:
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    made: dict[str, NetNS] = {}
    try:
        for key, (ifaces, gw) in HOSTS.items():
            made[key] = make_netns(f"covd{os.getpid() % 100000}{key[:4]}", ifaces, gw)
        time.sleep(0.3)  # let link-local IPv6 addresses settle before facts are read
        yield made
    finally:
        for ns in made.values():
            ns.delete()


def _ours(
    report_fn: object, paths: list[str], facts: HostFacts, *, strict: bool = False, **options: str
) -> tuple[bool, str]:
    try:
        report: Report = report_fn(paths, facts=Facts(nodes={}, default=facts), **options)  # type: ignore[operator]
    except ConfigError as err:
        return True, f"ConfigError: {err}"
    worst = Severity.WARNING if strict else Severity.ERROR
    failing = report.at_or_above(worst)
    return bool(failing), "; ".join(f"{f.rule_id} {f.message}" for f in failing) or "ok"


# -- Consul corpus -------------------------------------------------------------------------------

BASE = 'server = true\nbootstrap_expect = 3\ndata_dir = "{data}"\nnode_name = "s1"\n'


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str]
    host: str = "one"
    strict: bool = False  # compare with --strict (warnings fail too)
    says: dict[str, str] = field(default_factory=dict)  # version -> Consul's message, in its output and in ours


CONSUL_CASES = [
    Case("ok-explicit-bind", {"a.hcl": 'bind_addr = "10.77.0.2"\nretry_join = ["10.77.0.3", "10.77.0.4"]'}),
    Case("ok-any-one-private", {"a.hcl": 'bind_addr = "0.0.0.0"'}),
    Case(
        "ok-template-network",
        {
            "a.hcl": 'bind_addr = "{{ GetPrivateInterfaces | include \\"network\\" '
            '\\"10.0.0.0/8\\" | attr \\"address\\" }}"'
        },
    ),
    Case("ok-template-interface", {"a.hcl": 'bind_addr = "{{ GetInterfaceIP \\"eth0\\" }}"'}, host="two"),
    Case(
        "ok-client-template-many",
        {
            "a.hcl": 'bind_addr = "10.77.0.2"\nclient_addr = "{{ GetAllInterfaces | '
            'exclude \\"type\\" \\"ipv6\\" | join \\"address\\" \\" \\" }}"'
        },
    ),
    Case(
        "ok-dir-later-file-wins",
        {
            "10-a.hcl": 'bind_addr = "{{ GetAllInterfaces | join \\"address\\" \\" \\" }}"',
            "20-b.json": '{"bind_addr": "10.77.0.2"}',
        },
    ),
    Case("ok-json", {"a.json": '{"bind_addr": "10.77.0.2", "ports": {"dns": -1}, "retry_join": ["10.77.0.3"]}'}),
    Case("ok-advertise-nat", {"a.hcl": 'bind_addr = "10.77.0.2"\nadvertise_addr = "10.99.0.1"'}),
    Case(
        "ok-any-two-private-with-advertise",
        {"a.hcl": 'bind_addr = "0.0.0.0"\nadvertise_addr = "10.77.0.2"'},
        host="two",
    ),
    Case("ok-bootstrap-expect-1", {"a.hcl": 'bind_addr = "10.77.0.2"\nbootstrap_expect = 1'}),
    Case("ok-private-ip-on-two", {"a.hcl": 'bind_addr = "{{ GetPrivateIP }}"'}, host="two"),
    Case("ok-skipped-txt", {"a.hcl": 'bind_addr = "10.77.0.2"', "notes.txt": "not read"}),
    Case("any-two-private", {"a.hcl": 'bind_addr = "0.0.0.0"'}, host="two"),
    Case("any-only-public", {"a.hcl": 'bind_addr = "0.0.0.0"'}, host="public"),
    Case("any-loopback-only", {"a.hcl": 'bind_addr = "0.0.0.0"'}, host="loopback"),
    Case("bind-template-many", {"a.hcl": 'bind_addr = "{{ GetAllInterfaces | join \\"address\\" \\" \\" }}"'}),
    Case(
        "bind-template-empty",
        {
            "a.hcl": 'bind_addr = "{{ GetPrivateInterfaces | include \\"network\\" '
            '\\"192.168.0.0/16\\" | attr \\"address\\" }}"'
        },
    ),
    Case("bind-template-list", {"a.hcl": 'bind_addr = "{{ GetPrivateInterfaces }}"'}),
    Case("bind-unix", {"a.hcl": 'bind_addr = "unix:///tmp/consul.sock"'}),
    Case("advertise-any", {"a.hcl": 'bind_addr = "10.77.0.2"\nadvertise_addr = "0.0.0.0"'}),
    Case("advertise-wan-any", {"a.hcl": 'bind_addr = "10.77.0.2"\nadvertise_addr_wan = "[::]"'}),
    Case("advertise-ipv4-family", {"a.hcl": 'bind_addr = "10.77.0.2"\nadvertise_addr_ipv4 = "::1"'}),
    Case(
        "serf-lan-many",
        {"a.hcl": 'bind_addr = "10.77.0.2"\nserf_lan = "{{ GetAllInterfaces | join \\"address\\" \\" \\" }}"'},
    ),
    Case("client-template-error", {"a.hcl": 'bind_addr = "10.77.0.2"\nclient_addr = "{{ Foo }}"'}),
    Case("bootstrap-and-expect", {"a.hcl": 'bind_addr = "10.77.0.2"\nbootstrap = true'}),
    Case("expect-without-server", {"a.hcl": 'bind_addr = "10.77.0.2"\nserver = false'}),
    Case("raft-protocol-2", {"a.hcl": 'bind_addr = "10.77.0.2"\nraft_protocol = 2'}),
    Case("datacenter-invalid", {"a.hcl": 'bind_addr = "10.77.0.2"\ndatacenter = "dc 1"'}),
    Case("encrypt-invalid", {"a.hcl": 'bind_addr = "10.77.0.2"\nencrypt = "not base64!"'}),
    Case("port-too-big", {"a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  http = 70000\n}'}),
    Case("collision-serf-rpc", {"a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  serf_lan = 8300\n}'}),
    Case("collision-dns-http", {"a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  dns = 8500\n}'}),
    Case(
        "type-bool-as-string",
        {"a.hcl": 'bind_addr = "10.77.0.2"\nserver_x = 1\n'.replace("server_x = 1\n", "") + 'enable_debug = "true"'},
    ),
    Case(
        "repeated-ports-block", {"a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  http = 8501\n}\nports {\n  dns = -1\n}'}
    ),
    Case("retry-join-string", {"a.hcl": 'bind_addr = "10.77.0.2"\nretry_join = "10.77.0.3"'}),
    Case("unknown-key", {"a.hcl": 'bind_addr = "10.77.0.2"\nbind_adr = "10.77.0.2"'}),
    Case("unknown-key-wrong-case-json", {"a.json": '{"Bind_Addr": "10.77.0.2", "connect": {"proxy": {}}}'}),
    # keys and start-up checks that differ between the two releases we run (1.13.9 vs 1.14.11)
    Case("key-added-in-1-14", {"a.hcl": 'bind_addr = "10.77.0.2"\naddresses {\n  grpc_tls = "127.0.0.1"\n}'}),
    Case("port-added-in-1-14", {"a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  grpc_tls = 8503\n}'}),
    Case(
        "grpc-port-with-tls-1-14",
        {
            "a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  grpc = 8502\n}\ntls {\n  defaults {\n'
            '    cert_file = "/nonexistent/c.pem"\n    key_file = "/nonexistent/k.pem"\n  }\n}'
        },
    ),
    Case("deprecated-acl-token", {"a.hcl": 'bind_addr = "10.77.0.2"\nacl_token = "x"'}),
    # consul.RaftBoltDBConfig's field is untagged: mapstructure matches the Go name (any case), not snake_case
    Case("raft-boltdb-go-name", {"a.hcl": 'bind_addr = "10.77.0.2"\nraft_boltdb {\n  NoFreelistSync = true\n}'}),
    Case("raft-boltdb-snake-case", {"a.hcl": 'bind_addr = "10.77.0.2"\nraft_boltdb {\n  no_freelist_sync = true\n}'}),
    # removed in 1.15 (a warning for 1.13/1.14, which both accept it)
    Case("serverless-plugin", {"a.hcl": 'bind_addr = "10.77.0.2"\nconnect {\n  enable_serverless_plugin = true\n}'}),
    Case(
        "allow-tls-on-client",
        {
            "a.hcl": 'bind_addr = "10.77.0.2"\nserver = false\nbootstrap_expect = 0\n'
            "auto_encrypt {\n  allow_tls = true\n}"
        },
    ),
    Case("raft-multiplier-11", {"a.hcl": 'bind_addr = "10.77.0.2"\nperformance {\n  raft_multiplier = 11\n}'}),
    # start-up checks of consul_startup: each refusal in Consul's words, on both binaries
    *(
        Case(name, {"a.hcl": 'bind_addr = "10.77.0.2"\n' + body}, says=dict.fromkeys(versions, message))
        for name, body, versions, message in (
            (
                "grpc-keepalive-below-1s",
                'performance {\n  grpc_keepalive_interval = "500ms"\n}',
                ("1.14.11",),  # 1.13.9: invalid config key
                "performance.grpc_keepalive_interval must be 1s or greater, was: 500ms",
            ),
            (
                "grpc-keepalive-not-a-duration",
                'performance {\n  grpc_keepalive_timeout = "abc"\n}',
                ("1.14.11",),
                "performance.grpc_keepalive_timeout must be 1s or greater, was: 0s",
            ),
            (
                "cache-fetch-rate-negative",
                "cache {\n  entry_fetch_rate = -0.00001\n}",
                ("1.13.9", "1.14.11"),
                "cache.entry_fetch_rate must be strictly positive, was: -1e-05",
            ),
            (
                "cache-fetch-rate-zero",
                "cache {\n  entry_fetch_rate = 0\n}",
                ("1.13.9", "1.14.11"),
                "cache.entry_fetch_rate must be strictly positive, was: 0",
            ),
            (
                "cache-fetch-burst-zero",
                "cache {\n  entry_fetch_max_burst = 0\n}",
                ("1.13.9", "1.14.11"),
                "cache.entry_fetch_max_burst must be strictly positive, was: 0",
            ),
            (
                "tls-defaults-verify-server-hostname",
                "tls {\n  defaults {\n    verify_server_hostname = true\n  }\n}",
                ("1.13.9", "1.14.11"),
                "verify_server_hostname is only valid in the tls.internal_rpc stanza",
            ),
            (
                "tls-https-verify-server-hostname",
                "tls {\n  https {\n    verify_server_hostname = true\n  }\n}",
                ("1.13.9", "1.14.11"),
                "verify_server_hostname is only valid in the tls.internal_rpc stanza",
            ),
            (
                "tls-grpc-verify-outgoing",
                "tls {\n  grpc {\n    verify_outgoing = true\n  }\n}",
                ("1.13.9", "1.14.11"),
                "verify_outgoing is not valid in the tls.grpc stanza",
            ),
            (
                "tls-defaults-use-auto-cert",
                "tls {\n  defaults {\n    use_auto_cert = true\n  }\n}",
                ("1.13.9", "1.14.11"),
                "use_auto_cert is only valid in the tls.grpc stanza",
            ),
            (
                "grpc-auto-cert-on-client-1-14",
                "server = false\nbootstrap_expect = 0\nauto_encrypt {\n  tls = true\n}\n"
                "tls {\n  grpc {\n    use_auto_cert = true\n  }\n}\nports {\n  grpc = 8502\n}",
                ("1.14.11",),  # 1.13.9 starts
                "the `ports.grpc` listener no longer supports TLS",
            ),
            (
                "mgw-node-name-slash",
                'node_name = "dc1/s1"\nconnect {\n  enabled = true\n  enable_mesh_gateway_wan_federation = true\n}',
                ("1.13.9", "1.14.11"),
                "'connect.enable_mesh_gateway_wan_federation = true' requires that 'node_name' not contain '/' "
                "characters",
            ),
            (
                "primary-gateways-in-primary",
                'primary_gateways = ["10.77.0.9:8443"]',
                ("1.13.9", "1.14.11"),
                "'primary_gateways' should only be configured in a secondary datacenter",
            ),
            (
                "primary-datacenter-invalid",
                'primary_datacenter = "dc.0"',
                ("1.13.9", "1.14.11"),
                'primary_datacenter can only contain lowercase alphanumeric, - or _ characters. received: "dc.0"',
            ),
            (
                "acl-datacenter-invalid",
                'acl_datacenter = "DC.0"',
                ("1.13.9", "1.14.11"),
                'primary_datacenter can only contain lowercase alphanumeric, - or _ characters. received: "dc.0"',
            ),
            (
                "datacenter-empty",
                'datacenter = ""',
                ("1.13.9", "1.14.11"),
                "datacenter cannot be empty",
            ),
            (
                "recursor-strategy-invalid",
                'dns_config {\n  recursor_strategy = "Random"\n}',
                ("1.13.9", "1.14.11"),
                'dns_config.recursor_strategy: invalid strategy: "Random"',
            ),
            (
                "proxy-port-range",
                "ports {\n  proxy_min_port = 30000\n}",
                ("1.13.9", "1.14.11"),
                "proxy_min_port must be less than proxy_max_port. To disable, set both to zero.",
            ),
            (
                "sidecar-port-range",
                "ports {\n  sidecar_max_port = 1000\n}",
                ("1.13.9", "1.14.11"),
                "sidecar_min_port must be less than sidecar_max_port. To disable, set both to zero.",
            ),
            (
                "expose-port-range",
                "ports {\n  expose_min_port = 30000\n}",
                ("1.13.9", "1.14.11"),
                "expose_min_port must be less than expose_max_port. To disable, set both to zero.",
            ),
            (
                "node-name-blank",
                'node_name = "  "',
                ("1.13.9", "1.14.11"),
                "node_name cannot be empty",
            ),
            (
                "reconnect-timeout-on-server",
                'advertise_reconnect_timeout = "8h"',
                ("1.13.9", "1.14.11"),
                "advertise_reconnect_timeout can only be used on a client",
            ),
        )
    ),
    Case(
        "ok-grpc-keepalive-fraction",
        {"a.hcl": 'bind_addr = "10.77.0.2"\nperformance {\n  grpc_keepalive_interval = "1.5m"\n}'},
    ),
    Case(
        "ok-grpc-cert-file-emptied",
        {
            "a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  grpc = 8502\n}\ntls {\n  defaults {\n'
            '    cert_file = "/nonexistent/c.pem"\n    key_file = "/nonexistent/k.pem"\n  }\n'
            '  grpc {\n    cert_file = ""\n  }\n}'
        },
    ),
    Case(
        "ok-tls-internal-rpc-verify-server-hostname",
        {"a.hcl": 'bind_addr = "10.77.0.2"\ntls {\n  internal_rpc {\n    verify_server_hostname = true\n  }\n}'},
    ),
    Case("ok-cache-fetch-rate-fraction", {"a.hcl": 'bind_addr = "10.77.0.2"\ncache {\n  entry_fetch_rate = 0.5\n}'}),
    Case(
        "ok-primary-gateways-secondary",
        {"a.hcl": 'bind_addr = "10.77.0.2"\nprimary_datacenter = "dc0"\nprimary_gateways = ["10.77.0.9:8443"]'},
    ),
    Case(
        "ok-expose-ports-disabled",
        {"a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  expose_min_port = 0\n  expose_max_port = 0\n}'},
    ),
    # refused from 1.16 only ("server-port must be greater than zero"): 1.13 and 1.14 take it
    Case("ok-server-port-disabled", {"a.hcl": 'bind_addr = "10.77.0.2"\nports {\n  server = -1\n}'}),
    Case("ok-node-name-empty-string", {"a.hcl": 'bind_addr = "10.77.0.2"\nnode_name = ""'}),
    Case(
        "ok-reconnect-timeout-zero-on-server", {"a.hcl": 'bind_addr = "10.77.0.2"\nadvertise_reconnect_timeout = "0s"'}
    ),
    # 'start_join_wan' is incompatible with ... (1.13, 1.14): the same verdict, reported as retry_join_wan's
    Case(
        "mgw-start-join-wan",
        {
            "a.hcl": 'bind_addr = "10.77.0.2"\nstart_join_wan = ["10.1.0.5"]\n'
            "connect {\n  enabled = true\n  enable_mesh_gateway_wan_federation = true\n}"
        },
    ),
    Case("malformed-hcl", {"a.hcl": 'bind_addr = "10.77.0.2\nserver = true'}),
    Case("malformed-json", {"a.json": '{"bind_addr": "10.77.0.2",}'}),
    Case("no-data-dir", {"a.hcl": 'bind_addr = "10.77.0.2"\ndata_dir = ""'}),
]

# case name -> why our verdict differs from `consul validate`, on purpose.
EXPLAINED: dict[str, str] = {}


def _write_case(case: Case, root: Path) -> Path:
    d = root / case.name
    d.mkdir()
    data = root / "data" / case.name
    for name, body in case.files.items():
        text = body
        if name.endswith(".hcl") and name == sorted(n for n in case.files if n.endswith((".hcl", ".json")))[0]:
            text = BASE.format(data=data) + body
        elif name.endswith(".json") and len(case.files) == 1:
            doc = json.loads(body) if body.rstrip().endswith("}") and ",}" not in body else None
            text = (
                json.dumps({"server": True, "bootstrap_expect": 3, "data_dir": str(data), "node_name": "s1", **doc})
                if doc is not None
                else body
            )
        (d / name).write_text(text)
    return d


@pytest.fixture(scope="module")
def consul_bins() -> dict[str, Path]:
    require_binaries()
    return {v: binaries.consul_binary(v, build=False) for v in binaries.CONSUL_VERSIONS}


def test_consul_validate_agreement(namespaces: dict[str, NetNS], consul_bins: dict[str, Path], tmp_path: Path) -> None:
    rows: list[tuple[str, str, bool, bool, str]] = []
    unexplained: list[str] = []
    for case in CONSUL_CASES:
        d = _write_case(case, tmp_path)
        ns = namespaces[case.host]
        facts = ns.facts()
        for version, binary in consul_bins.items():
            ours, why = _ours(validate_consul, [str(d)], facts, strict=case.strict, consul_version=version)
            proc = ns.run([str(binary), "validate", str(d)])
            theirs = proc.returncode != 0
            text = (proc.stdout + proc.stderr).strip().replace("\n", " ")
            rows.append((case.name, version, ours, theirs, text[:160]))
            if ours != theirs and case.name not in EXPLAINED:
                unexplained.append(f"{case.name} on {version}: ours={ours} ({why}) consul={theirs} ({text[:300]})")
            said = case.says.get(version)
            if said and not (said in text and said in why):
                unexplained.append(f"{case.name} on {version}: {said!r} not in consul's ({text[:300]}) or ours ({why})")
    agree = sum(1 for r in rows if r[2] == r[3])
    print(
        f"\nconsul validate differential: {agree}/{len(rows)} agree ({100 * agree / len(rows):.1f}%), "
        f"{len(rows) - agree} disagreement(s), explained: {sorted(EXPLAINED)}"
    )
    for name, version, ours, theirs, text in rows:
        mark = "==" if ours == theirs else "!="
        print(
            f"  {name:36} {version:8} ours={'error' if ours else 'ok':5} {mark} consul={'error' if theirs else 'ok':5}"
            f"  {text[:90]}"
        )
    assert not unexplained, "\n".join(unexplained)
    assert agree >= len(rows) - 2 * len(EXPLAINED)
    by_version = {(r[0], r[1]): r[3] for r in rows}
    differ = ("key-added-in-1-14", "port-added-in-1-14", "grpc-port-with-tls-1-14", "grpc-auto-cert-on-client-1-14")
    for name in differ:  # the releases differ
        assert by_version[(name, "1.13.9")] != by_version[(name, "1.14.11")], name


# -- consul agent starts (address detection) -----------------------------------------------------

AGENT_CASES = [
    Case("agent-any-one-private", {"a.hcl": 'bind_addr = "0.0.0.0"'}, host="one"),
    Case("agent-any-two-private", {"a.hcl": 'bind_addr = "0.0.0.0"'}, host="two"),
    Case("agent-any-only-public", {"a.hcl": 'bind_addr = "0.0.0.0"'}, host="public"),
    Case("agent-template-private-ip", {"a.hcl": 'bind_addr = "{{ GetPrivateIP }}"'}, host="two"),
    Case(
        "agent-template-empty",
        {
            "a.hcl": 'bind_addr = "{{ GetPrivateInterfaces | include \\"network\\" '
            '\\"192.168.0.0/16\\" | attr \\"address\\" }}"'
        },
        host="one",
    ),
]
AGENT_BASE = 'server = true\nbootstrap = true\ndata_dir = "{data}"\nnode_name = "s1"\nports {{\n  dns = -1\n}}\n'


def _agent_verdict(ns: NetNS, binary: Path, d: Path, log: Path) -> tuple[bool, str]:
    """(failed, evidence): started means 'Consul agent running!' in the log; failed means it exited."""
    proc = ns.spawn([str(binary), "agent", f"-config-dir={d}"], log)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "Consul agent running!" in text:
                addr = next((ln.strip() for ln in text.splitlines() if "Cluster Addr" in ln), "")
                return False, addr
            if proc.poll() is not None:
                return True, " ".join(ln.strip() for ln in text.splitlines() if ln.strip())[-200:]
            time.sleep(0.1)
        return True, "neither running nor exited in 30s"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_consul_agent_start_agreement(
    namespaces: dict[str, NetNS], consul_bins: dict[str, Path], tmp_path: Path
) -> None:
    binary = consul_bins[binaries.CONSUL_TO]
    rows = []
    for case in AGENT_CASES:
        d = tmp_path / case.name
        d.mkdir()
        (d / "a.hcl").write_text(AGENT_BASE.format(data=tmp_path / "data" / case.name) + case.files["a.hcl"])
        ns = namespaces[case.host]
        ours, why = _ours(validate_consul, [str(d)], ns.facts())
        theirs, evidence = _agent_verdict(ns, binary, d, tmp_path / f"{case.name}.log")
        rows.append((case.name, ours, theirs, why, evidence))
    agree = sum(1 for r in rows if r[1] == r[2])
    print(f"\nconsul agent start differential: {agree}/{len(rows)} agree")
    for name, ours, theirs, why, evidence in rows:
        print(
            f"  {name:28} ours={'error' if ours else 'ok':5} agent={'failed' if theirs else 'running':7} "
            f"{evidence[:110]} | {why[:80]}"
        )
    assert agree == len(rows), rows
    assert any("Multiple private IPv4 addresses found" in r[4] for r in rows)
    assert any("No private IPv4 address found" in r[4] for r in rows)


# -- OpenBao -------------------------------------------------------------------------------------

RAFT = 'storage "raft" {\n  path    = "@DATA@"\n  node_id = "n1"\n}\n'
LISTENER = 'listener "tcp" {\n  address     = "127.0.0.1:8200"\n  tls_disable = true\n}\n'
ADDRS = 'api_addr     = "http://127.0.0.1:8200"\ncluster_addr = "https://127.0.0.1:8201"\n'

VAULT_CASES: list[tuple[str, str]] = [
    ("ok-inmem", 'storage "inmem" {}\n' + LISTENER + 'api_addr = "http://127.0.0.1:8200"\n'),
    ("ok-raft", RAFT + LISTENER + ADDRS),
    ("ok-inmem-cluster-addr-ignored", 'storage "inmem" {}\n' + LISTENER + 'cluster_addr = "127.0.0.1:8201"\n'),
    ("ok-tls-without-cert", RAFT + 'listener "tcp" {\n  address = "127.0.0.1:8200"\n}\n' + ADDRS),
    (
        "ok-cluster-http-forced-https",
        RAFT + LISTENER + 'api_addr = "http://127.0.0.1:8200"\ncluster_addr = "http://127.0.0.1:8201"\n',
    ),
    ("raft-without-cluster-addr", RAFT + LISTENER + 'api_addr = "http://127.0.0.1:8200"\n'),
    ("raft-without-api-addr", RAFT + LISTENER + 'cluster_addr = "https://127.0.0.1:8201"\n'),
    (
        "cluster-addr-no-scheme",
        RAFT + LISTENER + 'api_addr = "http://127.0.0.1:8200"\ncluster_addr = "127.0.0.1:8201"\n',
    ),
    ("api-addr-no-scheme", RAFT + LISTENER + 'api_addr = "127.0.0.1:8200"\ncluster_addr = "https://127.0.0.1:8201"\n'),
    (
        "api-equals-cluster",
        RAFT + LISTENER + 'api_addr = "https://127.0.0.1:8201"\ncluster_addr = "https://127.0.0.1:8201"\n',
    ),
    ("no-storage", LISTENER),
    ("two-storage-blocks", RAFT + 'storage "inmem" {}\n' + LISTENER + ADDRS),
    ("listener-udp", RAFT + 'listener "udp" {\n  address = "127.0.0.1:8200"\n}\n' + ADDRS),
    ("listener-no-port", RAFT + 'listener "tcp" {\n  address = "127.0.0.1"\n  tls_disable = true\n}\n' + ADDRS),
    (
        "cluster-address-bad",
        RAFT + 'listener "tcp" {\n  address = "127.0.0.1:8200"\n  cluster_address = "nope"\n'
        "  tls_disable = true\n}\n" + ADDRS,
    ),
    ("two-listeners-same-address", RAFT + LISTENER + LISTENER + ADDRS),
    ("disable-clustering-raft", RAFT + LISTENER + ADDRS + "disable_clustering = true\n"),
    ("raft-no-path", 'storage "raft" {\n  node_id = "n1"\n}\n' + LISTENER + ADDRS),
    (
        "retry-join-both",
        'storage "raft" {\n  path = "@DATA@"\n  retry_join {\n    leader_api_addr = '
        '"http://127.0.0.1:8300"\n    auto_join = "provider=aws"\n  }\n}\n' + LISTENER + ADDRS,
    ),
    (
        "cluster-port-not-a-listener",
        RAFT + LISTENER + 'api_addr = "http://127.0.0.1:8200"\ncluster_addr = "https://127.0.0.1:443"\n',
    ),
    ("malformed", RAFT + 'listener "tcp" {\n  address = "127.0.0.1:8200"\n'),
    # storage and service registration types OpenBao removed (file only in 2.7; Vault keeps them all)
    ("storage-file", 'storage "file" {\n  path = "@DATA@"\n}\n' + LISTENER),
    ("storage-consul", 'storage "consul" {\n  address = "127.0.0.1:8500"\n  path = "vault/"\n}\n' + LISTENER),
    (
        "service-registration-consul",
        'storage "inmem" {}\nservice_registration "consul" {\n  address = "127.0.0.1:8500"\n}\n' + LISTENER,
    ),
    # a same-host raft node whose retry_join peers are loopback too: fine
    (
        "ok-raft-loopback-peers",
        'storage "raft" {\n  path = "@DATA@"\n  node_id = "n1"\n  retry_join {\n    leader_api_addr = '
        '"http://127.0.0.1:8210"\n  }\n}\n' + LISTENER + ADDRS,
    ),
]
VAULT_EXPLAINED = {
    "cluster-port-not-a-listener": "OpenBao starts: a cluster_addr that no cluster listener serves only breaks "
    "request forwarding from standbys at run time (VV008 is an operator rule beyond the startup checks)",
}


def _bao_verdict(ns: NetNS, binary: Path, config: Path, log: Path) -> tuple[bool, str]:
    proc = ns.spawn([str(binary), "server", f"-config={config}"], log)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "OpenBao server started!" in text:
                time.sleep(0.5)  # raft retry_join and core setup fail just after the banner
                text = log.read_text(errors="replace")
                if proc.poll() is None and "cannot provide both" not in text:
                    return False, "started"
            if proc.poll() is not None:
                return True, " ".join(ln.strip() for ln in text.splitlines() if ln.strip())[-200:]
            time.sleep(0.1)
        return True, "neither started nor exited in 20s"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.mark.parametrize("version", binaries.OPENBAO_VERSIONS)
def test_openbao_start_agreement(namespaces: dict[str, NetNS], tmp_path: Path, version: str) -> None:
    require_binaries(vault=True)
    binary = binaries.openbao_binary(version, install=False)
    ns = namespaces["loopback"]
    rows = []
    unexplained = []
    for name, template in VAULT_CASES:
        data = tmp_path / "data" / name
        data.mkdir(parents=True)
        config = tmp_path / f"{name}.hcl"
        config.write_text(template.replace("@DATA@", str(data)))
        ours, why = _ours(validate_vault, [str(config)], ns.facts(), target="openbao", version=version)
        theirs, evidence = _bao_verdict(ns, binary, config, tmp_path / f"{name}.log")
        rows.append((name, ours, theirs, why, evidence))
        if ours != theirs and name not in VAULT_EXPLAINED:
            unexplained.append(f"{name}: ours={ours} ({why}) openbao={theirs} ({evidence})")
    agree = sum(1 for r in rows if r[1] == r[2])
    print(f"\nopenbao {version} start differential: {agree}/{len(rows)} agree, explained: {sorted(VAULT_EXPLAINED)}")
    for name, ours, theirs, why, evidence in rows:
        print(
            f"  {name:32} ours={'error' if ours else 'ok':5} bao={'failed' if theirs else 'started':7} "
            f"{evidence[-90:]} | {why[:70]}"
        )
    assert not unexplained, "\n".join(unexplained)
    verdicts = {r[0]: r[2] for r in rows}
    assert verdicts["storage-consul"] and verdicts["service-registration-consul"]
    assert verdicts["storage-file"] is (version >= "2.7")  # removed in 2.7, deprecated before


# -- real-world corpus ---------------------------------------------------------------------------
#
# tests/data/validate/corpus/manifest.json: configs from public repositories (repo, path, commit; templates
# rendered by hand, values stated in "rendered"), each with the verdict of the real binaries on its emulated
# host, recorded by running this test with RECORD_CORPUS=1. The test re-runs the binaries (a changed verdict is
# a failure: the recording is stale), and asserts our verdict case by case; "disagreement" records the reason for
# each one we keep. Vault/OpenBao storage paths are pointed at a temp dir (the server creates them; where the data
# lives is host state, not config), and so are the listener's certificate files.

CORPUS = Path(__file__).resolve().parents[1] / "data" / "validate" / "corpus"


def _corpus() -> list[dict[str, object]]:
    return list(json.loads((CORPUS / "manifest.json").read_text()))


def _consul_case(entry: dict[str, object], root: Path) -> Path:
    d = root / str(entry["id"])
    d.mkdir()
    src = CORPUS / str(entry["file"])
    (d / src.name).write_text(src.read_text())
    return d


def _host_certificate(root: Path) -> dict[str, Path]:
    """A throwaway certificate and key standing in for the ones the target host holds."""
    cert, key = root / "host-cert.pem", root / "host-key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-subj", "/CN=corpus-host", "-days", "2"],
            check=True, capture_output=True,
        )  # fmt: skip
    return {"tls_cert_file": cert, "tls_key_file": key, "tls_client_ca_file": cert}


def _vault_case(entry: dict[str, object], root: Path) -> Path:
    """The config as the binary reads it on its target host: storage paths and the listener's certificate
    files point at ones that exist here (what files a host holds is host state, not config, as for data)."""
    import re

    src = CORPUS / str(entry["file"])
    data = root / "data" / str(entry["id"])
    data.mkdir(parents=True)
    text = re.sub(r'(?m)^(\s*path\s*=\s*)"[^"]*"', lambda m: f'{m.group(1)}"{data}"', src.read_text())
    for key, path in _host_certificate(root).items():
        text = re.sub(rf'(?m)^(\s*{key}\s*=\s*)"[^"]*"', lambda m, p=path: f'{m.group(1)}"{p}"', text)
    out = root / f"{entry['id']}.hcl"
    out.write_text(text)
    return out


def test_real_world_corpus_agreement(
    namespaces: dict[str, NetNS], consul_bins: dict[str, Path], tmp_path: Path
) -> None:
    require_binaries(vault=True)
    record = os.environ.get("RECORD_CORPUS") == "1"
    entries = _corpus()
    assert len(entries) >= 60
    rows: list[tuple[str, str, str, bool, bool, str, str]] = []
    problems: list[str] = []
    for entry in entries:
        ns = namespaces[str(entry["host"])]
        facts = ns.facts()
        verdicts: dict[str, bool] = {}
        if entry["product"] == "consul":
            d = _consul_case(entry, tmp_path)
            for version, binary in consul_bins.items():
                proc = ns.run([str(binary), "validate", str(d)])
                theirs = proc.returncode != 0
                evidence = (proc.stdout + proc.stderr).strip().replace("\n", " ")
                ours, why = _ours(validate_consul, [str(d)], facts, consul_version=version)
                verdicts[f"consul {version}"] = theirs
                rows.append((str(entry["id"]), "consul", version, ours, theirs, why, evidence))
        else:
            config = _vault_case(entry, tmp_path)
            for version in binaries.OPENBAO_VERSIONS:
                binary = binaries.openbao_binary(version, install=False)
                theirs, evidence = _bao_verdict(ns, binary, config, tmp_path / f"{entry['id']}-{version}.log")
                ours, why = _ours(validate_vault, [str(config)], facts, target="openbao", version=version)
                verdicts[f"openbao {version}"] = theirs
                rows.append((str(entry["id"]), "openbao", version, ours, theirs, why, evidence))
        if record:
            entry["verdicts"] = {k: "error" if v else "ok" for k, v in verdicts.items()}
        else:
            recorded = entry.get("verdicts") or {}
            stale = {k: v for k, v in verdicts.items() if recorded.get(k) != ("error" if v else "ok")}  # type: ignore[union-attr]
            if stale:
                problems.append(f"{entry['id']}: recorded verdicts are stale: {recorded} vs now {verdicts}")
    if record:
        (CORPUS / "manifest.json").write_text(json.dumps(entries, indent=1) + "\n")
    reasons = {str(e["id"]): e.get("disagreement") for e in entries}
    for product in ("consul", "openbao"):
        mine = [r for r in rows if r[1] == product]
        agree = sum(1 for r in mine if r[3] == r[4])
        print(f"\ncorpus {product}: {agree}/{len(mine)} agree ({100 * agree / max(len(mine), 1):.1f}%)")
        for cid, _, version, ours, theirs, why, evidence in mine:
            mark = "==" if ours == theirs else "!="
            print(
                f"  {cid:28} {version:8} ours={'error' if ours else 'ok':5} {mark} real={'error' if theirs else 'ok':5}"
                f"  {evidence[-80:]} | {why[:80]}"
            )
    for cid, product, version, ours, theirs, why, evidence in rows:
        if ours != theirs and not reasons.get(cid):
            problems.append(f"{cid} {product} {version}: ours={ours} ({why}) real={theirs} ({evidence[-200:]})")
    assert not problems, "\n".join(problems)
