"""The Vault / OpenBao cluster adapter: the only module of `clusterops.vault` that speaks HTTP.

One keep-alive `requests.Session` serves every node of a cluster (hvac 2.4 has no autopilot calls,
so everything goes through this session, the same way for every endpoint). Each call names the
node it asks: `sys/health` must come from every node itself, while the raft and autopilot endpoints
are answered by (or forwarded to) the active node.

Errors are translated at this boundary: unreachable -> ConnectionFailed naming the node,
401/403 -> AuthError naming the path (and the capability it needs), 404 -> NotFound, anything else
-> ClusterOpsError with the server's own words. The token travels in the `X-Vault-Token` header and
never appears in a message; unseal keys travel only in request bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests
import requests.adapters

from clusterops.errors import AuthError, ClusterOpsError, ConnectionFailed, NotFound
from clusterops.settings import VaultSettings, normalize_vault_address

# sys/health status codes (OpenBao and Vault): active, standby, performance standby, uninitialised, sealed
HEALTH_CODES = {200: "active", 429: "standby", 473: "perfstandby", 501: "uninitialized", 503: "sealed"}


@dataclass(frozen=True)
class HealthAnswer:
    """What one node said to `GET /v1/sys/health` (without standbyok etc.: the code is the role)."""

    code: int
    body: dict[str, Any]


def _said(resp: requests.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
    except ValueError:
        return resp.text[:200].strip()
    return "; ".join(str(e) for e in errors if e)[:300]


class RaftClient:
    """Every node of one cluster through one session. `base` is the default node to ask."""

    def __init__(self, settings: VaultSettings, *, timeout: float | None = None) -> None:
        self.settings = settings
        self.base = settings.address
        self.timeout = timeout if timeout is not None else min(settings.timeout, 10.0)
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=16)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = settings.tls_verify
        if settings.cert:
            session.cert = settings.cert
        self._session = session

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RaftClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        node: str | None = None,
        json_body: dict[str, Any] | None = None,
        data: IO[bytes] | bytes | None = None,
        stream: bool = False,
        token: bool = True,
        capability: str = "read",
        timeout: float | None = None,
    ) -> requests.Response:
        addr = normalize_vault_address(node) if node else self.base
        headers: dict[str, str] = {}
        if token and self.settings.token:
            headers["X-Vault-Token"] = self.settings.token
        if self.settings.namespace:
            headers["X-Vault-Namespace"] = self.settings.namespace
        try:
            resp = self._session.request(
                method,
                f"{addr}/v1/{path}",
                headers=headers,
                json=json_body,
                data=data,
                stream=stream,
                timeout=timeout or self.timeout,
            )
        except requests.RequestException as err:
            raise ConnectionFailed(f"{addr} is not answering ({type(err).__name__})") from err
        if resp.status_code in (401, 403):
            said = _said(resp)
            raise AuthError(
                f"{addr} refused {method} {path}: {said or 'permission denied'} "
                f"(the token needs {capability!r} on {path})",
                hint="give a token with that capability via VAULT_TOKEN / BAO_TOKEN or --token-file",
            )
        if resp.status_code == 404:
            raise NotFound(f"{method} {path}: not found on {addr}")
        if resp.status_code >= 400:
            raise ClusterOpsError(f"{addr} answered {method} {path} with {resp.status_code}: {_said(resp)}")
        return resp

    def _data(self, path: str, *, node: str | None = None, capability: str = "read") -> dict[str, Any]:
        body = self._request("GET", path, node=node, capability=capability).json()
        data = body.get("data", body) if isinstance(body, dict) else {}
        return data if isinstance(data, dict) else {}

    # -- per node -----------------------------------------------------------------------------

    def health(self, node: str) -> HealthAnswer:
        """`sys/health` of one node; its status code is its role (see HEALTH_CODES)."""
        addr = normalize_vault_address(node)
        try:
            resp = self._session.get(f"{addr}/v1/sys/health", timeout=self.timeout)
        except requests.RequestException as err:
            raise ConnectionFailed(f"{addr} is not answering ({type(err).__name__})") from err
        try:
            body = resp.json()
        except ValueError:
            body = {}
        return HealthAnswer(resp.status_code, body if isinstance(body, dict) else {})

    def seal_status(self, node: str) -> dict[str, Any]:
        return self._data("sys/seal-status", node=node)

    def init(self, node: str, *, shares: int, threshold: int, recovery: bool = False) -> dict[str, Any]:
        """`sys/init`; the answer holds the unseal (or, with auto-unseal, recovery) keys and the root
        token: the caller stores them."""
        body = (
            {"recovery_shares": shares, "recovery_threshold": threshold}
            if recovery
            else {"secret_shares": shares, "secret_threshold": threshold}
        )
        resp = self._request(
            "POST",
            "sys/init",
            node=node,
            json_body=body,
            token=False,
            capability="update",
        )
        out: dict[str, Any] = resp.json()
        return out

    def unseal(self, node: str, key: str) -> dict[str, Any]:
        out: dict[str, Any] = self._request(
            "PUT", "sys/unseal", node=node, json_body={"key": key}, token=False, capability="update"
        ).json()
        return out

    # -- cluster-wide (answered or forwarded by the active node) --------------------------------

    def leader(self, node: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = self._request("GET", "sys/leader", node=node, token=False).json()
        return out

    def raft_configuration(self, node: str | None = None) -> dict[str, Any]:
        config = self._data("sys/storage/raft/configuration", node=node).get("config") or {}
        return config if isinstance(config, dict) else {}

    def autopilot_state(self, node: str | None = None) -> dict[str, Any]:
        return self._data("sys/storage/raft/autopilot/state", node=node)

    def autopilot_configuration(self, node: str | None = None) -> dict[str, Any]:
        return self._data("sys/storage/raft/autopilot/configuration", node=node)

    def remove_peer(self, server_id: str, node: str | None = None) -> None:
        """`sys/storage/raft/remove-peer`. OpenBao answers 204 even for an unknown id: re-read to confirm."""
        self._request(
            "POST",
            "sys/storage/raft/remove-peer",
            node=node,
            json_body={"server_id": server_id},
            capability="update",
        )

    def step_down(self, node: str | None = None) -> None:
        self._request("PUT", "sys/step-down", node=node, capability="sudo")

    def snapshot(self, node: str | None = None) -> Iterator[bytes]:
        """The raft snapshot as a stream of chunks (a gzipped tar)."""
        resp = self._request("GET", "sys/storage/raft/snapshot", node=node, stream=True, timeout=120)
        try:
            yield from resp.iter_content(chunk_size=1 << 16)
        finally:
            resp.close()

    def restore_snapshot(self, path: Path, *, force: bool, node: str | None = None) -> None:
        endpoint = "sys/storage/raft/snapshot-force" if force else "sys/storage/raft/snapshot"
        with path.open("rb") as body:
            self._request("POST", endpoint, node=node, data=body, capability="update", timeout=120)

    def mounts(self, node: str | None = None) -> dict[str, Any]:
        return self._data("sys/mounts", node=node)

    def auth_methods(self, node: str | None = None) -> dict[str, Any]:
        return self._data("sys/auth", node=node)

    def policies(self, node: str | None = None) -> list[str]:
        keys = self._data("sys/policies/acl?list=true", node=node).get("keys") or []
        return [str(k) for k in keys]

    def kv_list(self, mount: str, path: str = "", *, version: int, node: str | None = None) -> list[str]:
        api = f"{mount}/metadata/{path}" if version == 2 else f"{mount}/{path}"
        try:
            keys = self._data(f"{api.rstrip('/')}/?list=true", node=node, capability="list").get("keys") or []
        except NotFound:
            return []
        return [str(k) for k in keys]
