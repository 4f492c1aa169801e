"""Start-up refusals of Consul's config builder (`agent/config/builder.go` `build` / `validate`), one check each.

Every check is a small pure function over the merged node, registered in `STARTUP_CHECKS` with the release
lines it applies to, Consul's own wording, and a passing and a failing example config (a test walks them all).
Each reports under its own rule id (VC028 unless stated); the address, port, listener and collision checks of
the builder, which need the resolved addresses and host facts, live in `consul_rules`.

Left out, and why:
- checks on the host rather than the config: `data_dir %q is not a directory`, `Error getting info on data_dir`,
  `CRITICAL: Deprecated data folder found` (need the target's filesystem, not the facts we gather);
- duration parsing (`%s: invalid duration`, `ae_interval cannot be %s`, `performance.grpc_keepalive_* must be
  1s or greater`): Go's time.ParseDuration grammar, not mirrored yet;
- TLS material and CA provider checks (`invalid TLS version`, `invalid TLS cipher suites`, `is not a valid CA
  provider`, auto_config authorization JWT settings): outside address validation;
- service / check / config-entry definitions (`service %q: ...`, `check %q: ...`, `config_entries.bootstrap`):
  we do not decode definitions (`consul_keys` keeps them opaque);
- dev-mode checks (`'bootstrap_expect > 0' not allowed in dev mode`): `-dev` is a flag, not a config file;
- UI settings (`ui_config.*`, `ui-content-path ...`): no bearing on whether a server can form a cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from clusterops.validate.load import ConsulNode


@dataclass(frozen=True)
class StartupCheck:
    name: str
    doc: str
    key: str  # the key the finding points at
    check: Callable[[ConsulNode], str | None]  # Consul's message, or None
    passing: str  # HCL examples (added to a minimal server / client config by the tests)
    failing: str
    since: str = "1.13"
    rule: str = "VC028"


def _server(node: ConsulNode) -> bool:
    return bool(node.get("server", False))


_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def go_base64_error(s: str) -> int | None:
    """The offset Go's base64.StdEncoding.DecodeString reports ("illegal base64 data at input byte N"), or None."""
    n, si = len(s), 0
    while si < n:
        j = 0
        while j < 4:
            if si == n:
                return None if j == 0 else si - j
            c = s[si]
            si += 1
            if c in _B64:
                j += 1
                continue
            if c in "\r\n":
                continue
            if c != "=" or j < 2:
                return si - 1
            if j == 2:  # "xx==": a second '=' must follow
                while si < n and s[si] in "\r\n":
                    si += 1
                if si == n:
                    return n
                if s[si] != "=":
                    return si - 1
                si += 1
            while si < n and s[si] in "\r\n":
                si += 1
            return si if si < n else None
    return None


_BASIC_NAME = re.compile(r"^[a-z0-9_-]+$")


def _raft_protocol(node: ConsulNode) -> str | None:
    raft = node.get("raft_protocol", 3)
    if raft != 3:
        return f"raft_protocol version {raft} is not supported by this version of Consul"
    return None


def _datacenter(node: ConsulNode) -> str | None:
    dc = str(node.get("datacenter", "dc1")).lower()
    if not dc:
        return "datacenter cannot be empty"
    if not _BASIC_NAME.match(dc):
        return f"datacenter can only contain lowercase alphanumeric, - or _ characters. received: {json.dumps(dc)}"
    return None


def _data_dir(node: ConsulNode) -> str | None:
    return None if node.get("data_dir") else "data_dir cannot be empty"


def _expect(node: ConsulNode) -> tuple[bool, int, int]:
    """(bootstrap, bootstrap_expect as written, as Consul uses it): expect = 1 is bootstrap mode."""
    bootstrap = bool(node.get("bootstrap", False))
    expect = int(node.get("bootstrap_expect", 0))
    if expect == 1:  # "BootstrapExpect is set to 1; this is the same as Bootstrap mode."
        return True, expect, 0
    return bootstrap, expect, expect


