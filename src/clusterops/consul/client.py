"""The Consul adapter: the only module that talks to py-consul.

It translates py-consul and requests errors into clusterops errors at the boundary, retries
transient failures of idempotent calls only (`clusterops.transport.call`: every call below says
whether it is idempotent; a cluster-changing write is never retried blindly), and returns plain
JSON-decoded values; turning them into snapshots is `clusterops.consul.state`'s job. The token is sent as a
header and never appears in a message.

Deadlines: `with client.deadline(seconds):` bounds every request made inside it (each request's
timeout is the time left, retries stop when it is spent), so a hung agent cannot hold a caller
past its `--timeout`. A server with no leader to forward to answers 500 "No cluster leader" (after
its RPC hold timeout) or "rpc error ..."; that is `NoLeader`, never retried here: the caller
reads with `?stale` instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import consul
import consul.callback
import consul.exceptions
import requests

from clusterops import transport
from clusterops.errors import AuthError, ClusterOpsError, ConnectionFailed, NotFound, UsageError
from clusterops.settings import ConsulSettings

T = TypeVar("T")

# Which ACL permission each call needs, so a 403 names it (Consul's own message may not).
PERM_OPERATOR_READ = "operator:read"
PERM_OPERATOR_WRITE = "operator:write"
PERM_NODE_READ = "node:read (any node)"
PERM_AGENT_READ = "agent:read"
PERM_MANAGEMENT = "a management token (acl = write)"


# Consul's answers when a server has no leader to forward a request to (agent/consul/rpc.go):
# "No cluster leader" after the RPC hold timeout; "rpc error getting client" / "rpc error making
# call" while the leader it knew is gone; "leadership lost" when the leader stepped down mid-call.
_NO_LEADER_TEXTS = ("No cluster leader", "rpc error getting client", "rpc error making call", "leadership lost")
FILTERED_HEADER = "X-Consul-Results-Filtered-By-ACLs"


class NoLeader(ConnectionFailed):
    """The agent answered, but a consistent read needs a leader and there is none right now."""


@dataclass(frozen=True)
class MembersRead:
    """`/v1/agent/members` and whether Consul said it hid some of them (the ACL filter header)."""

    members: list[dict[str, Any]]
    filtered: bool


class ConsulClient:
    """A thin, typed-enough facade over py-consul for one agent."""

    def __init__(self, settings: ConsulSettings, *, attempts: int = 3, max_backoff: float = 2.0) -> None:
        self.settings = settings
        if settings.scheme == "https":  # requests would raise a bare OSError at the first request
            for what, value in (
                ("CA file (--ca-file, CONSUL_CACERT)", settings.ca_cert if settings.verify else None),
                ("client certificate (--client-cert, CONSUL_CLIENT_CERT)", settings.client_cert),
                ("client key (--client-key, CONSUL_CLIENT_KEY)", settings.client_key),
            ):
                if value and not Path(value).exists():
                    raise UsageError(f"the {what} {value} does not exist")
        verify: bool | str = settings.ca_cert if (settings.verify and settings.ca_cert) else settings.verify
        cert = (settings.client_cert, settings.client_key) if settings.client_cert else None
        self._c = consul.Consul(
            host=settings.host, port=settings.port, scheme=settings.scheme, verify=verify, cert=cert
        )
        # py-consul lets CONSUL_HTTP_TOKEN override an explicit token; our settings already
        # resolved precedence, so set it after construction.
        self._c.token = settings.token
        self._c.http.connections_timeout = settings.timeout
        transport.mount(self._c.http.session, settings.tls)  # CA/CAPATH, server name, TLS failures in plain words
        self._attempts = attempts
        self._max_backoff = max_backoff
        self.requests_made = 0
        self._shared_deadline: float | None = None  # time.monotonic(); shared by the reading threads

    @property
    def address(self) -> str:
        return self.settings.address

    def close(self) -> None:
        self._c.http.close()

    def __enter__(self) -> ConsulClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- deadlines ----------------------------------------------------------------------------

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Every request inside (from any thread) must finish within `seconds` from now."""
        previous = self._shared_deadline
        end = time.monotonic() + seconds
        self._shared_deadline = end if previous is None else min(previous, end)
        try:
            yield
        finally:
            self._shared_deadline = previous

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when there is none."""
        if self._shared_deadline is None:
            return None
        return self._shared_deadline - time.monotonic()

    def _request_timeout(self, what: str) -> float:
        left = self.remaining()
        if left is None:
            return self.settings.timeout
        if left <= 0.05:
            raise ConnectionFailed(f"Consul at {self.address}: {what}: no time left before the deadline")
        return min(self.settings.timeout, left)

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, what: str, permission: str | None, fn: Callable[[], T], *, idempotent: bool) -> T:
        """Run one request, errors translated; retried on a transient failure only if `idempotent`."""

        def once() -> T:
            self.requests_made += 1
            try:
                return fn()
            except consul.exceptions.ACLPermissionDenied as err:
                if "ACL not found" in str(err):  # Consul's 403 for a token it does not know
                    raise AuthError(
                        f"Consul at {self.address} refused {what}: ACL not found (the token is unknown to Consul)",
                        hint="check CONSUL_HTTP_TOKEN / CONSUL_HTTP_TOKEN_FILE: the token was deleted, expired "
                        "or belongs to another cluster",
                    ) from err
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
                if "ACL not found" in text:
                    raise AuthError(f"Consul at {self.address} refused {what}: ACL not found") from err
                if "Permission denied" in text:
                    need = f" (needs {permission})" if permission else ""
                    raise AuthError(f"Consul at {self.address} refused {what}: permission denied{need}") from err
                if any(t in text for t in _NO_LEADER_TEXTS):
                    raise NoLeader(f"Consul at {self.address}: {what}: {_first_line(text)}") from err
                raise transport.Transient(f"{what}: {_first_line(text)}") from err
            except requests.exceptions.RequestException as err:  # TLS failures come as ConnectionFailed
                failure = transport.request_failure(err, what, self.address)
                if failure is None:
                    raise ConnectionFailed(f"Consul at {self.address}: {what}: {_first_line(str(err))}") from err
                raise failure from err

        return transport.call(
            once,
            idempotent=idempotent,
            attempts=self._attempts,
            max_backoff=self._max_backoff,
            remaining=self.remaining,
            prefix=f"Consul at {self.address}: ",
        )

    def call_api(
        self,
        method: str,
        path: str,
        what: str,
        permission: str | None,
        *,
        idempotent: bool,
        params: list[tuple[str, Any]] | None = None,
        body: Any = None,
        ok_codes: tuple[int, ...] = (),
        allow_404: bool = False,
    ) -> tuple[Any, Any]:
        """One request to any endpoint within the deadline: (JSON body or None, headers). The caller
        says whether doing it twice is the same as once (`idempotent`: retried only then). A status in
        `ok_codes` returns its body instead of raising (autopilot's 429); with `allow_404` a 404 is (None, headers)."""
        http = self._c.http
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))

        def send() -> tuple[Any, Any]:
            raw = http.session.request(
                method,
                http.uri(path, params or []),
                headers=self._c.prepare_headers(),
                data=data,
                verify=http.verify,
                cert=http.cert,
                timeout=self._request_timeout(what),
            )
            response = http.response(raw)
            if allow_404 and response.code == 404:
                return None, response.headers
            if response.code not in ok_codes:
                consul.callback.CB._status(response, allow_404=False)
            if not response.body:
                return None, response.headers
            try:
                return json.loads(response.body), response.headers
            except ValueError as err:
                raise consul.exceptions.ConsulException(f"{response.code} not JSON: {response.body[:200]}") from err

        return self._call(what, permission, send, idempotent=idempotent)

    def _get(
        self,
        path: str,
        what: str,
        permission: str | None,
        params: list[tuple[str, Any]] | None = None,
        *,
        ok_codes: tuple[int, ...] = (),
    ) -> tuple[Any, Any]:
        # a GET reads: idempotent, so retried
        return self.call_api("GET", path, what, permission, idempotent=True, params=params, ok_codes=ok_codes)

    def get_json(
        self,
        path: str,
        what: str,
        permission: str | None,
        *,
        params: list[tuple[str, Any]] | None = None,
        allow_404: bool = False,
    ) -> Any:
        """GET any endpoint (a read: idempotent, retried); None for a 404 with `allow_404`."""
        return self.call_api("GET", path, what, permission, idempotent=True, params=params, allow_404=allow_404)[0]

    # -- status and raft ----------------------------------------------------------------------

    def leader(self) -> str:
        """The leader's `ip:port`, or "" when there is none."""
        return str(self.get_json("/v1/status/leader", "status/leader", None) or "")

    def peers(self) -> list[str]:
        return list(self.get_json("/v1/status/peers", "status/peers", None) or [])

    def raft_configuration(self, *, stale: bool = False) -> dict[str, Any]:
        """The raft configuration: the leader's (default), or with `stale` this server's own copy,
        which is what a server can still give when there is no leader."""
        params = [("stale", "")] if stale else []
        what = "operator/raft/configuration" + ("?stale" if stale else "")
        return dict(self.get_json("/v1/operator/raft/configuration", what, PERM_OPERATOR_READ, params=params))

    def autopilot_health(self) -> dict[str, Any]:
        """Autopilot health; Consul answers 429 (with the full body) when unhealthy."""
        body, _ = self._get("/v1/operator/autopilot/health", "operator/autopilot/health", PERM_OPERATOR_READ,
                            ok_codes=(429,))  # fmt: skip
        return dict(body)

    def autopilot_state(self) -> dict[str, Any] | None:
        """`/v1/operator/autopilot/state`, or None on servers that do not have it."""
        try:
            return dict(self.get_json("/v1/operator/autopilot/state", "operator/autopilot/state", PERM_OPERATOR_READ))
        except NotFound:
            return None

    def autopilot_configuration(self) -> dict[str, Any]:
        return dict(
            self.get_json(
                "/v1/operator/autopilot/configuration", "operator/autopilot/configuration", PERM_OPERATOR_READ
            )
        )

    def members(self) -> list[dict[str, Any]]:
        return self.members_read().members

    def members_read(self) -> MembersRead:
        """Serf LAN members as this agent sees them. With ACLs Consul silently drops the members
        the token may not read (node:read) and, for a non-anonymous token, says so in a header."""
        body, headers = self._get("/v1/agent/members", "agent/members", PERM_NODE_READ)
        filtered = str((headers or {}).get(FILTERED_HEADER, "")).lower() == "true"
        return MembersRead(list(body or []), filtered)

    def agent_self(self) -> dict[str, Any]:
        return dict(self.get_json("/v1/agent/self", "agent/self", PERM_AGENT_READ))

    # -- writes -------------------------------------------------------------------------------

    def _cluster_write(self, what: str, fn: Callable[[], object]) -> None:
        """A cluster-changing write is made once, never retried (idempotent=False): one that timed
        out may have happened; the caller re-reads the cluster and decides, a blind repeat does not."""
        self._call(what, PERM_OPERATOR_WRITE, fn, idempotent=False)

    def force_leave(self, node: str, *, prune: bool = False) -> None:
        self._cluster_write(f"force-leave of {node}", lambda: self._c.agent.force_leave(node, prune=prune))

    def remove_raft_peer(self, peer_id: str) -> None:
        self._cluster_write(
            f"raft remove-peer -id={peer_id}", lambda: self._c.operator.raft_remove_peer(peer_id=peer_id)
        )

    def transfer_leader(self, peer_id: str) -> None:
        self._cluster_write(
            f"raft transfer-leader to {peer_id}", lambda: self._c.operator.raft_transfer_leader(peer_id=peer_id)
        )

    def snapshot(self) -> bytes:
        # a GET that changes nothing: idempotent, retried
        return bytes(self._call("snapshot save", PERM_MANAGEMENT, lambda: self._c.snapshot.save(), idempotent=True))

    def restore_snapshot(self, data: bytes) -> None:
        """PUT /v1/snapshot: replace the servers' state with a saved snapshot (disaster recovery)."""
        # replaces the cluster's state: sent once (restore-test runs it against a throwaway server)
        self._call("snapshot restore", PERM_MANAGEMENT, lambda: self._c.snapshot.restore(data), idempotent=False)

    def kv_keys(self, prefix: str = "") -> list[str]:
        """Every KV key under `prefix` (names only, never values)."""

        def read() -> list[str]:
            _index, keys = self._c.kv.get(prefix, keys=True)
            return [str(k) for k in keys or []]

        return self._call("kv list", "key:list", read, idempotent=True)  # a read

    def catalog_services(self) -> tuple[int, dict[str, list[str]]]:
        """(the catalog's raft index, service name -> tags)."""

        def read() -> tuple[int, dict[str, list[str]]]:
            index, services = self._c.catalog.services()
            return int(index or 0), {str(k): [str(t) for t in v or []] for k, v in (services or {}).items()}

        return self._call("catalog services", "service:read", read, idempotent=True)  # a read


def _first_line(text: str) -> str:
    text = text.strip()
    try:  # py-consul puts the status code and body in the message; keep it short
        return str(json.loads(text))
    except ValueError:
        return text.splitlines()[0][:300] if text else "no details"


__all__ = ["ClusterOpsError", "ConsulClient", "MembersRead", "NoLeader"]
