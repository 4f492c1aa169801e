"""How clusterops speaks HTTP(S) to Consul and Vault/OpenBao: the one place for the session, the TLS
settings of the official CLIs, error translation and retries.

Both adapters (`consul.client`, `kv.client`) get their `requests` session from here (`new_session`
or `mount` on py-consul's), and run every request through `call`:

- a refused/reset connection or a timeout becomes `Transient` with the cause in words
  (`request_failure`); server answers worth retrying (a 5xx during a restart, a rate limit) are
  raised as `Transient` by the adapter that knows its API;
- `call(..., idempotent=True)` retries a Transient with exponential backoff (bounded by the
  caller's deadline); `idempotent=False` never retries: a cluster-changing write (remove a peer,
  force-leave, transfer leadership, a KV write without cas, a session create) that timed out may
  have happened, and doing it again blindly is not ours to decide. Every call site says which.
- a Transient still failing at the end is `ConnectionFailed`, exit 2.

Both adapters (`consul.client`, `kv.client`) mount `TLSAdapter` on their `requests` session. It
builds one `ssl.SSLContext` from the settings, the way Consul's and Vault's Go clients do
(go-rootcerts): a CA file wins over a CA directory, a CA directory means every file in it (no
`c_rehash` needed), neither means the system store; a client certificate needs its key; a TLS server
name (CONSUL_TLS_SERVER_NAME, VAULT_TLS_SERVER_NAME) is sent as SNI and checked against the
certificate instead of the address's host.

Failures people meet are raised as `ConnectionFailed` naming the address and what failed: an
untrusted CA (naming the CA actually used), a hostname mismatch, an expired certificate, a client
certificate missing or refused, HTTP spoken to an HTTPS port and the reverse. A refused or reset
connection or a timeout is `request_failure`'s: a `Transient`, retried by `call` when idempotent.
Turning verification off warns once per process, on stderr, and silences urllib3's per-request warning.
"""

from __future__ import annotations

import ssl
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import requests.adapters
import tenacity
import urllib3

from clusterops.errors import ConnectionFailed, UsageError

T = TypeVar("T")
_warned: set[str] = set()


@dataclass(frozen=True)
class TLSOptions:
    """The TLS half of a connection's settings, with the variable names to mention in messages."""

    service: str  # "Consul" or "Vault"
    verify: bool = True
    ca_file: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    server_name: str | None = None
    env_prefix: str = "CONSUL"  # CONSUL or VAULT: names the variables in hints

    @property
    def ca_used(self) -> str:
        """What the server's certificate was checked against, as a person would name it."""
        if self.ca_file:
            return f"the CA file {self.ca_file}"
        if self.ca_path:
            return f"the CA directory {self.ca_path}"
        return "the system CA store (no CA file or CA directory set)"

    @property
    def _ca_var(self) -> str:
        return "CONSUL_CACERT" if self.env_prefix == "CONSUL" else "VAULT_CACERT"

    @property
    def _cert_vars(self) -> tuple[str, str]:
        return (f"{self.env_prefix}_CLIENT_CERT", f"{self.env_prefix}_CLIENT_KEY")

    @property
    def _skip_var(self) -> str:
        return "CONSUL_HTTP_SSL_VERIFY=false" if self.env_prefix == "CONSUL" else "VAULT_SKIP_VERIFY=true"


def check_client_pair(opts: TLSOptions) -> None:
    """A client certificate without its key (or the reverse) is a usage error, as in the official CLIs."""
    cert_var, key_var = opts._cert_vars
    if opts.client_cert and not opts.client_key:
        raise UsageError(
            f"a client certificate is set ({opts.client_cert}) but not its key: set {key_var} (or --client-key)"
        )
    if opts.client_key and not opts.client_cert:
        raise UsageError(
            f"a client key is set ({opts.client_key}) but not its certificate: set {cert_var} (or --client-cert)"
        )


