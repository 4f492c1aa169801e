"""consul_startup: the config builder's refusals per release line, in Consul's words, and the Go formatting they use.

Each check is tried in every release line it applies to (its failing example refused with a message of Consul's
format string, its passing example not), and every check limited to some lines has a case that trips it in a line
of its range and not in a line outside it. The Go vectors were printed by Go itself (time, strconv, fmt).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from clusterops.validate.catalog import RULES
from clusterops.validate.consul_keys import MODULE, SOURCES
from clusterops.validate.consul_releases import RELEASES
from clusterops.validate.consul_startup import (
    STARTUP_CHECKS,
    StartupCheck,
    go_duration,
    go_float,
    go_parse_duration,
    go_quote,
    startup_problems,
)
from clusterops.validate.load import load_consul
from clusterops.validate.run import validate_consul

CHECKS = {c.name: c for c in STARTUP_CHECKS}
HEAD = 'data_dir = "/d"\nbind_addr = "10.0.0.1"\n'
S = "server = true\n"
CLOUD = 'cloud {\n  resource_id = "organization/o/project/p/x/y"\n}\n'
SECONDARY = 'datacenter = "dc2"\nprimary_datacenter = "dc1"\n'


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "a.hcl"
    p.write_text(HEAD + text + "\n")
    return p


def _findings(tmp_path: Path, text: str, release: str) -> list[tuple[str, str]]:
    report = validate_consul([str(_write(tmp_path, text))], consul_version=release)
    return [(f.rule_id, f.message) for f in report.findings]


def _pattern(wording: str) -> re.Pattern[str]:
    """Consul's format string as a pattern: each verb (%d %s %q %v %w) stands for some text."""
    return re.compile(re.sub(r"%[dsqvw]", ".+", re.escape(wording)))


def _lines(check: StartupCheck) -> list[str]:
    return [line for line in RELEASES if check.applies_to(line)]


# -- the registry ---------------------------------------------------------------------------------------------------


def test_every_check_has_a_name_a_range_a_rule_wording_and_provenance() -> None:
    assert len(CHECKS) == len(STARTUP_CHECKS), "check names are unique"
    for c in STARTUP_CHECKS:
        assert c.doc and c.rule in RULES, c.name
        assert c.since in RELEASES and (c.until is None or c.until in RELEASES), c.name
        assert _lines(c) and _lines(c)[0] == c.since, c.name
        assert c.until is None or RELEASES.index(c.until) > RELEASES.index(c.since), c.name
        # provenance: the module version of the `since` line's newest patch, and a Go file of Consul's module
        version, path = c.source.split(" ")
        assert version == f"{MODULE}@{SOURCES[c.since][0]}" and path.startswith("agent/") and path.endswith(".go")
        assert c.wording, c.name


@pytest.mark.parametrize("check", STARTUP_CHECKS, ids=lambda c: c.name)
def test_check_refuses_its_failing_example_in_every_line_it_applies_to(tmp_path: Path, check: StartupCheck) -> None:
    for line in _lines(check):
        failing = _findings(tmp_path, check.failing, line)
        assert not [f for f in failing if f[0] in ("VC001", "VC002")], (line, failing)
        message = check.check(load_consul(_write(tmp_path, check.failing), release=line))
        assert message is not None and _pattern(check.wording).fullmatch(message), (line, message, check.wording)
        assert (check.rule, message) in failing, (line, failing)
        passing = _findings(tmp_path, check.passing, line)
        assert not [f for f in passing if f[0] in ("VC001", "VC002", check.rule)], (line, passing)


