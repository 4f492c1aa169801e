"""`vault upgrade`: plan and run a rolling upgrade of a Vault / OpenBao raft cluster.

The same executor as `consul upgrade` (`clusterops.consul.upgrade.execute.Upgrader`), driven
through the Vault adapter (`clusterops.vault.upgrade_adapter.VaultUpgradeAdapter`): a checked raft
snapshot before anything, standbys first, the active node last (stepped down first so an upgraded
standby takes over), and after each node: unseal with the inventory's keys, then the gate (target
version, unsealed, voter, autopilot healthy, failure tolerance back to its start) held for
autopilot's server_stabilization_time. Journal and `--resume` as for Consul.

Two locks (`clusterops.vault.lock`): a cluster lock held in the cluster's own KV v2 (a secret
written with cas=0, renewed, checked before each node is stopped) and the local `flock`.

`plan_vault_upgrade` is pure: a function of one VaultClusterState and the inventory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from clusterops.consul.inventory import DriverSpec, Inventory, InventoryServer, _driver
from clusterops.consul.upgrade.drivers import DriverError, NodeDriver, driver_for
from clusterops.consul.upgrade.execute import Event, UpgradeOptions, Upgrader
from clusterops.consul.upgrade.plan import Plan, QuorumView, Step
from clusterops.errors import UnsafePlan, UsageError
from clusterops.findings import Finding, Rule, Severity, catalog
from clusterops.journal import Journal, default_state_dir
from clusterops.settings import VaultSettings
from clusterops.vault import lock as vault_lock
from clusterops.vault.checks import dead_voters, version_key
from clusterops.vault.client import RaftClient
from clusterops.vault.inventory import VaultInventory, load_vault_inventory
from clusterops.vault.state import VaultClusterState, failure_tolerance
from clusterops.vault.unseal import read_unseal_keys
from clusterops.vault.upgrade_adapter import VaultUpgradeAdapter
from clusterops.yamlsource import load_yaml

JOURNAL_KIND = "vault-upgrade"

NO_ACTIVE = Rule(
    "VU001",
    Severity.ERROR,
    "no active node",
    "restore an active node first (clusterops vault check)",
    doc=(
        "The upgrade steps the active node down last, after the standbys: without an active node the "
        "cluster is down before the first step."
    ),
)
SEALED = Rule(
    "VU002", Severity.ERROR, "nodes not answering unsealed",
    "unseal them (bao operator unseal) or start them; an upgrade takes one node down at a time",
    doc="A sealed or silent node before the start: taking another node down beside it could lose quorum.",
)  # fmt: skip
DEAD = Rule(
    "VU003",
    Severity.ERROR,
    "dead raft voters",
    "clusterops vault remove-stale-peers -i INVENTORY --apply",
    doc="Dead raft voters still count toward the quorum: taking a live node down beside them can lose it.",
)
LOW_FT = Rule(
    "VU004", Severity.ERROR, "failure tolerance below the minimum",
    "bring every node back to a healthy voter first (clusterops vault check)",
    doc=(
        "Each step takes one node down: with a failure tolerance below the minimum that step could lose "
        "quorum."
    ),
)  # fmt: skip
DOWNGRADE = Rule(
    "VU005", Severity.ERROR, "a downgrade",
    "never fail over to an older version: restore from a snapshot instead of rolling back the cluster",
    doc=(
        "A node newer than the target: a failover to an older version is a downgrade; restore from a "
        "snapshot instead."
    ),
)  # fmt: skip
JUMP = Rule(
    "VU006", Severity.ERROR, "version jump not allowed",
    "upgrade in smaller steps (read the release's upgrade notes), or raise --max-minor-jump",
    doc="A major version change, or more minor versions than --max-minor-jump in one roll.",
)  # fmt: skip
UNKNOWN_VERSION = Rule(
    "VU007",
    Severity.ERROR,
    "version unknown",
    "check the node answers and reports its version",
    doc="A target or node version that cannot be read cannot be compared or checked after each step.",
)
MISMATCH = Rule(
    "VU008", Severity.ERROR, "nodes do not match the inventory",
    "make the inventory list exactly the raft peers (clusterops vault status)",
    doc=(
        "The inventory must list exactly the raft peers: otherwise some nodes are never upgraded, or a "
        "stranger is touched."
    ),
)  # fmt: skip

RULES = catalog([NO_ACTIVE, SEALED, DEAD, LOW_FT, DOWNGRADE, JUMP, UNKNOWN_VERSION, MISMATCH])


def _view(up: int, voters: int) -> QuorumView:
    return QuorumView(up, voters, voters // 2 + 1, failure_tolerance(voters))


def plan_vault_upgrade(
    state: VaultClusterState,
    names: list[str],
    target: str,
    *,
    min_failure_tolerance: int = 1,
    max_minor_jump: int = 1,
) -> Plan:
    """Steps (standbys by name, the active node last; nodes on the target skipped) with quorum
    before/during/after, and the refusals (pure)."""
    refusals: list[Finding] = []
    want = version_key(target)
    if want is None:
        refusals.append(Finding.of(UNKNOWN_VERSION, "target", f"{target!r} is not a version"))
    active = state.active.name if state.active else ""
    if not active:
        refusals.append(Finding.of(NO_ACTIVE, "cluster", "no node answers as the active node"))
    sealed = [n.name for n in state.nodes if not n.unsealed]
    for name in sealed:
        refusals.append(Finding.of(SEALED, name, f"{name} does not answer unsealed"))
    for dead in dead_voters(state):
        refusals.append(
            Finding.of(DEAD, dead.server.node_id, f"raft voter {dead.server.node_id} is dead ({dead.reason})")
        )
    raft_ids = {s.node_id for s in state.raft}
    if raft_ids:
        missing = sorted(raft_ids - set(names))
        extra = sorted(set(names) - raft_ids)
        if missing or extra:
            text = "; ".join(
                p for p in (f"raft peers not in the inventory: {', '.join(missing)}" if missing else "",
                            f"inventory nodes not raft peers: {', '.join(extra)}" if extra else "") if p
            )  # fmt: skip
            refusals.append(Finding.of(MISMATCH, "inventory", text))
    baseline = state.failure_tolerance
    if baseline < min_failure_tolerance:
        refusals.append(
            Finding.of(LOW_FT, "cluster", f"failure tolerance {baseline} is below the minimum {min_failure_tolerance}")
        )
    voters = len(state.voters)
    steps: list[Step] = []
    ordered = sorted(n for n in names if n != active) + ([active] if active in names else [])
    for name in ordered:
        node = next((n for n in state.nodes if n.name == name), None)
        version = node.version if node and node.version else ""
        have = version_key(version) if version else None
        if have is None:
            refusals.append(Finding.of(UNKNOWN_VERSION, name, f"{name} reports no version"))
        elif want is not None:
            if have > want:
                refusals.append(Finding.of(DOWNGRADE, name, f"{name} runs {version}, newer than {target}"))
            elif have[:1] != want[:1] or (len(want) > 1 and len(have) > 1 and want[1] - have[1] > max_minor_jump):
                refusals.append(
                    Finding.of(JUMP, name, f"{name}: {version} -> {target} jumps more than {max_minor_jump} minor")
                )
        skip = have is not None and want is not None and have == want
        up = sum(1 for n in state.nodes if n.unsealed)
        steps.append(
            Step(
                server=name,
                address=node.address if node else "",
                role="active" if name == active else "standby",
                from_version=version,
                to_version=target,
                action="skip" if skip else "upgrade",
                before=_view(up, voters),
                during=_view(up - (0 if skip else 1), voters),
                after=_view(up, voters),
            )
        )
    return Plan(target, tuple(steps), tuple(refusals), active, baseline, voters)


def plan_document(plan: Plan) -> dict[str, Any]:
    return {
        "target": plan.target,
        "active": plan.leader,
        "voters": plan.voters,
        "baseline_failure_tolerance": plan.baseline_failure_tolerance,
        "ok": plan.ok,
        "refusals": [f.to_dict() for f in plan.refusals],
        "steps": [asdict(s) for s in plan.steps],
    }


def refusal_text(plan: Plan) -> str:
    lines = ["pre-flight refused the upgrade; nothing was touched:"]
    for f in plan.refusals:
        lines.append(f"  [{f.rule_id}] {f.subject}: {f.message}" + (f"\n      remedy: {f.remedy}" if f.remedy else ""))
    return "\n".join(lines)


# -- drivers ----------------------------------------------------------------------------------------


@dataclass
class VaultLabDriver:
    """The OpenBao lab's processes: stop, and start on a version without unsealing (the adapter
    unseals, so a missing key shows as a sealed node at the gate)."""

    lab_dir: str

    def stop(self, server: InventoryServer) -> None:
        from clusterops.lab.openbao_cluster import OpenBaoCluster

        OpenBaoCluster(self.lab_dir).stop(server.name)

    def switch(self, server: InventoryServer, version: str) -> None:
        from clusterops.lab import binaries

        binaries.openbao_binary(version)  # fail before the start if the binary cannot be had

    def start(self, server: InventoryServer, version: str) -> None:
        from clusterops.errors import LabError
        from clusterops.lab.openbao_cluster import OpenBaoCluster

        try:
            OpenBaoCluster(self.lab_dir).start(server.name, version=version, unseal_keys=False)
        except LabError as err:
            raise DriverError(f"{server.name}: start on {version} failed: {err}") from None


def vault_driver_for(server: InventoryServer) -> NodeDriver:
    if server.driver.type == "lab":
        return VaultLabDriver(str(server.driver.settings["lab_dir"]))
    return driver_for(server)  # exec, ssh: command templates, product-neutral


def executor_inventory(inv: VaultInventory) -> Inventory:
    """The executor's view of the nodes: name, address, host and a driver spec (validated as the
    Consul inventory validates its drivers, with the file and line of a mistake)."""
    data, loc = load_yaml(inv.path)
    raw_servers = data.get("servers") if isinstance(data, dict) else None
    servers = []
    for i, node in enumerate(inv.servers):
        raw = (raw_servers or [{}])[i] if raw_servers and i < len(raw_servers) else {}
        spec_raw = raw.get("driver") if isinstance(raw, dict) else None
        spec = _driver(spec_raw, ("servers", i, "driver"), {}, loc) if spec_raw else DriverSpec("none")
        host = node.address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
        servers.append(InventoryServer(node.name, node.address, host, spec))
    return Inventory(inv.path, inv.cluster, tuple(servers))


# -- the run ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultPlanOptions:
    min_failure_tolerance: int = 1
    max_minor_jump: int = 1


def journal_key(inv: VaultInventory, target: str) -> str:
    return f"{Path(inv.path).resolve()}|{target.lstrip('v')}"


def connect(inv: VaultInventory) -> RaftClient:
    settings = VaultSettings.resolve(
        address=inv.servers[0].address,
        token_file=inv.setting("token_file"),
        ca_cert=inv.setting("ca_cert"),
        verify=False if str(inv.vault.get("tls_skip_verify")).lower() == "true" else None,
    )
    return RaftClient(settings)


def make_adapter(inv: VaultInventory, client: RaftClient) -> VaultUpgradeAdapter:
    key_file = inv.setting("unseal_key_file")
    keys = read_unseal_keys(key_file) if key_file else []
    return VaultUpgradeAdapter(client, list(inv.servers), unseal_keys=keys)


def make_plan(inv: VaultInventory, adapter: VaultUpgradeAdapter, target: str, opts: VaultPlanOptions) -> Plan:
    return plan_vault_upgrade(
        adapter.read(),
        [s.name for s in inv.servers],
        target,
        min_failure_tolerance=opts.min_failure_tolerance,
        max_minor_jump=opts.max_minor_jump,
    )


def apply_vault_upgrade(
    inventory_path: str,
    target: str,
    *,
    plan_options: VaultPlanOptions,
    options: UpgradeOptions,
    resume: bool = False,
    break_lock: bool = False,
    state_dir: Path | None = None,
    on_event: Callable[[Event], None] = lambda e: None,
    on_plan: Callable[[Plan], None] = lambda p: None,
    driver_factory: Callable[[InventoryServer], NodeDriver] = vault_driver_for,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Plan (refusing unsafe plans), then run every step under the local lock; with `resume`,
    finish the last unfinished run for this inventory and target, then re-plan."""
    state_dir = state_dir or default_state_dir()
    target = target.strip().lstrip("v")
    if version_key(target) is None:
        raise UsageError(f"--to {target!r} is not a version (e.g. 2.7.2)")
    inv = load_vault_inventory(inventory_path)
    executor_inv = executor_inventory(inv)
    key = journal_key(inv, target)
    journal = Journal.latest_unfinished(state_dir, kind=JOURNAL_KIND, key=key) if resume else None
    if resume and journal is None:
        raise UsageError(f"no unfinished vault upgrade to {target} for {inv.path} in {state_dir / JOURNAL_KIND}")
    command = f"vault upgrade --to {target}" + (" --resume" if resume else " --apply")
    client = connect(inv)
    lock_path, configured = vault_lock.lock_path_for(inv.vault.get("lock_path"))
    try:
        lock = vault_lock.acquire(
            client, [s.address for s in inv.servers], state_dir=state_dir,
            subject=f"vault upgrade of {Path(inv.path).resolve()}", command=command, lock_path=lock_path,
            configured=configured, run_id=journal.run_id if journal else "", resume=resume, break_lock=break_lock,
        )  # fmt: skip
    except BaseException:
        client.close()
        raise
    for note in lock.notes or (f"cluster lock {lock_path} and local lock {lock.local.path}",):
        on_event({"event": "lock", "t": time.time(), "note": note})

    def guarded(event: Event) -> None:
        if event.get("event") == "stopping":  # the last moment before a node goes down
            lock.ensure_held()
        on_event(event)

    try:
        adapter = make_adapter(inv, client)
        options = replace(options, target=target)

        def upgrader(j: Journal) -> Upgrader[VaultClusterState]:
            return Upgrader(
                executor_inv, None, options, j, guarded, driver_factory, should_stop=should_stop, adapter=adapter
            )

        if journal is not None:
            journal = Journal.load(journal.path)
            run = upgrader(journal)
            run.emit("resume", journal=str(journal.path))
            journal.set(status="running")
            baseline = int(journal.params["baseline_failure_tolerance"])
            half_done = [s for s in journal.steps() if s["status"] not in ("pending", "done", "skipped")]
            for entry in half_done:
                step = _resume_step(journal, entry, target, executor_inv)
                run.run_step(step, baseline)
            plan = make_plan(inv, adapter, target, plan_options)
            on_plan(plan)
            if not plan.ok:
                raise UnsafePlan(refusal_text(plan))
            return run.run(plan, state_dir)

        plan = make_plan(inv, adapter, target, plan_options)
        on_plan(plan)
        if not plan.ok:
            raise UnsafePlan(refusal_text(plan))
        params = {
            "inventory": str(Path(inv.path).resolve()),
            "target": target,
            "baseline_failure_tolerance": plan.baseline_failure_tolerance,
            "active_at_start": plan.leader,
            "order": [s.server for s in plan.steps],
        }
        journal = Journal.create(
            state_dir, kind=JOURNAL_KIND, key=key, params=params, steps=[s.server for s in plan.steps]
        )
        lock.set_run_id(journal.run_id)
        run = upgrader(journal)
        run.emit("journal", path=str(journal.path))
        return run.run(plan, state_dir)
    finally:
        lock.release()  # through the client: close it after
        client.close()


def _resume_step(journal: Journal, entry: dict[str, Any], target: str, inv: Inventory) -> Step:
    """The step for a half-done node, from what the journal recorded when it was touched."""
    server = inv.server(str(entry["id"]))
    if server is None:
        raise UsageError(f"{entry['id']} from the journal is not in the inventory {inv.path}")
    data = entry.get("data") or {}
    view = QuorumView(0, 0, 0, 0)
    return Step(
        server.name, server.address, "standby", str(data.get("from_version") or ""), target, "upgrade",
        view, view, view,
    )  # fmt: skip
