from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.errors import UsageError
from clusterops.settings import ConsulSettings, normalize_consul_address


def test_defaults_follow_consul() -> None:
    s = ConsulSettings.resolve(env={})
    assert s.address == "http://127.0.0.1:8500"
    assert s.token is None
    assert s.verify is True


def test_env_variables_as_consuls_cli_reads_them(tmp_path: Path) -> None:
    token_file = tmp_path / "tok"
    token_file.write_text("s3cr3t-from-file\n")
    s = ConsulSettings.resolve(
        env={
            "CONSUL_HTTP_ADDR": "10.0.0.5:8501",
            "CONSUL_HTTP_SSL": "true",
            "CONSUL_HTTP_TOKEN_FILE": str(token_file),
            "CONSUL_CACERT": "/etc/ca.pem",
            "CONSUL_HTTP_SSL_VERIFY": "false",
        }
    )
    assert s.address == "https://10.0.0.5:8501"
    assert s.token == "s3cr3t-from-file"
    assert s.ca_cert == "/etc/ca.pem"
    assert s.verify is False
    assert "s3cr3t" not in repr(s)


def test_token_file_wins_over_token_as_in_consuls_api_and_option_over_env_file(tmp_path: Path) -> None:
    # consul/api NewClient: "If the TokenFile is set, always use that, even if a Token is configured"
    env_file, option_file, empty = tmp_path / "env", tmp_path / "opt", tmp_path / "empty"
    env_file.write_text("from-env-file\n")
    option_file.write_text("from-option")
    empty.write_text("\n")
    for f in (env_file, option_file, empty):
        f.chmod(0o600)
    env = {"CONSUL_HTTP_TOKEN": "from-env", "CONSUL_HTTP_TOKEN_FILE": str(env_file)}
    assert ConsulSettings.resolve(env=env).token == "from-env-file"
    assert ConsulSettings.resolve(env=env, token_file=str(option_file)).token == "from-option"
    # an empty token file does not count: the token is used
    assert ConsulSettings.resolve(env={**env, "CONSUL_HTTP_TOKEN_FILE": str(empty)}).token == "from-env"
    assert ConsulSettings.resolve(env={"CONSUL_HTTP_TOKEN": "from-env"}).token == "from-env"


def test_unreadable_token_file_is_a_usage_error_naming_the_variable() -> None:
    with pytest.raises(UsageError, match="CONSUL_HTTP_TOKEN_FILE"):
        ConsulSettings.resolve(env={"CONSUL_HTTP_TOKEN_FILE": "/nonexistent/token"})


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("127.0.0.1:8500", "http://127.0.0.1:8500"),
        ("https://consul.example:8501", "https://consul.example:8501"),
        ("consul.service", "http://consul.service:8500"),
        ("[::1]:8500", "http://[::1]:8500"),
    ],
)
def test_address_normalization(raw: str, want: str) -> None:
    assert normalize_consul_address(raw) == want


@pytest.mark.parametrize("raw", ["", "ftp://x:1", "http://:80", "host:notaport"])
def test_bad_addresses_are_usage_errors(raw: str) -> None:
    with pytest.raises(UsageError):
        normalize_consul_address(raw)


def test_bad_boolean_is_named() -> None:
    with pytest.raises(UsageError, match="CONSUL_HTTP_SSL_VERIFY"):
        ConsulSettings.resolve(env={"CONSUL_HTTP_SSL_VERIFY": "maybe"})


def test_one_state_dir_for_every_kind_of_state(tmp_path: Path) -> None:
    from clusterops.kv.apply_journal import default_journal_dir
    from clusterops.settings import state_dir

    assert state_dir({"CLUSTEROPS_STATE_DIR": str(tmp_path)}) == tmp_path
    assert state_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "clusterops"
    assert state_dir({}) == Path.home() / ".local" / "state" / "clusterops"
    assert default_journal_dir({"CLUSTEROPS_STATE_DIR": str(tmp_path)}) == tmp_path / "kv-runs"


def test_journals_use_the_same_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clusterops.journal import default_state_dir

    monkeypatch.setenv("CLUSTEROPS_STATE_DIR", str(tmp_path / "s"))
    assert default_state_dir() == tmp_path / "s"
    monkeypatch.delenv("CLUSTEROPS_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "clusterops"