def ssl_context(opts: TLSOptions) -> ssl.SSLContext:
    """The context every HTTPS connection of one client uses; UsageError naming the file if one is unusable."""
    check_client_pair(opts)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not opts.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif opts.ca_file:
        _load_ca(ctx, Path(opts.ca_file))
    elif opts.ca_path:
        directory = Path(opts.ca_path)
        if not directory.is_dir():
            raise UsageError(f"the CA directory {directory} does not exist or is not a directory")
        files = sorted(p for p in directory.rglob("*") if p.is_file())
        if not files:
            raise UsageError(f"the CA directory {directory} holds no certificate")
        for path in files:
            _load_ca(ctx, path)
    else:
        ctx.load_default_certs()
    if opts.client_cert and opts.client_key:
        try:
            ctx.load_cert_chain(opts.client_cert, opts.client_key)
        except FileNotFoundError as err:
            raise UsageError(f"cannot read the client certificate or key: {err.filename}: not found") from None
        except PermissionError as err:
            raise UsageError(f"cannot read the client certificate or key: {err.filename}: permission denied") from None
        except ssl.SSLError as err:
            why = "the key does not match the certificate" if "KEY_VALUES_MISMATCH" in str(err) else err.reason
            raise UsageError(
                f"the client certificate {opts.client_cert} and key {opts.client_key} cannot be used: {why}"
            ) from None
    return ctx


def _load_ca(ctx: ssl.SSLContext, path: Path) -> None:
    try:
        ctx.load_verify_locations(cafile=str(path))
    except FileNotFoundError:
        raise UsageError(f"the CA file {path} does not exist") from None
    except PermissionError:
        raise UsageError(f"the CA file {path} is not readable") from None
    except ssl.SSLError:
        raise UsageError(f"the CA file {path} holds no PEM certificate") from None


def warn_once(key: str, message: str) -> None:
    """Print a warning on stderr once per process for `key` (not once per request or client)."""
    if key in _warned:
        return
    _warned.add(key)
    print(f"warning: {message}", file=sys.stderr)


class TLSAdapter(requests.adapters.HTTPAdapter):
    """An HTTPAdapter whose HTTPS connections use our context (ignoring requests' `verify`/`cert`
    arguments and REQUESTS_CA_BUNDLE) and whose TLS failures come out as ConnectionFailed."""

    def __init__(self, opts: TLSOptions, **kwargs: Any) -> None:
        self.opts = opts
        self._ctx: ssl.SSLContext | None = None
        super().__init__(**kwargs)
        if not opts.verify:
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            warn_once(
                f"{opts.service}-insecure",
                f"TLS certificate verification is off for {opts.service} ({opts._skip_var}): "
                "anyone on the path can impersonate the server",
            )

    @property
    def context(self) -> ssl.SSLContext:
        if self._ctx is None:
            self._ctx = ssl_context(self.opts)
        return self._ctx

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[Any, Any]:  # urllib3 pool kwargs beyond what the requests stubs list (server_hostname)
        host_params, _ = super().build_connection_pool_key_attributes(request, verify, None)
        if host_params.get("scheme") != "https":
            return host_params, {}
        pool_kwargs: dict[str, Any] = {
            "ssl_context": self.context,
            "cert_reqs": "CERT_REQUIRED" if self.opts.verify else "CERT_NONE",
        }
        if not self.opts.verify:
            pool_kwargs["assert_hostname"] = False
        elif self.opts.server_name:
            pool_kwargs["server_hostname"] = self.opts.server_name
            pool_kwargs["assert_hostname"] = self.opts.server_name
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Our context already carries the CA and client certificate; requests must not add its bundle."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        try:
            response = super().send(request, *args, **kwargs)
        except (requests.exceptions.SSLError, requests.exceptions.ConnectionError) as err:
            failure = describe(err, _origin(url), self.opts)
            if failure is None:
                raise
            raise failure from None
        if url.startswith("http://") and response.status_code == 400:
            body = response.content[:200].decode("utf-8", "replace")
            if "HTTP request to an HTTPS server" in body:
                origin = _origin(url)
                raise ConnectionFailed(
                    f"{origin} expects HTTPS: plain HTTP was sent to a TLS port "
                    f"(use {origin.replace('http://', 'https://', 1)})"
                )
        return response


