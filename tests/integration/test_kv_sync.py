"""Declarative sync on the real server: plan exit codes, apply with cas, journal, undo, pre-flight,
concurrent writers, and an apply killed half way."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import yaml

from clusterops.kv.client import VaultClient
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
    journals = tmp_path / "runs"
    code, _, err = cli("kv", "plan", str(state))
    assert code == 1 and "DB_PW" in err  # an error is 1 for plan
    monkeypatch.setenv("DB_PW", "new-pw")
    code, out, _ = cli("kv", "plan", str(state), "-f", "json", "-o", str(tmp_path / "plan.json"))
    assert code == 2
    plan = json.loads(out)
    items = {i["path"]: i for i in plan["items"]}
    assert items[f"{rel}/db"]["action"] == "update" and items[f"{rel}/db"]["keys"]["changed"] == ["password"]
    assert items[f"{rel}/db"]["metadata"] == {"max_versions": {"live": 0, "desired": 4}}
    assert items[f"{rel}/api"]["action"] == "create"
    assert stat.S_IMODE((tmp_path / "plan.json").stat().st_mode) == 0o600
    assert cli("kv", "plan", "--no-such-option", str(state))[0] == 1

    code, out, err = cli(
        "kv", "apply", str(state), "--plan", str(tmp_path / "plan.json"), "--journal-dir", str(journals)
    )
    assert code == 0, err
    assert _data(client, f"{root}/db") == {"user": "app", "password": "new-pw"}
    assert _data(client, f"{root}/api") == {"token": "file-token"}
    assert client.read_metadata(client.resolve(f"{root}/db")).max_versions == 4
    [journal] = list(journals.iterdir())
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    entries = {e["path"]: e for e in json.loads(journal.read_text())["entries"]}
    assert entries[f"{rel}/db"]["prior_version"] == 1 and entries[f"{rel}/db"]["new_version"] == 2
    assert cli("kv", "plan", str(state))[0] == 0
    assert cli("kv", "apply", str(state), "--journal-dir", str(journals))[0] == 0  # in sync: nothing to do

    code, out, err = cli("kv", "undo", journal.stem, "--journal-dir", str(journals), "-f", "json")
    assert code == 0, err
    actions = {r["path"]: r["action"] for r in json.loads(out)["results"]}
    assert actions == {f"{rel}/db": "rolled-back", f"{rel}/api": "deleted"}
    assert _data(client, f"{root}/db") == {"user": "app", "password": "old-pw"}
    assert client.read_metadata(client.resolve(f"{root}/db")).max_versions == 0
    assert _data(client, f"{root}/api") is None
    assert cli("kv", "undo", journal.stem, "--journal-dir", str(journals))[0] == 2  # already undone
    assert cli("kv", "plan", str(state))[0] == 2


def test_apply_refuses_when_anything_moved_since_the_plan(
    cli: Cli, root: str, client: VaultClient, tmp_path: Path
) -> None:
    rel = root.split("/", 1)[1]
    write_versions(client, f"{root}/a", {"k": "1"})
    write_versions(client, f"{root}/b", {"k": "1"})
    state = _state(tmp_path, rel, {"a": {"data": {"k": "2"}}, "b": {"data": {"k": "2"}}})
    assert cli("kv", "plan", str(state), "-o", str(tmp_path / "p.json"))[0] == 2
    write_versions(client, f"{root}/b", {"k": "someone-else"})
    code, _, err = cli("kv", "apply", str(state), "--plan", str(tmp_path / "p.json"), "--journal-dir", str(tmp_path))
    assert code == 1 and "moved since the plan" in err and f"{rel}/b (planned v1, now v2)" in err
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
    code, _, err = cli("kv", "apply", str(state), "--journal-dir", str(tmp_path / "j"), token=token)
    assert code == 2 and f"secret/data/{rel}/locked needs 'update'" in err and "nothing was written" in err
    assert _data(client, f"{root}/ok") == {"k": "1"}
    assert not (tmp_path / "j").exists()


def test_two_applies_racing_never_lose_an_update(bao: Bao, root: str, client: VaultClient, tmp_path: Path) -> None:
    rel = root.split("/", 1)[1]
    names = [f"s{i:02d}" for i in range(40)]
    run_bounded(names, lambda n: client.write(client.resolve(f"{root}/{n}"), {"v": "base"}), workers=8)
    env = subprocess_env(bao)
    plans = []
    for who in ("alice", "bob"):
        state = _state(tmp_path, rel, {n: {"data": {"v": who}} for n in names}, f"{who}.yaml")
        plan = tmp_path / f"{who}.plan"
        assert run_sub("kv", "plan", str(state), "-o", str(plan), env=env).returncode == 2
        plans.append((who, state, plan))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clusterops.cli.main",
                "kv",
                "apply",
                str(state),
                "--plan",
                str(plan),
                "--journal-dir",
                str(tmp_path / who),
                "-f",
                "json",
                "--workers",
                "4",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who, state, plan in plans
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    written: dict[str, set[str]] = {}
    for (who, _, _), proc, (out, err) in zip(plans, procs, outs, strict=True):
        assert proc.returncode in (0, 1), err
        if out.strip():
            written[who] = {r["path"] for r in json.loads(out)["results"] if r["status"] == "written"}
        else:  # refused before writing: everything had moved since its plan
            assert "moved since the plan" in err
            written[who] = set()
    assert not (written["alice"] & written["bob"]), "a path was written by both: an update was lost"
    for n in names:
        meta = client.read_metadata(client.resolve(f"{root}/{n}"))
        value = _data(client, f"{root}/{n}")
        path = f"{rel}/{n}"
        if path in written["alice"] or path in written["bob"]:
            winner = "alice" if path in written["alice"] else "bob"
            assert meta.current_version == 2 and value == {"v": winner}
        else:
            assert meta.current_version == 1 and value == {"v": "base"}


def test_apply_killed_half_way_can_be_undone_or_replanned(
    bao: Bao, root: str, client: VaultClient, tmp_path: Path
) -> None:
    rel = root.split("/", 1)[1]
    names = [f"k{i:03d}" for i in range(300)]
    run_bounded(names, lambda n: client.write(client.resolve(f"{root}/{n}"), {"v": f"old-{n}"}), workers=8)
    state = _state(tmp_path, rel, {n: {"data": {"v": f"new-{n}"}} for n in names})
    env = subprocess_env(bao)
    journals = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterops.cli.main", "kv", "apply", str(state), "--journal-dir", str(journals),
         "--workers", "1", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    written = 0
    while time.monotonic() < deadline and proc.poll() is None:
        files = list(journals.glob("*.json")) if journals.exists() else []
        if files:
            try:
                entries = json.loads(files[0].read_text())["entries"]
            except (ValueError, OSError):
                entries = []
            written = sum(1 for e in entries if e["status"] == "written")
            if written >= 20:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the apply finished before it could be killed"
    [journal] = list(journals.glob("*.json"))
    doc = json.loads(journal.read_text())  # still readable: written atomically
    assert doc["status"] == "running"
    done = {e["path"] for e in doc["entries"] if e["status"] == "written"}
    assert 20 <= len(done) < len(names)

    # Re-plan: exactly the paths not yet written drift (the one in flight may have landed).
    res = run_sub("kv", "plan", str(state), "-f", "json", env=env)
    assert res.returncode == 2
    drifting = {i["path"] for i in json.loads(res.stdout)["items"] if i["action"] != "unchanged"}
    assert not (drifting & done)
    assert len(drifting) >= len(names) - len(done) - 1

    # Undo the killed run: every path it wrote goes back to its old value; nothing is lost from history.
    res = run_sub("kv", "undo", journal.stem, "--journal-dir", str(journals), "-f", "json", env=env)
    assert res.returncode == 0, res.stderr
    for n in names:
        assert _data(client, f"{root}/{n}") == {"v": f"old-{n}"}
    for path in list(done)[:5]:
        ref = client.resolve(f"secret/{path}")
        assert client.read_version(ref, 2).data == {"v": f"new-{path.rsplit('/', 1)[1]}"}

    # And a fresh apply completes the change.
    res = run_sub("kv", "apply", str(state), "--journal-dir", str(journals), "--quiet", env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert run_sub("kv", "plan", str(state), env=env).returncode == 0
