from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.errors import ConfigError, UnsafePlan
from clusterops.kv.desired import DesiredSecret, DesiredState, load_desired
from clusterops.kv.redact import Redactor
from clusterops.kv.sync import (
    LiveSecret,
    SyncPlan,
    binding_differences,
    check_binding,
    load_plan,
    make_plan,
    required_capabilities,
    save_plan,
)


def _desired(*secrets: DesiredSecret) -> DesiredState:
    return DesiredState("secret", secrets)


def test_plan_create_update_unchanged_by_keyed_hashes() -> None:
    r = Redactor()
    desired = _desired(
        DesiredSecret("new", {"a": "1"}),
        DesiredSecret("same", {"a": "1"}),
        DesiredSecret("chg", {"a": "2", "b": "3"}),
    )
    live = [
        LiveSecret("same", 4, "live", r.digest_map({"a": "1"})),
        LiveSecret("chg", 2, "live", r.digest_map({"a": "1", "c": "9"})),
    ]
    plan = make_plan(desired, live, r)
    items = {i.path: i for i in plan.items}
    assert (items["new"].action, items["new"].version, items["new"].added) == ("create", 0, ("a",))
    assert (items["same"].action, items["same"].version) == ("unchanged", 4)
    c = items["chg"]
    assert (c.action, c.version, c.added, c.removed, c.changed) == ("update", 2, ("b",), ("c",), ("a",))
    assert plan.drift and plan.summary() == {"create": 1, "update": 1, "unchanged": 1}
    round_trip = SyncPlan.from_dict(plan.to_dict(binding=True))
    assert {i.path: i.version for i in round_trip.changes} == {"new": 0, "chg": 2}
    assert round_trip.changes[0].changed == ("a",) or round_trip.changes[1].changed == ("a",)


def test_deleted_latest_is_rewritten_and_metadata_compared_semantically() -> None:
    r = Redactor()
    desired = _desired(
        DesiredSecret("del", {"a": "1"}),
        DesiredSecret("meta", {"a": "1"}, {"delete_version_after": "1h", "max_versions": 5}),
    )
    live = [
        LiveSecret("del", 3, "deleted", None),
        LiveSecret("meta", 1, "live", r.digest_map({"a": "1"}), {"delete_version_after": "1h0m0s", "max_versions": 4}),
    ]
    items = {i.path: i for i in make_plan(desired, live, r).items}
    assert items["del"].action == "update" and items["del"].writes_data and items["del"].version == 3
    assert items["meta"].metadata == {"max_versions": (4, 5)}
    assert not items["meta"].writes_data


def test_in_sync_means_no_drift() -> None:
    r = Redactor()
    plan = make_plan(
        _desired(DesiredSecret("a", {"k": "v"})), [LiveSecret("a", 1, "live", r.digest_map({"k": "v"}))], r
    )
    assert not plan.drift and required_capabilities(plan) == {}


def test_required_capabilities() -> None:
    r = Redactor()
    desired = _desired(DesiredSecret("n", {"a": "1"}, {"max_versions": 2}), DesiredSecret("u", {"a": "2"}))
    plan = make_plan(desired, [LiveSecret("u", 1, "live", r.digest_map({"a": "1"}))], r)
    assert required_capabilities(plan) == {
        "secret/data/n": "create",
        "secret/metadata/n": "update",
        "secret/data/u": "update",
    }


def test_load_desired_sources(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("from-file\n")
    y = tmp_path / "s.yaml"
    y.write_text(
        "mount: secret\nsecrets:\n  app/x:\n    data:\n      lit: v\n      e: {env: E}\n      f: {file: f}\n"
        "      s: {stdin: s}\n    metadata: {custom_metadata: {owner: 7}, delete_version_after: 0}\n"
    )
    state = load_desired(y, env={"E": "from-env"}, read_stdin=lambda: '{"s": "from-stdin"}')
    [s] = state.secrets
    assert dict(s.data) == {"lit": "v", "e": "from-env", "f": "from-file", "s": "from-stdin"}
    assert s.metadata == {"custom_metadata": {"owner": "7"}, "delete_version_after": "0"}
    assert "from-env" not in repr(s)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("secrets: {}\n", "mount"),
        ("mount: s\nsecrets:\n  a: {data: {k: {env: NOPE}}}\n", "NOPE is not set"),
        ("mount: s\nsecrets:\n  a: {data: {k: {file: missing}}}\n", "cannot read"),
        ("mount: s\nsecrets:\n  a: {data: {k: {weird: 1}}}\n", "a literal or one of"),
        ("mount: s\nsecrets:\n  a: {data: {}, metadata: {bogus: 1}}\n", "metadata takes only"),
        ("mount: s\nextra: 1\n", "unknown top-level"),
        ("mount: s\nsecrets:\n  a/../b: {data: {k: v}}\n", "not a secret path"),
        ("mount: s\nsecrets:\n  a//b: {data: {k: v}}\n", "not a secret path"),
        ("mount: [\n", "not valid YAML"),
    ],
)
def test_load_desired_errors(tmp_path: Path, body: str, match: str) -> None:
    y = tmp_path / "s.yaml"
    y.write_text(body)
    with pytest.raises(ConfigError, match=match):
        load_desired(y, env={}, read_stdin=lambda: "")


# -- a saved plan binds what was reviewed -----------------------------------------------------

ADDR = "http://127.0.0.1:8200"


