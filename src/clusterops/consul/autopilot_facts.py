"""What autopilot says about Enterprise features that change how a roll must be planned.

Read from the JSON of `/v1/operator/autopilot/configuration` and `/v1/operator/autopilot/state`
(field names from hashicorp/consul `api/operator_autopilot.go`: `DisableUpgradeMigration`,
`AutopilotState.Servers[*].NodeType` with values voter, read-replica, zone-voter,
zone-extra-voter, zone-standby, `ReadReplica`, and `Upgrade.Status`). The open-source releases
report `DisableUpgradeMigration: false` too, so Enterprise is recognised by what only Enterprise
reports: a `+ent` version, an `Upgrade` block in the state, or a server type other than voter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clusterops.consul.version import Version

# Server types that are non-voters on purpose: a roll plans and gates them as such.
NON_VOTER_TYPES = ("read-replica", "zone-standby")


@dataclass(frozen=True)
class AutopilotFacts:
    enterprise: bool = False
    disable_upgrade_migration: bool | None = None
    upgrade_status: str = ""
    node_types: dict[str, str] = field(default_factory=dict)  # node name -> NodeType

    def non_voter_by_design(self, node: str) -> str:
        """The server's type when it is a non-voter on purpose (read-replica, zone-standby), else ""."""
        kind = self.node_types.get(node, "")
        return kind if kind in NON_VOTER_TYPES else ""


def facts_from_api(
    configuration: Mapping[str, Any] | None,
    state: Mapping[str, Any] | None,
    versions: Iterable[str] = (),
) -> AutopilotFacts:
    servers = [s for s in ((state or {}).get("Servers") or {}).values() if isinstance(s, Mapping)]
    node_types: dict[str, str] = {}
    for s in servers:
        kind = str(s.get("NodeType") or "")
        if not kind and s.get("ReadReplica"):
            kind = "read-replica"
        if kind:
            node_types[str(s.get("Name", ""))] = kind
    reported = [*versions, *(str(s.get("Version") or "") for s in servers)]
    ent_version = any((v := Version.reported(r)) is not None and "ent" in v.metadata.split(".") for r in reported)
    upgrade = (state or {}).get("Upgrade")
    enterprise = (
        ent_version
        or isinstance(upgrade, Mapping)
        or any(k not in ("voter", "") for k in node_types.values())
        or bool((state or {}).get("ReadReplicas") or (state or {}).get("RedundancyZones"))
    )
    dum = (configuration or {}).get("DisableUpgradeMigration")
    return AutopilotFacts(
        enterprise=enterprise,
        disable_upgrade_migration=None if dum is None else bool(dum),
        upgrade_status=str(upgrade.get("Status") or "") if isinstance(upgrade, Mapping) else "",
        node_types=node_types,
    )