# Every check limited to some release lines: a config, a line in its range where Consul refuses it with this
# message, and the lines just outside the range (the one before `since`, and `until`) where that message is not
# reported: an earlier line does not have the refusal, a later one dropped it or changed its words.
BOUNDS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "bootstrap-expect-two": (
        S + "bootstrap_expect = 2",
        "1.20",
        ("1.21",),
        "bootstrap_expect = 2: A cluster with 2 servers will provide no failure tolerance. "
        "See https://www.consul.io/docs/internals/consensus.html#deployment-table",
    ),
    "bootstrap-expect-two-from-1.21": (
        S + "bootstrap_expect = 2",
        "1.21",
        ("1.20",),
        "bootstrap_expect = 2: A cluster with 2 servers will provide no failure tolerance. "
        "See https://developer.hashicorp.com/docs/internals/consensus.html#deployment-table",
    ),
    "bootstrap-expect-even": (
        S + "bootstrap_expect = 4",
        "1.13",
        ("1.21",),
        "bootstrap_expect is even number: A cluster with an even number of servers does not achieve optimum fault "
        "tolerance. See https://www.consul.io/docs/internals/consensus.html#deployment-table",
    ),
    "bootstrap-expect-even-from-1.21": (
        S + "bootstrap_expect = 6",
        "1.22",
        ("1.20",),
        "bootstrap_expect is even number: A cluster with an even number of servers does not achieve optimum fault "
        "tolerance. See https://developer.hashicorp.com/docs/internals/consensus.html#deployment-table",
    ),
    "cache-entry-fetch-rate-negative": (
        S + "cache {\n  entry_fetch_rate = -1\n}",
        "1.14",
        ("1.15",),
        "cache.entry_fetch_rate must be strictly positive, was: -1",
    ),
    "grpc-port-with-tls": (
        S + 'ports {\n  grpc = 8502\n}\ntls {\n  grpc {\n    cert_file = "/c.pem"\n  }\n}',
        "1.14",
        ("1.13",),
        "the `ports.grpc` listener no longer supports TLS. Use `ports.grpc_tls` instead. This message is appearing "
        "because GRPC is configured to use TLS, but `ports.grpc_tls` is not defined",
    ),
    "tls-verify-server-hostname-stanza": (
        S + "tls {\n  defaults {\n    verify_server_hostname = true\n  }\n}",
        "1.16",
        ("1.17",),
        "verify_server_hostname is only valid in the tls.internal_rpc stanza",
    ),
    "tls-verify-server-hostname-stanza-from-1.17": (
        S + "tls {\n  grpc {\n    verify_server_hostname = true\n  }\n}",
        "1.17",
        ("1.16",),
        "verify_server_hostname is only valid in the tls.defaults and tls.internal_rpc stanzas",
    ),
    "performance-grpc-keepalive-interval-below-1s": (
        S + 'performance {\n  grpc_keepalive_interval = "999ms"\n}',
        "1.14",
        ("1.13", "1.15"),
        "performance.grpc_keepalive_interval must be 1s or greater, was: 999ms",
    ),
    "performance-grpc-keepalive-timeout-below-1s": (
        S + 'performance {\n  grpc_keepalive_timeout = "abc"\n}',
        "1.14",
        ("1.13", "1.15"),
        "performance.grpc_keepalive_timeout must be 1s or greater, was: 0s",
    ),
    "performance-grpc-keepalive-interval-minimum": (
        S + 'performance {\n  grpc_keepalive_interval = "0.5s"\n}',
        "1.15",
        ("1.14",),
        "performance.grpc_keepalive_interval: duration '0.5s' cannot be less than: 1s",
    ),
    "performance-grpc-keepalive-timeout-minimum": (
        S + 'performance {\n  grpc_keepalive_timeout = "abc"\n}',
        "1.22",
        ("1.14",),
        "performance.grpc_keepalive_timeout: duration 'abc' cannot be less than: 1s",
    ),
    "server-rejoin-age-max-minimum": (
        S + 'server_rejoin_age_max = "5h59m"',
        "1.15",
        ("1.14",),
        "server_rejoin_age_max: duration '5h59m' cannot be less than: 6h0m0s",
    ),
    "http-config-read-timeout-minimum": (
        S + 'http_config {\n  read_timeout = "999ms"\n}',
        "1.22",
        ("1.21",),
        "http_config.read_timeout: duration '999ms' cannot be less than: 1s",
    ),
    "http-config-read-header-timeout-minimum": (
        S + 'http_config {\n  read_header_timeout = "0"\n}',
        "1.22",
        ("1.21",),
        "http_config.read_header_timeout: duration '0' cannot be less than: 1s",
    ),
    "http-config-write-timeout-minimum": (
        S + 'http_config {\n  write_timeout = "-1s"\n}',
        "1.22",
        ("1.21",),
        "http_config.write_timeout: duration '-1s' cannot be less than: 1s",
    ),
    "http-config-idle-timeout-minimum": (
        S + 'http_config {\n  idle_timeout = "9s"\n}',
        "1.22",
        ("1.21",),
        "http_config.idle_timeout: duration '9s' cannot be less than: 10s",
    ),
    "request-limits-mode": (
        S + 'limits {\n  request_limits {\n    mode = "Enforcing"\n  }\n}',
        "1.15",
        ("1.14",),
        'limits.request_limits.mode: invalid mode: "Enforcing"',
    ),
    "raft-logstore-backend": (
        S + 'raft_logstore {\n  backend = "bolt"\n}',
        "1.17",
        ("1.14",),
        "raft_logstore.backend must be one of 'boltdb' or 'wal'",
    ),
    "raft-logstore-backend-default": (
        S + 'raft_logstore {\n  backend = "default"\n}',
        "1.16",
        ("1.14", "1.17"),
        "raft_logstore.backend must be one of 'boltdb' or 'wal'",
    ),
    "raft-logstore-wal-segment-size-min": (
        S + "raft_logstore {\n  wal {\n    segment_size_mb = 0\n  }\n}",
        "1.15",
        ("1.14",),
        "raft_logstore.wal.segment_size_mb cannot be less than 1MB",
    ),
    "raft-logstore-wal-segment-size-max": (
        S + "raft_logstore {\n  wal {\n    segment_size_mb = 1025\n  }\n}",
        "1.22",
        ("1.14",),
        "raft_logstore.wal.segment_size_mb cannot be greater than 1024 (1GiB)",
    ),
    "server-port-positive": (
        S + "ports {\n  server = 0\n}",
        "1.16",
        ("1.15",),
        "server-port must be greater than zero",
    ),
    "serf-lan-port-positive": (
        S + "ports {\n  serf_lan = -1\n}",
        "1.22",
        ("1.15",),
        "serf-lan-port must be greater than zero",
    ),
    "locality-zone-without-region": (
        S + 'locality {\n  zone = "eu-west-1a"\n}',
        "1.17",
        ("1.16",),
        "locality is invalid: zone cannot be set without region",
    ),
    "experiments-resource-apis-with-cloud": (
        S + 'experiments = ["resource-apis"]\n' + CLOUD,
        "1.19",
        ("1.16", "1.20"),
        "`experiments` cannot include 'resource-apis' when HCP `cloud` configuration is set",
    ),
    "experiments-resource-apis-with-cloud-1.17": (
        S + 'experiments = ["resource-apis", "hcp-v2-resource-apis"]\n' + CLOUD,  # 1.17 has no such override
        "1.17",
        ("1.16", "1.18"),
        "`experiments` cannot include 'resource-apis' when HCP `cloud` configuration is set",
    ),
    "experiments-on-secondary": (
        S + SECONDARY + 'experiments = ["hcp-v2-resource-apis", "v2tenancy", "resource-apis"]',
        "1.18",
        ("1.17", "1.20"),
        "`experiments` cannot include `v2tenancy` for servers in secondary datacenters",
    ),
    "virtual-ip-cidr-v4": (
        S + 'connect {\n  virtual_ip_cidr_v4 = "240.0.0.0"\n}',
        "1.22",
        ("1.21",),
        "invalid virtual_ip_cidr_v4: invalid CIDR address: 240.0.0.0",
    ),
    "virtual-ip-cidr-v6": (
        S + 'connect {\n  virtual_ip_cidr_v6 = "2000::/127"\n}',
        "1.22",
        ("1.21",),
        'invalid virtual_ip_cidr_v6: cidr "2000::/127" must allow at least four addresses',
    ),
}


