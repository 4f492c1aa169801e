from __future__ import annotations

import pytest

from clusterops.errors import UsageError
from clusterops.kv.model import SecretRef
from clusterops.kv.policy import COMMANDS, rules_for, to_hcl

REF = SecretRef("secret", "app/db", 2)


def test_single_secret_commands_name_the_kv_v2_api_paths() -> None:
    assert to_hcl(rules_for("get", REF)) == 'path "secret/data/app/db" {\n  capabilities = ["read"]\n}\n'
    assert [(r.path, r.capabilities) for r in rules_for("put", REF)] == [("secret/data/app/db", ("create", "update"))]
    assert rules_for("delete", REF, versions=True)[0].path == "secret/delete/app/db"
    assert rules_for("destroy", REF)[0].path == "secret/destroy/app/db"
    assert rules_for("metadata patch", REF)[0].capabilities == ("patch",)
    assert rules_for("patch", REF, method="patch")[0].capabilities == ("patch",)
    assert rules_for("get", SecretRef("kv1", "x", 1))[0].path == "kv1/x"


def test_tree_commands_cover_the_path_itself_and_below() -> None:
    paths = {r.path: r.capabilities for r in rules_for("move", REF, dst=SecretRef("secret", "new", 2))}
    assert paths["secret/metadata/app/db"] == ("read", "delete", "list")
    assert paths["secret/metadata/app/db/*"] == ("read", "delete", "list")
    assert paths["secret/data/new/*"] == ("create", "update")
    assert "secret/destroy/new" in paths


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_policy(command: str) -> None:
    dst = SecretRef("secret", "dst", 2) if command in ("copy", "move") else None
    assert rules_for(command, REF, dst=dst)


def test_unknown_command() -> None:
    with pytest.raises(UsageError, match="no policy known"):
        rules_for("frobnicate", REF)
