"""What each step type does, in plan mode (read-only: what it would do) and apply mode.

Every action is a function `(ctx, args, apply) -> Outcome` that calls one library function of
the capability packages; none of them re-implements a capability. Plan mode reads live state
where needed and changes nothing.

A step's `timeout` is a deadline handed to the action (`ctx.deadline`), never a thread left
behind: `exec` runs its command in its own process group and stops it at the deadline (SIGTERM,
a grace period, then SIGKILL, and waits for it); `pause` and `consul.gate` wait no longer than
the deadline; `consul.upgrade` stops at the next safe point between two servers (journaled,
resumable). Every other action makes requests whose timeouts are clipped to the time left, and
the runner fails it if it returns after its deadline. An action always returns before the next
step or handler starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clusterops.durations import parse_duration
from clusterops.errors import UsageError
from clusterops.findings import Report, Severity
from clusterops.playbook.template import render, truthy

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient
    from clusterops.consul.inventory import Inventory
    from clusterops.kv.client import VaultClient
    from clusterops.playbook.model import Playbook


@dataclass(frozen=True)
class Outcome:
    status: str  # ok, failed, skipped (plan mode: ok = would pass, failed = would fail)
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    playbook: Playbook
    state_dir: Path
    run_id: str
    assume_yes: bool = False
    interactive: bool = False
    resuming: bool = False
    log: Callable[[str], None] = lambda line: None
    deadline: float | None = None  # time.monotonic() by which the current step must have returned
    _inventory: Inventory | None = None

    def remaining(self) -> float | None:
        """Seconds left before the current step's deadline (never negative), or None without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _clip(self, timeout: float) -> float:
        left = self.remaining()
        return timeout if left is None else max(0.5, min(timeout, left))

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.playbook.directory / p

    @property
    def inventory_path(self) -> Path | None:
        if not self.playbook.inventory:
            return None
        return self.path(str(render(self.playbook.inventory, self.playbook.vars)))

    def inventory(self) -> Inventory:
        from clusterops.consul.inventory import load_inventory

        if self._inventory is None:
            if self.inventory_path is None:
                raise UsageError(f"{self.playbook.path}: this step needs `inventory:` in the playbook")
            self._inventory = load_inventory(self.inventory_path)
        return self._inventory

    def consul_client(self) -> ConsulClient:
        from clusterops.consul.client import ConsulClient
        from clusterops.consul.upgrade.reader import inventory_settings
        from clusterops.settings import ConsulSettings

        c = self.playbook.consul
        if c or self.playbook.inventory is None:
            settings = ConsulSettings.resolve(
                address=c.get("address"),
                token_file=c.get("token_file"),
                ca_cert=c.get("ca_file"),
                verify=False if c.get("tls_skip_verify") else None,
            )
        else:
            settings = inventory_settings(self.inventory())
        return ConsulClient(replace(settings, timeout=self._clip(settings.timeout)))

    def vault_client(self, where: dict[str, Any] | None = None) -> VaultClient:
        from clusterops.kv.client import VaultClient
        from clusterops.settings import VaultSettings

        v = {**self.playbook.vault, **{k: val for k, val in (where or {}).items() if k != "path"}}
        settings = VaultSettings.resolve(
            address=v.get("address"),
            token_file=v.get("token_file"),
            namespace=v.get("namespace"),
            ca_cert=v.get("ca_cert"),
            verify=False if v.get("tls_skip_verify") else None,
        )
        return VaultClient(replace(settings, timeout=self._clip(settings.timeout)))


# -- consul --------------------------------------------------------------------------------------


