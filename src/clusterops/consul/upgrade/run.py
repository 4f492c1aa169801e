"""One entry point for `consul upgrade`: read, plan, and apply or resume with a journal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from clusterops.consul.inventory import Inventory, load_inventory
from clusterops.consul.snapshot import SnapshotInfo
from clusterops.consul.upgrade.drivers import NodeDriver, driver_for
from clusterops.consul.upgrade.execute import JOURNAL_KIND, Event, UpgradeOptions, Upgrader
from clusterops.consul.upgrade.plan import Plan, plan_upgrade
from clusterops.consul.upgrade.reader import ClusterReader, inventory_settings
from clusterops.errors import UnsafePlan, UsageError
from clusterops.journal import Journal, default_state_dir


@dataclass(frozen=True)
class PlanOptions:
    min_failure_tolerance: int = 1
    max_minor_jump: int = 2
    allow_downgrade: bool = False


def journal_key(inventory: Inventory, target: str) -> str:
    return f"{Path(inventory.path).resolve()}|{target}"


def make_plan(inventory: Inventory, reader: ClusterReader, target: str, opts: PlanOptions) -> Plan:
    return plan_upgrade(
        reader.read(),
        inventory,
        target,
        min_failure_tolerance=opts.min_failure_tolerance,
        max_minor_jump=opts.max_minor_jump,
        allow_downgrade=opts.allow_downgrade,
    )


def plan_document(plan: Plan) -> dict[str, Any]:
    return {
        "target": plan.target,
        "leader": plan.leader,
        "voters": plan.voters,
        "baseline_failure_tolerance": plan.baseline_failure_tolerance,
        "ok": plan.ok,
        "refusals": [f.to_dict() for f in plan.refusals],
        "steps": [asdict(s) for s in plan.steps],
    }


def apply_upgrade(
    inventory_path: str,
    target: str,
    *,
    plan_options: PlanOptions,
    options: UpgradeOptions,
    resume: bool = False,
    state_dir: Path | None = None,
    on_event: Callable[[Event], None] = lambda e: None,
    on_plan: Callable[[Plan], None] = lambda p: None,
    driver_factory: Callable[..., NodeDriver] = driver_for,
    should_stop: Callable[[], bool] = lambda: False,
    after_snapshot: Callable[[SnapshotInfo], None] = lambda info: None,
) -> dict[str, Any]:
    """Plan (refusing unsafe plans), then run every step; with `resume`, continue the last
    unfinished run for this inventory and target: finish its half-done server, then re-plan.
    `should_stop` is asked before each server is touched; True stops the run there (UpgradeStopped).
    `after_snapshot` gets the pre-upgrade snapshot before any server is touched; raising stops the run."""
    state_dir = state_dir or default_state_dir()
    inventory = load_inventory(inventory_path)
    reader = ClusterReader(inventory, inventory_settings(inventory))
    key = journal_key(inventory, target)
    try:
        journal = Journal.latest_unfinished(state_dir, kind=JOURNAL_KIND, key=key) if resume else None
        if resume and journal is None:
            raise UsageError(f"no unfinished upgrade to {target} for {inventory.path} in {state_dir / JOURNAL_KIND}")
        if journal is not None:
            upgrader = Upgrader(
                inventory, reader, options, journal, on_event, driver_factory, should_stop=should_stop,
                after_snapshot=after_snapshot,
            )  # fmt: skip
            upgrader.emit("resume", journal=str(journal.path))
            journal.set(status="running")
            half_done = [s for s in journal.steps() if s["status"] not in ("pending", "done", "skipped")]
            baseline = int(journal.params["baseline_failure_tolerance"])
            for entry in half_done:
                single = _single_step_plan(inventory, reader, target, entry["id"], baseline)
                upgrader.run_step(single.steps[0], baseline)
            plan = make_plan(inventory, reader, target, plan_options)
            on_plan(plan)
            if not plan.ok:
                raise UnsafePlan(_refusal_text(plan))
            known = {entry["id"] for entry in journal.steps()}
            for step in plan.steps:
                if step.server not in known:
                    raise UsageError(f"{step.server} is not part of run {journal.run_id}; start a new run")
            return upgrader.run(plan, state_dir)

        plan = make_plan(inventory, reader, target, plan_options)
        on_plan(plan)
        if not plan.ok:
            raise UnsafePlan(_refusal_text(plan))
        params = {
            "inventory": str(Path(inventory.path).resolve()),
            "target": target,
            "baseline_failure_tolerance": plan.baseline_failure_tolerance,
            "leader_at_start": plan.leader,
            "order": [s.server for s in plan.steps],
        }
        journal = Journal.create(
            state_dir, kind=JOURNAL_KIND, key=key, params=params, steps=[s.server for s in plan.steps]
        )
        upgrader = Upgrader(
                inventory, reader, options, journal, on_event, driver_factory, should_stop=should_stop,
                after_snapshot=after_snapshot,
            )  # fmt: skip
        upgrader.emit("journal", path=str(journal.path))
        return upgrader.run(plan, state_dir)
    finally:
        reader.close()


def _single_step_plan(inventory: Inventory, reader: ClusterReader, target: str, server: str, baseline: int) -> Plan:
    """A plan for finishing one half-done server; pre-flight refusals are expected (it may be down)."""
    full = plan_upgrade(reader.read(), inventory, target, min_failure_tolerance=0, max_minor_jump=99)
    step = next((s for s in full.steps if s.server == server), None)
    if step is None:
        raise UsageError(f"{server} from the journal is not in the inventory {inventory.path}")
    return replace(full, steps=(replace(step, action="upgrade"),), baseline_failure_tolerance=baseline)


def _refusal_text(plan: Plan) -> str:
    lines = ["pre-flight refused the upgrade; nothing was touched:"]
    for f in plan.refusals:
        lines.append(f"  [{f.rule_id}] {f.subject}: {f.message}" + (f"\n      remedy: {f.remedy}" if f.remedy else ""))
    return "\n".join(lines)
