"""Target Consul release: key sets per release line, deprecations, unknown keys as errors, start-up checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.errors import UsageError
from clusterops.findings import Severity
from clusterops.validate.consul_keys import MODULE, SOURCES
from clusterops.validate.consul_releases import (
    CHANGES,
    NEWEST,
    RELEASES,
    REMOVED,
    changes_for,
    deprecations_for,
    keys_for,
    parse_release,
    parse_version,
    why_unknown,
)
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
    ("given", "line"),
    [
        ("1.13.9", "1.13"),
        ("v1.14.3", "1.14"),
        ("1.14.11+ent", "1.14"),
        ("1.15", "1.15"),
        ("1.20.6", "1.20"),
        ("1.22.7", "1.22"),
        ("1.99.0", NEWEST),  # newer than we know: the newest key set
        ("2.0.1", NEWEST),
    ],
)
def test_parse_release(given: str, line: str) -> None:
    assert parse_release(given) == line


def test_a_version_newer_than_we_know_keeps_the_unknown_keys_escape(tmp_path: Path) -> None:
    text = "some_key_of_a_future_release = true"
    assert [r for r, _, _ in _run(tmp_path, text, consul_version="1.99.0")] == ["VC002"]
    assert [r for r, _, _ in _run(tmp_path, text, consul_version="1.99.0", unknown_keys="warn")] == ["VC027"]


def test_every_line_from_1_13_to_the_newest_on_the_proxy_is_known() -> None:
    assert RELEASES == ("1.13", "1.14", "1.15", "1.16", "1.17", "1.18", "1.19", "1.20", "1.21", "1.22")
    assert NEWEST == "1.22" and SOURCES["1.22"][0] == "v1.22.7"
    # the two lines that run here are described by the very releases the differential test runs
    assert (SOURCES["1.13"][0], SOURCES["1.14"][0]) == ("v1.13.9", "v1.14.11")


def test_every_fact_names_its_source_module_version_and_file() -> None:
    assert CHANGES
    for change in CHANGES:
        assert change.release in RELEASES
        assert f"{MODULE}@v{change.release}." in change.source, change
        assert "agent/config/" in change.source, change


# line -> (a key that line added, a key that existed before it, for which the line changed nothing)
ADDED_BY_LINE = {
    "1.14": 'addresses {\n  grpc_tls = "127.0.0.1"\n}',
    "1.15": 'raft_logstore {\n  backend = "wal"\n}',
    "1.16": 'locality {\n  region = "eu-west-1"\n}',
    "1.17": 'acl {\n  tokens {\n    dns = "x"\n  }\n}',
    "1.18": 'default_intention_policy = "deny"',
    "1.19": "telemetry {\n  disable_per_tenancy_usage_metrics = true\n}",
    "1.21": "raft_prevote_disabled = true",
    "1.22": "disable_kv_key_validation = true",
}


@pytest.mark.parametrize("line", sorted(ADDED_BY_LINE))
def test_a_key_added_by_each_line_is_refused_by_the_line_before(tmp_path: Path, line: str) -> None:
    text = ADDED_BY_LINE[line]
    before = RELEASES[RELEASES.index(line) - 1]
    got = _run(tmp_path, text, consul_version=before)
    assert [(r, s) for r, s, _ in got] == [("VC002", Severity.ERROR)]
    assert f"(added in Consul {line}; the target is Consul {before})" in got[0][2]
    assert _run(tmp_path, text, consul_version=line) == []
    assert _run(tmp_path, text, consul_version=NEWEST) == []
    assert any(c.kind == "added" and c.release == line for c in changes_for(line))


def test_1_20_added_no_key() -> None:
    assert not [c for c in changes_for("1.20") if c.kind in ("added", "removed")]
    assert keys_for("1.20") == keys_for("1.19")


def test_connect_enable_serverless_plugin_was_removed_in_1_15(tmp_path: Path) -> None:
    # 1.15.0 CHANGELOG: "xds: Remove the `connect.enable_serverless_plugin` agent configuration option"
    assert REMOVED == {"connect.enable_serverless_plugin": "1.15"}
    text = "connect {\n  enable_serverless_plugin = true\n}"
    assert _run(tmp_path, text, consul_version="1.14.11") == [
        (
            "VC026",
            Severity.WARNING,
            "config key connect.enable_serverless_plugin is removed in Consul 1.15 (the target is Consul 1.14): "
            "Consul 1.15 and later refuse it ('invalid config key')",
        )
    ]
    for line in RELEASES[RELEASES.index("1.15") :]:
        assert _run(tmp_path, text, consul_version=line) == [
            (
                "VC002",
                Severity.ERROR,
                "invalid config key connect.enable_serverless_plugin "
                f"(removed in Consul 1.15; the target is Consul {line})",
            )
        ]


@pytest.mark.parametrize("line", RELEASES)
def test_deprecations_in_force_per_line(tmp_path: Path, line: str) -> None:
    deps = deprecations_for(line)
    assert deps["acl_token"].replacement == "acl.tokens.default" and deps["acl_token"].since == "1.13"
    assert deps["tls_prefer_server_cipher_suites"].replacement is None
    assert _run(tmp_path, 'acl_token = "x"', consul_version=line) == [
        ("VC026", Severity.WARNING, "The 'acl_token' field is deprecated. Use the 'acl.tokens.default' field instead.")
    ]
    joins = {"start_join": "retry_join", "start_join_wan": "retry_join_wan", "raft_boltdb": "raft_logstore.boltdb"}
    if line < "1.15" and len(line) == len("1.15"):
        assert not set(joins) & set(deps)
    else:
        assert {k: deps[k].replacement for k in joins} == joins
        assert all(deps[k].since == "1.15" and deps[k].source.endswith("agent/config/deprecated.go") for k in joins)


def test_start_join_is_deprecated_not_removed_up_to_the_newest_line(tmp_path: Path) -> None:
    # deprecated in 1.15 (deprecated.go, CHANGELOG "Deprecate ... start_join"); still decoded by 1.22.7
    assert "start_join" not in REMOVED and "start_join" in keys_for(NEWEST)
    assert _run(tmp_path, 'start_join = ["10.0.0.2"]', consul_version=NEWEST) == [
        ("VC026", Severity.WARNING, "The 'start_join' field is deprecated. Use the 'retry_join' field instead.")
    ]


def test_retry_join_ec2_and_azure_are_not_keys_of_any_line_we_know(tmp_path: Path) -> None:
    # removed in Consul 1.0.0 (CHANGELOG), long before 1.13: unknown keys, with no release to name
    for line in RELEASES:
        assert not {"retry_join_ec2", "retry_join_azure", "retry_join_gce"} & set(keys_for(line))
    assert why_unknown("retry_join_ec2", "1.13") is None
    assert [r for r, _, _ in _run(tmp_path, 'retry_join_ec2 = { tag_key = "k" }', consul_version="1.13")] == ["VC002"]


def test_raft_boltdb_takes_the_go_field_name_as_mapstructure_does(tmp_path: Path) -> None:
    # consul.RaftBoltDBConfig has an untagged NoFreelistSync field: mapstructure matches its name, any case
    assert keys_for("1.14")["raft_boltdb"] == {"nofreelistsync": "bool"}
    assert _run(tmp_path, "raft_boltdb {\n  NoFreelistSync = true\n}", consul_version="1.14") == []
    got = _run(tmp_path, "raft_boltdb {\n  no_freelist_sync = true\n}", consul_version="1.14")
    assert [r for r, _, _ in got] == ["VC002"]


def test_a_key_a_patch_release_added_depends_on_the_patch(tmp_path: Path) -> None:
    # server_rejoin_age_max: in 1.15.10's config.go, not in 1.15.0's
    text = 'server_rejoin_age_max = "168h"'
    assert parse_version("1.15.3").patch == 3 and parse_version("1.15").patch is None
    assert _run(tmp_path, text, consul_version="1.15.0") == [
        (
            "VC002",
            Severity.ERROR,
            "invalid config key server_rejoin_age_max (added in a Consul 1.15 patch release after 1.15.0; "
            "the target is Consul 1.15.0)",
        )
    ]
    got = _run(tmp_path, text, consul_version="1.15.3")
    assert [(r, s) for r, s, _ in got] == [("VC029", Severity.WARNING)]
    assert "added in a Consul 1.15 patch release after 1.15.0 (it is in 1.15.10)" in got[0][2]
    assert _run(tmp_path, text, consul_version="1.15.10") == []
    assert _run(tmp_path, text, consul_version="1.15") == []
    assert [r for r, _, _ in _run(tmp_path, text, consul_version="1.14.11")] == ["VC002"]


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
