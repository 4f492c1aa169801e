"""Start-up refusals of Consul's config builder (`agent/config/builder.go` `Build` / `validate` and the helpers
they call for config values), one check each, per release line.

Every check is a small pure function over the merged node, registered in `STARTUP_CHECKS` with the release
lines it applies to (`since`, and `until`: the first line that no longer refuses), Consul's own wording
(`wording`: the Go format string as the source has it), where that wording was read (`source`: module version
and file, the newest patch of the `since` line), and a passing and a failing example config (tests walk them
all). Each reports under its own rule id (VC028 unless stated); the address, port, listener and collision
checks of the builder, which need the resolved addresses and host facts, live in `consul_rules`.

Every line 1.13 to 1.22 was read from its newest patch on the Go module proxy (1.13.9, 1.14.11, 1.15.10,
1.16.6, 1.17.3, 1.18.2, 1.19.2, 1.20.6, 1.21.5, 1.22.7: `consul_keys.SOURCES`): the refusals of `builder.go`,
`builder_ce.go`, `segment_ce.go` and of the helpers they call, diffed line to line. A line's checks are its
newest patch's (a key an earlier patch lacks is refused as unknown by the key catalog).
`tests/data/validate/check_startup_sources.py` re-reads the module sources and confirms each check's wording
in every line it applies to. Only 1.13.9 and 1.14.11 run here: every check that applies to them is proven
against those binaries too (`tests/integration/test_validate_differential.py`); later lines are read, not run.
Every check of 1.13/1.14 still refuses, in the same words, in 1.22.7, except where the table says otherwise.

Changed after 1.14 (each a check below, with its range):

    line  refusal                                                                        change
    1.15  performance.grpc_keepalive_*: "must be 1s or greater, was: %v" (1.14) is now   wording
          "%s: duration '%s' cannot be less than: %s"
    1.15  server_rejoin_age_max below 6h; limits.request_limits.mode unknown             new
    1.15  raft_logstore.backend, raft_logstore.wal.segment_size_mb (servers)             new
    1.15  cache.entry_fetch_rate: a negative rate means unlimited, only 0 is refused     condition
    1.15  'start_join_wan' is incompatible with ...: start_join_wan is folded into       removed
          retry_join_wan (deprecated.go)
    1.16  server-port / serf-lan-port must be greater than zero                          new
    1.17  verify_server_hostname: allowed in tls.defaults ("... tls.defaults and          wording
          tls.internal_rpc stanzas")
    1.17  raft_logstore.backend = "default" accepted                                     condition
    1.17  locality is invalid: zone cannot be set without region                         new
    1.17  `experiments` cannot include 'resource-apis' when HCP `cloud` ... (to 1.19)    new
    1.18  `experiments` cannot include `%s` for servers in secondary datacenters (to      new
          1.19); 'hcp-v2-resource-apis' lifts the 1.17 check instead of an env variable
    1.20  both `experiments` checks                                                      removed
    1.21  the bootstrap_expect warnings link developer.hashicorp.com, not www.consul.io  wording
    1.22  http_config.{read,read_header,write,idle}_timeout minimums;                    new
          connect.virtual_ip_cidr_v4 / _v6 must be CIDRs of 4 or more addresses

Mirrored too, unchanged since 1.13 (and checked on both binaries): the tls.grpc verify_outgoing and use_auto_cert
stanza refusals, primary_datacenter's name, primary_gateways in the primary datacenter, '/' in the node name with
mesh-gateway federation, dns_config.recursor_strategy, the proxy / sidecar / expose port ranges,
cache.entry_fetch_max_burst and a zero cache.entry_fetch_rate.

Left out, and why:

    refusal (Consul's words)                                  lines      why left out
    data_dir %q is not a directory; Error getting info on     1.13-1.22  the target's filesystem, not the config
      data_dir; CRITICAL: Deprecated data folder found /
      Permission denied for data folder
    system allows a max of %d file descriptors, but           1.13-1.22  the target's rlimit
      limits.http_max_conns_per_client ...
    node_name: %s (no host name)                              1.13-1.22  the target's host name
    'start_join_wan' is incompatible with                     1.13-1.14  the loader folds start_join_wan into
      'connect.enable_mesh_gateway_wan_federation = true'                retry_join_wan for every release (1.15's
                                                                         deprecated.go), so the node cannot tell
                                                                         them apart: the retry_join_wan check
                                                                         reports it (same verdict, its wording)
    file %v has unknown extension; must be .hcl or .json ...  1.15-1.22  the loader's (load.config_files refuses
                                                                         such a file for every release)
    bind / advertise / client / DNS / recursor addresses,     1.13-1.22  need resolved addresses and host facts:
      %s: invalid port, %s address %s already configured                 consul_rules (1.21 only returns the
      for %s, Error detecting %s address, template errors                bind_addr template errors earlier)
    %s: invalid duration: %q: %s                              1.13-1.22  the key catalog does not mark which
                                                                         string keys are durations (the minimum
                                                                         checks here parse with Go's grammar)
    ae_interval cannot be %s. Must be positive                1.13-1.22  a non-user key: the builder's
                                                                         NonUserSource overrides a file's value
    %s: invalid TLS version; TLS 1.3 cipher suites are not    1.13-1.22  tlsutil's version and cipher tables
      configurable; %s: invalid TLS cipher suites
    %s is not a valid CA provider; ca.Parse*CAConfig errors   1.13-1.22  connect.ca_config is a free-form map per
                                                                         provider that we do not decode
    auto_config.enabled cannot be set without configuring     1.13-1.22  the intro token may come from the
      TLS ...; One of auto_config.intro_token ...                        environment; verify_outgoing is derived
      CONSUL_INTRO_TOKEN ...; auto_config.enabled is set                 from several tls keys; the authorizer is
      without providing a list of addresses;                             JWT / go-bexpr config we do not decode
      auto_config.authorization.* (static, claim assertions,
      token replication)
    service %q: ...; check %q: ...; invalid meta for          1.13-1.22  we do not decode definitions (consul_keys
      service; Invalid weight definition; sidecar_service                keeps them opaque)
      ...; config_entries.bootstrap[%d]: ...
    node_meta invalid: %v                                     1.13-1.22  ValidateNodeMetadata, not mirrored yet
    serf_lan_allowed_cidrs / serf_wan_allowed_cidrs: ...;     1.13-1.22  CIDR lists, not mirrored yet
      allow_write_http_from: invalid cidr
    alt_domain cannot start with {service,connect,...,%s}     1.13-1.22  not mirrored yet
    'bootstrap_expect > 0' not allowed in dev mode            1.13-1.22  -dev is a flag, not a config file
    ui-content-path ...; ui_config.*; Both the                1.13-1.22  UI settings: no bearing on whether a
      ui_config.enabled and ui_config.dir ...                            server can form a cluster
    Network segments ...; Port for segment %q cannot be       1.13-1.22  Enterprise (Consul CE warns about its
      <= 0; %q is a Consul Enterprise configuration ...                  keys: "... will have no effect")
    the `experiments` checks' environment side                1.17-1.19  the environment: the checks see
      (HCP_RESOURCE_ID; CONSUL_OVERRIDE_HCP_RESOURCE_APIS_               cloud.resource_id and the experiments
      CHECK in 1.17)                                                     only
    warnings other than bootstrap_expect's (Datacenter : %q   1.13-1.22  warnings, not refusals; VC011 is the
      will not be PKI X.509 compatible from 1.21; node name              only rule for builder warnings
      and service port name DNS warnings; streaming;
      auto_encrypt verify_incoming)
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from clusterops.validate.consul_keys import MODULE, SOURCES
from clusterops.validate.load import ConsulNode

BUILDER = "agent/config/builder.go"


def _src(line: str, path: str = BUILDER) -> str:
    """Provenance: the module version of `line`'s newest patch and the file the wording was read from."""
    return f"{MODULE}@{SOURCES[line][0]} {path}"


