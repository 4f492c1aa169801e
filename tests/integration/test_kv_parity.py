"""`clusterops kv` parity with `vault kv` on the lab's real OpenBao server."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from clusterops.errors import AuthError
from clusterops.kv import ops
from clusterops.kv.client import VaultClient
from tests.integration.kv_helpers import Bao, Cli, restricted_token

SECRET = "pw-Zq81-parity"


def test_put_get_formats_and_field(cli: Cli, root: str, tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text(SECRET + "\n")
    code, out, _ = cli("kv", "put", f"{root}/db", "user=app", f"pass=@{f}")
    assert code == 0 and "version 1" in out
    code, out, _ = cli("kv", "put", f"{root}/db", "pass=-", stdin="from-stdin-2\n")
    assert code == 0 and "version 2" in out
    code, out, _ = cli("kv", "put", f"{root}/json", "-", stdin=json.dumps({"a": 1, "b": [1, 2]}))
    assert code == 0

    code, out, _ = cli("kv", "get", f"{root}/db", "--version", "1", "-f", "json")
    doc = json.loads(out)
    assert code == 0 and doc["version"] == 1 and set(doc["data"]) == {"user", "pass"}
    assert SECRET not in out and doc["data"]["pass"].startswith("hmac:")
    code, out, _ = cli("kv", "get", f"{root}/db", "--version", "1", "--field", "pass")
    assert (code, out) == (0, SECRET + "\n")  # k=@file keeps the bytes, as bao kv put does
    code, out, _ = cli("kv", "get", f"{root}/db", "--version", "1", "--show-values", "-f", "yaml")
    assert yaml.safe_load(out)["data"]["pass"] == SECRET + "\n"
    code, out, _ = cli("kv", "get", f"{root}/json", "--field", "b")
    assert json.loads(out) == [1, 2]
    code, out, _ = cli("kv", "get", f"{root}/db")
    assert code == 0 and "version 2" in out and "<hidden hmac:" in out

    # --mount with a relative path
    code, out, _ = cli("kv", "get", root.split("/", 1)[1] + "/db", "--mount", "secret", "-f", "json")
    assert code == 0 and json.loads(out)["path"] == f"{root}/db"


def test_cas_and_errors_map_to_exit_codes(cli: Cli, root: str) -> None:
    assert cli("kv", "put", f"{root}/c", "a=1", "--cas", "0")[0] == 0
    code, _, err = cli("kv", "put", f"{root}/c", "a=2", "--cas", "0")
    assert code == 1 and "check-and-set" in err and "nothing was written" in err
    assert cli("kv", "put", f"{root}/c", "a=2", "--cas", "1")[0] == 0
    code, _, err = cli("kv", "get", f"{root}/missing")
    assert code == 2 and "not found" in err
    code, _, err = cli("kv", "put", f"{root}/c", "novalue")
    assert code == 2 and "has no '='" in err and "novalue" not in err


def test_patch_is_a_real_http_patch_and_falls_back_to_rw(cli: Cli, bao: Bao, root: str, client: VaultClient) -> None:
    cli("kv", "put", f"{root}/p", "a=1", "b=2")
    code, out, _ = cli("kv", "patch", f"{root}/p", "c=3", "--remove", "a", "--cas", "1", "-f", "json")
    assert code == 0 and json.loads(out) | {"created_time": ""} == {
        "path": f"{root}/p",
        "version": 2,
        "created_time": "",
        "method": "patch",
    }
    assert client.read_version(client.resolve(f"{root}/p")).data == {"b": "2", "c": "3"}
    code, _, err = cli("kv", "patch", f"{root}/p", "c=4", "--cas", "1")
    assert code == 1 and "check-and-set" in err

    # A token without the patch capability: read + merge + write guarded by cas.
    rel = root.split("/", 1)[1]
    token = restricted_token(
        bao,
        f"rw-{rel}",
        f'path "secret/data/{rel}/*" {{ capabilities = ["create", "read", "update"] }}\n'
        'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }',
    )
    code, out, err = cli("kv", "patch", f"{root}/p", "d=5", "-f", "json", token=token)
    assert code == 0, err
    assert json.loads(out)["method"] == "rw" and json.loads(out)["version"] == 3
    assert client.read_version(client.resolve(f"{root}/p")).data == {"b": "2", "c": "3", "d": "5"}
    code, _, err = cli("kv", "patch", f"{root}/p", "d=6", "--method", "patch", token=token)
    assert code == 2 and "'patch'" in err and f"secret/data/{rel}/p" in err


def test_delete_undelete_destroy_rollback(cli: Cli, root: str, client: VaultClient) -> None:
    for i in range(1, 4):
        cli("kv", "put", f"{root}/v", f"n={i}")
    assert cli("kv", "delete", f"{root}/v")[0] == 0
    _, out, _ = cli("kv", "get", f"{root}/v", "-f", "json")
    assert json.loads(out)["state"] == "deleted" and json.loads(out)["data"] is None
    assert cli("kv", "undelete", f"{root}/v", "--versions", "3")[0] == 0
    assert cli("kv", "delete", f"{root}/v", "--versions", "1")[0] == 0
    assert cli("kv", "destroy", f"{root}/v", "--versions", "2")[0] == 0
    meta = client.read_metadata(client.resolve(f"{root}/v"))
    assert [v.state for v in meta.versions] == ["deleted", "destroyed", "live"]
    code, _, err = cli("kv", "rollback", f"{root}/v", "--version", "2")
    assert code == 2 and "destroyed" in err
    cli("kv", "undelete", f"{root}/v", "--versions", "1")
    code, out, _ = cli("kv", "rollback", f"{root}/v", "--version", "1")
    assert code == 0 and "as version 4" in out
    assert client.read_version(client.resolve(f"{root}/v")).data == {"n": "1"}


def test_list_and_subkeys(cli: Cli, root: str) -> None:
    cli("kv", "put", f"{root}/a/b", "x=1")
    cli("kv", "put", f"{root}/c", "k=-", stdin=json.dumps({"deep": 1}))
    cli("kv", "put", f"{root}/n", "-", stdin=json.dumps({"top": {"inner": "s"}, "flat": "v"}))
    code, out, _ = cli("kv", "list", root, "-f", "json")
    assert code == 0 and json.loads(out) == ["a/", "c", "n"]
    code, out, _ = cli("kv", "subkeys", f"{root}/n", "-f", "json")
    assert json.loads(out)["subkeys"] == {"flat": None, "top": {"inner": None}}
    code, out, _ = cli("kv", "subkeys", f"{root}/n", "--depth", "1", "-f", "json")
    assert json.loads(out)["subkeys"] == {"flat": None, "top": None}
    assert cli("kv", "list", f"{root}/nothing-here")[0] == 2


def test_metadata_put_patch_delete_keep_other_fields(cli: Cli, bao: Bao, root: str, client: VaultClient) -> None:
    cli("kv", "put", f"{root}/m", "a=1")
    code, _, _ = cli(
        "kv", "metadata", "put", f"{root}/m", "--max-versions", "5", "--delete-version-after", "1h",
        "--custom-metadata", "owner=team-a", "--custom-metadata", "tier=1", "--cas-required",
    )  # fmt: skip
    assert code == 0
    # A later put of one field keeps delete_version_after (hvac's update_metadata would reset it to 0s).
    cli("kv", "metadata", "put", f"{root}/m", "--max-versions", "6")
    ref = client.resolve(f"{root}/m")
    meta = client.read_metadata(ref)
    assert (meta.max_versions, meta.delete_version_after, meta.cas_required) == (6, "1h0m0s", True)
    assert dict(meta.custom_metadata) == {"owner": "team-a", "tier": "1"}
    cli("kv", "metadata", "patch", f"{root}/m", "--custom-metadata", "tier=2", "--remove-custom-metadata", "owner")
    meta = client.read_metadata(ref)
    assert dict(meta.custom_metadata) == {"tier": "2"} and meta.delete_version_after == "1h0m0s"
    _, out, _ = cli("kv", "metadata", "get", f"{root}/m", "-f", "json")
    assert json.loads(out)["versions"]["1"]["state"] == "live"

    # The pitfall this avoids, shown on the real server: hvac's update_metadata resets delete_version_after.
    bao.hvac().secrets.kv.v2.update_metadata(path=ref.path, max_versions=7, mount_point="secret")
    assert client.read_metadata(ref).delete_version_after == "0s"

    assert cli("kv", "metadata", "delete", f"{root}/m")[0] == 0
    assert cli("kv", "get", f"{root}/m")[0] == 2


def test_kv_v1_mount_is_detected(cli: Cli, bao: Bao, client: VaultClient) -> None:
    mount = f"kv1-{uuid.uuid4().hex[:8]}"
    h = bao.hvac()
    h.sys.enable_secrets_engine(backend_type="kv", path=mount, options={"version": "1"})
    try:
        assert client.resolve(f"{mount}/x").kv_version == 1
        assert cli("kv", "put", f"{mount}/app/x", "a=1")[0] == 0
        _, out, _ = cli("kv", "get", f"{mount}/app/x", "--show-values", "-f", "json")
        assert json.loads(out)["data"] == {"a": "1"}
        _, out, _ = cli("kv", "list", f"{mount}/app", "-f", "json")
        assert json.loads(out) == ["x"]
        code, _, err = cli("kv", "history", f"{mount}/app/x")
        assert code == 2 and "KV v2" in err
        code, _, err = cli("kv", "get", f"{mount}/app/x", "--version", "1")
        assert code == 2 and "no versions" in err
        # An explicit override skips detection.
        ref = client.resolve("app/x", mount=mount, kv_version=1)
        assert ops.get(client, ref).data == {"a": "1"}
        assert cli("kv", "delete", f"{mount}/app/x")[0] == 0
    finally:
        h.sys.disable_secrets_engine(path=mount)


def test_namespace(cli: Cli, bao: Bao) -> None:
    """OpenBao 2.7.2 supports namespaces: create one, mount KV v2 in it, use it through --namespace."""
    ns = f"ns-{uuid.uuid4().hex[:8]}"
    h = bao.hvac()
    h.adapter.post(f"/v1/sys/namespaces/{ns}")
    import hvac

    inner = hvac.Client(url=bao.addr, token=bao.token, namespace=ns)
    inner.sys.enable_secrets_engine(backend_type="kv", path="kv", options={"version": "2"})
    try:
        assert cli("kv", "--namespace", ns, "put", "kv/app", "a=1")[0] == 0
        _, out, _ = cli("kv", "--namespace", ns, "get", "kv/app", "--field", "a")
        assert out == "1"
        # Not visible outside the namespace.
        assert cli("kv", "get", "kv/app")[0] == 2
        assert inner.secrets.kv.v2.read_secret_version(path="app", mount_point="kv", raise_on_deleted_version=True)
    finally:
        inner.sys.disable_secrets_engine(path="kv")
        h.adapter.delete(f"/v1/sys/namespaces/{ns}")


def test_auth_error_names_path_and_capability(bao: Bao, root: str) -> None:
    rel = root.split("/", 1)[1]
    token = restricted_token(bao, f"ro-{rel}", f'path "secret/data/{rel}/*" {{ capabilities = ["read"] }}')
    with VaultClient(bao.settings().with_address(bao.addr, token=token)) as c:
        ref = c.resolve("x", mount="secret", kv_version=2)
        ref = type(ref)("secret", f"{rel}/x", 2)
        with pytest.raises(AuthError) as info:
            c.write(ref, {"a": "1"})
    assert f"secret/data/{rel}/x" in str(info.value) and "create or update" in str(info.value)
    assert token not in str(info.value)


# -- names that are not URL-safe: every operation acts on exactly the secret named -----------------

# (name, the sibling an unencoded request would reach instead: truncated at # or ?, or %41 decoded)
AWKWARD = (("app#old", "app"), ("db?tmp", "db"), ("%41", "A"), ("50%", "50"), ("a b", "a"), ("café", "caf"))


def _snapshot(client: VaultClient, path: str) -> tuple[object, ...]:
    """Everything about a secret on the server: metadata, and the data of every readable version."""
    ref = client.resolve(path)
    meta = client.read_metadata(ref)
    data = tuple((v.version, client.read_version(ref, v.version).data) for v in meta.versions if v.state == "live")
    return (meta.current_version, meta.versions, dict(meta.custom_metadata), meta.max_versions, data)


def _names(client: VaultClient, folder: str) -> list[str]:
    """What the server itself lists in a folder (its own names, decoded)."""
    return client.list_folder(client.resolve(folder))


def test_every_operation_acts_on_exactly_the_secret_named(
    cli: Cli, root: str, client: VaultClient, tmp_path: Path
) -> None:
    base = f"{root}/enc"
    for _, sib in AWKWARD:
        write_versions_plain(client, f"{base}/{sib}", {"sib": "s1"}, {"sib": "s2"})
        write_versions_plain(client, f"{base}/{sib}/child", {"sib": "c1"})
    before = {sib: (_snapshot(client, f"{base}/{sib}"), _snapshot(client, f"{base}/{sib}/child")) for _, sib in AWKWARD}

    for name, _ in AWKWARD:
        p = f"{base}/{name}"
        assert cli("kv", "put", p, "a=1")[0] == 0
        assert cli("kv", "put", p, "a=2", "--cas", "1")[0] == 0
        code, out, err = cli("kv", "get", p, "-f", "json")
        assert code == 0, err
        assert (json.loads(out)["path"], json.loads(out)["version"]) == (p, 2)
        assert cli("kv", "patch", p, "b=3")[0] == 0
        assert cli("kv", "rollback", p, "--version", "1")[0] == 0  # v4 = {a: 1}
        assert cli("kv", "delete", p, "--versions", "1")[0] == 0
        assert cli("kv", "undelete", p, "--versions", "1")[0] == 0
        assert cli("kv", "destroy", p, "--versions", "2")[0] == 0
        assert cli("kv", "delete", p)[0] == 0
        assert cli("kv", "undelete", p, "--versions", "4")[0] == 0
        code, out, _ = cli("kv", "subkeys", p, "-f", "json")
        assert code == 0 and json.loads(out)["subkeys"] == {"a": None}
        assert cli("kv", "metadata", "put", p, "--custom-metadata", "owner=o")[0] == 0
        assert cli("kv", "metadata", "patch", p, "--max-versions", "7")[0] == 0
        code, out, _ = cli("kv", "metadata", "get", p, "-f", "json")
        meta = json.loads(out)
        assert (meta["custom_metadata"], meta["max_versions"], meta["current_version"]) == ({"owner": "o"}, 7, 4)
        assert [v["state"] for v in meta["versions"].values()] == ["live", "destroyed", "live", "live"]
        code, out, _ = cli("kv", "history", p, "-f", "json")
        assert code == 0 and json.loads(out)["path"] == p
        code, out, _ = cli("kv", "diff", p, "--from", "3", "--to", "4", "-f", "json")
        assert code == 0 and "b" in out
        assert cli("kv", "put", f"{p}/child", "c=1")[0] == 0  # `name` is a secret and a folder
        assert {name, f"{name}/"} <= set(json.loads(cli("kv", "list", base, "-f", "json")[1]))
        assert set(_names(client, base)) >= {name, f"{name}/"}

    code, out, _ = cli("kv", "tree", base, "-f", "json")
    listed = set(json.loads(out))
    assert all(f"{base}/{n}" in listed and f"{base}/{n}/child" in listed for n, _ in AWKWARD)
    code, out, _ = cli("kv", "search", base, "--key", "^c$", "-f", "json")
    assert {h["path"] for h in json.loads(out)["hits"]} == {f"{base}/{n}/child" for n, _ in AWKWARD}

    # copy, move, export, import of each awkward name (a secret and a folder at once)
    key = tmp_path / "k"
    assert cli("kv", "keygen", str(key))[0] == 0
    for i, (name, _) in enumerate(AWKWARD):
        p = f"{base}/{name}"
        code, _, err = cli("kv", "copy", p, f"{root}/copied/{name}", "--all-versions", "--apply", "--yes")
        assert code == 0, err
        code, _, err = cli("kv", "move", f"{root}/copied/{name}", f"{root}/moved/{name}", "--apply", "--yes")
        assert code == 0, err
        assert not {name, f"{name}/"} & set(_names(client, f"{root}/copied"))
        moved = _snapshot(client, f"{root}/moved/{name}")
        assert moved[0] == 4 and [v.state for v in moved[1]] == ["live", "destroyed", "live", "live"]
        assert cli("kv", "diff", p, f"{root}/moved/{name}", "--exit-code")[0] == 0
        exp = tmp_path / f"e{i}.yaml"
        assert cli("kv", "export", p, "-o", str(exp), "--key-file", str(key))[0] == 0
        code, _, err = cli("kv", "import", str(exp), f"{root}/imported/{name}", "--key-file", str(key), "--apply", "-y")
        assert code == 0, err
        assert _names(client, f"{root}/imported/{name}") == ["child"]
    assert sorted(_names(client, f"{root}/moved")) == sorted([n for n, _ in AWKWARD] + [f"{n}/" for n, _ in AWKWARD])
    assert _names(client, f"{root}/copied") == []

    # recursive delete, then metadata delete: only the awkward names go
    for name, _ in AWKWARD:
        code, out, err = cli("kv", "delete", f"{base}/{name}", "-r", "--all", "--apply", "--yes")
        assert code == 0 and "deleted 2 of 2" in out, err
    for name, sib in AWKWARD:
        assert name not in _names(client, base) and f"{name}/" not in _names(client, base)
        assert sib in _names(client, base)
    for name, _ in AWKWARD:
        assert cli("kv", "metadata", "delete", f"{root}/moved/{name}")[0] == 0
        assert name not in _names(client, f"{root}/moved")

    after = {sib: (_snapshot(client, f"{base}/{sib}"), _snapshot(client, f"{base}/{sib}/child")) for _, sib in AWKWARD}
    assert after == before  # every sibling untouched, on the server


def write_versions_plain(client: VaultClient, path: str, *versions: dict[str, str]) -> None:
    ref = client.resolve(path)
    for data in versions:
        client.write(ref, data)


def test_errors_name_their_cause(cli: Cli, bao: Bao, root: str, second_bao: Bao, tmp_path: Path) -> None:
    # No token, and a token the server does not know: said so, not "permission denied on the mount".
    code, _, err = cli("kv", "get", f"{root}/x", token="hvs.not-a-real-token")
    assert code == 2 and "token is not valid" in err, err
    assert "hvs.not-a-real-token" not in err
    # A missing CA file: exit 2 naming it, before any request.
    code, _, err = cli("kv", "--ca-cert", str(tmp_path / "nope.pem"), "get", f"{root}/x")
    assert code == 2 and "nope.pem does not exist" in err
    # https:// to a plain-HTTP server names the cause.
    code, _, err = cli("kv", "--address", bao.addr.replace("http://", "https://"), "get", f"{root}/x")
    assert code == 2 and "does not speak TLS" in err, err
    # An unknown namespace.
    code, _, err = cli("kv", "--namespace", "no-such-ns", "get", "secret/x")
    assert code == 2 and "no-such-ns" in err, err
    # A 200 answer that is not JSON (a web page, a proxy): said so, no traceback.
    with _html_server() as page:
        code, _, err = cli("kv", "--address", page, "get", "secret/x")
    assert code == 2 and "not JSON" in err and "Traceback" not in err, err
    # rollback --version 0 is a usage error.
    cli("kv", "put", f"{root}/r", "a=1")
    assert cli("kv", "rollback", f"{root}/r", "--version", "0")[0] == 2
    # An export to a path that cannot be written: exit 2 before reading anything.
    key = tmp_path / "k"
    cli("kv", "keygen", str(key))
    code, _, err = cli("kv", "export", root, "-o", "/proc/nope/e.yaml", "--key-file", str(key))
    assert code == 2 and "/proc/nope/e.yaml" in err, err
    # A sealed server says it is sealed (last: the module's second server stays sealed).
    second_bao.hvac().sys.seal()
    code, _, err = cli("kv", "--address", second_bao.addr, "get", "secret/x", token=second_bao.token)
    assert code == 2 and "sealed" in err, err


@contextlib.contextmanager
def _html_server() -> Iterator[str]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_policy_output_is_enough_for_the_command(cli: Cli, bao: Bao, root: str, tmp_path: Path) -> None:
    """The policy `--output-policy` prints (kv policy's) is all a token needs to run that command."""
    cli("kv", "put", f"{root}/pol/a", "k=1")
    cli("kv", "put", f"{root}/pol/a/b", "k=2")
    rel = root.split("/", 1)[1]
    for args in (
        ("get", f"{root}/pol/a"),
        ("put", f"{root}/pol/new", "k=3"),
        ("patch", f"{root}/pol/a", "k=4"),
        ("metadata", "put", f"{root}/pol/a", "--max-versions", "5"),
    ):
        code, hcl, err = cli("kv", "--output-policy", *args)
        assert code == 0 and 'path "secret/' in hcl, err
        name = f"p-{rel}-{uuid.uuid4().hex[:6]}"
        token = restricted_token(bao, name, hcl)
        code, _, err = cli("kv", *args, token=token)
        assert code == 0, (args, hcl, err)
    # A tree command is not guessed at.
    code, _, err = cli("kv", "--output-policy", "export", f"{root}/pol", "-o", str(tmp_path / "e"), "--plaintext")
    assert code == 2 and "single-secret commands" in err and not (tmp_path / "e").exists()


def test_enable_versioning_upgrades_a_v1_mount(cli: Cli, bao: Bao, client: VaultClient) -> None:
    mount = f"kv1up-{uuid.uuid4().hex[:8]}"
    h = bao.hvac()
    h.sys.enable_secrets_engine(backend_type="kv", path=mount, options={"version": "1"})
    try:
        assert cli("kv", "put", f"{mount}/app", "a=1")[0] == 0
        code, out, err = cli("kv", "enable-versioning", mount, "-f", "json")
        assert code == 0 and json.loads(out) == {"mount": mount, "kv_version": 2}, err

        def upgraded() -> bool:
            code, out, _ = cli("kv", "get", f"{mount}/app", "--field", "a")
            return code == 0 and out == "1"

        from clusterops.wait import Verdict, wait_until

        wait_until(upgraded, lambda ok: Verdict(ok, "not yet"), timeout=30, interval=0.3, what="KV v2 upgrade")
        assert client.resolve(f"{mount}/app").kv_version == 2
        code, out, _ = cli("kv", "metadata", "get", f"{mount}/app", "-f", "json")
        assert code == 0 and json.loads(out)["current_version"] == 1
    finally:
        h.sys.disable_secrets_engine(path=mount)
