"""History and redacted diffs: versions, paths, and two independent OpenBao servers."""

from __future__ import annotations

import json

import pytest

from clusterops.kv.client import VaultClient
from tests.integration.kv_helpers import Bao, Cli, write_versions


def test_history_shows_every_version_state_and_key_changes(cli: Cli, root: str, client: VaultClient) -> None:
    write_versions(client, f"{root}/h", {"a": "1"}, {"a": "2", "b": "x"}, {"b": "x"}, {"b": "y"})
    cli("kv", "delete", f"{root}/h", "--versions", "2")
    cli("kv", "destroy", f"{root}/h", "--versions", "3")
    code, out, _ = cli("kv", "history", f"{root}/h", "-f", "json")
    assert code == 0
    rows = json.loads(out)["versions"]
    assert [(r["version"], r["state"], r["current"]) for r in rows] == [
        (1, "live", False),
        (2, "deleted", False),
        (3, "destroyed", False),
        (4, "live", True),
    ]
    assert rows[1]["deletion_time"] and rows[2]["destroyed"]
    assert (rows[3]["compared_to"], rows[3]["added"], rows[3]["removed"]) == (1, ["b"], ["a"])
    code, out, _ = cli("kv", "history", f"{root}/h")
    assert code == 0 and "destroyed" in out and "4*" in out


def test_diff_versions_and_paths_redacted(cli: Cli, root: str, client: VaultClient) -> None:
    write_versions(
        client,
        f"{root}/d",
        {"keep": "same-1", "gone": "g", "chg": "old-v"},
        {"keep": "same-1", "chg": "new-v", "new": "n"},
    )
    code, out, _ = cli("kv", "diff", f"{root}/d", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    changes = {k["key"]: k["change"] for k in doc["keys"]}
    assert changes == {"chg": "changed", "gone": "removed", "keep": "unchanged", "new": "added"}
    assert doc["left"].endswith("@v1") and doc["right"].endswith("@v2")
    assert not any(v in out for v in ("same-1", "old-v", "new-v"))
    keep = next(k for k in doc["keys"] if k["key"] == "keep")
    assert keep["left"] == keep["right"] and keep["left"].startswith("hmac:")

    code, out, _ = cli("kv", "diff", f"{root}/d", "--from", "1", "--to", "2", "--show-values", "-f", "json")
    shown = {k["key"]: (k.get("left_value"), k.get("right_value")) for k in json.loads(out)["keys"]}
    assert shown["chg"] == ("old-v", "new-v")

    write_versions(client, f"{root}/other", {"keep": "same-1"})
    code, out, _ = cli("kv", "diff", f"{root}/d", f"{root}/other", "-f", "json", "--exit-code")
    assert code == 1
    assert {k["key"]: k["change"] for k in json.loads(out)["keys"]}["keep"] == "unchanged"
    assert cli("kv", "diff", f"{root}/other", f"{root}/other", "--exit-code")[0] == 0


def test_redact_key_from_env_makes_hashes_comparable_across_runs(
    cli: Cli, root: str, client: VaultClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_versions(client, f"{root}/r", {"k": "v1"})
    _, a, _ = cli("kv", "get", f"{root}/r", "-f", "json")
    _, b, _ = cli("kv", "get", f"{root}/r", "-f", "json")
    assert json.loads(a)["data"]["k"] != json.loads(b)["data"]["k"]  # a random key per run
    monkeypatch.setenv("CLUSTEROPS_REDACT_KEY", "shared-key")
    _, a, _ = cli("kv", "get", f"{root}/r", "-f", "json")
    _, b, _ = cli("kv", "get", f"{root}/r", "-f", "json")
    assert json.loads(a)["data"]["k"] == json.loads(b)["data"]["k"]


def test_diff_between_two_servers(cli: Cli, root: str, client: VaultClient, second_bao: Bao, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rel = root.split("/", 1)[1]
    write_versions(client, f"{root}/app/db", {"user": "app", "pass": "staging-pw"})
    write_versions(client, f"{root}/app/only-staging", {"x": "1"})
    with second_bao.client() as prod:
        write_versions(prod, f"secret/{rel}/app/db", {"user": "app", "pass": "prod-pw"})
        write_versions(prod, f"secret/{rel}/app/only-prod", {"y": "1"})
    tok = tmp_path / "tok"
    tok.write_text(second_bao.token)
    code, out, _ = cli(
        "kv", "diff", f"{root}/app/db", "--to-addr", second_bao.addr, "--to-token-file", str(tok), "-f", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert {k["key"]: k["change"] for k in doc["keys"]} == {"pass": "changed", "user": "unchanged"}
    assert second_bao.addr in doc["right"]
    code, out, _ = cli(
        "kv", "diff", f"{root}/app/", "--to-addr", second_bao.addr, "--to-token-file", str(tok), "-f", "json"
    )
    tree = json.loads(out)
    assert tree["only_left"] == ["only-staging"] and tree["only_right"] == ["only-prod"] and tree["changed"]
    assert "staging-pw" not in out and "prod-pw" not in out and second_bao.token not in out