def test_every_check_limited_to_some_lines_has_a_case_at_both_ends_and_the_others_apply_to_all() -> None:
    limited = {c.name for c in STARTUP_CHECKS if _lines(c) != list(RELEASES)}
    assert set(BOUNDS) == limited
    assert all(CHECKS[name].since == "1.13" for name in set(CHECKS) - limited)
    for name, (_, _, outside, _) in BOUNDS.items():
        c = CHECKS[name]
        ends = {RELEASES[RELEASES.index(c.since) - 1]} if c.since != RELEASES[0] else set()
        assert ends | ({c.until} if c.until else set()) == set(outside), name


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_check_applies_in_its_range_and_not_outside(tmp_path: Path, name: str) -> None:
    text, inside, outside, message = BOUNDS[name]
    check = CHECKS[name]
    assert check.applies_to(inside) and not any(check.applies_to(line) for line in outside)
    assert _pattern(check.wording).fullmatch(message)
    assert (check.rule, message) in _findings(tmp_path, text, inside)
    for line in outside:
        assert message not in [m for _, m in _findings(tmp_path, text, line)], line


def test_the_refusals_of_1_13_and_1_14_that_a_later_line_dropped_or_reworded_stop_there() -> None:
    # every other check of 1.13/1.14 applies up to 1.22 (check_startup_sources.py finds its words in 1.22.7)
    dropped = {c.name: c.until for c in STARTUP_CHECKS if c.since in ("1.13", "1.14") and c.until}
    assert dropped == {
        "bootstrap-expect-two": "1.21",  # reworded: the link
        "bootstrap-expect-even": "1.21",
        "cache-entry-fetch-rate-negative": "1.15",  # a negative rate means unlimited
        "tls-verify-server-hostname-stanza": "1.17",  # reworded, tls.defaults allowed
        "performance-grpc-keepalive-interval-below-1s": "1.15",  # reworded (durationValWithDefaultMin)
        "performance-grpc-keepalive-timeout-below-1s": "1.15",
    }