def _bootstrap_needs_server(node: ConsulNode) -> str | None:
    bootstrap, _, _ = _expect(node)
    return "'bootstrap = true' requires 'server = true'" if bootstrap and not _server(node) else None


def _expect_negative(node: ConsulNode) -> str | None:
    _, expect, effective = _expect(node)
    return f"bootstrap_expect cannot be {expect}. Must be greater than or equal to zero" if effective < 0 else None


def _expect_needs_server(node: ConsulNode) -> str | None:
    _, _, effective = _expect(node)
    return "'bootstrap_expect > 0' requires 'server = true'" if effective > 0 and not _server(node) else None


def _expect_and_bootstrap(node: ConsulNode) -> str | None:
    bootstrap, _, effective = _expect(node)
    if effective > 0 and bootstrap:
        return "'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive"
    return None


def _expect_tolerance(node: ConsulNode) -> str | None:
    _, expect, _ = _expect(node)
    if not _server(node) or not (expect in (1, 2) or (expect > 2 and expect % 2 == 0)):
        return None
    if expect == 1:
        return "BootstrapExpect is set to 1; this is the same as Bootstrap mode."
    if expect == 2:
        return "bootstrap_expect = 2: A cluster with 2 servers will provide no failure tolerance."
    return (
        "bootstrap_expect is even number: A cluster with an even number of servers does not achieve "
        "optimum fault tolerance."
    )


def _encrypt(node: ConsulNode) -> str | None:
    key = node.get("encrypt")
    bad_at = go_base64_error(str(key)) if key else None
    if bad_at is None:
        return None
    return f"encrypt has invalid key: illegal base64 data at input byte {bad_at} (value not shown)"


def _allow_tls(node: ConsulNode) -> str | None:
    if node.get("auto_encrypt.allow_tls") and not _server(node):
        return "auto_encrypt.allow_tls can only be used on a server."
    return None


def _auto_encrypt_tls(node: ConsulNode) -> str | None:
    if node.get("auto_encrypt.tls") and _server(node):
        return "auto_encrypt.tls can only be used on a client."
    return None


def _auto_config_server(node: ConsulNode) -> str | None:
    if node.get("auto_config.enabled") and _server(node):
        return "auto_config.enabled cannot be set to true for server agents."
    return None


def _auto_config_authz_client(node: ConsulNode) -> str | None:
    if node.get("auto_config.authorization.enabled") and not _server(node):
        return "auto_config.authorization.enabled cannot be set to true for client agents"
    return None


def _both_auto(node: ConsulNode) -> str | None:
    if node.get("auto_encrypt.tls") and node.get("auto_config.enabled"):
        return "both auto_encrypt.tls and auto_config.enabled cannot be set to true."
    return None


def _primary_gateways(node: ConsulNode) -> str | None:
    if node.list("primary_gateways") and not _server(node):
        return "'primary_gateways' requires 'server = true'"
    return None


def _reconnect_timeout(node: ConsulNode) -> str | None:
    if node.has("advertise_reconnect_timeout") and _server(node):
        return "advertise_reconnect_timeout can only be used on a client"
    return None


def _node_name_empty(node: ConsulNode) -> str | None:
    if node.has("node_name") and not str(node.get("node_name")).strip():
        return "node_name cannot be empty"
    return None


def _max_trailing_logs(node: ConsulNode) -> str | None:
    v = node.get("autopilot.max_trailing_logs")
    if isinstance(v, int) and v < 0:
        return f"autopilot.max_trailing_logs cannot be {v}. Must be greater than or equal to zero"
    return None


def _raft_multiplier(node: ConsulNode) -> str | None:
    v = node.get("performance.raft_multiplier")
    if isinstance(v, int) and not 1 <= v <= 10:
        return f"performance.raft_multiplier cannot be {v}. Must be between 1 and 10"
    return None