def _origin(url: str) -> str:
    parts = urllib3.util.parse_url(url)
    return f"{parts.scheme}://{parts.netloc}"


def _chain_text(err: BaseException) -> str:
    """Every message in the exception chain (requests wraps urllib3 wraps ssl), lowered."""
    texts: list[str] = []
    seen: set[int] = set()
    stack: list[BaseException] = [err]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts.append(str(current))
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                stack.append(arg)
        for attr in ("reason", "__cause__", "__context__"):
            nested = getattr(current, attr, None)
            if isinstance(nested, BaseException):
                stack.append(nested)
    return " | ".join(texts).lower()


def describe(err: BaseException, origin: str, opts: TLSOptions) -> ConnectionFailed | None:
    """The person's message for a TLS failure talking to `origin`, or None when it is not one of ours
    (refused, reset, timed out: the caller retries or reports those itself)."""
    text = _chain_text(err)
    cert_var, key_var = opts._cert_vars
    host = urllib3.util.parse_url(origin).host or origin
    name = opts.server_name or host
    if "wrong version number" in text or "record layer failure" in text or "packet length too long" in text:
        plain = origin.replace("https://", "http://", 1)
        return ConnectionFailed(f"{origin} does not speak TLS: HTTPS was sent to a plain HTTP port (use {plain})")
    if "certificate has expired" in text:
        return ConnectionFailed(f"TLS to {origin} failed: the server's certificate has expired")
    if "certificate is not yet valid" in text:
        return ConnectionFailed(f"TLS to {origin} failed: the server's certificate is not valid yet (check clocks)")
    if "hostname mismatch" in text or "ip address mismatch" in text or "doesn't match" in text:
        var = f"{opts.env_prefix}_TLS_SERVER_NAME"
        return ConnectionFailed(
            f"TLS to {origin} failed: the server's certificate is not valid for {name!r} (hostname mismatch)",
            hint=f"connect by a name the certificate lists, or set {var} to one",
        )
    if "certificate verify failed" in text or "self-signed certificate" in text or "self signed certificate" in text:
        return ConnectionFailed(
            f"TLS to {origin} failed: its certificate is not signed by a CA we trust (checked against {opts.ca_used})",
            hint=f"set {opts._ca_var} to the CA that signed the server's certificate",
        )
    if "certificate required" in text or ("handshake failure" in text and not opts.client_cert):
        return ConnectionFailed(
            f"TLS to {origin} failed: the server requires a client certificate and none was sent",
            hint=f"set {cert_var} and {key_var}",
        )
    if "alert unknown ca" in text or "alert bad certificate" in text or "certificate unknown" in text:
        return ConnectionFailed(
            f"TLS to {origin} failed: the server refused our client certificate {opts.client_cert or ''}".rstrip()
            + " (not signed by a CA it trusts, or not valid)",
            hint=f"set {cert_var} and {key_var} to a certificate signed by the server's client CA",
        )
    if "alert certificate expired" in text:
        return ConnectionFailed(f"TLS to {origin} failed: the server refused our client certificate: it has expired")
    if isinstance(err, requests.exceptions.SSLError):
        reason = _ssl_reason(err) or "TLS handshake failed"
        return ConnectionFailed(f"TLS to {origin} failed: {reason}")
    return None


def _ssl_reason(err: BaseException) -> str:
    text = _chain_text(err)
    marker = "[ssl: "
    if marker in text:
        tail = text.split(marker, 1)[1]
        return tail.split("]", 1)[1].split("(_ssl", 1)[0].strip(" :'\")") if "]" in tail else tail[:120]
    return ""


