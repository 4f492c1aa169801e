"""`clusterops consul`: status, check, gate and stale-peer removal against a live cluster."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from clusterops.cli.options import (
    FINDINGS_FORMATS,
    Apply,
    ConsulConnection,
    FailOn,
    MinFailureTolerance,
    StateDir,
    Yes,
    confirm_apply,
    consul_connection,
    consul_group_callback,
    finish_findings,
    format_option,
)

app = typer.Typer(
    help="Consul server cluster health: status, checks, gates, stale peers.",
    no_args_is_help=True,
    callback=consul_group_callback,
)

# A command decorated with @consul_connection receives its connection options (the group's, overridden by
# its own) as `conn`; the default only satisfies the signature.
DEFAULT_CONNECTION = ConsulConnection()
BREAK_LOCK_HELP = "Take the cluster lock even if another run holds it (says whose lock it broke)."
TableOrJson = Annotated[str, format_option("table", "json", aliases={"text": "table"})]
FindingsFormat = Annotated[str, format_option(*FINDINGS_FORMATS)]


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


@app.command()
@consul_connection
def status(
    fmt: TableOrJson = "table",
    conn: ConsulConnection = DEFAULT_CONNECTION,
) -> None:
    """One table of servers and a summary line: leader, voters, quorum, failure tolerance, healthy."""
    from clusterops.consul.state import read_cluster_state
    from clusterops.consul.status import server_rows, status_document, summarize
    from clusterops.durations import format_duration

    with conn.client() as client:
        state = read_cluster_state(client)
    if fmt == "json":
        typer.echo(json.dumps(status_document(state), indent=2))
        return
    from rich.table import Table

    from clusterops.report.table import console as make_console

    table = Table()
    for col in ("node", "address", "role", "voter", "version", "serf", "healthy", "stable", "last contact", "lag"):
        table.add_column(col)
    for r in server_rows(state):
        table.add_row(
            r.node,
            r.address,
            r.role,
            _yes_no(r.voter),
            r.version or "-",
            r.serf_status,
            _yes_no(r.healthy),
            _yes_no(r.stable),
            format_duration(r.last_contact) if r.last_contact is not None else "-",
            "-" if r.index_lag is None else str(r.index_lag),
        )
    console = make_console()
    console.print(table)
    s = summarize(state)
    ft = f"{s.failure_tolerance}"
    if s.disagreement:
        ft += f" (autopilot says {s.autopilot_failure_tolerance})"
    console.print(
        f"leader {s.leader or 'NONE'} | voters {s.voters} | quorum {s.quorum} | failure tolerance {ft} | "
        f"healthy {'yes' if s.healthy else 'NO'}",
        highlight=False,
    )
    outage = status_document(state)["outage"]
    if outage:
        alive, dead = ", ".join(outage["alive_voters"]) or "none", ", ".join(outage["dead_voters"]) or "none"
        what = "QUORUM LOST" if outage["quorum_lost"] else "no leader elected yet"
        console.print(
            f"{what}: alive voters {alive}; dead voters {dead}; a leader needs {outage['quorum']} "
            f"(raft configuration read with ?stale from {state.agent}). "
            "`clusterops consul check` gives the recovery steps.",
            highlight=False,
        )


@app.command()
@consul_connection
def check(
    fmt: FindingsFormat = "table",
    fail_on: FailOn = "error",
    min_failure_tolerance: MinFailureTolerance = 1,
    observe: Annotated[
        str, typer.Option("--observe", help="Watch this long (e.g. 30s) to catch a flapping leader (CH018).")
    ] = "0s",
    conn: ConsulConnection = DEFAULT_CONNECTION,
) -> None:
    """CI-friendly health findings with stable rule ids and remedies. Exit 0 healthy, 1 findings, 2 errors."""
    from clusterops.consul.checks import RULES, check_observations
    from clusterops.consul.state import ClusterState, read_cluster_state_or_none, read_settled_state
    from clusterops.consul.status import summarize
    from clusterops.durations import parse_duration
    from clusterops.findings import Report
    from clusterops.wait import sample

    seconds = parse_duration(observe, name="--observe")
    with conn.client() as client:
        states: list[ClusterState | None] = []
        if seconds:

            def observe_once() -> ClusterState | None:
                obs = read_cluster_state_or_none(client)
                if not states_seen:  # one line on stderr when watching starts; stdout stays the report
                    who = obs.leader.node if obs is not None and obs.leader else "none"
                    typer.echo(f"check: observing for {observe} (leader now: {who})", err=True)
                states_seen.append(obs)
                return obs

            states_seen: list[ClusterState | None] = []
            with client.deadline(seconds):  # a hung agent cannot stretch the observation window
                states = sample(observe_once, duration=seconds, interval=0.5)
        # the verdict's snapshot (an error here is the command's error); mid-election it reads again briefly
        state = read_settled_state(client)
    s = summarize(state)
    findings = check_observations(states, state, min_failure_tolerance=min_failure_tolerance, seconds=seconds)
    report = Report(
        tool="clusterops consul check",
        findings=tuple(findings),
        rules=tuple(RULES.values()),
        summary=f"leader {s.leader or 'NONE'}, voters {s.voters}, quorum {s.quorum}, "
        f"failure tolerance {s.failure_tolerance}",
    )
    finish_findings(report, fmt, fail_on)


@app.command()
@consul_connection
def gate(
    min_failure_tolerance: MinFailureTolerance = 1,
    expect_servers: Annotated[int | None, typer.Option("--expect-servers", help="Voters expected.")] = None,
    expect_version: Annotated[str | None, typer.Option("--expect-version", help="Version every voter runs.")] = None,
    stable_window: Annotated[
        str, typer.Option("--stable-window", help="How long everything must hold (e.g. 10s).")
    ] = "10s",
    stable_for: Annotated[
        str | None, typer.Option("--stable-for", hidden=True, help="Deprecated: --stable-window.")
    ] = None,
    timeout: Annotated[str, typer.Option("--timeout", help="Give up after this long (exit 1).")] = "5m",
    interval: Annotated[str, typer.Option("--interval", help="Time between polls.")] = "1s",
    fmt: TableOrJson = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final line.")] = False,
    conn: ConsulConnection = DEFAULT_CONNECTION,
) -> None:
    """Block until it is safe to touch the next server; exit 0, or 1 with the condition that failed last."""
    from dataclasses import asdict

    from clusterops.consul.gate import GateSpec, run_gate
    from clusterops.consul.state import ClusterState
    from clusterops.durations import parse_duration
    from clusterops.errors import GateTimeout
    from clusterops.wait import Verdict

    spec = GateSpec(
        min_failure_tolerance=min_failure_tolerance,
        expect_servers=expect_servers,
        expect_version=expect_version,
        stable_for=parse_duration(stable_for or stable_window, name="--stable-window"),
        timeout=parse_duration(timeout, name="--timeout"),
        interval=parse_duration(interval, name="--interval"),
    )
    last: list[str] = []

    def on_poll(obs: ClusterState | str, verdict: Verdict) -> None:
        line = "ok" if verdict.ok else verdict.reason
        if not quiet and fmt == "table" and (not last or last[-1] != line):
            typer.echo(f"gate: {line}", err=True)
        last.append(line)

    with conn.client() as client:
        try:
            result = run_gate(client, spec, on_poll=on_poll)
        except GateTimeout as err:
            if fmt == "json":
                typer.echo(json.dumps({"passed": False, "reason": str(err)}))
            raise
    if fmt == "json":
        typer.echo(json.dumps(asdict(result)))
    else:
        typer.echo(
            f"gate passed after {result.elapsed:.1f}s: leader {result.leader}, {result.voters} voters, "
            f"failure tolerance {result.failure_tolerance}, held {spec.stable_for:g}s"
        )


@app.command("remove-stale-peers")
@consul_connection
def remove_stale_peers(
    apply: Apply = False,
    yes: Yes = False,
    break_lock: Annotated[bool, typer.Option("--break-lock", help=BREAK_LOCK_HELP)] = False,
    conn: ConsulConnection = DEFAULT_CONNECTION,
) -> None:
    """Force-leave or remove raft peers that are stale and really dead. Dry run unless --apply."""
    from clusterops.consul.checks import check_cluster
    from clusterops.consul.stale import apply_removals, plan_removals
    from clusterops.consul.state import read_cluster_state

    with conn.client() as client:
        state = read_cluster_state(client)
        if state.leader is None:  # removals need a leader; the outage has its own remedy
            for f in check_cluster(state)[:1]:
                typer.echo(f"{f.rule_id} {f.message}\n  remedy: {f.remedy}")
            typer.echo("nothing removed: the cluster has no leader")
            raise typer.Exit(1)
        plan = plan_removals(state)
        if not plan:
            typer.echo("no stale raft peers")
            return
        typer.echo(f"voters {len(state.voters)}, quorum {state.quorum}, failure tolerance {state.failure_tolerance}")
        for r in plan:
            verdict = f"REFUSED: {r.refused}" if r.refused else "will run"
            typer.echo(f"  {r.peer.node} {r.peer.id} {r.peer.address} ({r.reason}): {r.command}  [{verdict}]")
        todo = [r for r in plan if not r.refused]
        if not apply:
            typer.echo("dry run: nothing changed; rerun with --apply to remove them")
            raise typer.Exit(1 if plan else 0)
        if not todo:
            typer.echo("nothing to remove: every stale peer was refused")
            raise typer.Exit(1)
        confirm_apply(f"remove {len(todo)} raft peer(s)?", yes=yes)
        for outcome in apply_removals(client, plan, break_lock=break_lock, on_note=lambda n: typer.echo(n, err=True)):
            ft = (
                ""
                if outcome.failure_tolerance_after is None
                else f"; failure tolerance now {outcome.failure_tolerance_after}"
            )
            typer.echo(f"  {outcome.removal.peer.node or outcome.removal.peer.id}: {outcome.detail}{ft}")
        after = read_cluster_state(client)
    typer.echo(f"now: voters {len(after.voters)}, quorum {after.quorum}, failure tolerance {after.failure_tolerance}")


@contextmanager
def stop_at_safe_point(flag: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM do not kill an upgrade mid-server: they ask it to stop at the next safe
    point (after the current server's start and gate; before any other stop)."""

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        again = " (already requested)" if flag.is_set() else ""
        flag.set()
        typer.echo(
            f"{name}{again}: finishing the current server (start and gate), then stopping at a safe point",
            err=True,
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@app.command()
def upgrade(
    inventory: Annotated[str, typer.Option("--inventory", "-i", help="Inventory YAML (clusterops lab inventory).")],
    to: Annotated[str, typer.Option("--to", help="Target Consul version, e.g. 1.14.11 (or v1.14.11).")],
    plan_only: Annotated[bool, typer.Option("--plan", help="Show the plan and pre-flight (the default).")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Run the upgrade.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last unfinished run.")] = False,
    min_failure_tolerance: MinFailureTolerance = 1,
    max_minor_jump: Annotated[int, typer.Option("--max-minor-jump", help="Widest allowed minor jump.")] = 2,
    allow_downgrade: Annotated[
        bool, typer.Option("--allow-downgrade", help="Accept a target older than the servers run (a rollback).")
    ] = False,
    allow_prerelease: Annotated[
        bool, typer.Option("--allow-prerelease", help="Accept a pre-release target such as 1.15.0-rc1.")
    ] = False,
    break_lock: Annotated[bool, typer.Option("--break-lock", help=BREAK_LOCK_HELP)] = False,
    rollback_on_failure: Annotated[
        bool, typer.Option("--rollback-on-failure", help="Restart a server that did not rejoin on its old version.")
    ] = False,
    gate_timeout: Annotated[str, typer.Option("--gate-timeout", help="Per-server gate timeout.")] = "5m",
    stable_window: Annotated[
        str,
        typer.Option("--stable-window", help="Minimum time each gate must hold (default: server_stabilization_time)."),
    ] = "0s",
    no_snapshot: Annotated[bool, typer.Option("--no-snapshot", help="Skip the pre-upgrade snapshot.")] = False,
    restore_test: Annotated[
        bool,
        typer.Option(
            "--restore-test",
            help="Restore the pre-upgrade snapshot into a throwaway server of the target version first; "
            "stop before any server is touched if it does not restore.",
        ),
    ] = False,
    state_dir: StateDir = None,
    fmt: Annotated[str, format_option("table", "json", aliases={"text": "table"})] = "table",
) -> None:
    """Rolling upgrade of the inventory's servers: followers first, the leader last, a gate after each."""
    from pathlib import Path

    from clusterops.cli.upgrade_view import EventPrinter, LiveView, render_plan, render_report, show_plan
    from clusterops.consul.inventory import load_inventory
    from clusterops.consul.upgrade.execute import UpgradeOptions
    from clusterops.consul.upgrade.reader import ClusterReader, inventory_settings
    from clusterops.consul.upgrade.run import PlanOptions, apply_upgrade, make_plan, plan_document
    from clusterops.durations import parse_duration

    fmt = "text" if fmt == "table" else fmt  # the event printer's name for the human format
    if plan_only and (apply or resume):
        raise typer.BadParameter("--plan cannot be combined with --apply or --resume", param_hint="--plan")
    if break_lock and not (apply or resume):
        raise typer.BadParameter("--break-lock needs --apply or --resume", param_hint="--break-lock")
    plan_options = PlanOptions(
        min_failure_tolerance, max_minor_jump, allow_downgrade, allow_prerelease, snapshot=not no_snapshot
    )
    if not (apply or resume):
        inv = load_inventory(inventory)
        reader = ClusterReader(inv, inventory_settings(inv))
        try:
            plan = make_plan(inv, reader, to, plan_options)
        finally:
            reader.close()
        show_plan(plan, fmt, plan_document, render_plan)

    options = UpgradeOptions(
        target=to,
        gate_timeout=parse_duration(gate_timeout, name="--gate-timeout"),
        stable_window=parse_duration(stable_window, name="--stable-window"),
        rollback_on_failure=rollback_on_failure,
        snapshot=not no_snapshot,
    )
    import contextlib

    from clusterops.cli.snapshot import check_restores

    if restore_test and no_snapshot:
        raise typer.BadParameter("--restore-test needs the snapshot (drop --no-snapshot)", param_hint="--restore-test")
    live = fmt == "text" and sys.stdout.isatty()
    view = LiveView() if live else None
    show = view if view is not None else EventPrinter(fmt)

    def on_event(event: dict[str, object]) -> None:
        if event["event"] == "lock":  # a take-over, a broken lock or the local-only fallback: always said
            typer.echo(f"lock: {event['note']}", err=True)
        show(event)

    with stop_at_safe_point(options.stop), view if view is not None else contextlib.nullcontext():
        report = apply_upgrade(
            inventory,
            to,
            plan_options=plan_options,
            options=options,
            resume=resume,
            state_dir=Path(state_dir) if state_dir else None,
            on_event=on_event,
            on_plan=(lambda p: None) if fmt == "json" or live else render_plan,
            after_snapshot=check_restores(to, as_json=fmt == "json") if restore_test else (lambda info: None),
            break_lock=break_lock,
        )
    if fmt == "json":
        typer.echo(json.dumps({"event": "report", **report}, default=str))
    else:
        render_report(report)


@app.command()
def policy(
    command: Annotated[
        str | None, typer.Argument(help="status, check, gate, remove-stale-peers, snapshot or upgrade.")
    ] = None,
) -> None:
    """Print the least-privilege Consul ACL policy (HCL) a command needs; every command's without one."""
    from clusterops.consul import policy as consul_policy

    names = [command] if command else consul_policy.commands()
    typer.echo("\n".join(consul_policy.render(name) for name in names).rstrip())


# Host preflight lives in its own module; registered here so that it is `clusterops consul preflight`.
from clusterops.cli.preflight import consul_preflight  # noqa: E402 - registration after the group's commands

app.command("preflight")(consul_preflight)
