"""Connection settings, resolved the way Consul's and Vault's own CLIs resolve them.

Precedence: an explicit value (CLI option) first, then the environment, then the default.
Tokens come from the environment or from files, never from argv; `repr()` of a settings object
never shows the token. `state_dir()` is the one place the default state directory is resolved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from clusterops.errors import UsageError

if TYPE_CHECKING:
    from clusterops.transport import TLSOptions

_TRUE = {"1", "t", "true", "yes", "y", "on"}
_FALSE = {"0", "f", "false", "no", "n", "off"}


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where clusterops keeps its state (journals, locks, snapshots, KV apply journals, the lab):
    CLUSTEROPS_STATE_DIR, else $XDG_STATE_HOME/clusterops, else ~/.local/state/clusterops."""
    env = os.environ if env is None else env
    if env.get("CLUSTEROPS_STATE_DIR"):
        return Path(env["CLUSTEROPS_STATE_DIR"]).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "clusterops"


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UsageError(f"{name}={value!r} is not a boolean (use true or false)")


def _read_token_file(name: str, path: str) -> str:
    from clusterops.transport import token_file_warning

    try:
        raw = Path(path).expanduser().read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read the token file named by {name} ({path}): {err.strerror}") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the token file named by {name} ({path}) is not text; its content is not shown") from None
    # One trailing newline (or CRLF) is what `echo > file` leaves: allowed, as `vault` allows it.
    token = check_token(text.strip(), f"the token file named by {name} ({path})")
    token_file_warning(path, name)
    return token


def check_token(token: str, source: str) -> str:
    """`token` when it can travel in an HTTP header; else a UsageError naming `source`, never the content.

    Vault and OpenBao tokens are printable ASCII without spaces; a newline, a space or any other control
    or non-ASCII character means the wrong file or a broken variable (and would reach the header layer,
    whose error message quotes the value).
    """
    for ch in token:
        if not 33 <= ord(ch) <= 126:
            what = {"\n": "a line break", "\r": "a carriage return", " ": "a space", "\t": "a tab"}.get(
                ch, "a control character" if ord(ch) < 32 or ord(ch) == 127 else "a non-ASCII character"
            )
            raise UsageError(
                f"{source} holds {what} inside the token; refusing to send it (its content is not shown)",
                hint="a token file holds the token alone, on one line",
            )
    return token


def check_namespace(namespace: str, source: str) -> str:
    """A namespace path (`team-a`, `team-a/child/`) that can travel in a header; else a UsageError naming `source`."""
    for ch in namespace:
        if not 33 <= ord(ch) <= 126:
            raise UsageError(
                f"the namespace from {source} holds a space, control or non-ASCII character: {namespace!r}"
            )
    inner = namespace.strip("/")
    if any(seg in ("", ".", "..") for seg in inner.split("/")) and inner:
        raise UsageError(f"the namespace from {source} has an empty, '.' or '..' segment: {namespace!r}")
    return namespace


def consul_token(token_file: str | None, env: Mapping[str, str]) -> str | None:
    """The token as Consul's own CLI picks it (api.NewClient): a token file, when set and not empty,
    wins over a token; `--token-file` is the CLI's `-token-file`, above CONSUL_HTTP_TOKEN_FILE."""
    file_name, file_path = ("--token-file", token_file) if token_file else ("CONSUL_HTTP_TOKEN_FILE", None)
    file_path = file_path or env.get("CONSUL_HTTP_TOKEN_FILE") or None
    if file_path:
        token = _read_token_file(file_name, file_path)
        if token:
            return token
    return env.get("CONSUL_HTTP_TOKEN") or None


@dataclass(frozen=True, kw_only=True)
class _TLSFields:
    """The TLS half of both services' settings (the same variables, CONSUL_* or VAULT_*/BAO_*)."""

    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True
    tls_server_name: str | None = None

    def _tls(self, service: str, env_prefix: str) -> TLSOptions:
        from clusterops.transport import TLSOptions

        return TLSOptions(
            service=service,
            verify=self.verify,
            ca_file=self.ca_cert,
            ca_path=self.ca_path,
            client_cert=self.client_cert,
            client_key=self.client_key,
            server_name=self.tls_server_name,
            env_prefix=env_prefix,
        )


