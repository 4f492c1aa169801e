"""TLS settings and failure messages of `clusterops.transport`, without a server."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import requests

from clusterops import transport
from clusterops.errors import ConnectionFailed, UsageError
from clusterops.settings import ConsulSettings, VaultSettings
from clusterops.transport import TLSOptions, describe

ORIGIN = "https://10.0.0.1:8501"


def wrapped(reason: str) -> requests.exceptions.SSLError:
    """What requests raises: its SSLError around urllib3's around the ssl module's."""
    inner = ssl.SSLError(1, reason)
    return requests.exceptions.SSLError(requests.exceptions.SSLError(inner))


@pytest.mark.parametrize(
    ("reason", "want"),
    [
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
         "not signed by a CA we trust (checked against the CA file /etc/ca.pem)"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired",
         "the server's certificate has expired"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch, certificate is not valid",
         "not valid for '10.0.0.1' (hostname mismatch)"),
        ("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required",
         "requires a client certificate and none was sent"),
        ("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca", "refused our client certificate"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number", "does not speak TLS"),
    ],
)  # fmt: skip
def test_tls_failures_become_one_sentence_naming_the_address(reason: str, want: str) -> None:
    err = describe(wrapped(reason), ORIGIN, TLSOptions("Consul", ca_file="/etc/ca.pem"))
    assert err is not None
    assert want in err.message
    assert ORIGIN in err.message or "http://10.0.0.1:8501" in err.message


def test_a_refused_connection_is_left_to_the_caller() -> None:
    err = requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
    assert describe(err, ORIGIN, TLSOptions("Consul")) is None


def test_the_ca_actually_used_is_named() -> None:
    assert TLSOptions("Vault", ca_path="/etc/cas").ca_used == "the CA directory /etc/cas"
    assert "system CA store" in TLSOptions("Vault").ca_used
    assert TLSOptions("Vault", ca_file="/a.pem", ca_path="/etc/cas").ca_used == "the CA file /a.pem"  # file wins


def test_a_client_certificate_without_its_key_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not its key: set CONSUL_CLIENT_KEY"):
        transport.check_client_pair(TLSOptions("Consul", client_cert="/c.pem"))
    with pytest.raises(UsageError, match="not its certificate: set VAULT_CLIENT_CERT"):
        transport.check_client_pair(TLSOptions("Vault", client_key="/k.pem", env_prefix="VAULT"))


def test_unusable_ca_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        transport.ssl_context(TLSOptions("Consul", ca_file=str(tmp_path / "missing.pem")))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(UsageError, match=f"the CA file {junk} holds no PEM certificate"):
        transport.ssl_context(TLSOptions("Consul", ca_file=str(junk)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="holds no certificate"):
        transport.ssl_context(TLSOptions("Consul", ca_path=str(empty)))


def test_capath_and_server_name_come_from_the_environment() -> None:
    env = {"CONSUL_CAPATH": "/etc/cas", "CONSUL_TLS_SERVER_NAME": "server.dc1.consul"}
    tls = ConsulSettings.resolve(env=env).tls
    assert (tls.ca_path, tls.server_name) == ("/etc/cas", "server.dc1.consul")
    vault = VaultSettings.resolve(env={"VAULT_CAPATH": "/v", "VAULT_TLS_SERVER_NAME": "bao.lab"}, home=Path("/none"))
    assert (vault.tls.ca_path, vault.tls.server_name) == ("/v", "bao.lab")


def test_verification_off_warns_once_per_process(capsys: pytest.CaptureFixture[str]) -> None:
    transport._warned.discard("Consul-insecure")
    for _ in range(3):
        transport.TLSAdapter(TLSOptions("Consul", verify=False))
    assert capsys.readouterr().err.count("verification is off for Consul") == 1


def test_a_token_file_open_to_others_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "token"
    token.write_text("secret-token-value\n")
    token.chmod(0o640)
    assert ConsulSettings.resolve(env={"CONSUL_HTTP_TOKEN_FILE": str(token)}).token == "secret-token-value"
    err = capsys.readouterr().err
    assert "is open to group or others (mode 0640)" in err
    assert "secret-token-value" not in err


# -- retries: only where the operation is idempotent ------------------------------------------


def flaky(failures: int) -> tuple[list[int], object]:
    calls: list[int] = []

    def once() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise transport.Transient(f"attempt {len(calls)}: cannot connect")
        return "ok"

    return calls, once


def test_an_idempotent_call_is_retried_until_it_succeeds() -> None:
    calls, once = flaky(2)
    pauses: list[float] = []
    assert transport.call(once, idempotent=True, attempts=3, sleep=pauses.append) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 3 and len(pauses) == 2


def test_a_call_that_is_not_idempotent_is_made_once() -> None:
    calls, once = flaky(1)
    with pytest.raises(ConnectionFailed, match="X: attempt 1: cannot connect"):
        transport.call(once, idempotent=False, attempts=3, prefix="X: ", sleep=lambda _s: None)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_retries_stop_at_the_attempts_and_at_the_deadline() -> None:
    calls, once = flaky(10)
    with pytest.raises(ConnectionFailed, match="attempt 3"):
        transport.call(once, idempotent=True, attempts=3, sleep=lambda _s: None)  # type: ignore[arg-type]
    assert len(calls) == 3
    calls, once = flaky(10)
    with pytest.raises(ConnectionFailed, match="attempt 1"):
        transport.call(once, idempotent=True, attempts=3, remaining=lambda: 0.05)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_connection_failures_are_named_in_words() -> None:
    refused = requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
    failure = transport.request_failure(refused, "reading x", "http://10.0.0.1:8500")
    assert (
        str(failure) == "reading x: cannot connect to http://10.0.0.1:8500 (connection refused: nothing listens there)"
    )
    hung = transport.request_failure(requests.exceptions.ReadTimeout("read timed out"), "reading x", "http://a")
    assert str(hung) == "reading x: http://a did not answer in time (hung or overloaded?)"
    assert transport.request_failure(requests.exceptions.InvalidURL("bad"), "x", "a") is None
