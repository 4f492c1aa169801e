"""The printed KV policies (their effect is proven on a real server in test_tls_acl.py)."""

from __future__ import annotations

import pytest

from clusterops.errors import UsageError
from clusterops.kv.policy import render, stanzas


def test_each_command_gets_its_own_sub_path_and_capabilities() -> None:
    assert [(s.path, s.capabilities) for s in stanzas("get", ["secret/app/db"])] == [("secret/data/app/db", ("read",))]
    assert stanzas("put", ["secret/app/db"])[0].capabilities == ("create", "update")
    assert stanzas("metadata get", ["secret/app/db"])[0].path == "secret/metadata/app/db"
    assert stanzas("delete-versions", ["kv/x"])[0].path == "kv/delete/x"
    assert stanzas("list", ["secret/app"])[0].path == "secret/metadata/app/"  # LIST checks the trailing slash


def test_paths_share_stanzas_and_mount_and_kv1_are_honoured() -> None:
    both = stanzas("rollback", ["secret/a"])
    assert [(s.path, s.capabilities) for s in both] == [
        ("secret/metadata/a", ("read",)),
        ("secret/data/a", ("read", "update")),
    ]
    assert stanzas("get", ["team/app"], mount="kv/team")[0].path == "kv/team/data/team/app"
    assert stanzas("get", ["old/app"], kv_version=1)[0].path == "old/app"
    assert 'path "secret/data/app/db" {\n  capabilities = ["read"]\n}' in render("get", ["secret/app/db"])


def test_a_folder_for_a_secret_command_and_a_bare_mount_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="is a folder"):
        stanzas("get", ["secret/app/"])
    with pytest.raises(UsageError, match="MOUNT/PATH"):
        stanzas("get", ["secret"])