# -- fidelity details the checks keep ---------------------------------------------------------------------------


def _problems(tmp_path: Path, text: str, release: str = "1.22") -> list[tuple[str, str, str]]:
    return startup_problems(load_consul(_write(tmp_path, text), release=release), release)


def test_empty_node_name_is_the_host_name_and_blanks_are_refused(tmp_path: Path) -> None:
    assert _problems(tmp_path, S + 'node_name = ""') == []  # builder.nodeName: "" -> os.Hostname()
    assert _problems(tmp_path, S + 'node_name = "  "') == [("VC028", "node_name", "node_name cannot be empty")]


def test_advertise_reconnect_timeout_of_zero_is_accepted_on_a_server(tmp_path: Path) -> None:
    assert _problems(tmp_path, S + 'advertise_reconnect_timeout = "0s"') == []
    assert [m for _, _, m in _problems(tmp_path, S + 'advertise_reconnect_timeout = "1ns"')] == [
        "advertise_reconnect_timeout can only be used on a client"
    ]


def test_grpc_tls_follows_the_stanza_inheritance_and_auto_tls(tmp_path: Path) -> None:
    grpc = "ports {\n  grpc = 8502\n}\n"
    emptied = 'tls {\n  defaults {\n    cert_file = "/c.pem"\n  }\n  grpc {\n    cert_file = ""\n  }\n}'
    assert _problems(tmp_path, S + grpc + emptied) == []  # an explicit "" is not inherited from tls.defaults
    assert [k for _, k, _ in _problems(tmp_path, S + grpc + 'cert_file = "/c.pem"')] == ["ports.grpc"]
    auto = "server = false\nauto_encrypt {\n  tls = true\n}\ntls {\n  grpc {\n    use_auto_cert = true\n  }\n}"
    assert [k for _, k, _ in _problems(tmp_path, grpc + auto)] == ["ports.grpc"]
    assert _problems(tmp_path, grpc + auto.replace("tls = true", "tls = false")) == []


def test_tls_stanza_findings_point_at_the_stanza_that_has_the_key(tmp_path: Path) -> None:
    got = _problems(tmp_path, S + "tls {\n  https {\n    verify_server_hostname = true\n  }\n}", "1.14")
    assert [k for _, k, _ in got] == ["tls.https.verify_server_hostname"]
    got = _problems(tmp_path, S + "tls {\n  internal_rpc {\n    use_auto_cert = true\n  }\n}")
    assert [k for _, k, _ in got] == ["tls.internal_rpc.use_auto_cert"]


def test_primary_datacenter_falls_back_to_acl_datacenter_and_to_the_datacenter(tmp_path: Path) -> None:
    word = "primary_datacenter can only contain lowercase alphanumeric, - or _ characters. received: "
    assert [m for _, _, m in _problems(tmp_path, S + 'acl_datacenter = "DC.0"')] == [word + '"dc.0"']
    assert _problems(tmp_path, S + 'primary_datacenter = ""\nacl_datacenter = "DC.0"') == []
    gateways = 'primary_gateways = ["10.0.0.9:8443"]\n'
    assert _problems(tmp_path, S + 'datacenter = "DC2"\nprimary_datacenter = "dc2"\n' + gateways)
    assert _problems(tmp_path, S + 'datacenter = "dc2"\nacl_datacenter = "dc1"\n' + gateways) == []


def test_datacenter_message_quotes_as_go_does(tmp_path: Path) -> None:
    p = tmp_path / "a.json"  # JSON: a real newline at the end; Go's $ is the end of the text, not of a line
    p.write_text(json.dumps({"server": True, "data_dir": "/d", "datacenter": "dc1\n"}))
    got = startup_problems(load_consul(p), "1.22")
    assert [m for _, _, m in got] == [
        'datacenter can only contain lowercase alphanumeric, - or _ characters. received: "dc1\\n"'
    ]
    got = _problems(tmp_path, S + 'datacenter = "dé 1"')
    assert got == [("VC018", "datacenter", 'datacenter can only contain lowercase alphanumeric, - or _ characters. '
                    'received: "dé 1"')]  # fmt: skip