def _order(line: str) -> tuple[int, int]:
    a, b = line.split(".")
    return int(a), int(b)


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
    until: str | None = None  # the first release line that no longer refuses (None: 1.22.7 still does)
    wording: str = ""  # Consul's format string, as `source` has it
    source: str = ""  # module version and file the wording was read from (the `since` line's newest patch)

    def applies_to(self, release: str) -> bool:
        """Whether Consul `release` (a line, "1.15") has this refusal."""
        return _order(self.since) <= _order(release) and (self.until is None or _order(release) < _order(self.until))


# -- Go's formatting and parsing, as the builder's messages use them ---------------------------------------


def go_quote(s: str) -> str:
    """Go's %q of a string (strconv.Quote)."""
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        elif c in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[c])
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return "".join(out) + '"'


def go_float(x: float) -> str:
    """Go's %v of a float64: the shortest digits, in %e form for an exponent below -4 or from 6 up (strconv 'g')."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    _, tup, exp = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, tup))
    nd, dp = len(digits), len(digits) + int(exp)
    if dp - 1 < -4 or dp - 1 >= 6:  # shortest: strconv decides with precision 6
        mantissa = digits[0] + ("." + digits[1:] if nd > 1 else "")
        e = dp - 1
        return f"{sign}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= nd:
        return sign + digits + "0" * (dp - nd)
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_UNITS = {k.encode(): v for k, v in _NS.items()}
_TOP = 1 << 63


def _digits(s: bytes) -> int:
    i = 0
    while i < len(s) and 0x30 <= s[i] <= 0x39:
        i += 1
    return i


def go_parse_duration(text: str) -> int | None:
    """Go's time.ParseDuration: nanoseconds, or None where Go returns an error."""
    s = text.encode()
    neg = False
    if s[:1] in (b"-", b"+"):
        neg, s = s[:1] == b"-", s[1:]
    if s == b"0":
        return 0
    if not s:
        return None
    d = 0
    while s:
        if not (s[:1] == b"." or 0x30 <= s[0] <= 0x39):
            return None
        n = _digits(s)
        v = 0
        for c in s[:n]:  # leadingInt
            if v > _TOP // 10:
                return None
            v = v * 10 + c - 0x30
            if v > _TOP:
                return None
        pre, s = n > 0, s[n:]
        post, f, scale = False, 0, 1.0
        if s[:1] == b".":
            s = s[1:]
            n = _digits(s)
            overflow = False
            for c in s[:n]:  # leadingFraction: stops accumulating on overflow
                if overflow or f > (_TOP - 1) // 10:
                    overflow = True
                    continue
                y = f * 10 + c - 0x30
                if y > _TOP:
                    overflow = True
                    continue
                f, scale = y, scale * 10
            post, s = n > 0, s[n:]
        if not pre and not post:
            return None
        i = 0
        while i < len(s) and not (s[i] == 0x2E or 0x30 <= s[i] <= 0x39):
            i += 1
        unit = _UNITS.get(s[:i]) if i else None
        if unit is None:
            return None
        s = s[i:]
        if v > _TOP // unit:
            return None
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > _TOP:
                return None
        d += v
        if d > _TOP:
            return None
    if neg:
        return -d
    return None if d > _TOP - 1 else d


def _frac(v: int, prec: int) -> tuple[str, int]:
    digits, printed = "", False
    for _ in range(prec):
        digit = v % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        v //= 10
    return ("." + digits if printed else ""), v


def go_duration(ns: int) -> str:
    """Go's time.Duration.String() ("1s", "6h0m0s", "1.5ms")."""
    u = abs(ns)
    if u < 10**9:
        if u == 0:
            return "0s"
        prec, unit = (0, "ns") if u < 1_000 else (3, "µs") if u < 1_000_000 else (6, "ms")
        frac, u = _frac(u, prec)
        out = f"{u}{frac}{unit}"
    else:
        frac, u = _frac(u, 9)
        out = f"{u % 60}{frac}s"
        u //= 60
        if u > 0:
            out = f"{u % 60}m{out}"
            u //= 60
            if u > 0:
                out = f"{u}h{out}"
    return "-" + out if ns < 0 else out


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


# -- the node as the builder sees it -------------------------------------------------------------------------


def _server(node: ConsulNode) -> bool:
    return bool(node.get("server", False))


def _int(node: ConsulNode, key: str) -> int | None:
    v = node.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _port(node: ConsulNode, key: str, default: int) -> int:
    """builder.portVal: unset is the default (default.go), 0 or below is disabled (-1)."""
    v = _int(node, key)
    if v is None:
        return default
    return -1 if v <= 0 else v


def _datacenters(node: ConsulNode) -> tuple[str, str]:
    """(datacenter, primary datacenter), lowercased; primary_datacenter defaults to acl_datacenter (deprecated.go),
    then to the datacenter."""
    dc = str(node.get("datacenter", "dc1")).lower()
    primary = node.get("primary_datacenter")
    if primary is None:
        primary = node.get("acl_datacenter")
    return dc, str(primary or "").lower() or dc


def _experiments(node: ConsulNode) -> list[str]:
    return [str(s.value) for s in node.list("experiments")]


_BASIC_NAME = re.compile(r"[a-z0-9_-]+")  # Go's ^...$ without (?m): the whole text, no trailing newline


# -- the checks ------------------------------------------------------------------------------------------------


def _raft_protocol(node: ConsulNode) -> str | None:
    raft = node.get("raft_protocol", 3)
    if raft != 3:
        return f"raft_protocol version {raft} is not supported by this version of Consul"
    return None