def _dns_limit(key: str) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        v = node.get(key)
        if isinstance(v, int) and v < 0:
            return f"{key} cannot be {v}. Must be greater than or equal to zero"
        return None

    return check


def _check_output(node: ConsulNode) -> str | None:
    v = node.get("check_output_max_size")
    if isinstance(v, int) and v < 1:
        return "check_output_max_size must be positive, to discard check output use the discard_check_output flag"
    return None


def _mgw_server(node: ConsulNode) -> str | None:
    if node.get("connect.enable_mesh_gateway_wan_federation") and not _server(node):
        return "'connect.enable_mesh_gateway_wan_federation = true' requires 'server = true'"
    return None


def _mgw_connect(node: ConsulNode) -> str | None:
    if node.get("connect.enable_mesh_gateway_wan_federation") and _server(node) and not node.get("connect.enabled"):
        return "'connect.enable_mesh_gateway_wan_federation=true' requires 'connect.enabled=true'"
    return None


def _mgw_retry_join_wan(node: ConsulNode) -> str | None:
    if node.get("connect.enable_mesh_gateway_wan_federation") and node.list("retry_join_wan"):
        return "'retry_join_wan' is incompatible with 'connect.enable_mesh_gateway_wan_federation = true'"
    return None


def _grpc_tls(node: ConsulNode) -> str | None:
    """Consul 1.14: a TLS certificate for gRPC (tls.grpc, inherited from tls.defaults) with only ports.grpc set."""
    cert = node.get("tls.grpc.cert_file") or node.get("tls.defaults.cert_file") or node.get("cert_file")
    grpc = node.get("ports.grpc")
    if cert and isinstance(grpc, int) and grpc > 0 and not node.has("ports.grpc_tls"):
        return (
            "the `ports.grpc` listener no longer supports TLS. Use `ports.grpc_tls` instead. This message is "
            "appearing because GRPC is configured to use TLS, but `ports.grpc_tls` is not defined"
        )
    return None


