"""The Consul adapter: the only module that talks to py-consul.

It translates py-consul and requests errors into clusterops errors at the boundary, retries
transient failures with backoff (tenacity), and returns plain JSON-decoded values; turning them
into snapshots is `clusterops.consul.state`'s job. The token is sent as a header and never
appears in a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import consul
import consul.callback
import consul.exceptions
import requests
import tenacity

from clusterops.errors import AuthError, ClusterOpsError, ConnectionFailed, NotFound, UsageError
from clusterops.settings import ConsulSettings

T = TypeVar("T")

# Which ACL permission each call needs, so a 403 names it (Consul's own message may not).
PERM_OPERATOR_READ = "operator:read"
PERM_OPERATOR_WRITE = "operator:write"
PERM_NODE_READ = "node:read (any node)"
PERM_AGENT_READ = "agent:read"
PERM_MANAGEMENT = "a management token (acl = write)"


class _Transient(Exception):
    """A failure worth retrying: connection refused/reset, timeout, 5xx other than 500 from ACLs."""


class ConsulClient:
    """A thin, typed-enough facade over py-consul for one agent."""

    def __init__(self, settings: ConsulSettings, *, attempts: int = 3, max_backoff: float = 2.0) -> None:
        self.settings = settings
        verify: bool | str = settings.ca_cert if (settings.verify and settings.ca_cert) else settings.verify
        cert = (settings.client_cert, settings.client_key) if settings.client_cert else None
        self._c = consul.Consul(
            host=settings.host, port=settings.port, scheme=settings.scheme, verify=verify, cert=cert
        )
        # py-consul lets CONSUL_HTTP_TOKEN override an explicit token; our settings already
        # resolved precedence, so set it after construction.
        self._c.token = settings.token
        self._c.http.connections_timeout = settings.timeout
        self._attempts = attempts
        self._max_backoff = max_backoff
        self.requests_made = 0

    @property
    def address(self) -> str:
        return self.settings.address

    def close(self) -> None:
        self._c.http.close()

    def __enter__(self) -> ConsulClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, what: str, permission: str | None, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """One call, translated to our errors. Only idempotent reads are retried; a write that
        changes the cluster is sent once, and an unclear result is the caller's to re-read."""

        def once() -> T:
            self.requests_made += 1
            try:
                return fn()
            except consul.exceptions.ACLPermissionDenied as err:
                need = f" (needs {permission})" if permission else ""
                raise AuthError(
                    f"Consul at {self.address} refused {what}: permission denied{need}",
                    hint="use a token with that permission (CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)",
                ) from err
            except consul.exceptions.ACLDisabled as err:
                raise AuthError(f"Consul at {self.address} refused {what}: the ACL token is not valid") from err
            except consul.exceptions.NotFound as err:
                raise NotFound(f"Consul at {self.address}: {what}: not found") from err
            except (consul.exceptions.BadRequest, consul.exceptions.ClientError) as err:
                text = str(err)
                if "ACL not found" in text or "403" in text[:4]:
                    raise AuthError(f"Consul at {self.address} refused {what}: {_first_line(text)}") from err
                raise UsageError(f"Consul at {self.address} rejected {what}: {_first_line(text)}") from err
            except consul.exceptions.ConsulException as err:
                text = str(err)
                if "Permission denied" in text or "ACL not found" in text:
                    need = f" (needs {permission})" if permission else ""
                    raise AuthError(f"Consul at {self.address} refused {what}: permission denied{need}") from err
                raise _Transient(f"{what}: {_first_line(text)}") from err
            except requests.exceptions.SSLError as err:
                raise ConnectionFailed(
                    f"TLS error talking to Consul at {self.address}: {_first_line(str(err))}",
                    hint="set CONSUL_CACERT, or CONSUL_HTTP_SSL_VERIFY=false for a lab only",
                ) from err
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
                raise _Transient(f"{what}: cannot connect to {self.address}") from err

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self._attempts if idempotent else 1),
            wait=tenacity.wait_exponential(multiplier=0.1, max=self._max_backoff),
            reraise=True,
        )
        try:
            return retrying(once)
        except _Transient as err:
            raise ConnectionFailed(f"Consul at {self.address}: {err}") from err

    def _get_json(
        self, path: str, what: str, permission: str | None, params: list[tuple[str, Any]] | None = None
    ) -> Any:
        cb = consul.callback.CB.json(allow_404=False)
        return self._call(
            what,
            permission,
            lambda: self._c.http.get(cb, path, params=params or [], headers=self._c.prepare_headers()),
        )

    # -- status and raft ----------------------------------------------------------------------

    def leader(self) -> str:
        """The leader's `ip:port`, or "" when there is none."""
        return str(self._get_json("/v1/status/leader", "status/leader", None) or "")

    def peers(self) -> list[str]:
        return list(self._get_json("/v1/status/peers", "status/peers", None) or [])

    def raft_configuration(self, *, stale: bool = False) -> dict[str, Any]:
        params = [("stale", "")] if stale else []
        return dict(
            self._get_json("/v1/operator/raft/configuration", "operator/raft/configuration", PERM_OPERATOR_READ, params)
        )

    def autopilot_health(self) -> dict[str, Any]:
        """Autopilot health; Consul answers 429 (with the full body) when unhealthy."""
        return dict(
            self._call("operator/autopilot/health", PERM_OPERATOR_READ, lambda: self._c.operator.autopilot_health())
        )

    def autopilot_state(self) -> dict[str, Any] | None:
        """`/v1/operator/autopilot/state`, or None on servers that do not have it."""
        try:
            return dict(self._get_json("/v1/operator/autopilot/state", "operator/autopilot/state", PERM_OPERATOR_READ))
        except NotFound:
            return None

    def autopilot_configuration(self) -> dict[str, Any]:
        return dict(
            self._get_json(
                "/v1/operator/autopilot/configuration", "operator/autopilot/configuration", PERM_OPERATOR_READ
            )
        )

    def members(self) -> list[dict[str, Any]]:
        return list(self._get_json("/v1/agent/members", "agent/members", PERM_NODE_READ) or [])

    def agent_self(self) -> dict[str, Any]:
        return dict(self._get_json("/v1/agent/self", "agent/self", PERM_AGENT_READ))

    # -- writes -------------------------------------------------------------------------------

    def force_leave(self, node: str, *, prune: bool = False) -> None:
        self._call(
            f"force-leave of {node}",
            PERM_OPERATOR_WRITE,
            lambda: self._c.agent.force_leave(node, prune=prune),
            idempotent=False,
        )

    def remove_raft_peer(self, peer_id: str) -> None:
        self._call(
            f"raft remove-peer -id={peer_id}",
            PERM_OPERATOR_WRITE,
            lambda: self._c.operator.raft_remove_peer(peer_id=peer_id),
            idempotent=False,
        )

    def transfer_leader(self, peer_id: str) -> None:
        self._call(
            f"raft transfer-leader to {peer_id}",
            PERM_OPERATOR_WRITE,
            lambda: self._c.operator.raft_transfer_leader(peer_id=peer_id),
            idempotent=False,
        )

    def leave(self) -> None:
        """Graceful leave: the agent leaves the cluster (and Raft, on a server) and shuts down."""
        self._call("agent leave", "agent:write", lambda: self._c.agent.leave(), idempotent=False)

    def snapshot(self) -> bytes:
        return bytes(self._call("snapshot save", PERM_MANAGEMENT, lambda: self._c.snapshot.save()))

    def kv_put(self, key: str, value: str) -> bool:
        return bool(self._call(f"kv put {key}", "key:write", lambda: self._c.kv.put(key, value)))

    def kv_get(self, key: str) -> str | None:
        def read() -> str | None:
            _index, item = self._c.kv.get(key)
            if not item or item.get("Value") is None:
                return None
            return str(item["Value"].decode("utf-8"))

        return self._call(f"kv get {key}", "key:read", read)


def _first_line(text: str) -> str:
    text = text.strip()
    try:  # py-consul puts the status code and body in the message; keep it short
        return str(json.loads(text))
    except ValueError:
        return text.splitlines()[0][:300] if text else "no details"


__all__ = ["ClusterOpsError", "ConsulClient"]
