"""One entry point for `consul upgrade`: read, plan, and apply or resume with a journal.

`apply_upgrade` holds the cluster lock and the local journal lock (`clusterops.consul.lock`) for
the whole run, so the CLI and a playbook's `consul.upgrade` step are both guarded. The target is
validated (`Version.target`) before anything is read, and the pre-flight asks every inventory
address who it is (`clusterops.consul.identity`) before the plan may pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from clusterops.consul import lock as cluster_lock
from clusterops.consul.autopilot_facts import AutopilotFacts, facts_from_api
from clusterops.consul.identity import identity_findings, read_identities
from clusterops.consul.inventory import Inventory, load_inventory
from clusterops.consul.permissions import TokenFacts, read_token_facts
from clusterops.consul.snapshot import SnapshotInfo
from clusterops.consul.state import ClusterState
from clusterops.consul.upgrade.drivers import NodeDriver, driver_for
from clusterops.consul.upgrade.execute import JOURNAL_KIND, Event, UpgradeOptions, Upgrader
from clusterops.consul.upgrade.plan import IDENTITY, PERMISSION, Plan, plan_upgrade
from clusterops.consul.upgrade.reader import ClusterReader, inventory_settings
from clusterops.consul.version import Version
from clusterops.errors import AuthError, ClusterOpsError, UnsafePlan, UsageError
from clusterops.findings import Finding
from clusterops.journal import Journal, default_state_dir


@dataclass(frozen=True)
class PlanOptions:
    min_failure_tolerance: int = 1
    max_minor_jump: int = 2
    allow_downgrade: bool = False
    allow_prerelease: bool = False
    snapshot: bool = True  # the run will take a snapshot: check at plan time that the token may


def journal_key(inventory: Inventory, target: str) -> str:
    """The journal's key: the inventory and the canonical target (`v1.14.11` is `1.14.11`)."""
    version = Version.reported(target)
    return f"{Path(inventory.path).resolve()}|{version if version else target}"


def make_plan(inventory: Inventory, reader: ClusterReader, target: str, opts: PlanOptions) -> Plan:
    """Validate the target, read the cluster, ask every address who it is, and plan."""
    want = Version.target(target, allow_prerelease=opts.allow_prerelease)
    state = reader.read()
    identities = read_identities(inventory, reader)
    preflight = identity_findings(inventory, identities, state, IDENTITY)
    if opts.snapshot:
        preflight += permission_findings(inventory, reader, state)
    return plan_upgrade(
        state,
        inventory,
        want,
        min_failure_tolerance=opts.min_failure_tolerance,
        max_minor_jump=opts.max_minor_jump,
        allow_downgrade=opts.allow_downgrade,
        autopilot=read_autopilot_facts(inventory, reader, state),
        preflight=preflight,
    )


def permission_findings(inventory: Inventory, reader: ClusterReader, state: ClusterState) -> list[Finding]:
    """The snapshot needs a management token (acl = "write"): refuse now, not after the lock."""
    return snapshot_refusals(read_token_facts(reader.client(_answering(inventory, state))))


def snapshot_refusals(facts: TokenFacts) -> list[Finding]:
    """UP011 when the token may not save a snapshot (pure: what the token's policies say)."""
    if facts.may_snapshot:
        return []
    why = (f"its rules ({', '.join(facts.unreadable)}) cannot even be read" if facts.unreadable
           else "none of its policies grants acl = \"write\"")  # fmt: skip
    return [Finding.of(PERMISSION, "token", f"the token may not save a snapshot: {why}")]


def _answering(inventory: Inventory, state: ClusterState) -> str:
    return next((s.name for s in inventory.servers if s.address == state.agent), inventory.names[0])