def _datacenter_empty(node: ConsulNode) -> str | None:
    return "datacenter cannot be empty" if not str(node.get("datacenter", "dc1")) else None


def _basic_name(field: str, value: str) -> str | None:
    if value and not _BASIC_NAME.fullmatch(value):
        return f"{field} can only contain lowercase alphanumeric, - or _ characters. received: {go_quote(value)}"
    return None


def _datacenter(node: ConsulNode) -> str | None:
    return _basic_name("datacenter", _datacenters(node)[0])


def _primary_datacenter(node: ConsulNode) -> str | None:
    raw = node.get("primary_datacenter")
    if raw is None:
        raw = node.get("acl_datacenter")
    return _basic_name("primary_datacenter", str(raw).lower()) if raw else None  # unset or "": the datacenter


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


def _expect_one(node: ConsulNode) -> str | None:
    _, expect, _ = _expect(node)
    return "BootstrapExpect is set to 1; this is the same as Bootstrap mode." if expect == 1 else None


_TOLERANCE = {
    "1.13": "https://www.consul.io/docs/internals/consensus.html#deployment-table",
    "1.21": "https://developer.hashicorp.com/docs/internals/consensus.html#deployment-table",
}


def _expect_two(url: str) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        bootstrap, _, effective = _expect(node)
        if _server(node) and not bootstrap and effective == 2:
            return f"bootstrap_expect = 2: A cluster with 2 servers will provide no failure tolerance. See {url}"
        return None

    return check


def _expect_even(url: str) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        bootstrap, _, effective = _expect(node)
        if _server(node) and not bootstrap and effective > 2 and effective % 2 == 0:
            return (
                "bootstrap_expect is even number: A cluster with an even number of servers does not achieve "
                f"optimum fault tolerance. See {url}"
            )
        return None

    return check


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


def _primary_gateways_in_primary(node: ConsulNode) -> str | None:
    dc, primary = _datacenters(node)
    if node.list("primary_gateways") and _server(node) and primary == dc:
        return "'primary_gateways' should only be configured in a secondary datacenter"
    return None


def _reconnect_timeout(node: ConsulNode) -> str | None:
    v = node.get("advertise_reconnect_timeout")
    if isinstance(v, str) and _server(node) and go_parse_duration(v):  # 0, or not a duration (0): accepted here
        return "advertise_reconnect_timeout can only be used on a client"
    return None


def _node_name_empty(node: ConsulNode) -> str | None:
    v = node.get("node_name")
    # "" means the host name (builder.nodeName); only a name of blanks is empty after TrimSpace
    if isinstance(v, str) and v and not v.strip():
        return "node_name cannot be empty"
    return None


def _not_negative(key: str) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        v = _int(node, key)
        if v is not None and v < 0:
            return f"{key} cannot be {v}. Must be greater than or equal to zero"
        return None

    return check


def _raft_multiplier(node: ConsulNode) -> str | None:
    v = _int(node, "performance.raft_multiplier")
    if v is not None and not 1 <= v <= 10:
        return f"performance.raft_multiplier cannot be {v}. Must be between 1 and 10"
    return None


def _check_output(node: ConsulNode) -> str | None:
    v = _int(node, "check_output_max_size")
    if v is not None and v < 1:
        return "check_output_max_size must be positive, to discard check output use the discard_check_output flag"
    return None


def _mgw(node: ConsulNode) -> bool:
    return bool(node.get("connect.enable_mesh_gateway_wan_federation"))


def _mgw_server(node: ConsulNode) -> str | None:
    if _mgw(node) and not _server(node):
        return "'connect.enable_mesh_gateway_wan_federation = true' requires 'server = true'"
    return None


def _mgw_connect(node: ConsulNode) -> str | None:
    if _mgw(node) and _server(node) and not node.get("connect.enabled"):
        return "'connect.enable_mesh_gateway_wan_federation=true' requires 'connect.enabled=true'"
    return None


def _mgw_node_name(node: ConsulNode) -> str | None:
    name = node.get("node_name")
    if _mgw(node) and isinstance(name, str) and "/" in name:
        return (
            "'connect.enable_mesh_gateway_wan_federation = true' requires that 'node_name' not contain '/' characters"
        )
    return None


def _mgw_retry_join_wan(node: ConsulNode) -> str | None:
    if _mgw(node) and node.list("retry_join_wan"):
        return "'retry_join_wan' is incompatible with 'connect.enable_mesh_gateway_wan_federation = true'"
    return None


def _tls_file(node: ConsulNode, stanza: str, name: str) -> str:
    """tls.<stanza>.<name>, else tls.defaults.<name>, else the deprecated top-level key (mapCommon)."""
    for key in (f"tls.{stanza}.{name}", f"tls.defaults.{name}", name):
        if node.has(key):
            return str(node.get(key) or "")
    return ""


def _grpc_tls(node: ConsulNode) -> str | None:
    """Consul 1.14: a TLS certificate for gRPC (tls.grpc, inherited from tls.defaults, or auto TLS with
    tls.grpc.use_auto_cert) with only ports.grpc set."""
    auto_tls = bool(node.get("auto_encrypt.tls") or node.get("auto_config.enabled"))
    tls = _tls_file(node, "grpc", "cert_file") != "" or (auto_tls and bool(node.get("tls.grpc.use_auto_cert")))
    if tls and _port(node, "ports.grpc", -1) > 0 and not node.has("ports.grpc_tls"):
        return (
            "the `ports.grpc` listener no longer supports TLS. Use `ports.grpc_tls` instead. This message is "
            "appearing because GRPC is configured to use TLS, but `ports.grpc_tls` is not defined"
        )
    return None


def _verify_outgoing_grpc(node: ConsulNode) -> str | None:
    return "verify_outgoing is not valid in the tls.grpc stanza" if node.has("tls.grpc.verify_outgoing") else None


def _verify_server_hostname(stanzas: tuple[str, ...], message: str) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        return message if any(node.has(f"tls.{s}.verify_server_hostname") for s in stanzas) else None

    return check


def _use_auto_cert(node: ConsulNode) -> str | None:
    if any(node.has(f"tls.{s}.use_auto_cert") for s in ("defaults", "https", "internal_rpc")):
        return "use_auto_cert is only valid in the tls.grpc stanza"
    return None


_RANGE_DEFAULTS = {"proxy": (20000, 20255), "sidecar": (21000, 21255), "expose": (21500, 21755)}


def _port_range(kind: str) -> Callable[[ConsulNode], str | None]:
    low, high = _RANGE_DEFAULTS[kind]

    def check(node: ConsulNode) -> str | None:
        if _port(node, f"ports.{kind}_max_port", high) < _port(node, f"ports.{kind}_min_port", low):
            return f"{kind}_min_port must be less than {kind}_max_port. To disable, set both to zero."
        return None

    return check


