"""ClusterState builders shaped like Consul's API JSON, for the pure tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from clusterops.consul.state import ClusterState, failure_tolerance, state_from_api

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def cluster(
    nodes: list[tuple[str, str]] | None = None,
    *,
    dead: tuple[str, ...] = (),
    leader: str = "s1",
    extra_raft: list[dict[str, Any]] | None = None,
    versions: dict[str, str] | None = None,
    autopilot: dict[str, Any] | None = None,
    non_voters: tuple[str, ...] = (),
    stable_since: datetime | None = None,
    peers: list[str] | None = None,
    staging: tuple[str, ...] = (),
    raft_term: int | None = None,
    stale_read: bool = False,
    raft_vsn: str | None = "3",
    hide_members: tuple[str, ...] = (),
    members_filtered: bool = False,
) -> ClusterState:
    """A cluster as Consul's endpoints describe it. `stale_read` is the no-leader shape (only the
    agent's own raft configuration, no autopilot); `hide_members` drops members as an ACL filter
    does, `members_filtered` is Consul's header saying so."""
    nodes = nodes or [("s1", "10.0.0.1"), ("s2", "10.0.0.2"), ("s3", "10.0.0.3")]
    versions = versions or {}
    raft = [
        {"ID": f"id-{n}", "Node": n, "Address": f"{ip}:8300", "Leader": n == leader, "Voter": n not in non_voters}
        for n, ip in nodes
    ] + [{"Leader": False, "Voter": True} | e for e in extra_raft or []]
    members = [
        {
            "Name": n,
            "Addr": ip,
            "Port": 8301,
            "Status": 4 if n in dead else 1,
            "Tags": {"role": "consul", "build": f"{versions.get(n, '1.13.9')}:abc"}
            | ({"raft_vsn": raft_vsn} if raft_vsn else {}),
        }
        for n, ip in nodes
        if n not in hide_members
    ]
    since = (stable_since or NOW - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    health = {
        "Healthy": not dead,
        "FailureTolerance": failure_tolerance(
            sum(1 for p in raft if p["Voter"]),
            sum(1 for p in raft if p["Voter"] and p["Node"] not in (*dead, "(unknown)")),
        ),
        "Servers": [
            {
                "ID": p["ID"],
                "Name": p["Node"],
                "Address": p["Address"],
                "SerfStatus": "failed" if p["Node"] in dead else "alive",
                "Version": versions.get(p["Node"], "1.13.9"),
                "Leader": p["Leader"],
                "LastContact": "0s" if p["Leader"] else "12.5ms",
                "LastTerm": 2,
                "LastIndex": 100,
                "Healthy": p["Node"] not in dead,
                "Voter": p["Voter"],
                "StableSince": since,
            }
            for p in raft
            if p["Node"] != "(unknown)"
        ],
    }
    leader_addr = next((p["Address"] for p in raft if p["Leader"]), "")
    return state_from_api(
        agent="http://10.0.0.1:8500",
        leader=leader_addr,
        raft_configuration={"Servers": raft, "Index": 42},
        members=members,
        autopilot_health=None if stale_read else health,
        autopilot_configuration=None
        if stale_read
        else autopilot
        or {
            "CleanupDeadServers": True,
            "LastContactThreshold": "200ms",
            "MaxTrailingLogs": 250,
            "MinQuorum": 3,
            "ServerStabilizationTime": "10s",
        },
        autopilot_state=None
        if stale_read
        else {
            "Servers": {
                p["ID"]: {"ID": p["ID"], "Name": p["Node"], "Status": "staging" if p["Node"] in staging else "voter"}
                for p in raft
            }
        },
        peers=[p["Address"] for p in raft] if peers is None else peers,
        observed_at=NOW,
        stale_read=stale_read,
        agent_self={"Stats": {"raft": {"term": str(raft_term)}}} if raft_term is not None else None,
        members_filtered=members_filtered,
    )
