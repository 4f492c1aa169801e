from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.errors import UsageError
from clusterops.settings import VaultSettings, check_namespace, check_token

SECRET = "hvs.CANARY-0b1d"


@pytest.mark.parametrize("bad", [f"{SECRET}\nsecond-line", f"{SECRET} x", f"{SECRET}\x00", f"{SECRET}é", "a\rb"])
def test_a_token_file_with_a_broken_token_names_the_file_never_the_content(tmp_path: Path, bad: str) -> None:
    f = tmp_path / "tok"
    f.write_text(bad + "\n")
    with pytest.raises(UsageError) as info:
        VaultSettings.resolve(env={}, home=tmp_path, token_file=str(f))
    text = str(info.value)
    assert str(f) in text and "--token-file" in text
    assert SECRET not in text and "second-line" not in text


def test_a_broken_environment_token_names_the_variable(tmp_path: Path) -> None:
    for var in ("VAULT_TOKEN", "BAO_TOKEN"):
        with pytest.raises(UsageError) as info:
            VaultSettings.resolve(env={var: f"{SECRET}\n{SECRET}"}, home=tmp_path)
        assert var in str(info.value) and SECRET not in str(info.value)


def test_one_trailing_newline_is_fine(tmp_path: Path) -> None:
    f = tmp_path / "tok"
    f.write_text(SECRET + "\r\n")
    assert VaultSettings.resolve(env={}, home=tmp_path, token_file=str(f)).token == SECRET
    assert VaultSettings.resolve(env={"VAULT_TOKEN": SECRET + "\n"}, home=tmp_path).token == SECRET


def test_binary_token_file(tmp_path: Path) -> None:
    f = tmp_path / "tok"
    f.write_bytes(b"\xff\xfe" + SECRET.encode())
    with pytest.raises(UsageError, match="not text") as info:
        VaultSettings.resolve(env={}, home=tmp_path, token_file=str(f))
    assert SECRET not in str(info.value)


def test_namespaces_are_checked() -> None:
    assert check_namespace("team-a/child/", "x") == "team-a/child/"
    for bad in ("team a", "team\n", "a//b", "../root", "é"):
        with pytest.raises(UsageError, match="namespace"):
            check_namespace(bad, "VAULT_NAMESPACE")
    with pytest.raises(UsageError, match="VAULT_NAMESPACE"):
        VaultSettings.resolve(env={"VAULT_NAMESPACE": "a\nb"}, home=Path("/nonexistent"))


def test_check_token_accepts_real_token_shapes() -> None:
    for tok in ("root", "hvs.CAESIJ-x_y", "s.abc", "b.AAAA==", "t-0123"):
        assert check_token(tok, "x") == tok


def test_tls_files_are_checked_before_any_request(tmp_path: Path) -> None:
    s = VaultSettings(address="https://h:8200", ca_cert=str(tmp_path / "missing.pem"))
    with pytest.raises(UsageError, match=r"missing\.pem does not exist"):
        s.check_files()
    s = VaultSettings(address="https://h:8200", ca_path=str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="CA folder"):
        s.check_files()
    VaultSettings(address="https://h:8200", ca_path=str(tmp_path)).check_files()
