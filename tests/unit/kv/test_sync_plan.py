from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.errors import ConfigError
from clusterops.kv.desired import DesiredSecret, DesiredState, load_desired
from clusterops.kv.redact import Redactor
from clusterops.kv.sync import LiveSecret, SyncPlan, make_plan, required_capabilities


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
    round_trip = SyncPlan.from_dict(plan.to_dict())
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
        ("mount: [\n", "not valid YAML"),
    ],
)
def test_load_desired_errors(tmp_path: Path, body: str, match: str) -> None:
    y = tmp_path / "s.yaml"
    y.write_text(body)
    with pytest.raises(ConfigError, match=match):
        load_desired(y, env={}, read_stdin=lambda: "")
