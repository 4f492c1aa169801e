"""Declarative sync on the real server: plan exit codes, apply with cas, journal, undo, pre-flight,
concurrent writers, and an apply killed half way."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from clusterops.kv import sync
from clusterops.kv.apply_journal import ApplyJournal
from clusterops.kv.client import VaultClient
from clusterops.kv.desired import DesiredSecret, DesiredState
from clusterops.kv.pool import run_bounded
from tests.integration.kv_helpers import Bao, Cli, restricted_token, run_sub, subprocess_env, write_versions


def _state(tmp_path: Path, rel: str, secrets: dict[str, dict[str, object]], name: str = "state.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"mount": "secret", "secrets": {f"{rel}/{k}": v for k, v in secrets.items()}}))
    return p


def _data(client: VaultClient, path: str) -> dict[str, object] | None:
    got = client.read_version(client.resolve(path))
    return dict(got.data) if got.data is not None else None


def test_plan_apply_undo_and_exit_codes(
    cli: Cli,
    root: str,
    client: VaultClient,
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    rel = root.split("/", 1)[1]
    write_versions(client, f"{root}/db", {"user": "app", "password": "old-pw"})
    (tmp_path / "api.tok").write_text("file-token\n")
    state = _state(
        tmp_path,
        rel,
        {
            "db": {"data": {"user": "app", "password": {"env": "DB_PW"}}, "metadata": {"max_versions": 4}},
            "api": {"data": {"token": {"file": "api.tok"}}, "metadata": {"custom_metadata": {"owner": "a"}}},
        },
    )
    journals = tmp_path / "runs" / "kv-runs"  # --state-dir DIR keeps them in DIR/kv-runs
    code, _, err = cli("kv", "plan", str(state))
    assert code == 2 and "DB_PW" in err  # an input error: 2, as everywhere
    code, _, err = cli("kv", "plan", str(state), "--detailed-exitcode")
    assert code == 1 and "DB_PW" in err  # Terraform's contract: an error is 1
    monkeypatch.setenv("DB_PW", "new-pw")
    code, out, _ = cli("kv", "plan", str(state), "-f", "json", "-o", str(tmp_path / "plan.json"))
    assert code == 1  # drift is a finding
    plan = json.loads(out)
    items = {i["path"]: i for i in plan["items"]}
    assert items[f"{rel}/db"]["action"] == "update" and items[f"{rel}/db"]["keys"]["changed"] == ["password"]
    assert items[f"{rel}/db"]["metadata"] == {"max_versions": {"live": 0, "desired": 4}}
    assert items[f"{rel}/api"]["action"] == "create"
    assert stat.S_IMODE((tmp_path / "plan.json").stat().st_mode) == 0o600
    assert cli("kv", "plan", str(state), "--detailed-exitcode")[0] == 2  # Terraform's: 2 is drift
    assert cli("kv", "plan", "--no-such-option", str(state))[0] == 2  # usage error
    assert cli("kv", "plan", "--no-such-option", str(state), "--detailed-exitcode")[0] == 1

    code, out, err = cli(
        "kv", "apply", str(state), "--plan", str(tmp_path / "plan.json"), "--state-dir", str(journals.parent)
    )
    assert code == 0, err
    assert _data(client, f"{root}/db") == {"user": "app", "password": "new-pw"}
    assert _data(client, f"{root}/api") == {"token": "file-token"}
    assert client.read_metadata(client.resolve(f"{root}/db")).max_versions == 4
    [journal] = list(journals.glob("*.json"))
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    entries = {e["path"]: e for e in json.loads(journal.read_text())["entries"]}
    assert entries[f"{rel}/db"]["prior_version"] == 1 and entries[f"{rel}/db"]["new_version"] == 2
    assert cli("kv", "plan", str(state))[0] == 0
    assert cli("kv", "apply", str(state), "--state-dir", str(journals.parent))[0] == 0  # in sync: nothing to do

    code, out, err = cli("kv", "undo", journal.stem, "--state-dir", str(journals.parent), "-f", "json", "--apply", "-y")
    assert code == 0, err
    actions = {r["path"]: r["action"] for r in json.loads(out)["result"]["results"]}
    assert actions == {f"{rel}/db": "rolled-back+metadata-restored", f"{rel}/api": "deleted+metadata-restored"}
    assert _data(client, f"{root}/db") == {"user": "app", "password": "old-pw"}
    assert client.read_metadata(client.resolve(f"{root}/db")).max_versions == 0
    assert _data(client, f"{root}/api") is None
    assert cli("kv", "undo", journal.stem, "--state-dir", str(journals.parent))[0] == 2  # already undone
    assert cli("kv", "plan", str(state))[0] == 1


def test_apply_refuses_when_anything_moved_since_the_plan(
    cli: Cli, root: str, client: VaultClient, tmp_path: Path
) -> None:
    rel = root.split("/", 1)[1]
    write_versions(client, f"{root}/a", {"k": "1"})
    write_versions(client, f"{root}/b", {"k": "1"})
    state = _state(tmp_path, rel, {"a": {"data": {"k": "2"}}, "b": {"data": {"k": "2"}}})
    assert cli("kv", "plan", str(state), "-o", str(tmp_path / "p.json"))[0] == 1
    write_versions(client, f"{root}/b", {"k": "someone-else"})
    code, _, err = cli("kv", "apply", str(state), "--plan", str(tmp_path / "p.json"), "--state-dir", str(tmp_path))
    assert code == 1 and "since the plan; nothing was written" in err and f"{rel}/b (planned v1, now v2)" in err
    assert _data(client, f"{root}/a") == {"k": "1"}  # nothing was written, not even the path that did not move
    assert _data(client, f"{root}/b") == {"k": "someone-else"}


def test_capability_preflight_writes_nothing(
    cli: Cli, bao: Bao, root: str, client: VaultClient, tmp_path: Path
) -> None:
    rel = root.split("/", 1)[1]
    write_versions(client, f"{root}/ok", {"k": "1"})
    write_versions(client, f"{root}/locked", {"k": "1"})
    token = restricted_token(
        bao,
        f"sync-{rel}",
        f'path "secret/data/{rel}/ok" {{ capabilities = ["read", "create", "update"] }}\n'
        f'path "secret/metadata/{rel}/*" {{ capabilities = ["read", "list"] }}\n'
        f'path "secret/data/{rel}/locked" {{ capabilities = ["read"] }}\n'
        'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }',
    )
    state = _state(tmp_path, rel, {"ok": {"data": {"k": "2"}}, "locked": {"data": {"k": "2"}}})
    code, _, err = cli("kv", "apply", str(state), "--state-dir", str(tmp_path / "j"), token=token)
    assert code == 2 and f"secret/data/{rel}/locked needs 'update'" in err and "nothing was written" in err
    assert _data(client, f"{root}/ok") == {"k": "1"}
    assert not (tmp_path / "j").exists()


def test_two_applies_racing_never_lose_an_update(bao: Bao, root: str, client: VaultClient) -> None:
    """Both applies read (plan, freshness check) before either writes: a barrier between the checks and
    the first write forces that interleaving. Without cas on the data write both would report "written"."""
    rel = root.split("/", 1)[1]
    names = ["a", "b", "m"]
    for n in names:
        write_versions(client, f"{root}/{n}", {"v": "base"})

    def desired(who: str, max_versions: int) -> DesiredState:
        secrets = [DesiredSecret(f"{rel}/{n}", {"v": who}) for n in ("a", "b")]
        secrets.append(DesiredSecret(f"{rel}/m", {"v": who}, {"max_versions": max_versions}))
        return DesiredState("secret", tuple(secrets))

    sides = {"alice": desired("alice", 3), "bob": desired("bob", 5)}
    plans = {who: sync.plan(client, d) for who, d in sides.items()}
    barrier = threading.Barrier(2, timeout=60)
    reports: dict[str, sync.ApplyReport] = {}

    def both_checked(_run: str) -> None:  # called after the checks, before the first write
        barrier.wait()

    def go(who: str, folder: Path) -> None:
        with bao.client() as c:
            reports[who] = sync.apply_plan(
                c, sides[who], plans[who], journal_dir=folder, workers=1, on_journal=both_checked
            )

    with tempfile.TemporaryDirectory() as tmp:
        threads = [threading.Thread(target=go, args=(who, Path(tmp) / who)) for who in sides]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert set(reports) == {"alice", "bob"}
    written = {who: {r.path for r in rep.results if r.status == "written"} for who, rep in reports.items()}
    assert not (written["alice"] & written["bob"]), "a path was written by both: an update was lost"
    assert written["alice"] | written["bob"], "neither apply wrote"
    for n in names:
        path = f"{rel}/{n}"
        meta = client.read_metadata(client.resolve(f"{root}/{n}"))
        winner = next((who for who in sides if path in written[who]), None)
        if winner is None:
            assert meta.current_version == 1 and _data(client, f"{root}/{n}") == {"v": "base"}
            continue
        assert meta.current_version == 2 and _data(client, f"{root}/{n}") == {"v": winner}
        if n == "m":  # the metadata is written only by the apply whose cas data write won
            assert meta.max_versions == (3 if winner == "alice" else 5)


def test_apply_killed_half_way_can_be_undone_or_replanned(
    bao: Bao, root: str, client: VaultClient, tmp_path: Path
) -> None:
    rel = root.split("/", 1)[1]
    names = [f"k{i:03d}" for i in range(300)]
    run_bounded(names, lambda n: client.write(client.resolve(f"{root}/{n}"), {"v": f"old-{n}"}), workers=8)
    state = _state(tmp_path, rel, {n: {"data": {"v": f"new-{n}"}} for n in names})
    env = subprocess_env(bao)
    journals = tmp_path / "runs" / "kv-runs"  # --state-dir DIR keeps them in DIR/kv-runs
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterops.cli.main", "kv", "apply", str(state), "--state-dir", str(journals.parent),
         "--workers", "1", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    written = 0
    while time.monotonic() < deadline and proc.poll() is None:
        logs = list(journals.glob("*.log")) if journals.exists() else []
        if logs:
            written = logs[0].read_text().count('"status": "written"')  # one appended line per recorded write
            if written >= 20:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the apply finished before it could be killed"
    [journal] = list(journals.glob("*.json"))
    loaded = ApplyJournal.load(journal.stem, journals)  # still readable: snapshot plus the appended log
    assert loaded.header["status"] == "running"
    assert stat.S_IMODE(journal.with_suffix(".log").stat().st_mode) == 0o600
    done = {p for p, e in loaded.entries.items() if e.status == "written" and e.new_version == 2}
    assert 20 <= len(done) < len(names)

    # Re-plan: exactly the paths not yet written drift (the one in flight may have landed).
    res = run_sub("kv", "plan", str(state), "-f", "json", env=env)
    assert res.returncode == 1
    drifting = {i["path"] for i in json.loads(res.stdout)["items"] if i["action"] != "unchanged"}
    assert not (drifting & done)
    assert len(drifting) >= len(names) - len(done) - 1

    # After the kill another writer updates a path the run never wrote (the version after the planned
    # one, made after the run started: exactly what the run's own write would have looked like).
    theirs = next(
        p for p in sorted(drifting, reverse=True)
        if client.read_metadata(client.resolve(f"secret/{p}")).current_version == 1
    )  # fmt: skip
    client.write(client.resolve(f"secret/{theirs}"), {"v": "other-writer"}, cas=1)

    # Undo the killed run: every path it recorded writing goes back to its old value (history kept);
    # a newer version it did not record is reported, never touched.
    undo = ("kv", "undo", journal.stem, "--state-dir", str(journals.parent), "-f", "json", "--apply", "--yes")
    res = run_sub(*undo, env=env)
    assert _data(client, f"secret/{theirs}") == {"v": "other-writer"}
    actions = {r["path"]: r for r in json.loads(res.stdout)["result"]["results"]}
    assert actions[theirs]["action"] == "unproven" and "not touched" in actions[theirs]["message"]
    assert res.returncode == 1, res.stderr  # something was reported, not undone
    unproven = {p for p, r in actions.items() if r["action"] == "unproven"}
    assert len(unproven - {theirs}) <= 1  # besides it, at most the write in flight when the run was killed
    for n in names:
        path = f"{rel}/{n}"
        if path in done:
            assert actions[path]["action"] == "rolled-back" and _data(client, f"{root}/{n}") == {"v": f"old-{n}"}
        elif path not in unproven:
            assert _data(client, f"{root}/{n}") == {"v": f"old-{n}"}
    for path in list(done)[:5]:
        ref = client.resolve(f"secret/{path}")
        assert client.read_version(ref, 2).data == {"v": f"new-{path.rsplit('/', 1)[1]}"}

    # And a fresh apply completes the change.
    res = run_sub("kv", "apply", str(state), "--state-dir", str(journals.parent), "--quiet", env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert run_sub("kv", "plan", str(state), env=env).returncode == 0


# -- undo acts only where the run acted; a saved plan binds what was reviewed; metadata drift -------


def test_undo_acts_only_in_the_namespace_of_the_run(
    cli: Cli, bao: Bao, root: str, client: VaultClient, namespace: str, tmp_path: Path
) -> None:
    rel = root.split("/", 1)[1]
    write_versions(client, f"{root}/app", {"v": "root-old"}, {"v": "root-new"})  # the same path at root: v2
    with bao.client(namespace=namespace) as inner:
        write_versions(inner, f"{root}/app", {"v": "ns-old"})
        state = _state(tmp_path, rel, {"app": {"data": {"v": "ns-new"}}})
        journals = tmp_path / "runs" / "kv-runs"  # --state-dir DIR keeps them in DIR/kv-runs
        code, _, err = cli("kv", "--namespace", namespace, "apply", str(state), "--state-dir", str(journals.parent))
        assert code == 0, err
        assert _data(inner, f"{root}/app") == {"v": "ns-new"}  # the run wrote v2 in the namespace
        [journal] = list(journals.glob("*.json"))

        code, _, err = cli("kv", "undo", journal.stem, "--state-dir", str(journals.parent), "--force", "--apply", "-y")
        assert _data(client, f"{root}/app") == {"v": "root-new"}  # the root secret is untouched
        assert client.read_metadata(client.resolve(f"{root}/app")).current_version == 2
        assert code == 1 and f"wrote in namespace {namespace}, not (root)" in err and "nothing was undone" in err

        undo = ("undo", journal.stem, "--state-dir", str(journals.parent), "--apply", "--yes")
        code, _, err = cli("kv", "--namespace", namespace, *undo)
        assert code == 0, err
        assert _data(inner, f"{root}/app") == {"v": "ns-old"}
    assert _data(client, f"{root}/app") == {"v": "root-new"}


def test_a_saved_plan_refuses_what_was_not_reviewed(
    cli: Cli,
    root: str,
    client: VaultClient,
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    rel = root.split("/", 1)[1]
    ref = client.resolve(f"{root}/app")
    write_versions(client, f"{root}/app", {"user": "u", "pw": "old"})
    client.write_metadata(ref, {"custom_metadata": {"owner": "a"}})
    spec = {"data": {"user": "u", "pw": {"env": "APP_PW"}}, "metadata": {"custom_metadata": {"owner": "b"}}}
    state = _state(tmp_path, rel, {"app": spec})
    monkeypatch.setenv("APP_PW", "pw-new-7f3a")
    plan = tmp_path / "plan.json"
    assert cli("kv", "plan", str(state), "-o", str(plan))[0] == 1
    assert "pw-new-7f3a" not in plan.read_text() and '"old"' not in plan.read_text()
    journals = tmp_path / "runs" / "kv-runs"  # --state-dir DIR keeps them in DIR/kv-runs

    def server() -> tuple[int, dict[str, object]]:
        meta = client.read_metadata(ref)
        return meta.current_version, meta.settings()

    before = server()

    def refused(*expected: str, ns: tuple[str, ...] = ()) -> None:
        code, _, err = cli("kv", *ns, "apply", str(state), "--plan", str(plan), "--state-dir", str(journals.parent))
        assert code == 1, err
        for text in expected:
            assert text in err
        assert "nothing was written" in err and "pw-new-7f3a" not in err and "pw-other-9c1d" not in err
        assert server() == before and not journals.exists()

    monkeypatch.setenv("APP_PW", "pw-other-9c1d")  # its env value changed
    refused(f"{rel}/app: key pw differs from the planned value")
    monkeypatch.setenv("APP_PW", "pw-new-7f3a")
    _state(tmp_path, rel, {"app": {**spec, "data": {"user": "u2", "pw": {"env": "APP_PW"}}}})  # the file changed
    refused(f"{rel}/app: key user differs")
    _state(tmp_path, rel, {"app": {**spec, "data": {"pw": {"env": "APP_PW"}}}})  # a key was removed
    refused(f"{rel}/app: key user was planned, is no longer desired")
    _state(tmp_path, rel, {"app": {**spec, "metadata": {"custom_metadata": {"owner": "c"}}}})
    refused(f"{rel}/app: metadata field custom_metadata differs")
    _state(tmp_path, rel, {"app": spec})
    refused("the plan was made in namespace (root), not elsewhere", ns=("--namespace", "elsewhere"))

    client.write_metadata(ref, {"custom_metadata": {"owner": "someone-else"}})  # the server's metadata moved
    before = server()
    refused(f"{rel}/app metadata custom_metadata changed")
    assert client.read_metadata(ref).custom_metadata == {"owner": "someone-else"}


def test_metadata_is_written_once_and_undo_leaves_later_changes(
    cli: Cli, root: str, client: VaultClient, tmp_path: Path
) -> None:
    rel = root.split("/", 1)[1]
    ref = client.resolve(f"{root}/app")
    write_versions(client, f"{root}/app", {"k": "1"})
    plans = {}
    for who, n in (("alice", 4), ("bob", 6)):
        wanted = {"max_versions": n, "custom_metadata": {"owner": who}}
        state = _state(tmp_path, rel, {"app": {"data": {"k": "1"}, "metadata": wanted}}, f"{who}.yaml")
        plans[who] = (state, tmp_path / f"{who}.plan")
        assert cli("kv", "plan", str(state), "-o", str(plans[who][1]))[0] == 1  # metadata only
    journals = tmp_path / "runs" / "kv-runs"  # --state-dir DIR keeps them in DIR/kv-runs
    for who, expect in (("alice", 0), ("bob", 1)):
        state, plan = plans[who]
        code, _, err = cli("kv", "apply", str(state), "--plan", str(plan), "--state-dir", str(journals.parent / who))
        assert code == expect, err
    assert "metadata max_versions changed" in err and "custom_metadata changed" in err  # bob: refused
    meta = client.read_metadata(ref)
    assert (meta.max_versions, dict(meta.custom_metadata), meta.current_version) == (4, {"owner": "alice"}, 1)

    client.write_metadata(ref, {"custom_metadata": {"owner": "carol"}})  # someone changes it after alice's run
    [journal] = list((journals.parent / "alice" / "kv-runs").glob("*.json"))
    undo = ("undo", journal.stem, "--state-dir", str(journals.parent / "alice"), "-f", "json", "--apply", "--yes")
    code, out, err = cli("kv", *undo)
    meta = client.read_metadata(ref)
    assert (meta.max_versions, dict(meta.custom_metadata)) == (4, {"owner": "carol"})  # carol's change stays
    [result] = json.loads(out)["result"]["results"]
    assert result["action"] == "skipped" and "custom_metadata changed after the run: not restored" in result["message"]
    assert code == 1, err


def test_metadata_changed_between_the_checks_and_the_write_is_not_overwritten(
    bao: Bao, root: str, client: VaultClient, tmp_path: Path
) -> None:
    """KV v2 has no cas on metadata: the field is re-read right before its write. Another writer changes
    it after every up-front check (at the journal hook) and the apply must leave it."""
    rel = root.split("/", 1)[1]
    ref = client.resolve(f"{root}/app")
    write_versions(client, f"{root}/app", {"k": "1"})
    desired = DesiredState("secret", (DesiredSecret(f"{rel}/app", {"k": "2"}, {"custom_metadata": {"owner": "me"}}),))
    plan = sync.plan(client, desired)

    def intrude(_run: str) -> None:
        client.write_metadata(ref, {"custom_metadata": {"owner": "intruder"}})

    report = sync.apply_plan(client, desired, plan, journal_dir=tmp_path, workers=1, on_journal=intrude)
    [result] = report.results
    assert client.read_metadata(ref).custom_metadata == {"owner": "intruder"}
    assert result.status == "conflict" and "custom_metadata changed since the plan" in result.message
    assert result.new_version == 2  # its data write had won and is recorded, so undo can take it back
