"""Attacks on `kv plan/apply/undo` from outside, on the real OpenBao server: each test is a way in which
a run could write something nobody reviewed, and must be refused with nothing written."""

from __future__ import annotations

from pathlib import Path

from clusterops.kv.client import VaultClient
from tests.integration.kv_helpers import Cli, write_versions


def test_two_names_for_one_secret_are_refused_before_anything_is_written(
    cli: Cli, root: str, client: VaultClient, tmp_path: Path
) -> None:
    """`app` and `/app/` name the same secret. Loading both made a plan with two rows for one path (the
    reviewer sees two different sets of keys) and an apply that wrote only one of them, chosen silently."""
    rel = root.split("/", 1)[1]
    write_versions(client, f"{root}/app", {"user": "u", "pw": "old"})
    state = tmp_path / "state.yaml"
    state.write_text(
        "mount: secret\n"
        "secrets:\n"
        f"  {rel}/app:\n"
        "    data: {user: u, pw: reviewed}\n"
        f"  /{rel}/app/:\n"
        "    data: {user: admin, pw: other}\n"
    )
    code, out, err = cli("kv", "plan", str(state), "-o", str(tmp_path / "plan.json"))
    assert code == 2, out + err  # a desired state that names one secret twice is unusable input
    assert f"state.yaml:6: secrets./{rel}/app/: names the same secret as '{rel}/app' (line 4)" in err
    assert not (tmp_path / "plan.json").exists()

    journals = tmp_path / "state" / "kv-runs"
    code, out, err = cli("kv", "apply", str(state), "--state-dir", str(tmp_path / "state"))
    assert code == 2, out + err
    assert "same secret" in err
    got = client.read_version(client.resolve(f"{root}/app"))
    assert (got.info.version, dict(got.data or {})) == (1, {"user": "u", "pw": "old"})
    assert not journals.exists()