def consul_check(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.consul.checks import check_cluster
    from clusterops.consul.state import read_cluster_state

    fail_on = Severity(args.get("fail_on", "error"))
    with ctx.consul_client() as client:
        state = read_cluster_state(client)
    findings = check_cluster(state, min_failure_tolerance=int(args.get("min_failure_tolerance", 1)))
    failing = [f for f in findings if f.severity.rank >= fail_on.rank]
    summary = f"{len(findings)} finding(s), {len(failing)} at or above {fail_on.value}" + (
        ": " + "; ".join(f"{f.rule_id} {f.subject}: {f.message}" for f in failing[:5]) if failing else ""
    )
    return Outcome("failed" if failing else "ok", summary, {"findings": [f.to_dict() for f in findings]})


def _stable_window(args: dict[str, Any], default: str) -> float:
    """`stable_window`, or its deprecated spelling `stable_for` (consul.gate's old name)."""
    name = "stable_window" if "stable_window" in args else "stable_for"
    return parse_duration(str(args.get(name, default)), name=name)


def consul_gate(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.consul.gate import GateJudge, GateSpec, run_gate
    from clusterops.consul.state import read_cluster_state
    from clusterops.errors import GateTimeout

    spec = GateSpec(
        min_failure_tolerance=int(args.get("min_failure_tolerance", 1)),
        expect_servers=int(args["expect_servers"]) if args.get("expect_servers") is not None else None,
        expect_version=args.get("expect_version"),
        stable_for=_stable_window(args, "10s"),
        timeout=ctx._clip(parse_duration(str(args.get("timeout", "5m")), name="timeout")),
        interval=parse_duration(str(args.get("interval", "1s")), name="interval"),
    )
    with ctx.consul_client() as client:
        if not apply:
            verdict = GateJudge(spec)(read_cluster_state(client))
            now = "holds now" if verdict.ok else f"does not hold now ({verdict.reason})"
            return Outcome("ok", f"would wait up to {spec.timeout:g}s for the gate to hold {spec.stable_for:g}s; {now}")
        try:
            result = run_gate(client, spec)
        except GateTimeout as err:
            return Outcome("failed", str(err))
    return Outcome(
        "ok",
        f"held {spec.stable_for:g}s after {result.elapsed:.1f}s: leader {result.leader}, {result.voters} voters, "
        f"failure tolerance {result.failure_tolerance}",
        {"leader_changes": result.leader_changes},
    )


def consul_snapshot(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.consul.snapshot import save_snapshot

    path = ctx.path(str(args["path"]))
    if not apply:
        return Outcome("ok", f"would save a snapshot to {path} and inspect it")
    with ctx.consul_client() as client:
        info = save_snapshot(client, path)
    return Outcome("ok", f"saved {info.bytes} bytes at index {info.index}, term {info.term} to {path}", info.__dict__)


def consul_upgrade(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.consul.upgrade.execute import JOURNAL_KIND
    from clusterops.consul.upgrade.reader import ClusterReader, inventory_settings
    from clusterops.consul.upgrade.run import PlanOptions, apply_upgrade, journal_key, make_plan
    from clusterops.journal import Journal

    target = str(args["to"])
    plan_options = PlanOptions(
        min_failure_tolerance=int(args.get("min_failure_tolerance", 1)),
        max_minor_jump=int(args.get("max_minor_jump", 2)),
        allow_downgrade=truthy(args.get("allow_downgrade", False), "allow_downgrade"),
    )
    inventory = ctx.inventory()
    if not apply:
        reader = ClusterReader(inventory, inventory_settings(inventory))
        try:
            plan = make_plan(inventory, reader, target, plan_options)
        finally:
            reader.close()
        return _plan_outcome(plan, "server")
    options = _upgrade_options(args, target)
    resume = ctx.resuming and (
        Journal.latest_unfinished(ctx.state_dir, kind=JOURNAL_KIND, key=journal_key(inventory, target)) is not None
    )

    on_event = _upgrade_event_logger(ctx)

    report = apply_upgrade(
        inventory.path, target, plan_options=plan_options, options=options, resume=resume, state_dir=ctx.state_dir,
        on_event=on_event, should_stop=ctx.expired,
    )  # fmt: skip
    return _upgrade_outcome(report, target, "leader changes")


def _plan_outcome(plan: Any, noun: str) -> Outcome:
    """An upgrade plan (Consul's or Vault's: the same Plan) as a step's outcome without --apply."""
    order = ", ".join(f"{s.server}({s.role}, {s.from_version}->{s.to_version}, {s.action})" for s in plan.steps)
    if not plan.ok:
        refusals = "; ".join(f"{f.rule_id} {f.subject}: {f.message}" for f in plan.refusals)
        return Outcome("failed", f"pre-flight would refuse: {refusals}", {"order": order})
    return Outcome("ok", f"would upgrade {len(plan.todo)} {noun}(s) in this order: {order}")


def _upgrade_options(args: dict[str, Any], target: str) -> Any:
    """The executor's options from an upgrade step's arguments (shared by consul.upgrade and vault.upgrade)."""
    from clusterops.consul.upgrade.execute import UpgradeOptions

    return UpgradeOptions(
        target=target,
        gate_timeout=parse_duration(str(args.get("gate_timeout", "5m")), name="gate_timeout"),
        stable_window=parse_duration(str(args.get("stable_window", "0s")), name="stable_window"),
        rollback_on_failure=truthy(args.get("rollback_on_failure", False), "rollback_on_failure"),
    )


def _upgrade_event_logger(ctx: RunContext) -> Callable[[dict[str, Any]], None]:
    """Log the events of an upgrade step that a person follows: stops, servers done, leadership, rollbacks."""

    def on_event(e: dict[str, Any]) -> None:
        if e["event"] in ("stopping", "done-server", "leader-step", "rollback", "regression", "resume"):
            ctx.log(
                f"    {e['event']}: " + " ".join(f"{k}={v}" for k, v in e.items() if k in ("server", "how", "seconds"))
            )

    return on_event


def vault_upgrade(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    """`clusterops vault upgrade` as a step: the plan without --apply, the run with it; a deadline
    stops it between two nodes, and `run --resume` continues its journal."""
    from clusterops.journal import Journal
    from clusterops.vault.inventory import load_vault_inventory
    from clusterops.vault.upgrade import (
        JOURNAL_KIND,
        VaultPlanOptions,
        apply_vault_upgrade,
        connect,
        journal_key,
        make_adapter,
        make_plan,
    )

    target = str(args["to"]).strip().lstrip("v")
    plan_options = VaultPlanOptions(
        min_failure_tolerance=int(args.get("min_failure_tolerance", 1)),
        max_minor_jump=int(args.get("max_minor_jump", 1)),
    )
    path = ctx.path(str(args["inventory"])) if args.get("inventory") else ctx.inventory_path
    if path is None:
        raise UsageError(f"{ctx.playbook.path}: vault.upgrade needs `inventory:` (in the step or the playbook)")
    inventory = load_vault_inventory(path)
    if not apply:
        with connect(inventory) as client:
            plan = make_plan(inventory, make_adapter(inventory, client), target, plan_options)
        return _plan_outcome(plan, "node")
    options = _upgrade_options(args, target)
    key = journal_key(inventory, target)
    resume = ctx.resuming and Journal.latest_unfinished(ctx.state_dir, kind=JOURNAL_KIND, key=key) is not None

    on_event = _upgrade_event_logger(ctx)

    report = apply_vault_upgrade(
        str(path), target, plan_options=plan_options, options=options, resume=resume, state_dir=ctx.state_dir,
        on_event=on_event, should_stop=ctx.expired,
    )  # fmt: skip
    return _upgrade_outcome(report, target, "active-node changes")


def _upgrade_outcome(report: dict[str, Any], target: str, changes: str) -> Outcome:
    """A finished upgrade run (Consul's or Vault's: the same report) as a step's outcome."""
    done = [s["server"] for s in report["steps"] if s["status"] == "done"]
    return Outcome(
        "ok",
        f"upgraded {', '.join(done) or 'nothing (all on target)'} to {target}; {changes} {report['leader_changes']}",
        {"upgrade_run": report["run_id"]},
    )


# -- validate ------------------------------------------------------------------------------------


def _validation(report: Report, strict: bool) -> Outcome:
    fail_on = Severity.WARNING if strict else Severity.ERROR
    failing = report.at_or_above(fail_on)
    summary = report.summary + (
        ": " + "; ".join(f"{f.rule_id} {f.subject}: {f.message}" for f in failing[:5]) if failing else ""
    )
    return Outcome("failed" if failing else "ok", summary, {"findings": [f.to_dict() for f in report.findings]})


def _facts(ctx: RunContext, args: dict[str, Any]) -> dict[str, Any]:
    from clusterops.validate.facts import load_facts
    from clusterops.validate.live import live_host

    if truthy(args.get("live", False), "live"):
        return {"live": live_host()}
    if args.get("facts"):
        return {"facts": load_facts(str(ctx.path(str(args["facts"]))))}
    return {}


def _text(value: object) -> str | None:
    """A rendered option: None when absent or empty, else its text."""
    if value is None:
        return None
    return str(value).strip() or None


def validate_consul(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.validate.run import validate_consul as run

    paths = [str(ctx.path(p)) for p in args["nodes"]]
    report = run(
        paths,
        **_facts(ctx, args),
        consul_version=_text(args.get("consul_version")),
        unknown_keys=_text(args.get("unknown_keys")) or "error",
    )
    return _validation(report, truthy(args.get("strict", False), "strict"))


def validate_vault(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.validate.run import validate_vault as run

    paths = [str(ctx.path(p)) for p in args["configs"]]
    report = run(
        paths, **_facts(ctx, args), target=_text(args.get("target")) or "vault", version=_text(args.get("version"))
    )
    return _validation(report, truthy(args.get("strict", False), "strict"))


# -- kv ------------------------------------------------------------------------------------------


def _desired(ctx: RunContext, args: dict[str, Any]) -> Any:
    import os

    from clusterops.kv.desired import load_desired

    return load_desired(
        ctx.path(str(args["state"])), env=os.environ, read_stdin=sys.stdin.read, mount_override=args.get("mount")
    )


def kv_plan(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.kv.sync import plan

    desired = _desired(ctx, args)
    with ctx.vault_client() as client:
        result = plan(client, desired)
    counts = result.summary()
    text = ", ".join(f"{k} {v}" for k, v in counts.items())
    if result.drift:
        status = "failed" if truthy(args.get("fail_on_drift", False), "fail_on_drift") else "ok"
        return Outcome(status, f"drift: {text}", {"changes": [i.path for i in result.changes]})
    return Outcome("ok", f"in sync ({text})")


def kv_apply(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.kv.sync import apply_plan, plan, preflight

    desired = _desired(ctx, args)
    with ctx.vault_client() as client:
        result = plan(client, desired)
        if not result.drift:
            return Outcome("ok", "in sync: nothing to apply")
        denied = preflight(client, result)
        if denied:
            return Outcome("failed", f"the token cannot write {len(denied)} path(s); nothing was written")
        if not apply:
            return Outcome(
                "ok", f"would write {len(result.changes)} path(s): {', '.join(i.path for i in result.changes)}"
            )
        report = apply_plan(client, desired, result, journal_dir=ctx.state_dir / "kv-runs")
    status = "ok" if report.ok else "failed"
    summary = (
        f"run {report.run_id}: {report.count('written')} written, {report.count('conflict')} conflict(s), "
        f"{report.count('failed')} failed; undo with `clusterops kv undo {report.run_id}`"
    )
    return Outcome(status, summary, {"kv_run": report.run_id})


def _kv_sides(ctx: RunContext, args: dict[str, Any]) -> tuple[VaultClient, Any, VaultClient, Any]:
    src_client = ctx.vault_client(args["from"])
    dst_client = ctx.vault_client(args["to"])
    src = src_client.resolve(str(args["from"]["path"]))
    dst = dst_client.resolve(str(args["to"]["path"]))
    return src_client, src, dst_client, dst


def kv_diff(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.kv.compare import diff_trees

    src_client, src, dst_client, dst = _kv_sides(ctx, args)
    try:
        diff = diff_trees(src_client, src, dst_client, dst)
    finally:
        src_client.close()
        dst_client.close()
    changed = [s for s in diff.secrets if s.changed]
    summary = (
        f"{len(diff.only_left)} only in source, {len(diff.only_right)} only in destination, "
        f"{len(changed)} differ, {len(diff.secrets) - len(changed)} equal (values compared by keyed hashes)"
    )
    return Outcome("ok", summary, {"diff": diff.to_dict()})


def kv_copy(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    from clusterops.kv.compare import diff_trees
    from clusterops.kv.copymove import copy_tree

    src_client, src, dst_client, dst = _kv_sides(ctx, args)
    try:
        if not apply:
            diff = diff_trees(src_client, src, dst_client, dst)
            changed = [s for s in diff.secrets if s.changed]
            what = f"would create {len(diff.only_left)} and update {len(changed)} secret(s) at {dst}"
            if changed and not truthy(args.get("overwrite", False), "overwrite"):
                return Outcome("failed", f"{what}, but overwrite is false and {len(changed)} differ")
            return Outcome("ok", what)
        report = copy_tree(
            src_client, src, dst_client, dst, all_versions=truthy(args.get("all_versions", False), "all_versions"),
            overwrite=truthy(args.get("overwrite", False), "overwrite"),
        )  # fmt: skip
    finally:
        src_client.close()
        dst_client.close()
    if not report.ok:
        errors = "; ".join(f"{p}: {m}" for p, m in report.errors[:5])
        return Outcome("failed", f"copied {len(report.results)}, {len(report.errors)} failed: {errors}")
    return Outcome("ok", f"copied {len(report.results)} secret(s) from {src} to {dst}")


# -- exec, pause, confirm --------------------------------------------------------------------------


STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL when an exec step's deadline passes


def exec_(ctx: RunContext, args: Any, apply: bool) -> Outcome:
    spec = {"command": args} if isinstance(args, str) else dict(args)
    command = str(spec["command"] if apply else spec.get("plan_command") or "")
    if not apply and not command:
        return Outcome("ok", f"would run: {spec['command']}")
    cwd = ctx.path(str(spec.get("cwd", ".")))
    started = time.monotonic()
    try:
        code = run_stoppable(["sh", "-c", command], cwd=cwd, timeout=ctx.remaining())
    except OSError as err:
        return Outcome("failed", f"`{command}` could not start in {cwd}: {err.strerror}")
    took = time.monotonic() - started
    if code is None:
        return Outcome("failed", f"`{command}` timed out after {took:.1f}s; it was stopped (SIGTERM, then SIGKILL)")
    if code != 0:
        return Outcome("failed", f"`{command}` exited {code} after {took:.1f}s")
    return Outcome("ok", f"`{command}` exited 0 after {took:.1f}s")


def run_stoppable(argv: list[str], *, cwd: Path, timeout: float | None, grace: float | None = None) -> int | None:
    """Run `argv` in its own process group; its exit code, or None if it ran past `timeout` and was
    stopped. Stopping is SIGTERM to the whole group, `grace` seconds, then SIGKILL to the group;
    it returns only once the whole group is gone, so nothing the command started acts after this
    returns (unless it left its process group on purpose). Ctrl-C stops it the same way. A command
    that finishes in time may leave background processes running, as `sh` would."""
    grace = STOP_GRACE if grace is None else grace
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc, grace)
        return None
    except BaseException:
        _stop_group(proc, grace)
        raise


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal every process of the group; False once the group has no process left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the group, wait up to `grace` for all of it to exit, then SIGKILL what is left."""
    _signal_group(proc.pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if proc.poll() is not None and not _signal_group(proc.pid, 0):
            break
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + 5  # SIGKILLed members are gone within moments (zombies until reaped)
    while _signal_group(proc.pid, 0) and time.monotonic() < end:
        time.sleep(0.01)


def pause(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    seconds = number(args["seconds"], "pause.seconds")
    reason = f" ({args['reason']})" if args.get("reason") else ""
    if not apply:
        return Outcome("ok", f"would pause {seconds:g}s{reason}")
    left = ctx.remaining()
    if left is not None and left < seconds:
        time.sleep(left)
        return Outcome("failed", f"timed out after {left:.1f}s of a {seconds:g}s pause{reason}")
    time.sleep(seconds)
    return Outcome("ok", f"paused {seconds:g}s{reason}")


def number(value: Any, what: str) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what}: {value!r} is not a number of seconds") from None
    if not result >= 0 or result == float("inf"):
        raise UsageError(f"{what}: {value!r} is not a number of seconds")
    return result


def confirm(ctx: RunContext, args: dict[str, Any], apply: bool) -> Outcome:
    prompt = str(args["prompt"])
    if not apply:
        return Outcome("ok", f"would ask: {prompt}")
    if ctx.assume_yes:
        return Outcome("ok", f"confirmed by --yes: {prompt}")
    if not ctx.interactive:
        return Outcome("failed", f"needs confirmation ({prompt}); rerun with --yes, or at a terminal")
    import typer

    if typer.confirm(prompt, default=False):
        if ctx.expired():
            return Outcome("failed", f"confirmed after the step's timeout ({prompt}); not taken as a yes")
        return Outcome("ok", f"confirmed: {prompt}")
    return Outcome("failed", f"declined: {prompt}")


# Actions that honour ctx.deadline themselves; the runner fails any other one that returns late.
DEADLINE_AWARE = frozenset({"consul.gate", "consul.upgrade", "vault.upgrade", "exec", "pause", "confirm"})

ACTIONS: dict[str, Callable[[RunContext, Any, bool], Outcome]] = {
    "consul.check": consul_check,
    "consul.gate": consul_gate,
    "consul.snapshot": consul_snapshot,
    "consul.upgrade": consul_upgrade,
    "vault.upgrade": vault_upgrade,
    "validate.consul": validate_consul,
    "validate.vault": validate_vault,
    "kv.plan": kv_plan,
    "kv.apply": kv_apply,
    "kv.diff": kv_diff,
    "kv.copy": kv_copy,
    "exec": exec_,
    "pause": pause,
    "confirm": confirm,
}
