"""Target Consul release: key sets per release line, deprecations, unknown keys as errors, start-up checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.errors import UsageError
from clusterops.findings import Severity
from clusterops.validate.consul_releases import NEWEST, RELEASES, keys_for, parse_release
from clusterops.validate.consul_startup import STARTUP_CHECKS
from clusterops.validate.run import validate_consul

BASE = 'server = true\nbootstrap_expect = 3\ndata_dir = "/var/lib/consul"\nbind_addr = "10.0.0.1"\n'


def _run(tmp_path: Path, text: str, **kw: str) -> list[tuple[str, Severity, str]]:
    p = tmp_path / "s1.hcl"
    p.write_text(BASE + text + "\n")
    report = validate_consul([str(p)], **kw)  # type: ignore[arg-type]
    return [(f.rule_id, f.severity, f.message) for f in report.findings if f.rule_id not in ("VC015",)]


def test_unknown_key_is_an_error_by_default_and_a_warning_on_request(tmp_path: Path) -> None:
    assert _run(tmp_path, 'bind_adr = "10.0.0.1"') == [
        ("VC002", Severity.ERROR, "invalid config key bind_adr (did you mean bind_addr?)")
    ]
    assert _run(tmp_path, 'bind_adr = "10.0.0.1"', unknown_keys="warn") == [
        ("VC027", Severity.WARNING, "invalid config key bind_adr (did you mean bind_addr?)")
    ]


def test_key_added_in_1_14_is_an_error_for_1_13_only(tmp_path: Path) -> None:
    text = 'addresses {\n  grpc_tls = "127.0.0.1"\n}'
    assert _run(tmp_path, text, consul_version="1.13.9") == [
        (
            "VC002",
            Severity.ERROR,
            "invalid config key addresses.grpc_tls (added in Consul 1.14; the target is Consul 1.13)",
        )
    ]
    assert _run(tmp_path, text, consul_version="1.14.11") == []
    assert _run(tmp_path, text) == []


def test_start_join_is_deprecated_from_1_15_with_its_replacement(tmp_path: Path) -> None:
    text = 'start_join = ["10.0.0.2"]'
    assert _run(tmp_path, text, consul_version="1.14") == []
    assert _run(tmp_path, text, consul_version="1.15.2") == [
        ("VC026", Severity.WARNING, "The 'start_join' field is deprecated. Use the 'retry_join' field instead.")
    ]


def test_raft_logstore_exists_from_1_15(tmp_path: Path) -> None:
    text = 'raft_logstore {\n  backend = "wal"\n}'
    assert [r for r, _, _ in _run(tmp_path, text, consul_version="1.14")] == ["VC002"]
    assert _run(tmp_path, text, consul_version="1.15") == []


def test_grpc_port_with_tls_is_refused_from_1_14(tmp_path: Path) -> None:
    text = 'ports {\n  grpc = 8502\n}\ntls {\n  defaults {\n    cert_file = "/c.pem"\n    key_file = "/k.pem"\n  }\n}'
    assert _run(tmp_path, text, consul_version="1.13") == []
    got = _run(tmp_path, text, consul_version="1.14")
    assert [r for r, _, _ in got] == ["VC028"] and "`ports.grpc` listener no longer supports TLS" in got[0][2]


@pytest.mark.parametrize(
    ("given", "line"), [("1.13.9", "1.13"), ("v1.14.3", "1.14"), ("1.15", "1.15"), ("1.21.0", NEWEST)]
)
def test_parse_release(given: str, line: str) -> None:
    assert parse_release(given) == line


@pytest.mark.parametrize("bad", ["1.12.0", "latest", "1"])
def test_bad_version_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError, match="--consul-version"):
        _run(tmp_path, "", consul_version=bad)


def test_every_release_tree_keeps_the_address_keys() -> None:
    for line in RELEASES:
        tree = keys_for(line)
        assert {"bind_addr", "advertise_addr", "retry_join", "ports", "addresses"} <= set(tree)


@pytest.mark.parametrize("check", STARTUP_CHECKS, ids=lambda c: c.name)
def test_every_startup_check_has_a_doc_a_passing_and_a_failing_case(tmp_path: Path, check: object) -> None:
    from clusterops.validate.catalog import RULES
    from clusterops.validate.consul_startup import StartupCheck
    from clusterops.validate.load import load_consul

    assert isinstance(check, StartupCheck) and check.doc and check.rule in RULES
    for text, fails in ((check.passing, False), (check.failing, True)):
        p = tmp_path / "a.hcl"
        p.write_text(f'data_dir = "/d"\nbind_addr = "10.0.0.1"\n{text}\n')
        node = load_consul(p, release=check.since)
        message = check.check(node)
        assert (message is not None) is fails, (check.name, text)
        report = validate_consul([str(p)], consul_version=check.since)
        assert not [f for f in report.findings if f.rule_id in ("VC001", "VC002")], report.findings
        if message is not None:
            assert any(f.rule_id == check.rule and f.message == message for f in report.findings), report.findings


def test_removed_key_consul_still_tolerates_only_warns(tmp_path: Path) -> None:
    # builder.go (1.13, 1.14): md.Unused "acl_enforce_version_8" is a warning, not "invalid config key"
    assert _run(tmp_path, "acl_enforce_version_8 = false") == [
        ("VC026", Severity.WARNING, 'config key "acl_enforce_version_8" is deprecated and should be removed')
    ]
