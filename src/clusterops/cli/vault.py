"""`clusterops vault`: health of a Vault / OpenBao raft cluster, gates, dead peers and snapshots.

The nodes come from an inventory (`-i`, e.g. `clusterops lab inventory --vault`), else from the raft
configuration seen through --address / VAULT_ADDR (API port = cluster port - 1, same scheme).
Tokens come from VAULT_TOKEN / BAO_TOKEN, --token-file or the inventory's token_file; never argv.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from clusterops.cli.options import (
    FINDINGS_FORMATS,
    Apply,
    FailOn,
    MinFailureTolerance,
    StateDir,
    Yes,
    confirm_apply,
    finish_findings,
    format_option,
    with_connection,
)
from clusterops.cli.vault_options import (
    VAULT_OPTIONS,
    Address,
    CaCert,
    CaPath,
    ClientCert,
    ClientKey,
    SkipVerify,
    TokenFile,
)

if TYPE_CHECKING:
    from clusterops.vault.client import RaftClient
    from clusterops.vault.state import NodeTarget


@dataclass(frozen=True)
class RaftConnection:
    """The raft commands' connection options: Vault's names (as `kv` takes them), declared once here."""

    address: str | None = None
    token_file: str | None = None
    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    tls_skip_verify: bool = False


F = TypeVar("F")


def raft_connection(func: F) -> F:
    """A command that connects: gets `conn: RaftConnection` (its options merged with the group's)."""
    return with_connection(RaftConnection, VAULT_OPTIONS, inject="conn")(func)  # type: ignore[type-var]


def _group(
    ctx: typer.Context,
    address: Address = None,
    token_file: TokenFile = None,
    ca_cert: CaCert = None,
    ca_path: CaPath = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    tls_skip_verify: SkipVerify = False,
) -> None:
    """Vault / OpenBao raft clusters: status, checks, gates, dead peers, snapshots. Connection options go here
    or after the command."""
    ctx.obj = RaftConnection(address, token_file, ca_cert, ca_path, client_cert, client_key, tls_skip_verify)


app = typer.Typer(
    help="Vault / OpenBao raft clusters: status, checks, gates, dead peers, snapshots.",
    no_args_is_help=True,
    callback=_group,
)
snapshot_app = typer.Typer(help="Raft snapshots: save (checked) and restore-test.", no_args_is_help=True)
app.add_typer(snapshot_app, name="snapshot")

Inventory = Annotated[
    str | None, typer.Option("--inventory", "-i", help="Inventory YAML listing the nodes.", show_default=False)
]
TextFormat = Annotated[str, format_option("table", "json", aliases={"text": "table"})]


def _connect(inventory: str | None, conn: RaftConnection) -> tuple[RaftClient, list[NodeTarget]]:
    from clusterops.settings import VaultSettings
    from clusterops.vault.client import RaftClient
    from clusterops.vault.inventory import load_vault_inventory
    from clusterops.vault.state import derive_targets

    inv = load_vault_inventory(inventory) if inventory else None
    skip = conn.tls_skip_verify or (inv is not None and str(inv.vault.get("tls_skip_verify")).lower() == "true")
    settings = VaultSettings.resolve(
        address=conn.address or (inv.servers[0].address if inv else None),
        token_file=conn.token_file or (inv.setting("token_file") if inv else None),
        ca_cert=conn.ca_cert or (inv.setting("ca_cert") if inv else None),
        ca_path=conn.ca_path,
        client_cert=conn.client_cert,
        client_key=conn.client_key,
        verify=False if skip else None,
    )
    client = RaftClient(settings)
    if inv is not None:
        return client, list(inv.servers)
    try:
        return client, derive_targets(client, settings.address)
    except Exception:
        client.close()
        raise


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


@app.command()
@raft_connection
def status(
    conn: RaftConnection,
    inventory: Inventory = None,
    fmt: Annotated[str, format_option("table", "json")] = "table",
) -> None:
    """One row per node (role from its own sys/health) and a summary: active, voters, failure tolerance."""
    from clusterops.durations import format_duration
    from clusterops.vault.state import read_vault_state
    from clusterops.vault.status import node_rows, status_document, summarize

    client, targets = _connect(inventory, conn)
    with client:
        state = read_vault_state(client, targets)
    if fmt == "json":
        typer.echo(json.dumps(status_document(state), indent=2))
        return
    from rich.table import Table

    from clusterops.report.table import console as make_console

    table = Table()
    for col in ("node", "address", "role", "version", "raft id", "voter", "healthy", "last contact", "lag"):
        table.add_column(col)
    for r in node_rows(state):
        table.add_row(
            r.name,
            r.address,
            r.role,
            r.version or "-",
            r.raft_id or "-",
            _yes_no(r.voter),
            _yes_no(r.healthy),
            "-" if r.last_contact is None else format_duration(r.last_contact),
            "-" if r.index_lag is None else str(r.index_lag),
        )
    console = make_console()
    console.print(table)
    s = summarize(state)
    console.print(
        f"active {s.active or 'NONE'} | voters {s.voters} | quorum {s.quorum} | failure tolerance "
        f"{s.failure_tolerance} (autopilot {s.autopilot_failure_tolerance}) | healthy {'yes' if s.healthy else 'NO'}"
        + (f" | dead {', '.join(s.dead)}" if s.dead else ""),
        highlight=False,
    )
    for err in state.errors:
        console.print(f"could not read {err}", highlight=False)


@app.command()
@raft_connection
def check(
    conn: RaftConnection,
    inventory: Inventory = None,
    fmt: Annotated[str, format_option(*FINDINGS_FORMATS)] = "table",
    fail_on: FailOn = "error",
    min_failure_tolerance: MinFailureTolerance = 1,
) -> None:
    """Findings with stable ids (VH001...) and remedies. Exit 0 healthy, 1 findings, 2 errors."""
    from clusterops.findings import Report
    from clusterops.vault.checks import RULES, check_cluster
    from clusterops.vault.state import read_vault_state
    from clusterops.vault.status import summarize

    client, targets = _connect(inventory, conn)
    with client:
        state = read_vault_state(client, targets)
    s = summarize(state)
    report = Report(
        tool="clusterops vault check",
        findings=tuple(check_cluster(state, min_failure_tolerance=min_failure_tolerance)),
        rules=tuple(RULES.values()),
        summary=f"active {s.active or 'NONE'}, voters {s.voters}, quorum {s.quorum}, "
        f"failure tolerance {s.failure_tolerance}",
    )
    finish_findings(report, fmt, fail_on)


@app.command()
@raft_connection
def gate(
    conn: RaftConnection,
    inventory: Inventory = None,
    min_failure_tolerance: MinFailureTolerance = 1,
    expect_voters: Annotated[int | None, typer.Option("--expect-voters", help="Voters expected.")] = None,
    expect_version: Annotated[str | None, typer.Option("--expect-version", help="Version every node runs.")] = None,
    stable_window: Annotated[
        str | None,
        typer.Option(
            "--stable-window",
            help="How long everything must hold (default: autopilot's server_stabilization_time).",
            show_default=False,
        ),
    ] = None,
    stable_for: Annotated[
        str | None, typer.Option("--stable-for", hidden=True, help="Deprecated: --stable-window.")
    ] = None,
    timeout: Annotated[str, typer.Option("--timeout", help="Give up after this long (exit 1).")] = "5m",
    interval: Annotated[str, typer.Option("--interval", help="Time between polls.")] = "1s",
    fmt: TextFormat = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final line.")] = False,
) -> None:
    """Block until it is safe to touch the next node; exit 0, or 1 naming the condition that failed last."""
    from dataclasses import asdict

    from clusterops.durations import parse_duration
    from clusterops.errors import GateTimeout
    from clusterops.vault.gate import GateSpec, run_gate
    from clusterops.vault.state import VaultClusterState
    from clusterops.wait import Verdict

    fmt = "text" if fmt == "table" else fmt
    window = stable_window or stable_for
    spec = GateSpec(
        min_failure_tolerance=min_failure_tolerance,
        expect_voters=expect_voters,
        expect_version=expect_version,
        stable_for=parse_duration(window, name="--stable-window") if window else None,
        timeout=parse_duration(timeout, name="--timeout"),
        interval=parse_duration(interval, name="--interval"),
    )
    last: list[str] = []

    def on_poll(_state: VaultClusterState, verdict: Verdict) -> None:
        line = "ok" if verdict.ok else verdict.reason
        if not quiet and fmt == "text" and (not last or last[-1] != line):
            typer.echo(f"gate: {line}", err=True)
        last.append(line)

    client, targets = _connect(inventory, conn)
    with client:
        try:
            result = run_gate(client, targets, spec, on_poll=on_poll)
        except GateTimeout as err:
            if fmt == "json":
                typer.echo(json.dumps({"passed": False, "reason": str(err)}))
            raise
    if fmt == "json":
        typer.echo(json.dumps({"passed": True, **asdict(result)}))
    else:
        typer.echo(
            f"gate passed after {result.elapsed:.1f}s: active {result.active}, {result.voters} voters, "
            f"failure tolerance {result.failure_tolerance}, held {result.stable_for:g}s"
        )


@app.command("remove-stale-peers")
@raft_connection
def remove_stale_peers(
    conn: RaftConnection,
    inventory: Inventory = None,
    apply: Apply = False,
    yes: Yes = False,
) -> None:
    """Remove raft peers that are really gone (bao operator raft remove-peer). Dry run unless --apply."""
    from clusterops.vault.stale import apply_removals, plan_removals
    from clusterops.vault.state import read_vault_state

    client, targets = _connect(inventory, conn)
    with client:
        state = read_vault_state(client, targets)
        plan = plan_removals(state)
        if not plan:
            typer.echo("no dead raft peers")
            return
        typer.echo(f"voters {len(state.voters)}, quorum {state.quorum}, failure tolerance {state.failure_tolerance}")
        for r in plan:
            verdict = f"REFUSED: {r.refused}" if r.refused else "will run"
            typer.echo(f"  {r.server.node_id} {r.server.address} ({r.reason}): {r.command}  [{verdict}]")
        todo = [r for r in plan if not r.refused]
        if not apply:
            typer.echo("dry run: nothing changed; rerun with --apply to remove them")
            raise typer.Exit(1)
        if not todo:
            typer.echo("nothing to remove: every dead peer was refused")
            raise typer.Exit(1)
        confirm_apply(f"remove {len(todo)} raft peer(s)?", yes=yes)
        failed = False
        for outcome in apply_removals(client, targets, plan):
            after = (
                ""
                if outcome.failure_tolerance_after is None
                else f"; now {outcome.voters_after} voters, failure tolerance {outcome.failure_tolerance_after}"
            )
            typer.echo(f"  {outcome.removal.server.node_id}: {outcome.detail}{after}")
            failed = failed or not outcome.done
    if failed:
        raise typer.Exit(1)


@snapshot_app.command("save")
@raft_connection
def snapshot_save(
    conn: RaftConnection,
    path: Annotated[str, typer.Argument(help="File to write (mode 0600; written only once checked).")],
    inventory: Inventory = None,
    fmt: TextFormat = "table",
) -> None:
    """Save a raft snapshot from the active node and check the file (checksums, sizes) before keeping it."""
    from clusterops.errors import ConnectionFailed
    from clusterops.vault.snapshot import save_snapshot
    from clusterops.vault.state import read_vault_state

    client, targets = _connect(inventory, conn)
    with client:
        active = read_vault_state(client, targets).active
        if active is None:
            raise ConnectionFailed("no active node to take the snapshot from")
        info = save_snapshot(client, path, node=active.address)
    if fmt == "json":
        typer.echo(json.dumps(info.to_dict(), indent=2))
    else:
        typer.echo(
            f"snapshot {info.path}: {info.size} bytes, raft index {info.index} term {info.term}, "
            f"{len(info.peers)} peers, checksums ok (sha256 {info.sha256[:16]}...)"
        )


@snapshot_app.command("restore-test")
def snapshot_restore_test(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A snapshot file.")],
    unseal_key_file: Annotated[
        str | None, typer.Option("--unseal-key-file", help="The source cluster's Shamir keys (mode 0600).")
    ] = None,
    vault_version: Annotated[str | None, typer.Option("--vault-version", help="OpenBao version to restore on.")] = None,
    fmt: TextFormat = "table",
    token_file: TokenFile = None,
) -> None:
    """Restore into a throwaway single-node OpenBao lab and report what it holds; nothing else is touched."""
    from clusterops.settings import VaultSettings
    from clusterops.vault.snapshot import restore_test
    from clusterops.vault.unseal import read_unseal_keys

    keys = read_unseal_keys(unseal_key_file) if unseal_key_file else None
    group = ctx.find_object(RaftConnection)
    token = VaultSettings.resolve(token_file=token_file or (group.token_file if group else None)).token
    report = restore_test(path, unseal_keys=keys, token=token, version=vault_version)
    if fmt == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        s = report.snapshot
        typer.echo(f"snapshot {s.path}: raft index {s.index} term {s.term}, checksums ok")
        typer.echo(
            f"restored on OpenBao {report.version} in {report.seconds:.1f}s; "
            f"{'unsealed' if report.unsealed else 'sealed'}"
        )
        if report.mounts:
            typer.echo("  mounts: " + ", ".join(f"{k} ({v})" for k, v in sorted(report.mounts.items())))
            typer.echo("  auth: " + ", ".join(f"{k} ({v})" for k, v in sorted(report.auth_methods.items())))
            typer.echo("  policies: " + ", ".join(report.policies))
            for mount, count in sorted(report.kv_top_level.items()):
                typer.echo(f"  {mount}: {count} top-level key(s)")
        for note in report.notes:
            typer.echo(f"  note: {note}")
    if not report.unsealed:
        raise typer.Exit(1)


def _render_vault_plan(plan: object) -> None:
    from clusterops.consul.upgrade.plan import Plan

    assert isinstance(plan, Plan)
    typer.echo(
        f"vault upgrade to {plan.target}: active {plan.leader or 'NONE'}, {plan.voters} voters, "
        f"failure tolerance {plan.baseline_failure_tolerance}"
    )
    for i, s in enumerate(plan.steps, 1):
        typer.echo(
            f"  {i}. {s.server:<10} {s.role:<8} {s.from_version or '?'} -> {s.to_version}  {s.action:<8} "
            f"before [{s.before}] during [{s.during}] after [{s.after}]"
        )
    for f in plan.refusals:
        typer.echo(f"  REFUSED [{f.rule_id}] {f.subject}: {f.message}\n      remedy: {f.remedy}")
    if plan.ok:
        typer.echo(f"pre-flight ok; {len(plan.todo)} node(s) to upgrade, standbys first, the active node last")


@app.command()
def upgrade(
    inventory: Annotated[str, typer.Option("--inventory", "-i", help="Inventory YAML with a driver per node.")],
    to: Annotated[str, typer.Option("--to", help="Target version, e.g. 2.7.2.")],
    apply: Annotated[bool, typer.Option("--apply", help="Run it (default: print the plan only).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last unfinished run.")] = False,
    rollback_on_failure: Annotated[
        bool,
        typer.Option("--rollback-on-failure", help="Restart a node whose gate failed on its previous version."),
    ] = False,
    min_failure_tolerance: MinFailureTolerance = 1,
    max_minor_jump: Annotated[
        int, typer.Option("--max-minor-jump", help="Refuse a jump across more minor versions than this.")
    ] = 1,
    gate_timeout: Annotated[str, typer.Option("--gate-timeout", help="Per-node gate timeout (e.g. 5m).")] = "5m",
    stable_window: Annotated[
        str, typer.Option("--stable-window", help="Floor for the gate's hold (autopilot's stabilization otherwise).")
    ] = "0s",
    no_snapshot: Annotated[bool, typer.Option("--no-snapshot", help="Skip the pre-upgrade raft snapshot.")] = False,
    break_lock: Annotated[
        bool,
        typer.Option("--break-lock", help="Take the cluster lock even if another run holds it; says whose it broke."),
    ] = False,
    state_dir: StateDir = None,
    fmt: TextFormat = "table",
) -> None:
    """Rolling upgrade of a raft cluster: snapshot, standbys first, the active node last (stepped down
    first), each node unsealed and gated. Plan only unless --apply or --resume."""
    from pathlib import Path

    from clusterops.cli.consul import stop_at_safe_point
    from clusterops.cli.upgrade_view import EventPrinter, render_report, show_plan
    from clusterops.consul.upgrade.execute import UpgradeOptions
    from clusterops.durations import parse_duration
    from clusterops.vault.inventory import load_vault_inventory
    from clusterops.vault.upgrade import (
        VaultPlanOptions,
        apply_vault_upgrade,
        connect,
        make_adapter,
        make_plan,
        plan_document,
    )

    if apply and resume:
        raise typer.BadParameter("use --apply or --resume, not both", param_hint="--resume")
    if break_lock and not (apply or resume):
        raise typer.BadParameter("--break-lock needs --apply or --resume", param_hint="--break-lock")
    plan_options = VaultPlanOptions(min_failure_tolerance, max_minor_jump)
    if not (apply or resume):
        inv = load_vault_inventory(inventory)
        with connect(inv) as client:
            plan = make_plan(inv, make_adapter(inv, client), to.strip().lstrip("v"), plan_options)
        show_plan(plan, fmt, plan_document, _render_vault_plan)
    options = UpgradeOptions(
        target=to,
        gate_timeout=parse_duration(gate_timeout, name="--gate-timeout"),
        stable_window=parse_duration(stable_window, name="--stable-window"),
        rollback_on_failure=rollback_on_failure,
        snapshot=not no_snapshot,
    )
    show = EventPrinter(fmt)

    def on_event(event: dict[str, object]) -> None:
        if event["event"] == "lock" and fmt == "table":
            typer.echo(f"lock: {event['note']}", err=True)
            return
        show(event)

    with stop_at_safe_point(options.stop):
        report = apply_vault_upgrade(
            inventory,
            to,
            plan_options=plan_options,
            options=options,
            resume=resume,
            break_lock=break_lock,
            state_dir=Path(state_dir) if state_dir else None,
            on_event=on_event,
            on_plan=(lambda p: None) if fmt == "json" else _render_vault_plan,
        )
    if fmt == "json":
        typer.echo(json.dumps({"event": "report", **report}, default=str))
        return
    render_report(report, product="vault ", leader="active")


# Host preflight lives in its own module; registered here so that it is `clusterops vault preflight`.
from clusterops.cli.preflight import vault_preflight  # noqa: E402 - registration after the group's commands

app.command("preflight")(vault_preflight)
