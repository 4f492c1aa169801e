"""Connection settings, resolved the way Consul's and Vault's own CLIs resolve them.

Precedence: an explicit value (CLI option) first, then the environment, then the default.
Tokens come from the environment or from files, never from argv; `repr()` of a settings object
never shows the token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from clusterops.errors import UsageError

_TRUE = {"1", "t", "true", "yes", "y", "on"}
_FALSE = {"0", "f", "false", "no", "n", "off"}


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UsageError(f"{name}={value!r} is not a boolean (use true or false)")


def _read_token_file(name: str, path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as err:
        raise UsageError(f"cannot read the token file named by {name} ({path}): {err.strerror}") from err


@dataclass(frozen=True)
class ConsulSettings:
    """Where and how to reach one Consul agent's HTTP API."""

    address: str = "http://127.0.0.1:8500"
    token: str | None = field(default=None, repr=False)
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True
    timeout: float = 10.0

    @property
    def scheme(self) -> str:
        return urlsplit(self.address).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.address).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.address)
        return parts.port or (443 if parts.scheme == "https" else 8500)

    def with_address(self, address: str) -> ConsulSettings:
        """The same credentials aimed at another agent (e.g. one server of the cluster)."""
        return replace(self, address=normalize_consul_address(address, default_scheme=self.scheme))

    @classmethod
    def resolve(
        cls,
        *,
        address: str | None = None,
        token_file: str | None = None,
        ca_cert: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        verify: bool | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ConsulSettings:
        """Options first, then CONSUL_HTTP_* variables, then Consul's defaults."""
        env = os.environ if env is None else env
        use_ssl = env.get("CONSUL_HTTP_SSL")
        default_scheme = "https" if use_ssl and _parse_bool("CONSUL_HTTP_SSL", use_ssl) else "http"
        raw_address = address or env.get("CONSUL_HTTP_ADDR") or "127.0.0.1:8500"
        token: str | None = None
        if token_file:
            token = _read_token_file("--token-file", token_file)
        elif env.get("CONSUL_HTTP_TOKEN"):
            token = env["CONSUL_HTTP_TOKEN"]
        elif env.get("CONSUL_HTTP_TOKEN_FILE"):
            token = _read_token_file("CONSUL_HTTP_TOKEN_FILE", env["CONSUL_HTTP_TOKEN_FILE"])
        if verify is None:
            raw_verify = env.get("CONSUL_HTTP_SSL_VERIFY")
            verify = _parse_bool("CONSUL_HTTP_SSL_VERIFY", raw_verify) if raw_verify else True
        return cls(
            address=normalize_consul_address(raw_address, default_scheme=default_scheme),
            token=token or None,
            ca_cert=ca_cert or env.get("CONSUL_CACERT") or None,
            client_cert=client_cert or env.get("CONSUL_CLIENT_CERT") or None,
            client_key=client_key or env.get("CONSUL_CLIENT_KEY") or None,
            verify=verify,
        )


def normalize_consul_address(raw: str, *, default_scheme: str = "http") -> str:
    """`127.0.0.1:8500`, `http://host:8500` or `host` -> `scheme://host:port`."""
    value = raw.strip()
    if not value:
        raise UsageError("the Consul address is empty")
    if "://" not in value:
        value = f"{default_scheme}://{value}"
    try:
        parts = urlsplit(value)
    except ValueError as err:  # e.g. an unbalanced [ in an IPv6 address
        raise UsageError(f"Consul address {raw!r} is not of the form [http(s)://]host:port ({err})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"Consul address {raw!r} is not of the form [http(s)://]host:port")
    try:
        port = parts.port
    except ValueError as err:
        raise UsageError(f"Consul address {raw!r} has an invalid port") from err
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port or (443 if parts.scheme == 'https' else 8500)}"


def _first_env(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True)
class VaultSettings:
    """Where and how to reach one Vault or OpenBao server, resolved like `vault` / `bao` do.

    Every variable is read as `VAULT_*` first and OpenBao's `BAO_*` second. The token comes from
    `--token-file`, else `VAULT_TOKEN` / `BAO_TOKEN`, else the token helper file `~/.vault-token`
    (or `~/.bao-token`); never from argv. `repr()` never shows it.
    """

    address: str = "https://127.0.0.1:8200"
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True
    timeout: float = 30.0

    @property
    def tls_verify(self) -> bool | str:
        """What `requests` takes as `verify`: False, a CA file or directory, or True."""
        if not self.verify:
            return False
        return self.ca_cert or self.ca_path or True

    @property
    def cert(self) -> tuple[str, str] | None:
        if self.client_cert and self.client_key:
            return (self.client_cert, self.client_key)
        return None

    def with_address(self, address: str, *, token: str | None = None, namespace: str | None = None) -> VaultSettings:
        """The same TLS settings aimed at another server (e.g. production next to staging)."""
        return replace(
            self,
            address=normalize_vault_address(address),
            token=token if token is not None else self.token,
            namespace=namespace if namespace is not None else self.namespace,
        )

    @classmethod
    def resolve(
        cls,
        *,
        address: str | None = None,
        token_file: str | None = None,
        namespace: str | None = None,
        ca_cert: str | None = None,
        ca_path: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        verify: bool | None = None,
        env: Mapping[str, str] | None = None,
        home: Path | None = None,
    ) -> VaultSettings:
        """Options first, then VAULT_* / BAO_* variables, then the token helper file, then defaults."""
        env = os.environ if env is None else env
        home = Path.home() if home is None else home
        raw_address = address or _first_env(env, "VAULT_ADDR", "BAO_ADDR") or "https://127.0.0.1:8200"
        token: str | None = None
        if token_file:
            token = _read_token_file("--token-file", token_file)
        else:
            token = _first_env(env, "VAULT_TOKEN", "BAO_TOKEN")
            if not token:
                for name in (".vault-token", ".bao-token"):
                    helper = home / name
                    if helper.is_file():
                        token = _read_token_file(f"~/{name}", str(helper))
                        break
        if verify is None:
            skip = _first_env(env, "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY")
            verify = not _parse_bool("VAULT_SKIP_VERIFY", skip) if skip else True
        return cls(
            address=normalize_vault_address(raw_address),
            token=token or None,
            namespace=namespace or _first_env(env, "VAULT_NAMESPACE", "BAO_NAMESPACE"),
            ca_cert=ca_cert or _first_env(env, "VAULT_CACERT", "BAO_CACERT"),
            ca_path=ca_path or _first_env(env, "VAULT_CAPATH", "BAO_CAPATH"),
            client_cert=client_cert or _first_env(env, "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT"),
            client_key=client_key or _first_env(env, "VAULT_CLIENT_KEY", "BAO_CLIENT_KEY"),
            verify=verify,
        )


def normalize_vault_address(raw: str) -> str:
    """`https://host:8200` or `host:8200` (https assumed, like Vault) -> `scheme://host[:port]` without a slash."""
    value = raw.strip().rstrip("/")
    if not value:
        raise UsageError("the Vault address is empty")
    if "://" not in value:
        value = f"https://{value}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"Vault address {raw!r} is not of the form http(s)://host:port")
    try:
        port = parts.port
    except ValueError as err:
        raise UsageError(f"Vault address {raw!r} has an invalid port") from err
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}" if port else f"{parts.scheme}://{host}"