def token_file_warning(path: str, env_name: str) -> None:
    """Warn once when group or others may read (or write) a token file, as ssh does for keys."""
    try:
        mode = Path(path).expanduser().stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        warn_once(
            f"token-file:{path}",
            f"the token file {path} ({env_name}) is open to group or others (mode {mode & 0o777:04o}); "
            f"chmod 600 {path}",
        )


def mount(session: requests.Session, opts: TLSOptions, **adapter_kwargs: Any) -> TLSAdapter:
    """Use a TLSAdapter for every URL of `session`; checks the certificate/key pair right away."""
    check_client_pair(opts)
    adapter = TLSAdapter(opts, **adapter_kwargs)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return adapter


def new_session(opts: TLSOptions, *, pool_maxsize: int = 10) -> requests.Session:
    """A keep-alive session whose every URL goes through a TLSAdapter (pool sized for bulk workers)."""
    session = requests.Session()
    mount(session, opts, pool_connections=4, pool_maxsize=pool_maxsize)
    return session


# -- error translation and retries ------------------------------------------------------------


class Transient(Exception):
    """A failure worth retrying when, and only when, the operation is idempotent: connection
    refused or reset, a timeout, a server briefly unable to answer (its message says which)."""


def connect_cause(err: BaseException) -> str:
    """Why a connection failed, in words (never a header or a body)."""
    if isinstance(err, requests.exceptions.ReadTimeout):  # connected, but no answer: a hung server
        return "connected but no answer in time (hung or overloaded?)"
    if isinstance(err, requests.exceptions.Timeout):
        return "timed out"
    text = _chain_text(err)
    if "refused" in text:
        return "connection refused: nothing listens there"
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return "the host name does not resolve"
    if "no route" in text or "unreachable" in text:
        return "no route to the host"
    if "reset" in text:
        return "the connection was reset"
    return "connection failed"


def request_failure(err: requests.exceptions.RequestException, what: str, address: str) -> Transient | None:
    """A requests failure talking to `address` as a Transient naming it and why; None if not a connection one."""
    if isinstance(err, requests.exceptions.ReadTimeout):
        return Transient(f"{what}: {address} did not answer in time (hung or overloaded?)")
    if isinstance(err, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return Transient(f"{what}: cannot connect to {address} ({connect_cause(err)})")
    return None


def call(
    once: Callable[[], T],
    *,
    idempotent: bool,
    attempts: int = 3,
    max_backoff: float = 2.0,
    remaining: Callable[[], float | None] = lambda: None,
    prefix: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `once`; on `Transient`, run it again (up to `attempts` in all) only if `idempotent`.

    `remaining` gives the seconds left before the caller's deadline (None: no deadline): the pauses
    are cut to fit and no attempt starts when it is spent. The last Transient becomes
    ConnectionFailed (`prefix` + its message)."""
    try:
        return once()  # the common case, without building a retry loop
    except Transient as err:
        if not idempotent or attempts <= 1 or _out_of_time(remaining):
            raise ConnectionFailed(f"{prefix}{err}") from err
    backoff = tenacity.wait_exponential(multiplier=0.1, max=max_backoff)

    def wait(state: tenacity.RetryCallState) -> float:
        left = remaining()
        pause = float(backoff(state))
        return pause if left is None else max(0.0, min(pause, left - 0.1))

    first = remaining()
    sleep(0.1 if first is None else max(0.0, min(0.1, first - 0.1)))
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(Transient),
        stop=tenacity.stop_after_attempt(attempts - 1) | _OutOfTime(remaining),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(once)
    except Transient as err:
        raise ConnectionFailed(f"{prefix}{err}") from err


class _OutOfTime(tenacity.stop.stop_base):
    def __init__(self, remaining: Callable[[], float | None]) -> None:
        self.remaining = remaining

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return _out_of_time(self.remaining)


def _out_of_time(remaining: Callable[[], float | None]) -> bool:
    left = remaining()
    return left is not None and left <= 0.1
