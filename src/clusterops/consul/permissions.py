"""Which permissions the token has, checked at plan time instead of at the first step that needs one.

An upgrade needs `acl = "write"` for the snapshot (Consul's snapshot endpoint allows only a token
that may write ACLs: a management token), and `session`/`key` write on `clusterops/lock` for the
cluster lock (without them the run falls back to the local lock, with a warning). The token's
own description (`GET /v1/acl/token/self`: `Policies`, `Roles`) is read; each policy's `Rules`
(`GET /v1/acl/policy/:id`, readable only by a token with `acl` read) are scanned for the grant.
With ACLs disabled (Consul answers 401 "ACL support disabled") every permission is granted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import consul.exceptions

from clusterops.errors import AuthError, ClusterOpsError

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient

GLOBAL_MANAGEMENT_ID = "00000000-0000-0000-0000-000000000001"
_ACL_WRITE = re.compile(r'"?\bacl"?\s*[=:]\s*"write"')


@dataclass(frozen=True)
class TokenFacts:
    acls_enabled: bool
    management: bool = False
    rules: tuple[str, ...] = ()  # the policies' rule texts that could be read
    unreadable: tuple[str, ...] = ()  # policy/role names whose rules could not be read

    @property
    def may_snapshot(self) -> bool:
        """A rule that cannot be read means no `acl` read, hence no `acl = "write"` either."""
        return not self.acls_enabled or self.management or any(_ACL_WRITE.search(r) for r in self.rules)


def _get(client: ConsulClient, what: str, path: str) -> Any:
    return client.get_json(path, what, "acl:read")


def read_token_facts(client: ConsulClient) -> TokenFacts:
    try:
        me = _get(client, "acl token self", "/v1/acl/token/self")
    except AuthError as err:
        if isinstance(err.__cause__, consul.exceptions.ACLDisabled) and "disabled" in str(err.__cause__):
            return TokenFacts(acls_enabled=False)
        raise
    policies = [p for p in me.get("Policies") or [] if isinstance(p, dict)]
    if any(p.get("ID") == GLOBAL_MANAGEMENT_ID for p in policies):
        return TokenFacts(acls_enabled=True, management=True)
    rules: list[str] = []
    unreadable: list[str] = []
    for role in me.get("Roles") or []:
        try:
            policies += list(_get(client, "acl role", f"/v1/acl/role/{role['ID']}").get("Policies") or [])
        except ClusterOpsError:
            unreadable.append(f"role {role.get('Name', role.get('ID'))}")
    for policy in policies:
        if policy.get("ID") == GLOBAL_MANAGEMENT_ID:
            return TokenFacts(acls_enabled=True, management=True)
        try:
            rules.append(str(_get(client, "acl policy", f"/v1/acl/policy/{policy['ID']}").get("Rules") or ""))
        except ClusterOpsError:
            unreadable.append(f"policy {policy.get('Name', policy.get('ID'))}")
    return TokenFacts(acls_enabled=True, rules=tuple(rules), unreadable=tuple(unreadable))
