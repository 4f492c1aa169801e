"""The Vault / OpenBao adapter: the only module of `clusterops.kv` that imports hvac.

A thin layer over one `hvac.Client` with one keep-alive `requests.Session` (its pool sized for the
bulk operations' workers). It translates hvac and requests errors into clusterops errors at the
boundary: 403 -> AuthError naming the path and the capability it needs, 404 -> NotFound, a
"check-and-set" 400 -> CasConflict, an unreachable server -> ConnectionFailed. The session, TLS,
connection-error words and the retry loop are `clusterops.transport`'s: idempotent calls (reads,
LIST, SCAN, and the few POSTs that only ask) are retried on transient failures; writes are never
retried (a CAS write retried blindly could report a conflict with itself, a write without cas could
land twice).

Where hvac falls short it uses hvac's low-level `adapter.request`: a real HTTP PATCH
(`application/merge-patch+json`) of data and of metadata, `subkeys`, a metadata write that sends
only the fields asked for (hvac's `update_metadata` always sends `delete_version_after="0s"`),
`sys/internal/ui/mounts` for mount detection, `sys/capabilities-self`, and OpenBao's `SCAN`.
Tokens travel in a header and never appear in a message; neither do secret values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote

import hvac
import hvac.exceptions
import requests

from clusterops import transport
from clusterops.errors import AuthError, CasConflict, ConnectionFailed, NotFound, UsageError
from clusterops.kv import paths
from clusterops.kv.model import (
    Data,
    MountInfo,
    SecretMetadata,
    SecretRef,
    SecretVersion,
    Subkeys,
    VersionInfo,
    WriteResult,
)
from clusterops.settings import VaultSettings

T = TypeVar("T")

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def _server_says(err: hvac.exceptions.VaultError) -> str:
    errors = [e for e in (err.errors or []) if e]
    return "; ".join(str(e) for e in errors)[:300] if errors else ""


def _api_url(mount: str, kind: str, path: str) -> str:
    """Every request path to a mount is built here: segments checked and percent-encoded (`kv.paths`)."""
    return paths.api_path(mount, kind, path)


class VaultClient:
    """One server (and namespace), one session. Safe to share between the threads of a bulk operation."""

    def __init__(self, settings: VaultSettings, *, pool_size: int = 32, attempts: int = 3) -> None:
        settings.check_files()
        self.settings = settings
        session = transport.new_session(settings.tls, pool_maxsize=pool_size)
        session.verify = settings.tls_verify
        if settings.cert:
            session.cert = settings.cert
        self._c = hvac.Client(
            url=settings.address,
            token=settings.token,
            namespace=settings.namespace,
            verify=settings.tls_verify,
            cert=settings.cert,
            timeout=settings.timeout,
            session=session,
        )
        self._attempts = attempts
        self._token_valid: bool | None = None
        self._mounts: dict[str, MountInfo] = {}
        self.requests_made = 0

    @property
    def address(self) -> str:
        ns = f" (namespace {self.settings.namespace})" if self.settings.namespace else ""
        return f"{self.settings.address}{ns}"

    def close(self) -> None:
        self._c.adapter.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _forbidden(self, what: str, api_path: str, capability: str) -> AuthError:
        """A 403: no token, a token the server does not know, or a token without the capability."""
        if not self.settings.token:
            return AuthError(
                f"{self.address} refused {what}: no token was given",
                hint="set VAULT_TOKEN (or BAO_TOKEN), log in (~/.vault-token), or give --token-file",
            )
        if self._token_valid is None:
            try:
                self._c.adapter.request("GET", "/v1/auth/token/lookup-self")
                self._token_valid = True
            except hvac.exceptions.Forbidden as err:
                # OpenBao/Vault refuse an unknown token with a bare "permission denied", and a known token
                # whose policy lacks lookup-self (no default policy) with "1 error occurred: ... permission
                # denied" (checked on OpenBao 2.7.2). Only the bare form is taken as "not valid".
                self._token_valid = [str(e).strip() for e in (err.errors or [])] != ["permission denied"]
            except (hvac.exceptions.VaultError, requests.exceptions.RequestException):
                self._token_valid = True  # cannot tell: report the capability
        if not self._token_valid:
            ns = f" in namespace {self.settings.namespace}" if self.settings.namespace else ""
            return AuthError(
                f"{self.address} refused {what}: permission denied: the token is not valid{ns} (expired, revoked, "
                "mistyped, or from another server or namespace; even auth/token/lookup-self is refused)",
                hint="log in again, or check VAULT_TOKEN / --token-file and VAULT_NAMESPACE",
            )
        return AuthError(
            f"{self.address} refused {what}: permission denied "
            f"(the token needs {capability!r} on {unquote(api_path.removeprefix('/v1/'))})",
            hint="use a token whose policy grants it (VAULT_TOKEN, ~/.vault-token or --token-file)",
        )

    def _call(self, what: str, api_path: str, capability: str, fn: Callable[[], T], *, idempotent: bool) -> T:
        ns = self.settings.namespace

        def once() -> T:
            self.requests_made += 1
            try:
                return fn()
            except hvac.exceptions.Forbidden as err:
                raise self._forbidden(what, api_path, capability) from err
            except hvac.exceptions.Unauthorized as err:
                raise AuthError(f"{self.address} refused {what}: the token is missing or not valid") from err
            except hvac.exceptions.InvalidPath as err:
                said = _server_says(err)
                if ns and "namespace" in said.lower():
                    raise UsageError(f"{self.address}: namespace {ns!r} is not usable: {said}") from err
                raise NotFound(f"{what}: not found on {self.address}") from err
            except hvac.exceptions.InvalidRequest as err:
                said = _server_says(err)
                if "check-and-set" in said or "cas" in said.split():
                    raise CasConflict(
                        f"{what}: check-and-set failed on {self.address} ({said}); nothing was written",
                        hint="read the current version again, or re-run the plan",
                    ) from err
                if ns and "namespace" in said.lower():
                    raise UsageError(f"{self.address}: namespace {ns!r} is not usable: {said}") from err
                if "no handler for route" in said or "unsupported path" in said:
                    raise UsageError(
                        f"{self.address} rejected {what}: {said} (no secrets engine is mounted there"
                        + (f" in namespace {ns!r}" if ns else "")
                        + ")"
                    ) from err
                raise UsageError(f"{self.address} rejected {what}: {said or 'bad request (no reason given)'}") from err
            except (hvac.exceptions.VaultDown, hvac.exceptions.BadGateway) as err:
                said = _server_says(err)
                if "sealed" in said.lower():
                    raise ConnectionFailed(
                        f"{self.address} is sealed: it cannot serve {what}",
                        hint="unseal it (`bao operator unseal` / `vault operator unseal`), then retry",
                    ) from err
                if isinstance(err, hvac.exceptions.VaultDown) and "standby" in said.lower():
                    raise ConnectionFailed(f"{self.address} is a standby node and cannot serve {what}: {said}") from err
                code = "503 (unavailable)" if isinstance(err, hvac.exceptions.VaultDown) else "502 (bad gateway)"
                raise transport.Transient(
                    f"{what}: {self.address} answered {code}" + (f": {said}" if said else "")
                ) from err
            except hvac.exceptions.RateLimitExceeded as err:
                raise transport.Transient(f"{what}: rate limited") from err
            except hvac.exceptions.VaultError as err:
                said = _server_says(err)
                raise ConnectionFailed(f"{self.address} failed {what}: {said or type(err).__name__}") from err
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
                # TLS failures never get here: the session's adapter raises them as ConnectionFailed
                failure = transport.request_failure(err, what, self.address)
                raise (failure or ConnectionFailed(f"{what}: {self.address}: {err}")) from err
            except ValueError as err:  # requests' JSONDecodeError: a 200 whose body is not JSON
                if isinstance(err, requests.exceptions.JSONDecodeError | json.JSONDecodeError):
                    raise ConnectionFailed(
                        f"{self.address} answered {what} with something that is not JSON",
                        hint="is the address a Vault/OpenBao API (VAULT_ADDR), not a proxy or web page?",
                    ) from err
                raise

        return transport.call(once, idempotent=idempotent, attempts=self._attempts)

    def request(
        self,
        method: str,
        api_path: str,
        *,
        what: str,
        capability: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any] | None:
        """One raw call through hvac's adapter; the decoded JSON body, or None for an empty answer."""
        kwargs: dict[str, Any] = {}
        if json is not None:
            kwargs["json"] = json
        if params:
            kwargs["params"] = dict(params)

        def go() -> dict[str, Any] | None:
            resp = self._c.adapter.request(method, api_path, headers=dict(headers or {}), **kwargs)
            if isinstance(resp, dict):
                return resp
            if isinstance(resp, requests.Response) and resp.content:
                body = resp.json()
                return body if isinstance(body, dict) else None
            return None

        if idempotent is None:  # reads are; a POST/PUT/PATCH/DELETE only when the caller says so
            idempotent = method.lower() in ("get", "list", "scan")
        return self._call(what, api_path, capability, go, idempotent=idempotent)

    def server_identity(self) -> str:
        """What names this server's cluster: `sys/health`'s cluster_id (any node, sealed or not), else the address.

        Two clients with the same identity and namespace reach the same secrets, whatever address
        each was given (127.0.0.1 vs localhost, a load balancer vs a node).
        """
        params = {"standbyok": "true", "perfstandbyok": "true", "sealedcode": "200", "uninitcode": "200"}
        try:
            body = self.request(
                "GET", "/v1/sys/health", what="reading sys/health", capability="none (unauthenticated)", params=params
            )
        except (ConnectionFailed, NotFound, UsageError):
            body = None
        cluster_id = str((body or {}).get("cluster_id") or "")
        return f"cluster:{cluster_id}" if cluster_id else f"address:{self.settings.address}"

    # -- mounts -------------------------------------------------------------------------------

    def mount_info(self, path: str) -> MountInfo:
        """The mount holding `path` and its KV version, as `vault kv` finds them (sys/internal/ui/mounts).

        Works for least-privilege tokens; a 404 means a server too old to have the endpoint, taken as KV v1.
        """
        path = path.strip("/")
        first = path.split("/", 1)[0]
        for mount, info in self._mounts.items():
            if path == mount or path.startswith(mount + "/"):
                return info
        try:
            body = self.request(
                "GET",
                paths.sys_path("sys/internal/ui/mounts", path),
                what=f"finding the mount of {path}",
                capability="any capability",
            )
        except NotFound:
            return MountInfo(mount=first, kv_version=1)
        except AuthError as err:
            if not self.settings.token or self._token_valid is False:
                raise  # no token, or one the server does not know: that message says so
            raise AuthError(
                f"{self.address}: the token may not see the mount of {path}",
                hint="name the mount with --mount and the engine version with --kv-version",
            ) from err
        data = (body or {}).get("data") or {}
        mount = str(data.get("path") or first).strip("/")
        options = data.get("options") or {}
        version = int(str(options.get("version") or "1"))
        info = MountInfo(mount=mount, kv_version=version, type=str(data.get("type") or "kv"))
        if info.type not in ("kv", "generic"):
            raise UsageError(f"{mount}/ is a {info.type} mount, not a KV secrets engine")
        self._mounts[mount] = info
        return info

    def resolve(self, path: str, *, mount: str | None = None, kv_version: int | None = None) -> SecretRef:
        """`mount/rel/path` (mount detected) or `rel/path` with an explicit mount -> a SecretRef."""
        path = path.strip()
        if mount:
            mount = mount.strip("/")
            if kv_version is None:
                kv_version = self.mount_info(mount).kv_version
            return SecretRef(mount, path.strip("/"), kv_version)
        if not path.strip("/"):
            raise UsageError("give a path of the form MOUNT/PATH, or --mount")
        info = self.mount_info(path)
        rel = path.strip("/")[len(info.mount) :].strip("/")
        return SecretRef(info.mount, rel, kv_version or info.kv_version)

    def enable_versioning(self, mount: str) -> str:
        """Upgrade a KV v1 mount to v2 (`vault kv enable-versioning`): tune its options to version 2."""
        name = paths.check(mount.strip("/"), what="mount")
        if not name:
            raise UsageError("enable-versioning needs a mount")
        info = self.mount_info(name)
        if info.mount != name:
            raise UsageError(f"{name} is not a mount (it lies in {info.mount}/)")
        self.request(
            "POST",
            paths.sys_path("sys/mounts", name) + "/tune",
            what=f"enabling versioning on {name}/",
            capability="update",
            json={"options": {"version": "2"}},
        )
        self._mounts.pop(name, None)
        return name

    # -- KV v2: data --------------------------------------------------------------------------

    def read_version(self, ref: SecretRef, version: int | None = None) -> SecretVersion:
        """One version; a deleted or destroyed one comes back with `data=None` (its 404 carries metadata)."""
        api = _api_url(ref.mount, "data", ref.path)
        params = {"version": version} if version else None
        what = f"reading {ref}" + (f" version {version}" if version else "")

        def go() -> dict[str, Any]:
            try:
                resp = self._c.adapter.request("GET", api, params=dict(params or {}))
            except hvac.exceptions.InvalidPath as err:
                body = err.json if isinstance(err.json, dict) else None
                meta = ((body or {}).get("data") or {}).get("metadata")
                if meta and int(meta.get("version") or 0) > 0:
                    return {"data": {"data": None, "metadata": meta}}
                raise
            if isinstance(resp, requests.Response) and resp.content:
                resp.json()  # a 200 that is not JSON: raises, and is reported as such
            if not isinstance(resp, dict):
                raise hvac.exceptions.InvalidPath("empty answer")
            return resp

        body = self._call(what, api, "read", go, idempotent=True)
        data = body.get("data") or {}
        meta = data.get("metadata") or {}
        info = VersionInfo.from_json(int(meta.get("version") or 0), meta)
        raw = data.get("data")
        return SecretVersion(
            ref=ref,
            info=info,
            data=dict(raw) if raw is not None else None,
            custom_metadata=dict(meta.get("custom_metadata") or {}),
        )

    def write(self, ref: SecretRef, data: Data, *, cas: int | None = None) -> WriteResult:
        body: dict[str, Any] = {"data": dict(data)}
        if cas is not None:
            body["options"] = {"cas": cas}
        cap = "create or update"
        out = self.request(
            "POST", _api_url(ref.mount, "data", ref.path), what=f"writing {ref}", capability=cap, json=body
        )
        meta = (out or {}).get("data") or {}
        return WriteResult(ref, int(meta.get("version") or 0), str(meta.get("created_time") or ""))

    def patch(self, ref: SecretRef, changes: Mapping[str, Any], *, cas: int | None = None) -> WriteResult:
        """A real HTTP PATCH (JSON merge patch: a None value removes the key); needs the `patch` capability."""
        body: dict[str, Any] = {"data": dict(changes)}
        if cas is not None:
            body["options"] = {"cas": cas}
        out = self.request(
            "PATCH",
            _api_url(ref.mount, "data", ref.path),
            what=f"patching {ref}",
            capability="patch",
            json=body,
            headers=MERGE_PATCH,
        )
        meta = (out or {}).get("data") or {}
        return WriteResult(ref, int(meta.get("version") or 0), str(meta.get("created_time") or ""))

    def delete_latest(self, ref: SecretRef) -> None:
        self.request("DELETE", _api_url(ref.mount, "data", ref.path), what=f"deleting {ref}", capability="delete")

    def _versions_op(self, kind: str, ref: SecretRef, versions: list[int]) -> None:
        if not versions:
            raise UsageError(f"{kind} needs at least one version")
        self.request(
            "POST",
            _api_url(ref.mount, kind, ref.path),
            what=f"{kind} of {ref} versions {','.join(map(str, versions))}",
            capability="update",
            json={"versions": sorted(set(versions))},
        )

    def delete_versions(self, ref: SecretRef, versions: list[int]) -> None:
        self._versions_op("delete", ref, versions)

    def undelete_versions(self, ref: SecretRef, versions: list[int]) -> None:
        self._versions_op("undelete", ref, versions)

    def destroy_versions(self, ref: SecretRef, versions: list[int]) -> None:
        self._versions_op("destroy", ref, versions)

    def subkeys(self, ref: SecretRef, *, version: int | None = None, depth: int | None = None) -> Subkeys:
        params: dict[str, Any] = {}
        if version:
            params["version"] = version
        if depth is not None:
            params["depth"] = depth
        out = self.request(
            "GET", _api_url(ref.mount, "subkeys", ref.path), what=f"subkeys of {ref}", capability="read", params=params
        )
        data = (out or {}).get("data") or {}
        meta = data.get("metadata") or {}
        return Subkeys(ref, int(meta.get("version") or 0), dict(data.get("subkeys") or {}))

    # -- KV v2: metadata and listing ----------------------------------------------------------

    def list_folder(self, ref: SecretRef) -> list[str]:
        """One level below `ref` (folders end in '/'); empty when nothing is there."""
        api = _api_url(ref.mount, "metadata" if ref.kv_version == 2 else "", ref.path)
        try:
            out = self.request("LIST", api + "/", what=f"listing {ref}", capability="list")
        except NotFound:
            return []
        return [str(k) for k in ((out or {}).get("data") or {}).get("keys") or []]

    def scan(self, ref: SecretRef) -> list[str] | None:
        """OpenBao's recursive SCAN (2.2+): every leaf below `ref`; None where the server or token cannot."""
        api = _api_url(ref.mount, "metadata" if ref.kv_version == 2 else "", ref.path)
        try:
            out = self.request("SCAN", api + "/", what=f"scanning {ref}", capability="scan")
        except NotFound:
            return []
        except (AuthError, UsageError, ConnectionFailed):
            return None
        return [str(k) for k in ((out or {}).get("data") or {}).get("keys") or []]

    def read_metadata(self, ref: SecretRef) -> SecretMetadata:
        out = self.request(
            "GET", _api_url(ref.mount, "metadata", ref.path), what=f"reading the metadata of {ref}", capability="read"
        )
        return SecretMetadata.from_json(ref, (out or {}).get("data") or {})

    def write_metadata(self, ref: SecretRef, fields: Mapping[str, Any]) -> None:
        """POST only the fields given (custom_metadata, when given, replaces the whole map)."""
        self.request(
            "POST",
            _api_url(ref.mount, "metadata", ref.path),
            what=f"writing the metadata of {ref}",
            capability="create or update",
            json=dict(fields),
        )

    def patch_metadata(self, ref: SecretRef, fields: Mapping[str, Any]) -> None:
        """A merge PATCH of the metadata: a None custom_metadata value removes that key."""
        self.request(
            "PATCH",
            _api_url(ref.mount, "metadata", ref.path),
            what=f"patching the metadata of {ref}",
            capability="patch",
            json=dict(fields),
            headers=MERGE_PATCH,
        )

    def delete_metadata(self, ref: SecretRef) -> None:
        self.request(
            "DELETE",
            _api_url(ref.mount, "metadata", ref.path),
            what=f"deleting every version and the metadata of {ref}",
            capability="delete",
        )

    # -- KV v1 --------------------------------------------------------------------------------

    def v1_read(self, ref: SecretRef) -> dict[str, Any]:
        out = self.request("GET", _api_url(ref.mount, "", ref.path), what=f"reading {ref}", capability="read")
        return dict(((out or {}).get("data")) or {})

    def v1_write(self, ref: SecretRef, data: Data) -> None:
        self.request(
            "POST",
            _api_url(ref.mount, "", ref.path),
            what=f"writing {ref}",
            capability="create or update",
            json=dict(data),
        )

    def v1_delete(self, ref: SecretRef) -> None:
        self.request("DELETE", _api_url(ref.mount, "", ref.path), what=f"deleting {ref}", capability="delete")

    # -- tokens -------------------------------------------------------------------------------

    def capabilities(self, api_paths: list[str]) -> dict[str, list[str]]:
        """`sys/capabilities-self` for API paths like `secret/data/app/db` (namespace-relative)."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(api_paths), 200):
            chunk = api_paths[start : start + 200]
            body = self.request(
                "POST",
                "/v1/sys/capabilities-self",
                what="asking for the token's capabilities",
                capability="update",
                json={"paths": chunk},
                idempotent=True,
            )
            data = (body or {}).get("data") or body or {}
            for p in chunk:
                caps = data.get(p)
                if caps is None and len(chunk) == 1:
                    caps = data.get("capabilities")
                out[p] = [str(c) for c in caps or []]
        return out