def _port_positive(key: str, label: str, default: int) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        return f"{label} must be greater than zero" if _port(node, key, default) <= 0 else None

    return check


def _recursor_strategy(node: ConsulNode) -> str | None:
    v = node.get("dns_config.recursor_strategy")
    if isinstance(v, str) and v not in ("", "sequential", "random"):
        return f"dns_config.recursor_strategy: invalid strategy: {go_quote(v)}"
    return None


def _fetch_burst(node: ConsulNode) -> str | None:
    v = _int(node, "cache.entry_fetch_max_burst")
    if v is not None and v <= 0:
        return f"cache.entry_fetch_max_burst must be strictly positive, was: {v}"
    return None


def _fetch_rate(refuse: Callable[[float], bool]) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        v = node.get("cache.entry_fetch_rate")
        if isinstance(v, int | float) and not isinstance(v, bool) and refuse(float(v)):
            return f"cache.entry_fetch_rate must be strictly positive, was: {go_float(float(v))}"
        return None

    return check


def _keepalive_1_14(key: str) -> Callable[[ConsulNode], str | None]:
    """Consul 1.14: the parsed duration (0 when it does not parse) must be 1s or more."""

    def check(node: ConsulNode) -> str | None:
        v = node.get(key)
        if not isinstance(v, str):
            return None
        d = go_parse_duration(v) or 0
        return f"{key} must be 1s or greater, was: {go_duration(d)}" if d < 10**9 else None

    return check


def _duration_min(key: str, floor: int) -> Callable[[ConsulNode], str | None]:
    """builder.durationValWithDefaultMin (1.15+): a duration below the floor, or one that does not parse (0)."""

    def check(node: ConsulNode) -> str | None:
        v = node.get(key)
        if not isinstance(v, str):
            return None
        if (go_parse_duration(v) or 0) < floor:
            return f"{key}: duration '{v}' cannot be less than: {go_duration(floor)}"
        return None

    return check


def _request_limits_mode(node: ConsulNode) -> str | None:
    v = node.get("limits.request_limits.mode")
    if isinstance(v, str) and v not in ("", "disabled", "permissive", "enforcing"):
        return f"limits.request_limits.mode: invalid mode: {go_quote(v)}"
    return None


def _logstore_backend(refused: Callable[[str], bool]) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        v = node.get("raft_logstore.backend")
        if _server(node) and isinstance(v, str) and refused(v):
            return "raft_logstore.backend must be one of 'boltdb' or 'wal'"
        return None

    return check


def _segment_size_min(node: ConsulNode) -> str | None:
    v = _int(node, "raft_logstore.wal.segment_size_mb")
    if _server(node) and v is not None and v < 1:
        return "raft_logstore.wal.segment_size_mb cannot be less than 1MB"
    return None


def _segment_size_max(node: ConsulNode) -> str | None:
    v = _int(node, "raft_logstore.wal.segment_size_mb")
    if _server(node) and v is not None and v > 1024:
        return "raft_logstore.wal.segment_size_mb cannot be greater than 1024 (1GiB)"
    return None


def _locality(node: ConsulNode) -> str | None:
    if node.get("locality.zone") and not node.get("locality.region"):
        return "locality is invalid: zone cannot be set without region"
    return None


def _resource_apis_with_cloud(lifted: Callable[[list[str]], bool]) -> Callable[[ConsulNode], str | None]:
    def check(node: ConsulNode) -> str | None:
        exps = _experiments(node)
        if _server(node) and node.get("cloud.resource_id") and "resource-apis" in exps and not lifted(exps):
            return "`experiments` cannot include 'resource-apis' when HCP `cloud` configuration is set"
        return None

    return check


def _experiments_on_secondary(node: ConsulNode) -> str | None:
    dc, primary = _datacenters(node)
    if _server(node) and primary != dc:
        for name in _experiments(node):
            if name in ("resource-apis", "v2tenancy"):
                return f"`experiments` cannot include `{name}` for servers in secondary datacenters"
    return None


def _go_cidr(cidr: str) -> tuple[int, int] | None:
    """(ones, bits) of Go's net.ParseCIDR, or None where it fails."""
    addr, slash, mask = cidr.partition("/")
    if not slash or "%" in addr or not (mask.isascii() and mask.isdigit()):
        return None
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    bits = 32 if ip.version == 4 else 128
    ones = int(mask)
    return (ones, bits) if ones <= bits else None


def _virtual_ip_cidr(family: int) -> Callable[[ConsulNode], str | None]:
    key = f"connect.virtual_ip_cidr_v{family}"
    name = key.split(".")[1]

    def check(node: ConsulNode) -> str | None:
        v = node.get(key)
        if not isinstance(v, str) or not v:
            return None  # empty: the default range
        parsed = _go_cidr(v)
        if parsed is None:
            return f"invalid {name}: invalid CIDR address: {v}"
        ones, bits = parsed
        if bits != (32 if family == 4 else 128):
            return f"invalid {name}: cidr {go_quote(v)} must be IPv{family}"
        if bits - ones < 2:
            return f"invalid {name}: cidr {go_quote(v)} must allow at least four addresses"
        return None

    return check


# -- the registry ----------------------------------------------------------------------------------------------

_MGW = "connect {\n  enabled = true\n  enable_mesh_gateway_wan_federation = true\n}"
_S = "server = true\n"
_C = "server = false\n"
_SECOND = 'datacenter = "dc2"\nprimary_datacenter = "dc1"\n'
_KEEPALIVE = ("performance.grpc_keepalive_interval", "performance.grpc_keepalive_timeout")
_HTTP_TIMEOUTS = (  # http_config key, minimum (1.22.7 builder.go)
    ("http_config.read_timeout", 10**9),
    ("http_config.read_header_timeout", 10**9),
    ("http_config.write_timeout", 10**9),
    ("http_config.idle_timeout", 10 * 10**9),
)


def _block(key: str, value: str) -> str:
    """HCL for a dotted key: `a.b = v` as `a { b = v }`."""
    *outer, leaf = key.split(".")
    text = f"{leaf} = {value}"
    for name in reversed(outer):
        text = f"{name} {{\n  {text}\n}}"
    return text


