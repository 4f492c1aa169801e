"""copy, move, import and undo on the real server: a plan by default (every path, version and metadata read
back unchanged), `--apply` doing what the plan said, and a change made between the plan shown and the
confirmation refused with nothing touched (the world is read again before acting).

The change is made by the person's terminal (`Terminal`): the command has shown its plan and asks; the
world changes while the question is open; the answer is yes. No sleeps, no timing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from clusterops.kv.client import VaultClient
from clusterops.kv.copymove import execute_copy, plan_copy
from clusterops.kv.tree import walk
from tests.integration.kv_helpers import Bao, Cli, Terminal, world, write_versions

REREAD = "since the plan was read"


def _seed(client: VaultClient, root: str) -> None:
    write_versions(client, f"{root}/src/a", {"k": "a1"}, {"k": "a2"})
    write_versions(client, f"{root}/src/dir/b", {"user": "bob"})
    client.write_metadata(client.resolve(f"{root}/src/a"), {"custom_metadata": {"owner": "team"}, "max_versions": 7})


def _data(client: VaultClient, path: str, version: int | None = None) -> object:
    return client.read_version(client.resolve(path), version).data


def _refused_at_confirmation(
    cli: Cli, snapshot: Callable[[], object], argv: tuple[str, ...], intrude: Callable[[], None]
) -> tuple[str, str]:
    """`argv --apply` on a terminal whose user says yes after `intrude` changed the world: it must refuse
    (exit 1) and leave everything exactly as the intrusion left it."""
    seen: dict[str, object] = {}

    def change() -> None:
        intrude()
        seen["world"] = snapshot()

    terminal = Terminal("y", change)
    code, out, err = cli(*argv, "--apply", stdin=terminal)
    assert terminal.asked == 1, (code, out, err)  # the question was asked once, after the plan was shown
    assert code == 1 and REREAD in err and ("nothing was changed" in err or "nothing was undone" in err), err
    assert "plan:" in out and "copied" not in out and "moved" not in out and "imported" not in out
    assert snapshot() == seen["world"]
    return out, err


# -- copy ------------------------------------------------------------------------------------------


def test_copy_shows_its_plan_changes_nothing_then_does_what_it_showed(
    cli: Cli, bao: Bao, root: str, client: VaultClient
) -> None:
    _seed(client, root)
    write_versions(client, f"{root}/dst/dir/b", {"old": "x"})  # exists: --force adds on top of it
    before = world(client, root)
    argv = ("kv", "copy", f"{root}/src", f"{root}/dst", "--all-versions", "--force")

    code, out, err = cli(*argv, "-f", "json")
    assert code == 0 and "plan only: nothing was changed" in err
    plan = json.loads(out)
    assert plan["command"] == "copy" and plan["overwrite"] is True and plan["versions"] == "every version"
    assert plan["source"] == {"address": bao.addr, "namespace": "", "path": f"{root}/src"}
    assert plan["destination"] == {"address": bao.addr, "namespace": "", "path": f"{root}/dst"}
    items = {s["path"]: s for s in plan["secrets"]}
    a, b = items[f"{root}/src/a"], items[f"{root}/src/dir/b"]
    assert (a["action"], a["destination"], a["destination_version"]) == ("create", f"{root}/dst/a", 0)
    assert a["versions"] == [{"version": 1, "state": "live"}, {"version": 2, "state": "live"}]
    assert a["written_as"] == {"1": 1, "2": 2} and a["metadata"]["custom_metadata"] == {"owner": "team"}
    assert (b["action"], b["destination_version"], b["written_as"]) == ("add-on-top", 1, {"1": 2})
    assert plan["summary"] == {"secrets": 2, "versions": 3, "refused": 0}
    assert world(client, root) == before

    code, out, _ = cli(*argv)
    assert code == 0 and f"{root}/src/dir/b -> add on top of v1 at {root}/dst/dir/b: v1->v2" in out
    assert "its metadata settings are overwritten" in out and "rerun with --apply" in out
    assert f"on {bao.addr} (namespace (root))" in out
    assert world(client, root) == before

    code, _, err = cli(*argv, "--apply")  # stdin is not a terminal
    assert code == 2 and "--yes" in err
    code, _, err = cli(*argv, "--apply", stdin=Terminal("n"))
    assert code == 1 and "aborted: nothing was changed" in err
    assert world(client, root) == before

    code, out, err = cli(*argv, "--apply", stdin=Terminal("y"))
    assert code == 0, err
    assert "copied 2 secret(s) (3 version(s))" in out
    dst_a = client.read_metadata(client.resolve(f"{root}/dst/a"))
    assert dst_a.current_version == 2 and dict(dst_a.custom_metadata) == {"owner": "team"} and dst_a.max_versions == 7
    assert [_data(client, f"{root}/dst/a", n) for n in (1, 2)] == [{"k": "a1"}, {"k": "a2"}]
    assert _data(client, f"{root}/dst/dir/b", 1) == {"old": "x"}
    assert _data(client, f"{root}/dst/dir/b") == {"user": "bob"}
    after = world(client, root)
    assert {k: after[k] for k in before if "/src/" in k} == {k: v for k, v in before.items() if "/src/" in k}


def test_copy_refuses_when_either_side_moved_before_the_confirmation(cli: Cli, root: str, client: VaultClient) -> None:
    _seed(client, root)
    argv = ("kv", "copy", f"{root}/src", f"{root}/dst", "--all-versions")

    def snapshot() -> object:
        return world(client, root)

    _, err = _refused_at_confirmation(
        cli, snapshot, argv, lambda: write_versions(client, f"{root}/dst/dir/b", {"someone": "else"})
    )
    assert f"{root}/dst/dir/b changed at the destination (planned absent, now v1)" in err
    client.delete_metadata(client.resolve(f"{root}/dst/dir/b"))
    _, err = _refused_at_confirmation(cli, snapshot, argv, lambda: write_versions(client, f"{root}/src/a", {"k": "a3"}))
    assert f"{root}/src/a changed at the source (planned v2, now v3)" in err
    _, err = _refused_at_confirmation(
        cli, snapshot, argv, lambda: write_versions(client, f"{root}/src/new", {"n": "1"})
    )
    assert f"{root}/src/new appeared at the source" in err
    assert walk(client, client.resolve(f"{root}/dst")) == []


def test_copy_to_another_server_refuses_when_its_destination_moved(
    cli: Cli, bao: Bao, root: str, client: VaultClient, second_bao: Bao, tmp_path: Path
) -> None:
    _seed(client, root)
    tok = tmp_path / "tok"
    tok.write_text(second_bao.token)
    argv = ("kv", "copy", f"{root}/src", f"{root}/dst", "--to-addr", second_bao.addr, "--to-token-file", str(tok))
    with second_bao.client() as other:

        def snapshot() -> object:
            return world(client, root), world(other, root)

        before = snapshot()
        code, out, _ = cli(*argv, "-f", "json")
        assert code == 0
        plan = json.loads(out)
        assert plan["source"]["address"] == bao.addr and plan["destination"]["address"] == second_bao.addr
        assert plan["versions"] == "the latest version"
        assert [s["versions"] for s in plan["secrets"]] == [
            [{"version": 2, "state": "live"}],
            [{"version": 1, "state": "live"}],
        ]
        assert snapshot() == before

        _, err = _refused_at_confirmation(
            cli, snapshot, argv, lambda: write_versions(other, f"{root}/dst/a", {"x": "1"})
        )
        assert f"{root}/dst/a changed at the destination (planned absent, now v1)" in err

        other.delete_metadata(other.resolve(f"{root}/dst/a"))
        code, _, err = cli(*argv, "--apply", "--yes")
        assert code == 0, err
        assert walk(other, other.resolve(f"{root}/dst")) == ["a", "dir/b"]
        assert _data(other, f"{root}/dst/a") == {"k": "a2"}
        assert other.read_metadata(other.resolve(f"{root}/dst/a")).current_version == 1  # the latest, as v1


# -- move ------------------------------------------------------------------------------------------


def test_move_in_a_namespace_plans_refuses_a_moved_source_then_moves(
    cli: Cli, bao: Bao, root: str, client: VaultClient, namespace: str
) -> None:
    with bao.client(namespace=namespace) as inner:
        _seed(inner, root)
        write_versions(inner, f"{root}/src/dir/b", {"user": "bob2"})
        argv = ("kv", "-n", namespace, "move", f"{root}/src", f"{root}/dst")

        def snapshot() -> object:
            return world(inner, root)

        before = snapshot()
        code, out, _ = cli(*argv, "-f", "json")
        assert code == 0
        plan = json.loads(out)
        assert plan["command"] == "move" and plan["versions"] == "every version"
        assert plan["source"] == {"address": bao.addr, "namespace": namespace, "path": f"{root}/src"}
        assert plan["destination"]["namespace"] == namespace
        assert all(s["deletes_source"] and s["loses"] == [] for s in plan["secrets"])
        code, out, _ = cli(*argv)
        assert code == 0 and f"(namespace {namespace})" in out and "then the source is deleted" in out
        code, out, _ = cli(*argv, "--latest-only")
        assert code == 0 and f"{root}/src/a -> create {root}/dst/a: v2->v1" in out and "LOSING v1" in out
        assert snapshot() == before

        _, err = _refused_at_confirmation(
            cli, snapshot, argv, lambda: write_versions(inner, f"{root}/src/dir/b", {"user": "eve"})
        )
        assert f"{root}/src/dir/b changed at the source (planned v2, now v3)" in err

        code, out, _ = cli(*argv, "-f", "json")
        plan = json.loads(out)
        code, out, err = cli(*argv, "--apply", "--yes", "-f", "json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["plan"] == plan and doc["result"]["moved"] is True and doc["result"]["errors"] == []
        assert walk(inner, inner.resolve(f"{root}/src")) == []
        assert walk(inner, inner.resolve(f"{root}/dst")) == ["a", "dir/b"]
        b = inner.read_metadata(inner.resolve(f"{root}/dst/dir/b"))
        assert b.current_version == 3 and _data(inner, f"{root}/dst/dir/b") == {"user": "eve"}
    assert walk(client, client.resolve(root)) == []  # the root namespace saw none of it


# -- import ----------------------------------------------------------------------------------------


def test_import_plans_refuses_a_destination_that_moved_then_imports(
    cli: Cli, bao: Bao, root: str, client: VaultClient, tmp_path: Path
) -> None:
    _seed(client, root)
    client.delete_versions(client.resolve(f"{root}/src/a"), [1])
    export = tmp_path / "e.json"
    assert cli("kv", "export", f"{root}/src", "-o", str(export), "--plaintext", "-f", "json")[0] == 0
    write_versions(client, f"{root}/dst/a", {"old": "1"})
    argv = ("kv", "import", str(export), f"{root}/dst", "--force")

    def snapshot() -> object:
        return world(client, root)

    before = snapshot()
    code, out, _ = cli(*argv, "-f", "json")
    assert code == 0
    plan = json.loads(out)
    assert plan["command"] == "import" and plan["file"] == str(export)
    assert plan["destination"] == {"address": bao.addr, "namespace": "", "path": f"{root}/dst"}
    assert plan["exported_from"]["path"] == f"{root.split('/', 1)[1]}/src"
    items = {s["path"]: s for s in plan["secrets"]}
    a, b = items["a"], items["dir/b"]
    assert (a["action"], a["destination_version"], a["written_as"]) == ("add-on-top", 1, {"1": 2, "2": 3})
    assert [v["state"] for v in a["versions"]] == ["deleted", "live"] and "no data in the export" in a["notes"][0]
    assert (b["action"], b["destination"], b["written_as"]) == ("create", f"{root}/dst/dir/b", {"1": 1})
    assert any("version numbers of 1 secret(s)" in n for n in plan["not_preserved"])
    code, out, _ = cli(*argv)
    assert code == 0 and f"add on top of v1 at {root}/dst/a: v1->v2, v2->v3" in out and "not preserved:" in out
    assert snapshot() == before
    code, out, _ = cli("kv", "import", str(export), f"{root}/dst")  # without --force: refused, shown
    assert code == 1 and f"{root}/dst/a: REFUSED: {root}/dst/a already exists (version 1)" in out
    assert snapshot() == before

    _, err = _refused_at_confirmation(
        cli, snapshot, argv, lambda: write_versions(client, f"{root}/dst/dir/b", {"z": "1"})
    )
    assert f"{root}/dst/dir/b changed at the destination (planned absent, now v1)" in err

    code, out, _ = cli(*argv, "-f", "json")
    plan = json.loads(out)
    code, out, err = cli(*argv, "--apply", "--yes", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["plan"] == plan and doc["result"]["imported"] == 2
    dst_a = client.read_metadata(client.resolve(f"{root}/dst/a"))
    assert [v.state for v in dst_a.versions] == ["live", "deleted", "live"] and dict(dst_a.custom_metadata) == {
        "owner": "team"
    }
    assert _data(client, f"{root}/dst/a") == {"k": "a2"} and _data(client, f"{root}/dst/a", 1) == {"old": "1"}
    assert _data(client, f"{root}/dst/dir/b", 1) == {"z": "1"} and _data(client, f"{root}/dst/dir/b") == {"user": "bob"}


# -- undo ------------------------------------------------------------------------------------------


def test_undo_plans_refuses_a_path_written_since_then_undoes(
    cli: Cli, bao: Bao, root: str, client: VaultClient, tmp_path: Path
) -> None:
    rel = root.split("/", 1)[1]
    write_versions(client, f"{root}/db", {"pw": "old"})
    write_versions(client, f"{root}/api", {"t": "old"})
    state = tmp_path / "state.yaml"
    state.write_text(
        yaml.safe_dump(
            {
                "mount": "secret",
                "secrets": {
                    f"{rel}/db": {"data": {"pw": "new"}, "metadata": {"max_versions": 5}},
                    f"{rel}/api": {"data": {"t": "new"}},
                },
            }
        )
    )
    runs = tmp_path / "st"
    assert cli("kv", "apply", str(state), "--state-dir", str(runs))[0] == 0
    [journal] = list((runs / "kv-runs").glob("*.json"))

    def snapshot() -> object:
        return world(client, root), journal.read_bytes(), journal.with_suffix(".log").read_bytes()

    before = snapshot()
    argv = ("kv", "undo", journal.stem, "--state-dir", str(runs))
    code, out, err = cli(*argv, "-f", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["command"], plan["run"], plan["address"], plan["namespace"]) == ("undo", journal.stem, bao.addr, "")
    steps = {s["path"]: s for s in plan["steps"]}
    db, api = steps[f"{rel}/db"], steps[f"{rel}/api"]
    assert (db["action"], db["current_version"], db["writes_again"], db["new_version"]) == (
        "rolled-back+metadata-restored", 2, 1, 3,
    )  # fmt: skip
    assert db["metadata"] == {"max_versions": {"now": 5, "restored": 0}}
    assert (api["action"], api["writes_again"], api["metadata"]) == ("rolled-back", 1, {})
    code, out, _ = cli(*argv)
    assert code == 0 and f"secret/{rel}/db: write v1's data again as v3" in out and "max_versions: 5 -> 0" in out
    assert snapshot() == before

    _, err = _refused_at_confirmation(cli, snapshot, argv, lambda: write_versions(client, f"{root}/api", {"t": "x"}))
    assert f"{rel}/api changed (planned v2, now v3)" in err and "nothing was undone" in err
    assert _data(client, f"{root}/db") == {"pw": "new"}

    code, out, _ = cli(*argv)  # now the plan leaves api alone: changed after the run
    assert code == 1 and "SKIPPED" in out
    code, out, err = cli(*argv, "--apply", "--yes", "-f", "json")
    assert code == 1, err  # api is reported, not undone
    results = {r["path"]: r["action"] for r in json.loads(out)["result"]["results"]}
    assert results == {f"{rel}/db": "rolled-back+metadata-restored", f"{rel}/api": "skipped"}
    assert _data(client, f"{root}/db") == {"pw": "old"} and _data(client, f"{root}/api") == {"t": "x"}
    assert client.read_metadata(client.resolve(f"{root}/db")).max_versions == 0


# -- after the re-read: each write still carries the plan's versions ---------------------------------


def test_a_write_after_the_re_read_is_refused_per_secret(root: str, client: VaultClient) -> None:
    """Between the re-read and a secret's turn, its destination gets a version (refused by cas at the
    planned version) or its source does (refused by the check against the planned versions)."""
    for side in ("src", "dst"):
        for name in ("a", "b"):
            write_versions(client, f"{root}/{side}/{name}", {"k": f"{side}-{name}"})
    src, dst = client.resolve(f"{root}/src"), client.resolve(f"{root}/dst")

    def after_first(path: str) -> Callable[[int, int], None]:
        def progress(done: int, _total: int) -> None:  # one worker: "a" is done, "b" has not started
            if done == 1:
                client.write(client.resolve(path), {"k": "intruder"})

        return progress

    plan = plan_copy(client, src, client, dst, overwrite=True)
    report = execute_copy(client, client, plan, workers=1, progress=after_first(f"{root}/dst/b"))
    assert [p for p, _ in report.errors] == ["b"] and "check-and-set" in report.errors[0][1]
    assert client.read_metadata(client.resolve(f"{root}/dst/b")).current_version == 2
    assert _data(client, f"{root}/dst/b") == {"k": "intruder"}  # nothing added on top of the unplanned version
    assert _data(client, f"{root}/dst/a") == {"k": "src-a"}

    plan = plan_copy(client, src, client, client.resolve(f"{root}/fresh"))
    report = execute_copy(client, client, plan, workers=1, progress=after_first(f"{root}/src/b"))
    assert [p for p, _ in report.errors] == ["b"]
    assert "changed at the source since the plan (planned v1, now v2)" in report.errors[0][1]
    assert walk(client, client.resolve(f"{root}/fresh")) == ["a"]