def read_autopilot_facts(inventory: Inventory, reader: ClusterReader, state: ClusterState) -> AutopilotFacts:
    """Enterprise-only autopilot facts, read through the server that answered the snapshot."""
    client = reader.client(_answering(inventory, state))
    try:
        config = client.autopilot_configuration()
        ap_state = client.autopilot_state()
    except AuthError:
        raise
    except ClusterOpsError:
        return AutopilotFacts()
    return facts_from_api(config, ap_state, [h.version for h in state.health])


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
    break_lock: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    after_snapshot: Callable[[SnapshotInfo], None] = lambda info: None,
) -> dict[str, Any]:
    """Plan (refusing unsafe plans), then run every step; with `resume`, continue the last
    unfinished run for this inventory and target: finish its half-done server, then re-plan.
    `should_stop` is asked before each server is touched; True stops the run there (UpgradeStopped).
    `after_snapshot` gets the pre-upgrade snapshot before any server is touched; raising stops the run.

    Nothing is read from the cluster before the target is valid, and nothing is touched before
    both locks are held (LockHeld, exit 1, names the holder)."""
    state_dir = state_dir or default_state_dir()
    inventory = load_inventory(inventory_path)
    target = str(Version.target(target, allow_prerelease=plan_options.allow_prerelease))
    reader = ClusterReader(inventory, inventory_settings(inventory))
    key = journal_key(inventory, target)

    def note(text: str) -> None:
        on_event({"event": "lock", "t": time.time(), "key": cluster_lock.LOCK_KEY, "note": text})

    try:
        journal = Journal.latest_unfinished(state_dir, kind=JOURNAL_KIND, key=key) if resume else None
        if resume and journal is None:
            raise UsageError(f"no unfinished upgrade to {target} for {inventory.path} in {state_dir / JOURNAL_KIND}")
        with cluster_lock.held(
            [reader.client(n) for n in inventory.names],
            state_dir=state_dir,
            subject=f"consul upgrade of {Path(inventory.path).resolve()}",
            command=f"consul upgrade --to {target}" + (" --resume" if resume else " --apply"),
            run_id=journal.run_id if journal else "",
            resume=resume,
            break_lock=break_lock,
            on_note=note,
        ) as lock:
            if journal is not None:
                journal = Journal.load(journal.path)  # as the last holder left it

            def guarded(event: Event) -> None:
                if event.get("event") == "stopping":  # the last moment before a server goes down
                    lock.ensure_held()
                on_event(event)

            return _apply_locked(
                inventory, reader, target, journal, lock, plan_options, options, state_dir, guarded, on_plan,
                driver_factory, should_stop, after_snapshot,
            )  # fmt: skip
    finally:
        reader.close()


def _apply_locked(
    inventory: Inventory,
    reader: ClusterReader,
    target: str,
    journal: Journal | None,
    lock: cluster_lock.Lock,
    plan_options: PlanOptions,
    options: UpgradeOptions,
    state_dir: Path,
    on_event: Callable[[Event], None],
    on_plan: Callable[[Plan], None],
    driver_factory: Callable[..., NodeDriver],
    should_stop: Callable[[], bool] = lambda: False,
    after_snapshot: Callable[[SnapshotInfo], None] = lambda info: None,
) -> dict[str, Any]:
    key = journal_key(inventory, target)
    options = replace(options, target=target)

    def upgrader_for(journal: Journal) -> Upgrader[ClusterState]:
        return Upgrader(
            inventory, reader, options, journal, on_event, driver_factory, should_stop=should_stop,
            after_snapshot=after_snapshot,
        )  # fmt: skip

    if journal is not None:
        upgrader = upgrader_for(journal)
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
            raise _refusal(plan)
        known = {entry["id"] for entry in journal.steps()}
        for step in plan.steps:
            if step.server not in known:
                raise UsageError(f"{step.server} is not part of run {journal.run_id}; start a new run")
        return upgrader.run(plan, state_dir)

    plan = make_plan(inventory, reader, target, plan_options)
    on_plan(plan)
    if not plan.ok:
        raise _refusal(plan)
    params = {
        "inventory": str(Path(inventory.path).resolve()),
        "target": target,
        "baseline_failure_tolerance": plan.baseline_failure_tolerance,
        "leader_at_start": plan.leader,
        "order": [s.server for s in plan.steps],
    }
    journal = Journal.create(state_dir, kind=JOURNAL_KIND, key=key, params=params, steps=[s.server for s in plan.steps])
    lock.set_run_id(journal.run_id)
    upgrader = upgrader_for(journal)
    upgrader.emit("journal", path=str(journal.path))
    return upgrader.run(plan, state_dir)


def _single_step_plan(inventory: Inventory, reader: ClusterReader, target: str, server: str, baseline: int) -> Plan:
    """A plan for finishing one half-done server; pre-flight refusals are expected (it may be down)."""
    want = Version.target(target, allow_prerelease=True)  # validated when the run started
    full = plan_upgrade(reader.read(), inventory, want, min_failure_tolerance=0, max_minor_jump=99)
    step = next((s for s in full.steps if s.server == server), None)
    if step is None:
        raise UsageError(f"{server} from the journal is not in the inventory {inventory.path}")
    return replace(full, steps=(replace(step, action="upgrade"),), baseline_failure_tolerance=baseline)


def _refusal(plan: Plan) -> ClusterOpsError:
    """A refused plan is exit 1; one refused for a permission the token lacks is an auth error (exit 2)."""
    if any(f.rule_id == PERMISSION.id for f in plan.refusals):
        return AuthError(_refusal_text(plan, why="the token lacks a permission the run needs (acl:write)"))
    return UnsafePlan(_refusal_text(plan))


def _refusal_text(plan: Plan, why: str = "") -> str:
    lines = [f"pre-flight refused the upgrade{f' ({why})' if why else ''}; nothing was touched:"]
    for f in plan.refusals:
        lines.append(f"  [{f.rule_id}] {f.subject}: {f.message}" + (f"\n      remedy: {f.remedy}" if f.remedy else ""))
    return "\n".join(lines)