def test_the_bootstrap_expect_warnings_need_a_server_not_in_bootstrap_mode(tmp_path: Path) -> None:
    assert not [r for r, _, _ in _problems(tmp_path, "server = false\nbootstrap_expect = 2") if r == "VC011"]
    got = _problems(tmp_path, S + "bootstrap_expect = 2\nbootstrap = true")
    assert [r for r, _, _ in got] == ["VC010"]  # the builder refuses before it warns
    client = _problems(tmp_path, "server = false\nbootstrap_expect = 1")  # warned and refused, as the builder does
    assert sorted(r for r, _, _ in client) == ["VC011", "VC016"]


# -- Go's formatting and parsing --------------------------------------------------------------------------------

DURATIONS = {  # time.ParseDuration (Go 1.26); None: an error
    "500ms": 500_000_000,
    "abc": None,
    "1.5h": 5400 * 10**9,
    "0": 0,
    "-5s": -5 * 10**9,
    "1h2m3.5s": 3723_500_000_000,
    "90m": 5400 * 10**9,
    ".5s": 500_000_000,
    "1.s": 10**9,
    "5": None,
    "": None,
    "-": None,
    ".s": None,
    "+3us": 3000,
    "3µs": 3000,
    "2μs": 2000,
    "2562047h47m16.854775807s": (1 << 63) - 1,
    "2562047h47m16.854775808s": None,
    "-2562047h47m16.854775808s": -(1 << 63),
    "1.0000000000000000000001s": 10**9,
    "0.1ns": 0,
    "5d": None,
    "1h 2m": None,
}


@pytest.mark.parametrize(("text", "ns"), DURATIONS.items())
def test_go_parse_duration(text: str, ns: int | None) -> None:
    assert go_parse_duration(text) == ns


def test_go_duration_string() -> None:
    got = [go_duration(d) for d in (10**9, 6 * 3600 * 10**9, 10 * 10**9, 900 * 10**9, 1_500_000, 999, 1_001_000, 0)]
    assert got == ["1s", "6h0m0s", "10s", "15m0s", "1.5ms", "999ns", "1.001ms", "0s"]
    assert [go_duration(d) for d in ((1 << 63) - 1, 3000, -5 * 10**9, 5400 * 10**9)] == [
        "2562047h47m16.854775807s",
        "3µs",
        "-5s",
        "1h30m0s",
    ]


def test_go_float_is_fmt_v() -> None:
    floats = (-1, 0, -1e-05, -0.5, -1e6, -123456, -1234567, -1e21, -1e20, 1.5e-4, -0.0001, 100)
    assert [go_float(float(f)) for f in floats] == [
        "-1", "0", "-1e-05", "-0.5", "-1e+06", "-123456", "-1.234567e+06", "-1e+21", "-1e+20", "0.00015",
        "-0.0001", "100",
    ]  # fmt: skip


def test_go_quote_is_strconv_quote() -> None:
    assert go_quote('é\x01\n\u200b"\\ \u00a0x\U0001f600\x7f') == '"é\\x01\\n\\u200b\\"\\\\ \\u00a0x😀\\x7f"'


# -- the provenance script (tests/data/validate/check_startup_sources.py, run by hand) ----------------------------

SCRIPT = Path(__file__).resolve().parents[2] / "data" / "validate" / "check_startup_sources.py"
GO = """
	if err := validateBasicName("primary_datacenter", rt.PrimaryDatacenter, true); err != nil {
		return fmt.Errorf("%s can only contain lowercase alphanumeric, - or _ characters."+
			" received: %q", field, value)
	if serverPort <= 0 {
		return RuntimeConfig{}, fmt.Errorf(
			"server-port must be greater than zero")
	}
"""


def test_the_provenance_script_joins_go_string_concatenations_and_wants_the_key_of_a_verb_first_wording() -> None:
    spec = importlib.util.spec_from_file_location("check_startup_sources", SCRIPT)
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = script.join_concatenations(GO)
    assert script.found(CHECKS["primary-datacenter-name"], text)
    assert not script.found(CHECKS["datacenter-name"], text)  # same words, but no "datacenter" argument here
    assert script.found(CHECKS["server-port-positive"], text)
    assert not script.found(CHECKS["serf-lan-port-positive"], text)
