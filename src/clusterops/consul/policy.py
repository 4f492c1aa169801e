"""The least-privilege Consul ACL policy of each `clusterops consul` command, as data.

Each rule says what it grants in Consul's ACL HCL, the permission our errors name when it is
missing, and why the command needs it. Facts checked on Consul 1.13.9/1.14.11 (and proven by
`tests/integration/test_tls_acl.py`: a token from exactly the printed policy works, and with any
one rule removed the command exits 2 naming the permission):

- `/v1/status/leader` and `/v1/status/peers` need no permission.
- `/v1/operator/raft/configuration` and `/v1/operator/autopilot/*` need `operator = "read"`.
- `/v1/agent/members` needs no permission as such but filters out every member whose node the
  token may not read, so reading the servers needs `node:read` on their nodes (`node_prefix ""`:
  server names are not known in advance).
- Force-leave and raft remove-peer (and transfer-leader, Consul >= 1.15) need `operator = "write"`.
- `/v1/agent/self` needs `agent:read` on the node (`agent_prefix ""`): the upgrade's pre-flight asks every
  inventory address who it is (node name, datacenter, node ID) before anything is touched.
- The upgrade's cluster lock (a session on the KV key `clusterops/lock`) needs `session:write` and
  `key:write` on that key; it is optional: without them the run says so and keeps a local lock only.
- Snapshot save needs `acl = "write"` (Consul's snapshot check is `authz.Snapshot`, which is
  `acl:write`): in practice a management-level token, since it can mint any token.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterops.errors import UsageError


@dataclass(frozen=True)
class Rule:
    hcl: str
    permission: str  # as our errors name it, e.g. "operator:read"
    why: str


OPERATOR_READ = Rule('operator = "read"', "operator:read", "raft configuration and autopilot state")
OPERATOR_WRITE = Rule('operator = "write"', "operator:write", "force-leave and raft remove-peer (implies read)")
NODE_READ = Rule(
    'node_prefix "" {\n  policy = "read"\n}',
    "node:read",
    "the servers' serf membership (Consul filters out nodes the token cannot read)",
)
AGENT_READ = Rule(
    'agent_prefix "" {\n  policy = "read"\n}',
    "agent:read",
    "each inventory address says who it is (agent/self) before anything is touched",
)
SNAPSHOT = Rule('acl = "write"', "acl:write", "snapshot save (Consul requires acl:write: a management-level token)")
TRANSFER = Rule('operator = "write"', "operator:write", "read the cluster; transfer-leader on Consul >= 1.15")

POLICIES: dict[str, tuple[Rule, ...]] = {
    "status": (OPERATOR_READ, NODE_READ),
    "check": (OPERATOR_READ, NODE_READ),
    "gate": (OPERATOR_READ, NODE_READ),
    "remove-stale-peers": (OPERATOR_WRITE, NODE_READ),
    "snapshot": (SNAPSHOT,),
    "upgrade": (TRANSFER, NODE_READ, AGENT_READ, SNAPSHOT),
}

NOTES: dict[str, str] = {
    "snapshot": "the playbook step consul.snapshot, and the snapshot `consul upgrade --apply` takes first",
    "remove-stale-peers": "without --apply (the dry run) the policy of `status` is enough",
    "upgrade": "the restarts go through the inventory's drivers, not the Consul API; "
    "with --no-snapshot the acl rule can go. Optional, for the cluster lock (else a local lock only, with a "
    'warning): session_prefix "" { policy = "write" } and key "clusterops/lock" { policy = "write" }',
}


def commands() -> list[str]:
    return list(POLICIES)


def rules_for(command: str) -> tuple[Rule, ...]:
    try:
        return POLICIES[command]
    except KeyError:
        raise UsageError(f"no Consul policy for {command!r}; commands: {', '.join(POLICIES)}") from None


def render(command: str, rules: tuple[Rule, ...] | None = None) -> str:
    """The policy as Consul ACL HCL, each rule under a comment saying why."""
    rules = rules_for(command) if rules is None else rules
    lines = [f"# clusterops consul {command}: least-privilege Consul ACL policy"]
    if command in NOTES:
        lines.append(f"# ({NOTES[command]})")
    for rule in rules:
        lines += ["", f"# {rule.permission}: {rule.why}", rule.hcl]
    return "\n".join(lines) + "\n"
