"""Tree operations on the real server: recursive list, copy/move (with history), recursive delete, search."""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

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

    code, out, _ = cli("kv", "copy", f"{root}/src", f"{root}/latest", "-f", "json", "--apply", "--yes")
    assert code == 0 and len(json.loads(out)["result"]["secrets"]) == 3
    meta = client.read_metadata(client.resolve(f"{root}/latest/a"))
    assert meta.current_version == 1 and client.read_version(meta.ref).data == {"k": "a3"}

    code, out, _ = cli("kv", "copy", f"{root}/src", f"{root}/full", "--all-versions", "--apply", "--yes")
    assert code == 0 and "copied 3 secret(s)" in out and "soft-deleted" in out and "destroyed" in out
    full = client.read_metadata(client.resolve(f"{root}/full/a"))
    assert [v.state for v in full.versions] == ["destroyed", "deleted", "live"]
    assert (full.max_versions, dict(full.custom_metadata)) == (7, {"owner": "team-a"})
    assert client.read_version(full.ref).data == {"k": "a3"}
    # An existing destination is refused without --force.
    code, out, err = cli("kv", "copy", f"{root}/src", f"{root}/full")  # the plan says so
    assert code == 1 and out.count("REFUSED") == 3 and "already exists" in out
    code, out, err = cli("kv", "copy", f"{root}/src", f"{root}/full", "--apply", "--yes")
    assert code == 1 and "already exists" in err and "copied 0 secret(s)" in out
    assert cli("kv", "copy", f"{root}/src/a", f"{root}/full/a", "--force", "--apply", "--yes")[0] == 0
    assert client.read_metadata(full.ref).current_version == 4


