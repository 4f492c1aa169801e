"""The inventory of a lab: the same YAML shape an operator writes for real servers."""

from __future__ import annotations

from typing import Any

from clusterops.lab.cluster import Lab


def lab_inventory(lab: Lab) -> dict[str, Any]:
    state = lab.state()
    inv: dict[str, Any] = {"cluster": "lab", "datacenter": state.datacenter}
    if state.acl:
        inv["consul"] = {"token_file": str(lab.management_token_file)}
    inv["servers"] = [
        {"name": s.name, "address": s.http_addr, "driver": {"type": "lab", "lab_dir": str(lab.root)}}
        for s in state.servers
    ]
    return inv
