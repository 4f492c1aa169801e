"""Export and import with full history, encrypted or (explicitly) plaintext, on the real server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml

from clusterops.kv.client import VaultClient
from clusterops.kv.tree import walk
from tests.integration.kv_helpers import Cli, write_versions


def _seed(client: VaultClient, root: str) -> None:
    write_versions(client, f"{root}/src/app/db", {"pass": "bk-pw-1"}, {"pass": "bk-pw-2"}, {"pass": "bk-pw-3"})
    write_versions(client, f"{root}/src/app/api", {"token": "bk-tok"})
    db = client.resolve(f"{root}/src/app/db")
    client.delete_versions(db, [1])
    client.destroy_versions(db, [2])
    client.write_metadata(
        db, {"max_versions": 9, "cas_required": True, "delete_version_after": "2h", "custom_metadata": {"o": "t"}}
    )


def test_encrypted_round_trip_preserves_history_and_reports_losses(
    cli: Cli, root: str, client: VaultClient, tmp_path: Path
) -> None:
    _seed(client, root)
    key = tmp_path / "export.key"
    assert cli("kv", "keygen", str(key))[0] == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    out_file = tmp_path / "backup.yaml"
    code, out, err = cli("kv", "export", f"{root}/src", "-o", str(out_file), "--key-file", str(key))
    assert code == 0, err
    assert "exported 2 secret(s), 4 version(s)" in out and "(encrypted)" in out
    blob = out_file.read_bytes()
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert b"bk-pw" not in blob and b"bk-tok" not in blob and blob.startswith(b"clusterops-kv-export+fernet-stream/1")

    restore = ("kv", "import", str(out_file), f"{root}/restored", "--key-file", str(key))
    code, out, err = cli(*restore, "-f", "json", "--apply", "--yes")
    assert code == 0, err
    report = json.loads(out)["result"]
    assert report["imported"] == 2 and report["versions_written"] == 4
    assert any("timestamps" in n for n in report["not_preserved"])
    assert any("soft-deleted or destroyed" in n for n in report["not_preserved"])

    db = client.read_metadata(client.resolve(f"{root}/restored/app/db"))
    assert [v.state for v in db.versions] == ["deleted", "destroyed", "live"]
    assert (db.max_versions, db.cas_required, db.delete_version_after) == (9, True, "2h0m0s")
    assert dict(db.custom_metadata) == {"o": "t"}
    assert client.read_version(db.ref).data == {"pass": "bk-pw-3"}
    code, out, _ = cli("kv", "diff", f"{root}/src/", f"{root}/restored/", "--exit-code")
    assert code == 0 and "identical" in out

    # Importing again onto existing secrets is refused per secret without --force.
    code, out, _ = cli(*restore)  # the plan shows it
    assert code == 1 and out.count("REFUSED") == 2 and "already exists" in out
    code, _, err = cli(*restore, "--apply", "--yes")
    assert code == 1 and "already exists" in err


def test_plaintext_needs_opt_in_and_wrong_key_is_refused(
    cli: Cli, root: str, client: VaultClient, tmp_path: Path
) -> None:
    _seed(client, root)
    code, _, err = cli("kv", "export", f"{root}/src", "-o", str(tmp_path / "x.yaml"))
    assert code == 2 and "--plaintext" in err and not (tmp_path / "x.yaml").exists()
    plain = tmp_path / "plain.json"
    code, _, _ = cli("kv", "export", f"{root}/src", "-o", str(plain), "--plaintext", "--format", "json")
    assert code == 0
    doc = json.loads(plain.read_text())
    assert doc["format"] == "clusterops-kv-export/1"
    db = next(s for s in doc["secrets"] if s["path"] == "app/db")
    assert [v["state"] for v in db["versions"]] == ["deleted", "destroyed", "live"]
    assert db["versions"][2]["data"] == {"pass": "bk-pw-3"}
    code, _, _ = cli("kv", "export", f"{root}/src", "-o", str(tmp_path / "l.yaml"), "--plaintext", "--latest-only")
    assert code == 0
    latest = yaml.safe_load((tmp_path / "l.yaml").read_text())
    assert all(len(s["versions"]) == 1 for s in latest["secrets"])
    assert cli("kv", "import", str(plain), f"{root}/fromplain", "--apply", "--yes")[0] == 0

    k1, k2 = tmp_path / "k1", tmp_path / "k2"
    cli("kv", "keygen", str(k1))
    cli("kv", "keygen", str(k2))
    enc = tmp_path / "enc"
    cli("kv", "export", f"{root}/src", "-o", str(enc), "--key-file", str(k1))
    code, _, err = cli("kv", "import", str(enc), f"{root}/bad", "--key-file", str(k2))
    assert code == 2 and "cannot be decrypted" in err
    code, _, err = cli("kv", "import", str(enc), f"{root}/bad")
    assert code == 2 and "encrypted" in err


def test_import_refuses_entries_outside_the_destination(
    cli: Cli, root: str, client: VaultClient, tmp_path: Path
) -> None:
    write_versions(client, f"{root}/victim/prod-db", {"pass": "keep-me"})
    write_versions(client, f"{root}/src/ok", {"a": "1"})
    plain = tmp_path / "e.json"
    assert cli("kv", "export", f"{root}/src", "-o", str(plain), "--plaintext", "-f", "json")[0] == 0
    doc = json.loads(plain.read_text())
    good = doc["secrets"][0]
    before = client.read_metadata(client.resolve(f"{root}/victim/prod-db"))
    for bad in ("../victim/prod-db", "x/../../victim/prod-db", "./ok", "a//b", "%2e%2e/victim/prod-db", ".."):
        evil = dict(good, path=bad)
        f = tmp_path / "evil.json"
        f.write_text(json.dumps({**doc, "secrets": [good, evil]}))
        code, out, err = cli("kv", "import", str(f), f"{root}/dest/inner", "--apply", "--yes")
        assert code == 2, (bad, out, err)
        assert str(f) in err and "secret entry 2" in err and repr(bad) in err and "nothing was imported" in err
        assert walk(client, client.resolve(f"{root}/dest")) == []  # not even the good entry
    assert client.read_metadata(client.resolve(f"{root}/victim/prod-db")) == before
    # Two entries for one path are refused too.
    f = tmp_path / "dup.json"
    f.write_text(json.dumps({**doc, "secrets": [good, good]}))
    code, _, err = cli("kv", "import", str(f), f"{root}/dest")
    assert code == 2 and "both have path" in err