STARTUP_CHECKS: tuple[StartupCheck, ...] = (
    StartupCheck(
        "raft-protocol",
        "Consul 1.x speaks Raft protocol 3 only.",
        "raft_protocol",
        _raft_protocol,
        "server = true\nraft_protocol = 3",
        "server = true\nraft_protocol = 2",
        rule="VC017",
    ),
    StartupCheck(
        "datacenter-name",
        "The datacenter name (lowercased) is lowercase alphanumerics, - and _.",
        "datacenter",
        _datacenter,
        'server = true\ndatacenter = "DC-1"',
        'server = true\ndatacenter = "dc 1"',
        rule="VC018",
    ),
    StartupCheck(
        "data-dir-empty",
        "Every agent needs a data_dir.",
        "data_dir",
        _data_dir,
        'server = true\ndata_dir = "/d"',
        'server = true\ndata_dir = ""',
        rule="VC021",
    ),
    StartupCheck(
        "bootstrap-needs-server",
        "bootstrap (or bootstrap_expect = 1) is a server setting.",
        "bootstrap",
        _bootstrap_needs_server,
        "server = true\nbootstrap = true",
        "server = false\nbootstrap = true",
        rule="VC016",
    ),
    StartupCheck(
        "bootstrap-expect-negative",
        "bootstrap_expect counts servers: zero or more.",
        "bootstrap_expect",
        _expect_negative,
        "server = true\nbootstrap_expect = 3",
        "server = true\nbootstrap_expect = -1",
        rule="VC016",
    ),
    StartupCheck(
        "bootstrap-expect-needs-server",
        "bootstrap_expect is a server setting.",
        "bootstrap_expect",
        _expect_needs_server,
        "server = true\nbootstrap_expect = 3",
        "server = false\nbootstrap_expect = 3",
        rule="VC016",
    ),
    StartupCheck(
        "bootstrap-and-bootstrap-expect",
        "bootstrap and bootstrap_expect are two ways to bootstrap; pick one.",
        "bootstrap_expect",
        _expect_and_bootstrap,
        "server = true\nbootstrap_expect = 3",
        "server = true\nbootstrap_expect = 3\nbootstrap = true",
        rule="VC010",
    ),
    StartupCheck(
        "bootstrap-expect-tolerance",
        "A warning of the builder: 1 is bootstrap mode, 2 or an even number adds no failure tolerance.",
        "bootstrap_expect",
        _expect_tolerance,
        "server = true\nbootstrap_expect = 3",
        "server = true\nbootstrap_expect = 4",
        rule="VC011",
    ),
    StartupCheck(
        "encrypt-key",
        "The gossip key is base64 (Go's StdEncoding, padded).",
        "encrypt",
        _encrypt,
        'server = true\nencrypt = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="',
        'server = true\nencrypt = "not base64!"',
        rule="VC019",
    ),
    StartupCheck(
        "allow-tls-on-client",
        "auto_encrypt.allow_tls lets a server sign client certificates; a client agent refuses it.",
        "auto_encrypt.allow_tls",
        _allow_tls,
        "server = true\nauto_encrypt { allow_tls = true }",
        "server = false\nauto_encrypt { allow_tls = true }",
    ),
    StartupCheck(
        "auto-encrypt-tls-on-server",
        "auto_encrypt.tls asks servers for a certificate; a server refuses it.",
        "auto_encrypt.tls",
        _auto_encrypt_tls,
        "server = false\nauto_encrypt { tls = true }",
        "server = true\nauto_encrypt { tls = true }",
    ),
    StartupCheck(
        "auto-config-on-server",
        "auto_config is for client agents.",
        "auto_config.enabled",
        _auto_config_server,
        "server = true\nauto_config { enabled = false }",
        "server = true\nauto_config { enabled = true }",
    ),
    StartupCheck(
        "auto-config-authorization-on-client",
        "auto_config.authorization is the server side of auto_config.",
        "auto_config.authorization.enabled",
        _auto_config_authz_client,
        "server = false\nauto_config { authorization { enabled = false } }",
        "server = false\nauto_config { authorization { enabled = true } }",
    ),
    StartupCheck(
        "auto-encrypt-and-auto-config",
        "auto_encrypt.tls and auto_config.enabled are two ways to get a certificate; pick one.",
        "auto_encrypt.tls",
        _both_auto,
        "server = false\nauto_encrypt { tls = true }",
        "server = false\nauto_encrypt { tls = true }\nauto_config { enabled = true }",
    ),
    StartupCheck(
        "primary-gateways-on-client",
        "primary_gateways is a server setting of mesh-gateway WAN federation.",
        "primary_gateways",
        _primary_gateways,
        'server = true\nprimary_gateways = ["10.0.0.9:8443"]',
        'server = false\nprimary_gateways = ["10.0.0.9:8443"]',
    ),
    StartupCheck(
        "advertise-reconnect-timeout-on-server",
        "advertise_reconnect_timeout is a client setting.",
        "advertise_reconnect_timeout",
        _reconnect_timeout,
        'server = false\nadvertise_reconnect_timeout = "8h"',
        'server = true\nadvertise_reconnect_timeout = "8h"',
    ),
    StartupCheck(
        "node-name-empty",
        "An explicitly empty node_name is refused (unset means the host name).",
        "node_name",
        _node_name_empty,
        'server = true\nnode_name = "s1"',
        'server = true\nnode_name = ""',
    ),
    StartupCheck(
        "autopilot-max-trailing-logs-negative",
        "autopilot.max_trailing_logs must be zero or more.",
        "autopilot.max_trailing_logs",
        _max_trailing_logs,
        "server = true\nautopilot { max_trailing_logs = 250 }",
        "server = true\nautopilot { max_trailing_logs = -1 }",
    ),
    StartupCheck(
        "raft-multiplier-range",
        "performance.raft_multiplier must be between 1 and 10.",
        "performance.raft_multiplier",
        _raft_multiplier,
        "server = true\nperformance { raft_multiplier = 1 }",
        "server = true\nperformance { raft_multiplier = 11 }",
    ),
    StartupCheck(
        "dns-a-record-limit-negative",
        "dns_config.a_record_limit must be zero or more.",
        "dns_config.a_record_limit",
        _dns_limit("dns_config.a_record_limit"),
        "server = true\ndns_config { a_record_limit = 3 }",
        "server = true\ndns_config { a_record_limit = -1 }",
    ),
    StartupCheck(
        "dns-udp-answer-limit-negative",
        "dns_config.udp_answer_limit must be zero or more.",
        "dns_config.udp_answer_limit",
        _dns_limit("dns_config.udp_answer_limit"),
        "server = true\ndns_config { udp_answer_limit = 3 }",
        "server = true\ndns_config { udp_answer_limit = -1 }",
    ),
    StartupCheck(
        "check-output-max-size",
        "check_output_max_size must be positive.",
        "check_output_max_size",
        _check_output,
        "server = true\ncheck_output_max_size = 4096",
        "server = true\ncheck_output_max_size = 0",
    ),
    StartupCheck(
        "mesh-gateway-federation-on-client",
        "Mesh-gateway WAN federation is a server setting.",
        "connect.enable_mesh_gateway_wan_federation",
        _mgw_server,
        "server = true\nconnect {\n  enabled = true\n  enable_mesh_gateway_wan_federation = true\n}",
        "server = false\nconnect {\n  enabled = true\n  enable_mesh_gateway_wan_federation = true\n}",
    ),
    StartupCheck(
        "mesh-gateway-federation-without-connect",
        "Mesh-gateway WAN federation needs Connect.",
        "connect.enable_mesh_gateway_wan_federation",
        _mgw_connect,
        "server = true\nconnect {\n  enabled = true\n  enable_mesh_gateway_wan_federation = true\n}",
        "server = true\nconnect {\n  enable_mesh_gateway_wan_federation = true\n}",
    ),
    StartupCheck(
        "mesh-gateway-federation-with-retry-join-wan",
        "With mesh-gateway WAN federation servers meet through the gateways, not retry_join_wan.",
        "retry_join_wan",
        _mgw_retry_join_wan,
        "server = true\nconnect {\n  enabled = true\n  enable_mesh_gateway_wan_federation = true\n}",
        'server = true\nretry_join_wan = ["10.1.0.5"]\nconnect {\n  enabled = true\n'
        "  enable_mesh_gateway_wan_federation = true\n}",
    ),
    StartupCheck(
        "grpc-port-with-tls",
        "From Consul 1.14 the ports.grpc listener is plaintext; a TLS certificate with only ports.grpc set is "
        "refused. The check an upgrade from 1.13 needs.",
        "ports.grpc",
        _grpc_tls,
        'server = true\nports { grpc = 8502\n  grpc_tls = 8503 }\ntls { defaults { cert_file = "/c.pem" } }',
        'server = true\nports { grpc = 8502 }\ntls { defaults { cert_file = "/c.pem" } }',
        since="1.14",
    ),
)


def _order(line: str) -> tuple[int, int]:
    a, b = line.split(".")
    return int(a), int(b)


def startup_problems(node: ConsulNode, release: str) -> list[tuple[str, str, str]]:
    """(rule id, key, Consul's message) for every start-up check of `release` this node triggers."""
    out: list[tuple[str, str, str]] = []
    for c in STARTUP_CHECKS:
        if _order(release) < _order(c.since):
            continue
        message = c.check(node)
        if message is not None:
            key = c.key
            if c.name == "bootstrap-needs-server" and not node.has("bootstrap"):
                key = "bootstrap_expect"  # bootstrap_expect = 1 on a client: Consul's bootstrap mode
            out.append((c.rule, key, message))
    return out


__all__ = ["STARTUP_CHECKS", "StartupCheck", "go_base64_error", "startup_problems"]