@dataclass(frozen=True, kw_only=True)
class ConsulSettings(_TLSFields):
    """Where and how to reach one Consul agent's HTTP API."""

    address: str = "http://127.0.0.1:8500"
    token: str | None = field(default=None, repr=False)
    timeout: float = 10.0

    @property
    def tls(self) -> TLSOptions:
        """The TLS settings, for `clusterops.transport`."""
        return self._tls("Consul", "CONSUL")

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
        ca_path: str | None = None,
        tls_server_name: str | None = None,
    ) -> ConsulSettings:
        """Options first, then CONSUL_HTTP_* variables, then Consul's defaults."""
        env = os.environ if env is None else env
        use_ssl = env.get("CONSUL_HTTP_SSL")
        default_scheme = "https" if use_ssl and _parse_bool("CONSUL_HTTP_SSL", use_ssl) else "http"
        raw_address = address or env.get("CONSUL_HTTP_ADDR") or "127.0.0.1:8500"
        token = consul_token(token_file, env)
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
            ca_path=ca_path or env.get("CONSUL_CAPATH") or None,
            tls_server_name=tls_server_name or env.get("CONSUL_TLS_SERVER_NAME") or None,
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


def _first_name(env: Mapping[str, str], *names: str) -> str | None:
    """The first of `names` set (non-empty) in `env`."""
    for name in names:
        if env.get(name):
            return name
    return None


def _namespace(option: str | None, env: Mapping[str, str]) -> str | None:
    if option:
        return check_namespace(option, "--namespace")
    var = _first_name(env, "VAULT_NAMESPACE", "BAO_NAMESPACE")
    return check_namespace(env[var], var) if var else None


@dataclass(frozen=True, kw_only=True)
class VaultSettings(_TLSFields):
    """Where and how to reach one Vault or OpenBao server, resolved like `vault` / `bao` do.

    Every variable is read as `VAULT_*` first and OpenBao's `BAO_*` second. The token comes from
    `--token-file`, else `VAULT_TOKEN` / `BAO_TOKEN`, else the token helper file `~/.vault-token`
    (or `~/.bao-token`); never from argv. `repr()` never shows it.
    """

    address: str = "https://127.0.0.1:8200"
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    timeout: float = 30.0

    @property
    def tls(self) -> TLSOptions:
        """The TLS settings, for `clusterops.transport`."""
        return self._tls("Vault", "VAULT")

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

    def check_files(self) -> None:
        """The TLS files named exist and can be read: a UsageError naming the file before any request."""
        from clusterops.transport import check_client_pair

        for label, value, folder in (
            ("the CA file (--ca-cert, VAULT_CACERT)", self.ca_cert, False),
            ("the CA folder (--ca-path, VAULT_CAPATH)", self.ca_path, True),
            ("the client certificate (--client-cert, VAULT_CLIENT_CERT)", self.client_cert, False),
            ("the client key (--client-key, VAULT_CLIENT_KEY)", self.client_key, False),
        ):
            if not value:
                continue
            p = Path(value).expanduser()
            if folder:
                ok, why = p.is_dir(), "is not a folder"
            else:
                ok, why = p.is_file() and os.access(p, os.R_OK), "is not a readable file"
            if not ok:
                why = "does not exist" if not p.exists() else why
                raise UsageError(f"{label} {value} {why}")
        check_client_pair(self.tls)  # one message for both services, naming the file and the variable

    def with_address(self, address: str, *, token: str | None, namespace: str | None = None) -> VaultSettings:
        """The same TLS settings aimed at another server (e.g. production next to staging).

        The other server gets its own token (never this one's: a staging token is not sent to
        production) and its own namespace when given.
        """
        return replace(
            self,
            address=normalize_vault_address(address),
            token=check_token(token, "the destination token") if token else None,
            namespace=check_namespace(namespace, "--to-namespace") if namespace is not None else self.namespace,
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
            token_var = _first_name(env, "VAULT_TOKEN", "BAO_TOKEN")
            token = check_token(env[token_var].strip(), token_var) if token_var else None
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
            namespace=_namespace(namespace, env),
            ca_cert=ca_cert or _first_env(env, "VAULT_CACERT", "BAO_CACERT"),
            ca_path=ca_path or _first_env(env, "VAULT_CAPATH", "BAO_CAPATH"),
            client_cert=client_cert or _first_env(env, "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT"),
            client_key=client_key or _first_env(env, "VAULT_CLIENT_KEY", "BAO_CLIENT_KEY"),
            verify=verify,
            tls_server_name=_first_env(env, "VAULT_TLS_SERVER_NAME", "BAO_TLS_SERVER_NAME"),
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
