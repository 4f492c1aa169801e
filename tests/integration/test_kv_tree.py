"""Tree operations on the real server: recursive list, copy/move (with history), recursive delete, search."""

from __future__ import annotations

import json

from clusterops.kv.client import VaultClient
from clusterops.kv.tree import walk
from tests.integration.kv_helpers import Bao, Cli, restricted_token, write_versions


def _seed(client: VaultClient, root: str) -> None:
    write_versions(client, f"{root}/src/a", {"k": "a1"}, {"k": "a2"})
    write_versions(client, f"{root}/src/dir/b", {"user": "bob", "token": "tok-b"})
    write_versions(client, f"{root}/src/dir/deep/c", {"k": "c1"})


def test_tree_with_scan_and_with_list_fallback(cli: Cli, bao: Bao, root: str, client: VaultClient) -> None:
    _seed(client, root)
    code, out, _ = cli("kv", "tree", f"{root}/src", "-f", "json")
    assert code == 0 and json.loads(out) == [f"{root}/src/a", f"{root}/src/dir/b", f"{root}/src/dir/deep/c"]
    ref = client.resolve(f"{root}/src")
    assert walk(client, ref, use_scan=False) == walk(client, ref) == ["a", "dir/b", "dir/deep/c"]
    # A token that may list but not scan still gets the whole tree (LIST level by level).
    rel = root.split("/", 1)[1]
    token = restricted_token(
        bao, f"list-{rel}", f'path "secret/metadata/{rel}/*" {{ capabilities = ["list"] }}\n'
        'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }',
    )  # fmt: skip
    code, out, err = cli("kv", "tree", f"{root}/src", "-f", "json", token=token)
    assert code == 0, err
    assert len(json.loads(out)) == 3


def test_copy_latest_and_all_versions_with_states_and_metadata(cli: Cli, root: str, client: VaultClient) -> None:
    _seed(client, root)
    src_a = client.resolve(f"{root}/src/a")
    write_versions(client, f"{root}/src/a", {"k": "a3"})
    client.delete_versions(src_a, [2])
    client.destroy_versions(src_a, [1])
    client.write_metadata(src_a, {"custom_metadata": {"owner": "team-a"}, "max_versions": 7})

    code, out, _ = cli("kv", "copy", f"{root}/src", f"{root}/latest", "-f", "json")
    assert code == 0 and len(json.loads(out)["secrets"]) == 3
    meta = client.read_metadata(client.resolve(f"{root}/latest/a"))
    assert meta.current_version == 1 and client.read_version(meta.ref).data == {"k": "a3"}

    code, out, _ = cli("kv", "copy", f"{root}/src", f"{root}/full", "--all-versions")
    assert code == 0 and "copied 3 secret(s)" in out and "soft-deleted" in out and "destroyed" in out
    full = client.read_metadata(client.resolve(f"{root}/full/a"))
    assert [v.state for v in full.versions] == ["destroyed", "deleted", "live"]
    assert (full.max_versions, dict(full.custom_metadata)) == (7, {"owner": "team-a"})
    assert client.read_version(full.ref).data == {"k": "a3"}
    # An existing destination is refused without --force.
    code, out, err = cli("kv", "copy", f"{root}/src", f"{root}/full")
    assert code == 1 and "already exists" in err
    assert cli("kv", "copy", f"{root}/src/a", f"{root}/full/a", "--force")[0] == 0
    assert client.read_metadata(full.ref).current_version == 4


def test_copy_between_servers_and_move(cli: Cli, root: str, client: VaultClient, second_bao: Bao, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _seed(client, root)
    tok = tmp_path / "tok"
    tok.write_text(second_bao.token)
    code, _, err = cli(
        "kv", "copy", f"{root}/src", f"{root}/copied", "--all-versions", "--to-addr", second_bao.addr,
        "--to-token-file", str(tok),
    )  # fmt: skip
    assert code == 0, err
    with second_bao.client() as other:
        assert walk(other, other.resolve(f"{root}/copied")) == ["a", "dir/b", "dir/deep/c"]
        assert other.read_metadata(other.resolve(f"{root}/copied/a")).current_version == 2
    code, _, _ = cli("kv", "move", f"{root}/src/dir", f"{root}/moved")
    assert code == 0
    assert walk(client, client.resolve(f"{root}/moved")) == ["b", "deep/c"]
    assert walk(client, client.resolve(f"{root}/src")) == ["a"]


def test_recursive_delete_plans_then_confirms(cli: Cli, root: str, client: VaultClient) -> None:
    _seed(client, root)
    code, out, _ = cli("kv", "delete", f"{root}/src", "-r", "--dry-run")
    assert code == 0 and "3 secret(s)" in out and f"{root}/src/dir/deep/c" in out
    assert client.read_version(client.resolve(f"{root}/src/a")).data is not None
    code, _, err = cli("kv", "delete", f"{root}/src", "-r")  # stdin is not a terminal
    assert code == 2 and "--yes" in err
    assert client.read_version(client.resolve(f"{root}/src/a")).data is not None
    code, out, _ = cli("kv", "delete", f"{root}/src/dir", "-r", "--yes")
    assert code == 0 and "deleted 2 of 2" in out
    assert client.read_version(client.resolve(f"{root}/src/dir/b")).info.state == "deleted"
    code, out, _ = cli("kv", "delete", f"{root}/src", "-r", "--all", "--yes")
    assert code == 0
    assert walk(client, client.resolve(f"{root}/src")) == []


def test_search_by_key_and_value_never_prints_values(cli: Cli, root: str, client: VaultClient) -> None:
    _seed(client, root)
    code, out, _ = cli("kv", "search", f"{root}/src", "--key", "^tok", "-f", "json")
    assert code == 0
    assert json.loads(out)["hits"] == [{"path": f"{root}/src/dir/b", "key": "token", "matched": "key"}]
    code, out, _ = cli("kv", "search", f"{root}/src", "--value", "c[0-9]")
    assert code == 0 and f"{root}/src/dir/deep/c" in out and "c1" not in out
    assert cli("kv", "search", f"{root}/src", "--value", "(")[0] == 2
