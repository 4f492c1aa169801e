from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.errors import UsageError
from clusterops.settings import VaultSettings, normalize_vault_address


def test_defaults_follow_vault(tmp_path: Path) -> None:
    s = VaultSettings.resolve(env={}, home=tmp_path)
    assert s.address == "https://127.0.0.1:8200"
    assert s.token is None
    assert s.namespace is None
    assert s.verify is True
    assert s.tls_verify is True


def test_vault_variables(tmp_path: Path) -> None:
    s = VaultSettings.resolve(
        env={
            "VAULT_ADDR": "http://10.0.0.5:8200/",
            "VAULT_TOKEN": "hvs.from-env",
            "VAULT_NAMESPACE": "team-a",
            "VAULT_CACERT": "/etc/ca.pem",
            "VAULT_CLIENT_CERT": "/etc/c.pem",
            "VAULT_CLIENT_KEY": "/etc/k.pem",
        },
        home=tmp_path,
    )
    assert s.address == "http://10.0.0.5:8200"
    assert s.token == "hvs.from-env"
    assert s.namespace == "team-a"
    assert s.tls_verify == "/etc/ca.pem"
    assert s.cert == ("/etc/c.pem", "/etc/k.pem")


def test_openbao_variables_are_accepted(tmp_path: Path) -> None:
    s = VaultSettings.resolve(
        env={"BAO_ADDR": "https://bao:8200", "BAO_TOKEN": "s.bao", "BAO_NAMESPACE": "ns", "BAO_CAPATH": "/etc/cas"},
        home=tmp_path,
    )
    assert (s.address, s.token, s.namespace, s.tls_verify) == ("https://bao:8200", "s.bao", "ns", "/etc/cas")


def test_vault_variables_win_over_bao(tmp_path: Path) -> None:
    s = VaultSettings.resolve(env={"VAULT_ADDR": "http://v:1", "BAO_ADDR": "http://b:1"}, home=tmp_path)
    assert s.address == "http://v:1"


def test_token_precedence(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("from-helper\n")
    explicit = tmp_path / "explicit"
    explicit.write_text("from-option\n")
    assert VaultSettings.resolve(env={}, home=tmp_path).token == "from-helper"
    assert VaultSettings.resolve(env={"VAULT_TOKEN": "from-env"}, home=tmp_path).token == "from-env"
    s = VaultSettings.resolve(env={"VAULT_TOKEN": "from-env"}, home=tmp_path, token_file=str(explicit))
    assert s.token == "from-option"


def test_bao_token_helper_file(tmp_path: Path) -> None:
    (tmp_path / ".bao-token").write_text("bao-helper\n")
    assert VaultSettings.resolve(env={}, home=tmp_path).token == "bao-helper"


def test_skip_verify(tmp_path: Path) -> None:
    assert VaultSettings.resolve(env={"VAULT_SKIP_VERIFY": "true"}, home=tmp_path).tls_verify is False
    assert VaultSettings.resolve(env={"BAO_SKIP_VERIFY": "1"}, home=tmp_path).verify is False
    assert VaultSettings.resolve(env={"VAULT_SKIP_VERIFY": "true"}, home=tmp_path, verify=True).verify is True
    with pytest.raises(UsageError):
        VaultSettings.resolve(env={"VAULT_SKIP_VERIFY": "maybe"}, home=tmp_path)


def test_repr_never_shows_the_token(tmp_path: Path) -> None:
    s = VaultSettings.resolve(env={"VAULT_TOKEN": "hvs.TOPSECRET"}, home=tmp_path)
    assert "TOPSECRET" not in repr(s)
    assert "TOPSECRET" not in repr(s.with_address("http://other:8200", token="hvs.TOPSECRET"))
    assert s.with_address("http://other:8200", token=None).token is None  # never the source token


def test_unreadable_token_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--token-file"):
        VaultSettings.resolve(env={}, home=tmp_path, token_file=str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("127.0.0.1:8200", "https://127.0.0.1:8200"),
        ("http://127.0.0.1:8200/", "http://127.0.0.1:8200"),
        ("https://vault.example.com", "https://vault.example.com"),
        ("http://[::1]:8200", "http://[::1]:8200"),
    ],
)
def test_normalize(raw: str, want: str) -> None:
    assert normalize_vault_address(raw) == want


@pytest.mark.parametrize("raw", ["", "ftp://x:1", "http://x:notaport"])
def test_normalize_rejects(raw: str) -> None:
    with pytest.raises(UsageError):
        normalize_vault_address(raw)