def test_copy_between_servers_and_move(cli: Cli, root: str, client: VaultClient, second_bao: Bao, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _seed(client, root)
    tok = tmp_path / "tok"
    tok.write_text(second_bao.token)
    code, _, err = cli(
        "kv", "copy", f"{root}/src", f"{root}/copied", "--all-versions", "--to-addr", second_bao.addr,
        "--to-token-file", str(tok), "--apply", "--yes",
    )  # fmt: skip
    assert code == 0, err
    with second_bao.client() as other:
        assert walk(other, other.resolve(f"{root}/copied")) == ["a", "dir/b", "dir/deep/c"]
        assert other.read_metadata(other.resolve(f"{root}/copied/a")).current_version == 2
    code, _, _ = cli("kv", "move", f"{root}/src/dir", f"{root}/moved", "--apply", "--yes")
    assert code == 0
    assert walk(client, client.resolve(f"{root}/moved")) == ["b", "deep/c"]
    assert walk(client, client.resolve(f"{root}/src")) == ["a"]


def test_recursive_delete_plans_then_confirms(cli: Cli, root: str, client: VaultClient) -> None:
    _seed(client, root)
    for plan_only in (("--yes",), ("--dry-run", "--apply", "--yes")):  # without --apply (or with the old flag): a plan
        code, out, _ = cli("kv", "delete", f"{root}/src", "-r", *plan_only)
        assert code == 0 and "3 secret(s)" in out and f"{root}/src/dir/deep/c" in out and "--apply" in out
        assert client.read_version(client.resolve(f"{root}/src/a")).data is not None
    code, _, err = cli("kv", "delete", f"{root}/src", "-r", "--apply")  # stdin is not a terminal
    assert code == 2 and "--yes" in err
    assert client.read_version(client.resolve(f"{root}/src/a")).data is not None
    code, out, _ = cli("kv", "delete", f"{root}/src/dir", "-r", "--apply", "--yes")
    assert code == 0 and "deleted 2 of 2" in out
    assert client.read_version(client.resolve(f"{root}/src/dir/b")).info.state == "deleted"
    code, out, _ = cli("kv", "delete", f"{root}/src", "-r", "--all", "--apply", "--yes")
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


def _state(client: VaultClient, root: str) -> dict[str, object]:
    """Every secret below root with its metadata and the data of every live version, read from the server."""
    out: dict[str, object] = {}
    base = client.resolve(root)
    for rel in walk(client, base):
        ref = base.child(rel)
        meta = client.read_metadata(ref)
        out[rel] = (
            meta.versions,
            tuple(client.read_version(ref, v.version).data for v in meta.versions if v.state == "live"),
        )
    return out


def test_move_or_copy_onto_itself_or_an_overlapping_tree_is_refused(
    cli: Cli, root: str, client: VaultClient, bao: Bao, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    write_versions(client, f"{root}/t/a", {"k": "1"}, {"k": "2"})
    write_versions(client, f"{root}/t/a/sub", {"k": "s"})
    write_versions(client, f"{root}/t/b", {"k": "b"})
    before = _state(client, root)
    tok = tmp_path / "tok"
    tok.write_text(bao.token)
    # The same server under another name: recognised by its cluster id, not by the address string.
    host = str(urlsplit(bao.addr).hostname)  # the same server spelled another way: its IPv4 as one integer
    same_server = (
        "--to-addr",
        bao.addr.replace(host, str(int(ipaddress.IPv4Address(host)))),
        "--to-token-file",
        str(tok),
    )
    cases = [
        ("move", f"{root}/t/a", f"{root}/t/a", "--force", "--all-versions"),
        ("move", f"{root}/t/a", f"{root}/t/a/", "--force"),
        ("move", f"{root}/t/a/", f"{root}/t/a", "--force"),
        ("copy", f"{root}/t/a", f"{root}/t/a", "--force"),
        ("move", f"{root}/t", f"{root}/t/inner", "--force"),
        ("copy", f"{root}/t", f"{root}/t/a/deeper"),
        ("move", f"{root}/t/a/sub", f"{root}/t/a", "--force"),
        ("move", f"{root}/t/a", f"{root}/t/a", "--force", *same_server),
        ("copy", f"{root}/t", f"{root}/t/x", "--force", *same_server),
    ]
    for verb, src, dst, *extra in cases:
        code, out, err = cli("kv", verb, src, dst, *extra, "--apply", "--yes")
        assert code == 1, (verb, src, dst, extra, out, err)
        assert "refused, nothing was changed" in err and "moved" not in out and "copied" not in out
    assert _state(client, root) == before
    # A sibling whose name merely starts the same is not an overlap.
    assert cli("kv", "copy", f"{root}/t/a", f"{root}/t/ab", "--apply", "--yes")[0] == 0


def test_move_keeps_every_version_by_default(cli: Cli, root: str, client: VaultClient) -> None:
    write_versions(client, f"{root}/h/s", {"v": "1"}, {"v": "2"}, {"v": "3"})
    src = client.resolve(f"{root}/h/s")
    client.destroy_versions(src, [1])
    client.write_metadata(src, {"custom_metadata": {"owner": "o"}})
    code, _, err = cli("kv", "move", f"{root}/h/s", f"{root}/h/t", "--apply", "--yes")
    assert code == 0, err
    dst = client.read_metadata(client.resolve(f"{root}/h/t"))
    assert [v.state for v in dst.versions] == ["destroyed", "live", "live"]
    assert [client.read_version(dst.ref, n).data for n in (2, 3)] == [{"v": "2"}, {"v": "3"}]
    assert dict(dst.custom_metadata) == {"owner": "o"}
    assert walk(client, client.resolve(f"{root}/h")) == ["t"]

    # A soft-deleted version's data cannot be read, so a move would lose it: refused for that secret.
    write_versions(client, f"{root}/h/d", {"v": "1"}, {"v": "2"})
    client.delete_versions(client.resolve(f"{root}/h/d"), [1])
    before = _state(client, f"{root}/h")
    code, out, _ = cli("kv", "move", f"{root}/h/d", f"{root}/h/e")  # the plan shows it refused
    assert code == 1 and "REFUSED" in out and "soft-deleted" in out and "--allow-history-loss" in out
    code, _, err = cli("kv", "move", f"{root}/h/d", f"{root}/h/e", "--apply", "--yes")
    assert code == 1 and "soft-deleted" in err and "--allow-history-loss" in err
    assert _state(client, f"{root}/h") == before
    # The loss has to be asked for: --latest-only (older versions go) or --allow-history-loss.
    code, _, err = cli("kv", "move", f"{root}/h/d", f"{root}/h/e", "--latest-only", "--apply", "--yes")
    assert code == 0, err
    assert client.read_metadata(client.resolve(f"{root}/h/e")).current_version == 1


def test_a_secret_that_is_also_a_folder_is_included(cli: Cli, root: str, client: VaultClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_versions(client, f"{root}/both", {"self": "1"})
    write_versions(client, f"{root}/both/child", {"c": "1"})
    write_versions(client, f"{root}/bothx", {"not": "below"})
    code, out, _ = cli("kv", "copy", f"{root}/both", f"{root}/c1", "-f", "json", "--apply", "--yes")
    assert code == 0 and {s["path"] for s in json.loads(out)["result"]["secrets"]} == {"", "child"}
    assert client.read_version(client.resolve(f"{root}/c1")).data == {"self": "1"}
    assert client.read_version(client.resolve(f"{root}/c1/child")).data == {"c": "1"}

    exp = tmp_path / "e.json"
    code, out, _ = cli("kv", "export", f"{root}/both", "-o", str(exp), "--plaintext", "-f", "json")
    assert code == 0 and "exported 2 secret(s)" in out
    assert {s["path"] for s in json.loads(exp.read_text())["secrets"]} == {"", "child"}

    code, out, _ = cli("kv", "move", f"{root}/c1", f"{root}/m1", "--apply", "--yes")
    assert code == 0 and "moved 2 secret(s)" in out
    assert walk(client, client.resolve(f"{root}/c1")) == []
    assert client.read_version(client.resolve(f"{root}/m1")).data == {"self": "1"}

    code, out, _ = cli("kv", "delete", f"{root}/m1", "-r", "--all", "--apply", "--yes")
    assert code == 0 and "deleted 2 of 2" in out
    assert cli("kv", "get", f"{root}/m1")[0] == 2
    assert client.read_version(client.resolve(f"{root}/bothx")).data == {"not": "below"}
