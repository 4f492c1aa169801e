"""The JSON documents of the kv commands are shaped next to their dataclasses; values stay hidden."""

from __future__ import annotations

import json

from clusterops.kv.history import History, HistoryEntry
from clusterops.kv.model import SecretMetadata, SecretRef, SecretVersion, Subkeys, VersionInfo, WriteResult
from clusterops.kv.redact import Redactor

REF = SecretRef("secret", "app/db")


def test_a_version_document_hides_values_unless_asked() -> None:
    sv = SecretVersion(REF, VersionInfo(3, created_time="2026-01-01T00:00:00Z"), {"pw": "hunter2"}, {"owner": "a"})
    redactor = Redactor.from_env()
    hidden = sv.to_dict(redactor.digest)
    assert "hunter2" not in json.dumps(hidden)
    assert hidden["data"] == {"pw": redactor.digest("hunter2")} and hidden["values"] == "hidden (keyed hashes)"
    assert hidden["path"] == "secret/app/db" and hidden["version"] == 3 and hidden["custom_metadata"] == {"owner": "a"}
    shown = sv.to_dict(None)
    assert shown["data"] == {"pw": "hunter2"} and shown["values"] == "shown"
    assert SecretVersion(REF, VersionInfo(4, destroyed=True)).to_dict(None)["data"] is None


def test_metadata_history_write_and_subkeys_documents() -> None:
    meta = SecretMetadata(REF, current_version=2, versions=(VersionInfo(1, deletion_time="2000-01-01T00:00:00Z"),))
    doc = meta.to_dict()
    assert doc["versions"] == {
        "1": {"created_time": "", "deletion_time": "2000-01-01T00:00:00Z", "destroyed": False, "state": "deleted"}
    }
    history = History(meta, (HistoryEntry(VersionInfo(2), current=True, added=("k",), compared_to=1),))
    assert history.to_dict()["versions"][0] | {"created_time": ""} == {
        "version": 2, "state": "live", "current": True, "created_time": "", "deletion_time": "",
        "destroyed": False, "compared_to": 1, "added": ["k"], "removed": [], "changed": [],
    }  # fmt: skip
    assert WriteResult(REF, 5, "t").to_dict() == {"path": "secret/app/db", "version": 5, "created_time": "t"}
    assert Subkeys(REF, 5, {"a": None}).to_dict() == {"path": "secret/app/db", "version": 5, "subkeys": {"a": None}}
