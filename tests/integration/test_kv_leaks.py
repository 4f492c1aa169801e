"""No secret value in stdout, stderr or any file we write, for every kv command (its plan and its act)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import yaml

from clusterops.kv.client import VaultClient
from tests.integration.kv_helpers import Bao, Cli, run_sub, subprocess_env

SECRETS = ("LEAKCANARY-alpha-7f3e", "LEAKCANARY-beta-91cd", "LEAKCANARY-gamma-55aa", "LEAKCANARY-delta-0b0b")


def test_no_secret_value_leaks_anywhere(bao: Bao, root: str, tmp_path: Path) -> None:
    a, b, c, d = SECRETS
    inputs = tmp_path / "inputs"  # the only place values may sit: what the user gave us
    inputs.mkdir()
    work = tmp_path / "work"  # cwd, HOME, journals, plans, exports: everything we write
    work.mkdir()
    (inputs / "a").write_text(a)
    (inputs / "data.json").write_text(json.dumps({"nested": {"deep": b}, "list": [b]}))
    (inputs / "c").write_text(c)
    rel = root.split("/", 1)[1]
    (inputs / "state.yaml").write_text(
        yaml.safe_dump(
            {
                "mount": "secret",
                "secrets": {
                    f"{rel}/sync/one": {"data": {"pw": {"env": "LEAK_D"}, "file": {"file": "c"}}},
                    f"{rel}/sync/two": {"data": {"tok": {"stdin": "tok"}}},
                },
            }
        )
    )
    env = subprocess_env(bao, HOME=str(work), XDG_STATE_HOME=str(work / "state"), LEAK_D=d)
    key = work / "export.key"
    transcript: list[tuple[list[str], int, str, str]] = []

    def run(*args: str, stdin: str = "", ok: tuple[int, ...] = (0,)) -> str:
        import subprocess
        import sys

        res = subprocess.run(
            [sys.executable, "-m", "clusterops.cli.main", *args],
            input=stdin, capture_output=True, text=True, env=env, cwd=work, timeout=120, check=False,
        )  # fmt: skip
        transcript.append((list(args), res.returncode, res.stdout, res.stderr))
        assert res.returncode in ok, (args, res.stderr)
        return res.stdout

    p = f"{root}/app"
    run("kv", "put", f"{p}/db", f"pw=@{inputs / 'a'}", "user=app")
    run("kv", "put", f"{p}/db", f"pw=@{inputs / 'c'}", "user=app")
    run("kv", "put", f"{p}/json", f"@{inputs / 'data.json'}")
    run("kv", "put", f"{p}/stdin", "tok=-", stdin=d)
    run("kv", "put", f"{p}/db", f"pw=@{inputs / 'a'}", "--cas", "0", ok=(1,))  # a CAS conflict's error
    run("kv", "patch", f"{p}/db", "-", stdin=json.dumps({"extra": b}))
    run("kv", "patch", f"{p}/db", "-", "--method", "rw", stdin=json.dumps({"extra2": c}))
    for fmt in ("table", "json", "yaml"):
        run("kv", "get", f"{p}/db", "-f", fmt)
        run("kv", "get", f"{p}/json", "-f", fmt)
        run("kv", "history", f"{p}/db", "-f", fmt)
        run("kv", "diff", f"{p}/db", "-f", fmt)
        run("kv", "diff", f"{p}/db", f"{p}/stdin", "-f", fmt)
        run("kv", "metadata", "get", f"{p}/db", "-f", fmt)
        run("kv", "subkeys", f"{p}/json", "-f", fmt)
    run("kv", "get", f"{p}/db", "--version", "1")
    run("kv", "list", p)
    run("kv", "tree", root)
    run("kv", "search", root, "--value", "LEAKCANARY")
    run("kv", "search", root, "--key", "pw")
    run("kv", "rollback", f"{p}/db", "--version", "1")
    run("kv", "metadata", "put", f"{p}/db", "--custom-metadata", "owner=team")
    run("kv", "metadata", "patch", f"{p}/db", "--max-versions", "9")
    for fmt in ("table", "json"):  # the plans (the default) and then the acts
        run("kv", "copy", p, f"{root}/copy", "--all-versions", "-f", fmt)
    run("kv", "copy", p, f"{root}/copy", "--all-versions", "--apply", "--yes")
    run("kv", "move", f"{root}/copy", f"{root}/moved", "-f", "json")
    run("kv", "move", f"{root}/copy", f"{root}/moved", "--apply", "--yes", "-f", "json")
    run("kv", "diff", f"{p}/", f"{root}/moved/")
    run("kv", "keygen", str(key))
    run("kv", "export", p, "-o", str(work / "backup.yaml"), "--key-file", str(key))
    for extra in ((), ("-f", "json"), ("--apply", "--yes")):
        run("kv", "import", str(work / "backup.yaml"), f"{root}/restored", "--key-file", str(key), *extra)
    run("kv", "export", p, "-o", str(work / "refused.yaml"), ok=(2,))  # refused without a key
    state = str(inputs / "state.yaml")
    run("kv", "plan", state, "-o", str(work / "plan.json"), stdin=json.dumps({"tok": a}), ok=(1,))
    run("kv", "plan", state, "-f", "json", stdin=json.dumps({"tok": a}), ok=(1,))
    run("kv", "apply", state, "--plan", str(work / "plan.json"), stdin=json.dumps({"tok": a}))
    run("kv", "plan", state, stdin=json.dumps({"tok": b}), ok=(1,))
    journals = list((work / "state" / "clusterops" / "kv-runs").glob("*.json"))
    assert len(journals) == 1
    for extra in ((), ("-f", "json"), ("--apply", "--yes", "-f", "json")):
        run("kv", "undo", journals[0].stem, *extra)
    run("kv", "delete", f"{p}/db", "--versions", "1")
    run("kv", "undelete", f"{p}/db", "--versions", "1")
    run("kv", "destroy", f"{p}/db", "--versions", "2")
    run("kv", "delete", root, "-r", "--dry-run")
    run("kv", "delete", f"{root}/restored", "-r", "--apply", "--yes")
    run("kv", "put", f"{p}/field", f"pw=@{inputs / 'a'}", "--field", "version")
    run("kv", "policy", "get", f"{p}/db")
    run("kv", "--output-policy", "get", f"{p}/db")
    run("kv", "move", p, p, ok=(1,))  # refused: onto itself
    run("kv", "move", p, f"{p}/inner", ok=(1,))  # refused: overlapping
    run("kv", "metadata", "put", f"{p}/db", "--max-versions", "12", "-f", "json")
    run("kv", "get", f"{p}/nope", ok=(2,))

    for args, code, out, err in transcript:
        for s in SECRETS:
            assert s not in out, f"{s} in stdout of {args} (exit {code})"
            assert s not in err, f"{s} in stderr of {args} (exit {code})"
    written = [f for f in work.rglob("*") if f.is_file()]
    assert {f.name for f in written} >= {"backup.yaml", "plan.json", "export.key", journals[0].name}
    for f in written:
        blob = f.read_bytes()
        for s in SECRETS:
            assert s.encode() not in blob, f"{s} in {f}"
    assert bao.token not in "".join(o + e for _, _, o, e in transcript)
    assert run_sub("kv", "get", f"{p}/db", "--field", "user", env=env).stdout == "app"  # the opt-in still works


TOKEN_CANARY = "hvs.TOKENCANARY-5e1f"


def test_broken_tokens_and_namespaces_are_named_never_shown(bao: Bao, root: str, tmp_path: Path) -> None:
    """A token with a line break (a second line pasted in, a CRLF file) is refused naming where it came from."""
    broken = tmp_path / "token"
    broken.write_text(f"{TOKEN_CANARY}\n{TOKEN_CANARY}-line2\n")
    base = subprocess_env(bao)
    cases = [
        (["--token-file", str(broken)], {}, str(broken)),
        ([], {"VAULT_TOKEN": f"{TOKEN_CANARY}\nx"}, "VAULT_TOKEN"),
        ([], {"VAULT_TOKEN": "", "BAO_TOKEN": f"x {TOKEN_CANARY}"}, "BAO_TOKEN"),
        ([], {"VAULT_NAMESPACE": "team\nx"}, "VAULT_NAMESPACE"),
    ]
    for i, (opts, env, named) in enumerate(cases):
        commands = (["get", f"{root}/x"], ["put", f"{root}/x", "a=1"], ["tree", root]) if i == 0 else (["get", root],)
        for cmd in commands:
            res = run_sub("kv", *opts, *cmd, env={**base, **env})
            assert res.returncode == 2, (opts, env, res.stderr)
            assert named in res.stderr and "Traceback" not in res.stderr
            assert TOKEN_CANARY not in res.stdout + res.stderr
    # The destination's token for --to-addr, from a file or the environment, is checked the same way.
    for extra, env, named in (
        (["--to-token-file", str(broken)], {}, str(broken)),
        ([], {"CLUSTEROPS_TO_TOKEN": f"{TOKEN_CANARY}\r\nx"}, "CLUSTEROPS_TO_TOKEN"),
    ):
        res = run_sub("kv", "diff", f"{root}/x", "--to-addr", bao.addr, *extra, env={**base, **env})
        assert res.returncode == 2 and named in res.stderr and TOKEN_CANARY not in res.stdout + res.stderr


def test_to_addr_never_receives_the_source_token(cli: Cli, root: str, client: VaultClient) -> None:
    """Without a destination token, nothing at all is sent to the other server (a listener records it)."""
    client.write(client.resolve(f"{root}/x"), {"a": "1"})
    received: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    received.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    other = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        for args in (
            ("diff", f"{root}/x", "--to-addr", other),
            ("copy", f"{root}/x", f"{root}/y", "--to-addr", other),
            ("move", f"{root}/x", f"{root}/y", "--to-addr", other),
        ):
            code, out, err = cli("kv", *args)
            assert code == 2 and "needs that server's own token" in err, (args, out, err)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert not any(cli.bao.token.encode() in r for r in received)
    assert received == []
    assert client.read_version(client.resolve(f"{root}/x")).data == {"a": "1"}