def _bound_plan(*secrets: DesiredSecret, namespace: str = "ns1") -> SyncPlan:
    r = Redactor()
    return make_plan(_desired(*secrets), [], r, address=ADDR, namespace=namespace)


def test_saved_plan_round_trips_its_binding_and_holds_no_value(tmp_path: Path) -> None:
    plan = _bound_plan(DesiredSecret("a", {"pw": "hunter2-secret"}, {"max_versions": 3}))
    save_plan(plan, tmp_path / "p.json")
    text = (tmp_path / "p.json").read_text()
    assert "hunter2-secret" not in text
    loaded = load_plan(tmp_path / "p.json")
    assert loaded.key == plan.key and loaded.bound == plan.bound
    want = _desired(DesiredSecret("a", {"pw": "hunter2-secret"}, {"max_versions": 3}))
    assert binding_differences(loaded, want, address=ADDR + "/", namespace="ns1/") == []
    printed = str(plan.to_dict())
    assert "binding" not in printed and "hunter2-secret" not in printed


@pytest.mark.parametrize(
    ("now", "address", "namespace", "reason"),
    [
        (DesiredSecret("a", {"pw": "other"}, {"max_versions": 3}), ADDR, "ns1", "a: key pw differs"),
        (DesiredSecret("a", {}, {"max_versions": 3}), ADDR, "ns1", "a: key pw was planned, is no longer desired"),
        (DesiredSecret("a", {"pw": "x", "n": "1"}, {"max_versions": 3}), ADDR, "ns1", "a: key n is desired"),
        (DesiredSecret("a", {"pw": "x"}, {"max_versions": 4}), ADDR, "ns1", "metadata field max_versions differs"),
        (DesiredSecret("a", {"pw": "x"}, {}), ADDR, "ns1", "metadata field max_versions was planned"),
        (DesiredSecret("a", {"pw": "x"}, {"max_versions": 3}), "http://127.0.0.2:8200", "ns1", "made against"),
        (DesiredSecret("a", {"pw": "x"}, {"max_versions": 3}), ADDR, "", "namespace ns1, not (root)"),
        (DesiredSecret("b", {"pw": "x"}, {"max_versions": 3}), ADDR, "ns1", "a: planned, no longer"),
    ],
)
def test_a_saved_plan_refuses_anything_it_did_not_plan(
    now: DesiredSecret, address: str, namespace: str, reason: str
) -> None:
    plan = _bound_plan(DesiredSecret("a", {"pw": "x"}, {"max_versions": 3}))
    with pytest.raises(UnsafePlan, match="nothing was written") as err:
        check_binding(plan, _desired(now), address=address, namespace=namespace)
    assert reason in err.value.message
    assert "other" not in err.value.message  # a value is never named


def test_each_plan_has_its_own_key() -> None:
    a = _bound_plan(DesiredSecret("a", {"pw": "x"}))
    b = _bound_plan(DesiredSecret("a", {"pw": "x"}))
    assert a.key != b.key and a.bound["a"]["data"]["pw"] != b.bound["a"]["data"]["pw"]


# -- desired-state values are strings ----------------------------------------------------------


def test_yaml_scalars_stay_the_strings_written(tmp_path: Path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text(
        "mount: secret\nsecrets:\n  app:\n    data:\n      pin: 0123\n      yes_: yes\n      ver: 1.10\n"
        "      hex: 0x1F\n      day: 2024-01-02\n      off: off\n      quoted: '007'\n      port: !!int 5432\n"
        "      1: one\n    metadata: {max_versions: 07, cas_required: true, delete_version_after: 1h}\n"
    )
    [s] = load_desired(y, env={}, read_stdin=lambda: "").secrets
    assert dict(s.data) == {
        "pin": "0123", "yes_": "yes", "ver": "1.10", "hex": "0x1F", "day": "2024-01-02", "off": "off",
        "quoted": "007", "port": 5432, "1": "one",
    }  # fmt: skip
    assert s.metadata == {"max_versions": 7, "cas_required": True, "delete_version_after": "1h"}


@pytest.mark.parametrize(
    ("data", "line", "match"),
    [
        ("      a: x\n      empty:\n", 6, "empty: has no value"),
        ("      nul: ~\n", 5, "has no value"),
        ("      d: !!timestamp 2024-01-02\n", 5, "is not a JSON value"),
    ],
)
def test_ambiguous_values_are_refused_with_their_line(tmp_path: Path, data: str, line: int, match: str) -> None:
    y = tmp_path / "s.yaml"
    y.write_text("mount: secret\nsecrets:\n  app:\n    data:\n" + data)
    with pytest.raises(ConfigError, match=match) as err:
        load_desired(y, env={}, read_stdin=lambda: "")
    assert err.value.line == line and f"s.yaml:{line}:" in err.value.message


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ("{max_versions: five}", "not a whole number"),
        ("{cas_required: yes}", "not true or false"),
        ("{delete_version_after: soon}", "not a duration"),
        ("{custom_metadata: {owner: ~}}", "must be a string"),
    ],
)
def test_metadata_types_are_checked_with_the_line(tmp_path: Path, meta: str, match: str) -> None:
    y = tmp_path / "s.yaml"
    y.write_text(f"mount: secret\nsecrets:\n  app:\n    data: {{k: v}}\n    metadata: {meta}\n")
    with pytest.raises(ConfigError, match=match) as err:
        load_desired(y, env={}, read_stdin=lambda: "")
    assert err.value.line == 5
