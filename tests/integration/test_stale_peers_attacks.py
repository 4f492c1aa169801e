"""`consul remove-stale-peers --apply` decides from the cluster as it is when it acts, on a real lab."""

from __future__ import annotations

from pathlib import Path

from clusterops.consul.stale import apply_removals, plan_removals
from clusterops.consul.state import ClusterState, read_cluster_state
from tests.conftest import LabFactory
from tests.integration.helpers import lab_client, wait_for_state


def _status(state: ClusterState, node: str) -> str:
    return next((state.serf_status(p) for p in state.raft if p.node == node), "not in raft")


def test_a_peer_that_came_back_after_the_plan_is_not_removed(make_lab: LabFactory, tmp_path: Path) -> None:
    """The plan is made, then the operator reads the confirmation prompt; meanwhile the dead server is
    restarted and rejoins. The removals ran from the old plan: a healthy voter was force-left."""
    lab = make_lab(servers=3)
    lab.stop("s3", kill=True)
    with lab_client(lab) as client:
        state = wait_for_state(lab, lambda s: s.leader is not None and _status(s, "s3") == "failed",
                               what="s3 failed")  # fmt: skip
        plan = plan_removals(state)
        assert [(r.peer.node, r.refused) for r in plan] == [("s3", "")]  # stale and dead: would be removed
        lab.start("s3")  # ... while the prompt waits
        wait_for_state(lab, lambda s: s.leader is not None and _status(s, "s3") == "alive"
                       and s.failure_tolerance == 1, what="s3 back")  # fmt: skip
        [outcome] = apply_removals(client, plan, state_dir=tmp_path)
        assert not outcome.done and "no longer stale" in outcome.detail
        after = read_cluster_state(client)
    assert sorted(p.node for p in after.voters) == ["s1", "s2", "s3"] and after.failure_tolerance == 1