STARTUP_CHECKS: tuple[StartupCheck, ...] = (
    StartupCheck(
        "raft-protocol",
        "Consul 1.x speaks Raft protocol 3 only.",
        "raft_protocol",
        _raft_protocol,
        _S + "raft_protocol = 3",
        _S + "raft_protocol = 2",
        rule="VC017",
        wording="raft_protocol version %d is not supported by this version of Consul",
        source=_src("1.13"),
    ),
    StartupCheck(
        "datacenter-empty",
        "An explicitly empty datacenter is refused (unset means dc1).",
        "datacenter",
        _datacenter_empty,
        _S + 'datacenter = "dc1"',
        _S + 'datacenter = ""',
        rule="VC018",
        wording="%s cannot be empty",
        source=_src("1.13"),
    ),
    StartupCheck(
        "datacenter-name",
        "The datacenter name (lowercased) is lowercase alphanumerics, - and _.",
        "datacenter",
        _datacenter,
        _S + 'datacenter = "DC-1"',
        _S + 'datacenter = "dc 1"',
        rule="VC018",
        wording="%s can only contain lowercase alphanumeric, - or _ characters. received: %q",
        source=_src("1.13"),
    ),
    StartupCheck(
        "primary-datacenter-name",
        "primary_datacenter (lowercased; the deprecated acl_datacenter stands in) follows the datacenter rules.",
        "primary_datacenter",
        _primary_datacenter,
        _S + 'primary_datacenter = "DC-0"',
        _S + 'primary_datacenter = "dc.0"',
        rule="VC018",
        wording="%s can only contain lowercase alphanumeric, - or _ characters. received: %q",
        source=_src("1.13"),
    ),
    StartupCheck(
        "data-dir-empty",
        "Every agent needs a data_dir.",
        "data_dir",
        _data_dir,
        _S + 'data_dir = "/d"',
        _S + 'data_dir = ""',
        rule="VC021",
        wording="data_dir cannot be empty",
        source=_src("1.13"),
    ),
    StartupCheck(
        "bootstrap-needs-server",
        "bootstrap (or bootstrap_expect = 1) is a server setting.",
        "bootstrap",
        _bootstrap_needs_server,
        _S + "bootstrap = true",
        _C + "bootstrap = true",
        rule="VC016",
        wording="'bootstrap = true' requires 'server = true'",
        source=_src("1.13"),
    ),
    StartupCheck(
        "bootstrap-expect-negative",
        "bootstrap_expect counts servers: zero or more.",
        "bootstrap_expect",
        _expect_negative,
        _S + "bootstrap_expect = 3",
        _S + "bootstrap_expect = -1",
        rule="VC016",
        wording="bootstrap_expect cannot be %d. Must be greater than or equal to zero",
        source=_src("1.13"),
    ),
    StartupCheck(
        "bootstrap-expect-needs-server",
        "bootstrap_expect is a server setting.",
        "bootstrap_expect",
        _expect_needs_server,
        _S + "bootstrap_expect = 3",
        _C + "bootstrap_expect = 3",
        rule="VC016",
        wording="'bootstrap_expect > 0' requires 'server = true'",
        source=_src("1.13"),
    ),
    StartupCheck(
        "bootstrap-and-bootstrap-expect",
        "bootstrap and bootstrap_expect are two ways to bootstrap; pick one.",
        "bootstrap_expect",
        _expect_and_bootstrap,
        _S + "bootstrap_expect = 3",
        _S + "bootstrap_expect = 3\nbootstrap = true",
        rule="VC010",
        wording="'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive",
        source=_src("1.13"),
    ),
    StartupCheck(
        "bootstrap-expect-one",
        "A warning of the builder: bootstrap_expect = 1 is bootstrap mode (one server).",
        "bootstrap_expect",
        _expect_one,
        _S + "bootstrap_expect = 3",
        _S + "bootstrap_expect = 1",
        rule="VC011",
        wording="BootstrapExpect is set to 1; this is the same as Bootstrap mode.",
        source=_src("1.13"),
    ),
    *(
        StartupCheck(
            name,
            f"A warning of the builder: {what} adds no failure tolerance (the link changed in 1.21).",
            "bootstrap_expect",
            check(url),
            _S + "bootstrap_expect = 3",
            _S + f"bootstrap_expect = {expect}",
            since=since,
            until=until,
            rule="VC011",
            wording=wording.format(url=url),
            source=_src(since),
        )
        for since, until, suffix in (("1.13", "1.21", ""), ("1.21", None, "-from-1.21"))
        for url in (_TOLERANCE[since],)
        for name, what, check, expect, wording in (
            (
                "bootstrap-expect-two" + suffix,
                "bootstrap_expect = 2",
                _expect_two,
                2,
                "bootstrap_expect = 2: A cluster with 2 servers will provide no failure tolerance. See {url}",
            ),
            (
                "bootstrap-expect-even" + suffix,
                "an even bootstrap_expect",
                _expect_even,
                4,
                "bootstrap_expect is even number: A cluster with an even number of servers does not achieve "
                "optimum fault tolerance. See {url}",
            ),
        )
    ),
    StartupCheck(
        "encrypt-key",
        "The gossip key is base64 (Go's StdEncoding, padded).",
        "encrypt",
        _encrypt,
        _S + 'encrypt = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="',
        _S + 'encrypt = "not base64!"',
        rule="VC019",
        wording="encrypt has invalid key: %s",
        source=_src("1.13"),
    ),
    StartupCheck(
        "allow-tls-on-client",
        "auto_encrypt.allow_tls lets a server sign client certificates; a client agent refuses it.",
        "auto_encrypt.allow_tls",
        _allow_tls,
        _S + "auto_encrypt { allow_tls = true }",
        _C + "auto_encrypt { allow_tls = true }",
        wording="auto_encrypt.allow_tls can only be used on a server.",
        source=_src("1.13"),
    ),
    StartupCheck(
        "auto-encrypt-tls-on-server",
        "auto_encrypt.tls asks servers for a certificate; a server refuses it.",
        "auto_encrypt.tls",
        _auto_encrypt_tls,
        _C + "auto_encrypt { tls = true }",
        _S + "auto_encrypt { tls = true }",
        wording="auto_encrypt.tls can only be used on a client.",
        source=_src("1.13"),
    ),
    StartupCheck(
        "auto-config-on-server",
        "auto_config is for client agents.",
        "auto_config.enabled",
        _auto_config_server,
        _S + "auto_config { enabled = false }",
        _S + "auto_config { enabled = true }",
        wording="auto_config.enabled cannot be set to true for server agents.",
        source=_src("1.13"),
    ),
    StartupCheck(
        "auto-config-authorization-on-client",
        "auto_config.authorization is the server side of auto_config.",
        "auto_config.authorization.enabled",
        _auto_config_authz_client,
        _C + "auto_config { authorization { enabled = false } }",
        _C + "auto_config { authorization { enabled = true } }",
        wording="auto_config.authorization.enabled cannot be set to true for client agents",
        source=_src("1.13"),
    ),
    StartupCheck(
        "auto-encrypt-and-auto-config",
        "auto_encrypt.tls and auto_config.enabled are two ways to get a certificate; pick one.",
        "auto_encrypt.tls",
        _both_auto,
        _C + "auto_encrypt { tls = true }",
        _C + "auto_encrypt { tls = true }\nauto_config { enabled = true }",
        wording="both auto_encrypt.tls and auto_config.enabled cannot be set to true.",
        source=_src("1.13"),
    ),
    StartupCheck(
        "primary-gateways-on-client",
        "primary_gateways is a server setting of mesh-gateway WAN federation.",
        "primary_gateways",
        _primary_gateways,
        _S + _SECOND + 'primary_gateways = ["10.0.0.9:8443"]',
        _C + 'primary_gateways = ["10.0.0.9:8443"]',
        wording="'primary_gateways' requires 'server = true'",
        source=_src("1.13"),
    ),
    StartupCheck(
        "primary-gateways-in-primary",
        "primary_gateways points a secondary datacenter at the primary's gateways; the primary refuses it.",
        "primary_gateways",
        _primary_gateways_in_primary,
        _S + _SECOND + 'primary_gateways = ["10.0.0.9:8443"]',
        _S + 'primary_gateways = ["10.0.0.9:8443"]',
        wording="'primary_gateways' should only be configured in a secondary datacenter",
        source=_src("1.13"),
    ),
    StartupCheck(
        "advertise-reconnect-timeout-on-server",
        "advertise_reconnect_timeout (a duration other than 0) is a client setting.",
        "advertise_reconnect_timeout",
        _reconnect_timeout,
        _C + 'advertise_reconnect_timeout = "8h"',
        _S + 'advertise_reconnect_timeout = "8h"',
        wording="advertise_reconnect_timeout can only be used on a client",
        source=_src("1.13"),
    ),
    StartupCheck(
        "node-name-empty",
        'A node_name of blanks is refused ("" or unset means the host name).',
        "node_name",
        _node_name_empty,
        _S + 'node_name = ""',
        _S + 'node_name = "  "',
        wording="node_name cannot be empty",
        source=_src("1.13"),
    ),
    StartupCheck(
        "autopilot-max-trailing-logs-negative",
        "autopilot.max_trailing_logs must be zero or more.",
        "autopilot.max_trailing_logs",
        _not_negative("autopilot.max_trailing_logs"),
        _S + "autopilot { max_trailing_logs = 250 }",
        _S + "autopilot { max_trailing_logs = -1 }",
        wording="autopilot.max_trailing_logs cannot be %d. Must be greater than or equal to zero",
        source=_src("1.13"),
    ),
    StartupCheck(
        "raft-multiplier-range",
        "performance.raft_multiplier must be between 1 and 10.",
        "performance.raft_multiplier",
        _raft_multiplier,
        _S + "performance { raft_multiplier = 1 }",
        _S + "performance { raft_multiplier = 11 }",
        wording="performance.raft_multiplier cannot be %d. Must be between 1 and %d",
        source=_src("1.13"),
    ),
    *(
        StartupCheck(
            f"dns-{key.split('.')[1].replace('_', '-')}-negative",
            f"{key} must be zero or more.",
            key,
            _not_negative(key),
            _S + _block(key, "3"),
            _S + _block(key, "-1"),
            wording=f"{key} cannot be %d. Must be greater than or equal to zero",
            source=_src("1.13"),
        )
        for key in ("dns_config.a_record_limit", "dns_config.udp_answer_limit")
    ),
    StartupCheck(
        "dns-recursor-strategy",
        'dns_config.recursor_strategy is "sequential" (the default) or "random", lowercase.',
        "dns_config.recursor_strategy",
        _recursor_strategy,
        _S + 'dns_config { recursor_strategy = "random" }',
        _S + 'dns_config { recursor_strategy = "Random" }',
        wording="dns_config.recursor_strategy: invalid strategy: %q",
        source=_src("1.13"),
    ),
    StartupCheck(
        "check-output-max-size",
        "check_output_max_size must be positive.",
        "check_output_max_size",
        _check_output,
        _S + "check_output_max_size = 4096",
        _S + "check_output_max_size = 0",
        wording="check_output_max_size must be positive, to discard check output use the discard_check_output flag",
        source=_src("1.13"),
    ),
    StartupCheck(
        "mesh-gateway-federation-on-client",
        "Mesh-gateway WAN federation is a server setting.",
        "connect.enable_mesh_gateway_wan_federation",
        _mgw_server,
        _S + _MGW,
        _C + _MGW,
        wording="'connect.enable_mesh_gateway_wan_federation = true' requires 'server = true'",
        source=_src("1.13"),
    ),
    StartupCheck(
        "mesh-gateway-federation-without-connect",
        "Mesh-gateway WAN federation needs Connect.",
        "connect.enable_mesh_gateway_wan_federation",
        _mgw_connect,
        _S + _MGW,
        _S + "connect {\n  enable_mesh_gateway_wan_federation = true\n}",
        wording="'connect.enable_mesh_gateway_wan_federation=true' requires 'connect.enabled=true'",
        source=_src("1.13"),
    ),
    StartupCheck(
        "mesh-gateway-federation-node-name-slash",
        "With mesh-gateway WAN federation the node name is part of a gateway route: no '/'.",
        "node_name",
        _mgw_node_name,
        _S + 'node_name = "s1"\n' + _MGW,
        _S + 'node_name = "dc1/s1"\n' + _MGW,
        wording="'connect.enable_mesh_gateway_wan_federation = true' requires that 'node_name' not contain '/' "
        "characters",
        source=_src("1.13"),
    ),
    StartupCheck(
        "mesh-gateway-federation-with-retry-join-wan",
        "With mesh-gateway WAN federation servers meet through the gateways, not retry_join_wan (the loader "
        "folds start_join_wan into retry_join_wan, so this reports start_join_wan too).",
        "retry_join_wan",
        _mgw_retry_join_wan,
        _S + _MGW,
        _S + 'retry_join_wan = ["10.1.0.5"]\n' + _MGW,
        wording="'retry_join_wan' is incompatible with 'connect.enable_mesh_gateway_wan_federation = true'",
        source=_src("1.13"),
    ),
    *(
        StartupCheck(
            f"{kind}-port-range",
            f"ports.{kind}_min_port must not be above ports.{kind}_max_port (0 or below on both disables it).",
            f"ports.{kind}_min_port",
            _port_range(kind),
            _S + f"ports {{\n  {kind}_min_port = 0\n  {kind}_max_port = 0\n}}",
            _S + f"ports {{\n  {kind}_min_port = 30000\n}}",
            wording=f"{kind}_min_port must be less than {kind}_max_port. To disable, set both to zero.",
            source=_src("1.13"),
        )
        for kind in ("proxy", "sidecar", "expose")
    ),
    StartupCheck(
        "cache-entry-fetch-max-burst",
        "cache.entry_fetch_max_burst must be positive.",
        "cache.entry_fetch_max_burst",
        _fetch_burst,
        _S + "cache { entry_fetch_max_burst = 2 }",
        _S + "cache { entry_fetch_max_burst = 0 }",
        wording="cache.entry_fetch_max_burst must be strictly positive, was: %v",
        source=_src("1.13"),
    ),
    StartupCheck(
        "cache-entry-fetch-rate-zero",
        "cache.entry_fetch_rate 0 is refused.",
        "cache.entry_fetch_rate",
        _fetch_rate(lambda rate: rate == 0),
        _S + "cache { entry_fetch_rate = 0.5 }",
        _S + "cache { entry_fetch_rate = 0 }",
        wording="cache.entry_fetch_rate must be strictly positive, was: %v",
        source=_src("1.13"),
    ),
    StartupCheck(
        "cache-entry-fetch-rate-negative",
        "Until 1.14 a negative cache.entry_fetch_rate is refused too; from 1.15 it means unlimited (limitVal).",
        "cache.entry_fetch_rate",
        _fetch_rate(lambda rate: rate < 0),
        _S + "cache { entry_fetch_rate = 0.5 }",
        _S + "cache { entry_fetch_rate = -1 }",
        until="1.15",
        wording="cache.entry_fetch_rate must be strictly positive, was: %v",
        source=_src("1.13"),
    ),
    StartupCheck(
        "grpc-port-with-tls",
        "From Consul 1.14 the ports.grpc listener is plaintext; a TLS certificate (or auto TLS with "
        "tls.grpc.use_auto_cert) with only ports.grpc set is refused. The check an upgrade from 1.13 needs.",
        "ports.grpc",
        _grpc_tls,
        _S + 'ports { grpc = 8502\n  grpc_tls = 8503 }\ntls { defaults { cert_file = "/c.pem" } }',
        _S + 'ports { grpc = 8502 }\ntls { defaults { cert_file = "/c.pem" } }',
        since="1.14",
        wording="the `ports.grpc` listener no longer supports TLS. Use `ports.grpc_tls` instead. This message is "
        "appearing because GRPC is configured to use TLS, but `ports.grpc_tls` is not defined",
        source=_src("1.14"),
    ),
    StartupCheck(
        "tls-grpc-verify-outgoing",
        "Consul makes no outgoing connections to the public gRPC port: tls.grpc.verify_outgoing is refused.",
        "tls.grpc.verify_outgoing",
        _verify_outgoing_grpc,
        _S + "tls { defaults { verify_outgoing = true } }",
        _S + "tls { grpc { verify_outgoing = true } }",
        wording="verify_outgoing is not valid in the tls.grpc stanza",
        source=_src("1.13"),
    ),
    StartupCheck(
        "tls-verify-server-hostname-stanza",
        "Until 1.16 only tls.internal_rpc takes verify_server_hostname.",
        "tls.defaults.verify_server_hostname",
        _verify_server_hostname(
            ("defaults", "grpc", "https"), "verify_server_hostname is only valid in the tls.internal_rpc stanza"
        ),
        _S + "tls { internal_rpc { verify_server_hostname = true } }",
        _S + "tls { defaults { verify_server_hostname = true } }",
        until="1.17",
        wording="verify_server_hostname is only valid in the tls.internal_rpc stanza",
        source=_src("1.13"),
    ),
    StartupCheck(
        "tls-verify-server-hostname-stanza-from-1.17",
        "From 1.17 tls.defaults takes verify_server_hostname too (internal RPC inherits it); grpc and https "
        "still refuse it.",
        "tls.https.verify_server_hostname",
        _verify_server_hostname(
            ("grpc", "https"), "verify_server_hostname is only valid in the tls.defaults and tls.internal_rpc stanzas"
        ),
        _S + "tls { defaults { verify_server_hostname = true } }",
        _S + "tls { https { verify_server_hostname = true } }",
        since="1.17",
        wording="verify_server_hostname is only valid in the tls.defaults and tls.internal_rpc stanzas",
        source=_src("1.17"),
    ),
    StartupCheck(
        "tls-use-auto-cert-stanza",
        "use_auto_cert applies to the external gRPC interface only: tls.grpc.",
        "tls.defaults.use_auto_cert",
        _use_auto_cert,
        _S + "tls { grpc { use_auto_cert = true } }",
        _S + "tls { defaults { use_auto_cert = true } }",
        wording="use_auto_cert is only valid in the tls.grpc stanza",
        source=_src("1.13"),
    ),
    *(
        StartupCheck(
            f"{key.replace('.', '-').replace('_', '-')}-below-1s",
            f"Consul 1.14 (a patch release added the key) refuses a {key} below 1s, or one that does not parse.",
            key,
            _keepalive_1_14(key),
            _S + _block(key, '"1s"'),
            _S + _block(key, '"500ms"'),
            since="1.14",
            until="1.15",
            wording=f"{key} must be 1s or greater, was: %v",
            source=_src("1.14"),
        )
        for key in _KEEPALIVE
    ),
    *(
        StartupCheck(
            f"{key.replace('.', '-').replace('_', '-')}-minimum",
            f"{key} below {go_duration(floor)}, or not a duration, is refused (builder.durationValWithDefaultMin).",
            key,
            _duration_min(key, floor),
            _S + _block(key, f'"{go_duration(floor)}"'),
            _S + _block(key, '"500ms"'),
            since=since,
            wording="%s: duration '%s' cannot be less than: %s",
            source=_src(since),
        )
        for since, key, floor in (
            *(("1.15", key, 10**9) for key in _KEEPALIVE),
            ("1.15", "server_rejoin_age_max", 6 * 3600 * 10**9),
            *(("1.22", key, floor) for key, floor in _HTTP_TIMEOUTS),
        )
    ),
    StartupCheck(
        "request-limits-mode",
        'limits.request_limits.mode is "disabled", "permissive" or "enforcing".',
        "limits.request_limits.mode",
        _request_limits_mode,
        _S + 'limits { request_limits { mode = "permissive" } }',
        _S + 'limits { request_limits { mode = "Enforcing" } }',
        since="1.15",
        wording="limits.request_limits.mode: invalid mode: %q",
        source=_src("1.15"),
    ),
    StartupCheck(
        "raft-logstore-backend",
        'A server\'s raft_logstore.backend is "boltdb" or "wal" ("default" too from 1.17).',
        "raft_logstore.backend",
        _logstore_backend(lambda v: v not in ("boltdb", "wal", "default")),
        _S + 'raft_logstore { backend = "wal" }',
        _S + 'raft_logstore { backend = "bolt" }',
        since="1.15",
        wording="raft_logstore.backend must be one of '%s' or '%s'",
        source=_src("1.15"),
    ),
    StartupCheck(
        "raft-logstore-backend-default",
        '1.15 and 1.16 refuse raft_logstore.backend = "default" on a server; 1.17 made it the default.',
        "raft_logstore.backend",
        _logstore_backend(lambda v: v == "default"),
        _S + 'raft_logstore { backend = "boltdb" }',
        _S + 'raft_logstore { backend = "default" }',
        since="1.15",
        until="1.17",
        wording="raft_logstore.backend must be one of '%s' or '%s'",
        source=_src("1.15"),
    ),
    StartupCheck(
        "raft-logstore-wal-segment-size-min",
        "A server's raft_logstore.wal.segment_size_mb is at least 1.",
        "raft_logstore.wal.segment_size_mb",
        _segment_size_min,
        _S + "raft_logstore {\n  wal { segment_size_mb = 1 }\n}",
        _S + "raft_logstore {\n  wal { segment_size_mb = 0 }\n}",
        since="1.15",
        wording="raft_logstore.wal.segment_size_mb cannot be less than 1MB",
        source=_src("1.15"),
    ),
    StartupCheck(
        "raft-logstore-wal-segment-size-max",
        "A server's raft_logstore.wal.segment_size_mb is at most 1024.",
        "raft_logstore.wal.segment_size_mb",
        _segment_size_max,
        _S + "raft_logstore {\n  wal { segment_size_mb = 1024 }\n}",
        _S + "raft_logstore {\n  wal { segment_size_mb = 2048 }\n}",
        since="1.15",
        wording="raft_logstore.wal.segment_size_mb cannot be greater than 1024 (1GiB)",
        source=_src("1.15"),
    ),
    *(
        StartupCheck(
            f"{label}-positive",
            f"From 1.16 {key} cannot be disabled (0 or below); 1.13 to 1.15 start without that listener.",
            key,
            _port_positive(key, label, default),
            _S + _block(key, str(default)),
            _S + _block(key, "-1"),
            since="1.16",
            wording=f"{label} must be greater than zero",
            source=_src("1.16"),
        )
        for key, label, default in (("ports.server", "server-port", 8300), ("ports.serf_lan", "serf-lan-port", 8301))
    ),
    StartupCheck(
        "locality-zone-without-region",
        "locality.zone needs locality.region.",
        "locality.zone",
        _locality,
        _S + 'locality {\n  region = "eu-west-1"\n  zone = "eu-west-1a"\n}',
        _S + 'locality {\n  zone = "eu-west-1a"\n}',
        since="1.17",
        wording="locality is invalid: %s",
        source=_src("1.17"),
    ),
    StartupCheck(
        "experiments-resource-apis-with-cloud",
        "Consul 1.17 to 1.19 refuse the resource-apis experiment on an HCP-linked server (cloud.resource_id); "
        "1.18 and 1.19 take the hcp-v2-resource-apis experiment as the override (1.17: an environment variable, "
        "CONSUL_OVERRIDE_HCP_RESOURCE_APIS_CHECK, which a config does not show).",
        "experiments",
        _resource_apis_with_cloud(lambda exps: "hcp-v2-resource-apis" in exps),
        _S + 'experiments = ["resource-apis"]',
        _S + 'experiments = ["resource-apis"]\ncloud {\n  resource_id = "organization/o/project/p/x/y"\n}',
        since="1.17",
        until="1.20",
        wording="`experiments` cannot include 'resource-apis' when HCP `cloud` configuration is set",
        source=_src("1.17"),
    ),
    StartupCheck(
        "experiments-resource-apis-with-cloud-1.17",
        "Consul 1.17 does not know the hcp-v2-resource-apis override of 1.18: listing it does not lift the check.",
        "experiments",
        _resource_apis_with_cloud(lambda exps: "hcp-v2-resource-apis" not in exps),
        _S + 'experiments = ["hcp-v2-resource-apis"]\ncloud {\n  resource_id = "organization/o/project/p/x/y"\n}',
        _S + 'experiments = ["resource-apis", "hcp-v2-resource-apis"]\ncloud {\n'
        '  resource_id = "organization/o/project/p/x/y"\n}',
        since="1.17",
        until="1.18",
        wording="`experiments` cannot include 'resource-apis' when HCP `cloud` configuration is set",
        source=_src("1.17"),
    ),
    StartupCheck(
        "experiments-on-secondary",
        "Consul 1.18 and 1.19 refuse the resource-apis and v2tenancy experiments on servers of a secondary datacenter.",
        "experiments",
        _experiments_on_secondary,
        _S + 'experiments = ["resource-apis"]',
        _S + _SECOND + 'experiments = ["v2tenancy"]',
        since="1.18",
        until="1.20",
        wording="`experiments` cannot include `%s` for servers in secondary datacenters",
        source=_src("1.18"),
    ),
    *(
        StartupCheck(
            f"virtual-ip-cidr-v{family}",
            f"connect.virtual_ip_cidr_v{family} is an IPv{family} CIDR of at least four addresses.",
            f"connect.virtual_ip_cidr_v{family}",
            _virtual_ip_cidr(family),
            _S + _block(f"connect.virtual_ip_cidr_v{family}", f'"{good}"'),
            _S + _block(f"connect.virtual_ip_cidr_v{family}", f'"{bad}"'),
            since="1.22",
            wording=f"invalid virtual_ip_cidr_v{family}: %w",
            source=_src("1.22", "agent/consul/state/virtual_ips.go"),
        )
        for family, good, bad in ((4, "240.0.0.0/4", "240.0.0.0/31"), (6, "2000::/3", "10.0.0.0/8"))
    ),
)


