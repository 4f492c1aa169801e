"""Does the inventory describe this cluster? Each address must answer as the node it names.

Before anything is touched, every inventory address is asked who it is (`/v1/agent/self`:
`Config.NodeName`, `Config.Datacenter`, `Config.NodeID`) and which cluster it belongs to (the raft
configuration as that agent sees it, i.e. its leader's). A typo that reaches another cluster with
the same node names shows up as a raft ID that is not this cluster's; two swapped addresses show up
as node names that do not match. Reading is the imperative part; judging is a pure function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clusterops.consul.inventory import Inventory
from clusterops.consul.state import ClusterState
from clusterops.errors import AuthError, ClusterOpsError
from clusterops.findings import Finding, Rule

if TYPE_CHECKING:
    from clusterops.consul.upgrade.reader import ClusterReader


@dataclass(frozen=True)
class AgentIdentity:
    server: str  # the inventory's name for this address
    address: str
    node_name: str = ""
    datacenter: str = ""
    node_id: str = ""
    raft: frozenset[tuple[str, str]] = frozenset()  # (raft ID, node) seen through this agent
    error: str = ""  # why it could not be asked


def identity_from_api(
    server: str, address: str, agent_self: Mapping[str, Any], raft_configuration: Mapping[str, Any]
) -> AgentIdentity:
    config = agent_self.get("Config") or {}
    return AgentIdentity(
        server=server,
        address=address,
        node_name=str(config.get("NodeName", "")),
        datacenter=str(config.get("Datacenter", "")),
        node_id=str(config.get("NodeID", "")),
        raft=frozenset((str(p.get("ID", "")), str(p.get("Node", ""))) for p in raft_configuration.get("Servers") or []),
    )


def identity_findings(
    inventory: Inventory, identities: list[AgentIdentity], state: ClusterState, rule: Rule
) -> list[Finding]:
    """One finding per address that does not answer as the server the inventory names.

    "This cluster" is the raft configuration most addresses agree on (the snapshot's on a tie):
    the snapshot alone may have been read through the very address that is wrong."""
    findings: list[Finding] = []
    configs = Counter(i.raft for i in identities if i.raft and not i.error)
    ranked = configs.most_common()
    snapshot = frozenset((p.id, p.node) for p in state.raft)
    cluster = ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else snapshot
    cluster_ids = frozenset(i for i, _ in cluster)
    by_name = {node: i for i, node in cluster}
    dcs = Counter(i.datacenter for i in identities if i.datacenter)
    datacenter = inventory.datacenter or (dcs.most_common(1)[0][0] if dcs else "")
    for ident in identities:
        where = f"{ident.server} ({ident.address})"
        if ident.error:
            findings.append(
                Finding.of(rule, ident.server, f"{where} cannot be asked who it is: {ident.error}",
                           remedy="every inventory server must answer before an upgrade starts"))  # fmt: skip
            continue
        problems = []
        if ident.node_name != ident.server:
            problems.append(f"answers as node {ident.node_name!r}, not {ident.server!r}")
        if datacenter and ident.datacenter != datacenter:
            problems.append(f"is in datacenter {ident.datacenter!r}, not {datacenter!r}")
        if ident.raft and cluster_ids and frozenset(i for i, _ in ident.raft) != cluster_ids:
            problems.append("belongs to another cluster (its raft configuration lists other server IDs)")
        raft_id = by_name.get(ident.server)
        if raft_id is not None and ident.node_id and raft_id != ident.node_id:
            problems.append(f"has node ID {ident.node_id}, but this cluster's {ident.server} has raft ID {raft_id}")
        elif ident.node_id and ident.node_id not in cluster_ids:
            problems.append(f"has node ID {ident.node_id}, which is not in this cluster's raft configuration")
        if problems:
            findings.append(Finding.of(rule, ident.server, f"{where} " + "; ".join(problems)))
    return findings


def read_identities(inventory: Inventory, reader: ClusterReader) -> list[AgentIdentity]:
    """Ask every inventory address who it is, concurrently; a permission error propagates."""

    def ask(name: str) -> AgentIdentity:
        server = inventory.server(name)
        assert server is not None
        client = reader.client(name)
        try:
            return identity_from_api(name, server.address, client.agent_self(), client.raft_configuration())
        except AuthError:
            raise
        except ClusterOpsError as err:
            return AgentIdentity(name, server.address, error=str(err).splitlines()[0][:200])

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(inventory.names)))) as pool:
        return list(pool.map(ask, inventory.names))
