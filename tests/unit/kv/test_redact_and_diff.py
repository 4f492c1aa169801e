from __future__ import annotations

from clusterops.kv.diff import Change, diff_data
from clusterops.kv.model import SecretRef, SecretVersion, VersionInfo
from clusterops.kv.redact import Redactor


def test_keyed_hash_is_stable_per_key_and_hides_the_value() -> None:
    r = Redactor(b"k1")
    assert r.digest("s3cret") == r.digest("s3cret") != Redactor(b"k2").digest("s3cret")
    assert r.digest("s3cret").startswith("hmac:") and "s3cret" not in r.digest("s3cret")
    assert r.digest({"a": 1, "b": 2}) == r.digest({"b": 2, "a": 1})
    assert "k1" not in repr(r)


def test_random_key_per_run_unless_env() -> None:
    assert Redactor().digest("x") != Redactor().digest("x")
    env = {"CLUSTEROPS_REDACT_KEY": "shared"}
    assert Redactor.from_env(env).digest("x") == Redactor.from_env(env).digest("x")
    assert Redactor.from_env(env).key_from_env


def test_diff_data_classifies_every_key() -> None:
    d = diff_data({"same": "1", "gone": "2", "chg": "3"}, {"same": "1", "chg": "4", "new": "5"}, Redactor())
    assert {k.key: k.change for k in d.keys} == {
        "chg": Change.CHANGED,
        "gone": Change.REMOVED,
        "new": Change.ADDED,
        "same": Change.UNCHANGED,
    }
    assert d.changed and d.counts() == {"added": 1, "removed": 1, "changed": 1, "unchanged": 1}
    doc = d.to_dict()
    assert "3" not in str(doc["keys"]) or all("left_value" not in k for k in doc["keys"])
    assert d.to_dict(show_values=True)["keys"][0]["left_value"] == "3"


def test_state_change_alone_is_a_change() -> None:
    assert diff_data(None, None, Redactor(), left_state="live", right_state="deleted").changed
    assert not diff_data({"a": "1"}, {"a": "1"}, Redactor()).changed


def test_secret_values_never_in_repr() -> None:
    sv = SecretVersion(SecretRef("secret", "x"), VersionInfo(1), {"pw": "hunter2"})
    assert "hunter2" not in repr(sv)
    kd = diff_data({"pw": "hunter2"}, {"pw": "hunter3"}, Redactor()).keys[0]
    assert "hunter2" not in repr(kd)


def test_future_deletion_time_is_still_live() -> None:
    assert VersionInfo(1, deletion_time="2999-01-01T00:00:00.123Z").state == "live"
    assert VersionInfo(1, deletion_time="2001-01-01T00:00:00Z").state == "deleted"
    assert VersionInfo(1, deletion_time="2001-01-01T00:00:00Z", destroyed=True).state == "destroyed"