def startup_problems(node: ConsulNode, release: str) -> list[tuple[str, str, str]]:
    """(rule id, key, Consul's message) for every start-up check of `release` this node triggers."""
    out: list[tuple[str, str, str]] = []
    for c in STARTUP_CHECKS:
        if not c.applies_to(release):
            continue
        message = c.check(node)
        if message is not None:
            key = c.key
            if c.name == "bootstrap-needs-server" and not node.has("bootstrap"):
                key = "bootstrap_expect"  # bootstrap_expect = 1 on a client: Consul's bootstrap mode
            elif c.name.startswith("tls-") and not node.has(key):
                key = next((k for k in _STANZA_KEYS.get(c.name, ()) if node.has(k)), key)
            out.append((c.rule, key, message))
    return out


_STANZA_KEYS = {
    "tls-verify-server-hostname-stanza": tuple(
        f"tls.{s}.verify_server_hostname" for s in ("defaults", "grpc", "https")
    ),
    "tls-verify-server-hostname-stanza-from-1.17": tuple(f"tls.{s}.verify_server_hostname" for s in ("grpc", "https")),
    "tls-use-auto-cert-stanza": tuple(f"tls.{s}.use_auto_cert" for s in ("defaults", "https", "internal_rpc")),
}


__all__ = [
    "STARTUP_CHECKS",
    "StartupCheck",
    "go_base64_error",
    "go_duration",
    "go_float",
    "go_parse_duration",
    "go_quote",
    "startup_problems",
]
