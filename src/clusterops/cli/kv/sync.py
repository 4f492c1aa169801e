"""`clusterops kv`: Declarative sync: plan, apply with check-and-set, undo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand
from typer.exceptions import TyperException

from clusterops.cli.kv._app import (
    Fmt,
    Mount,
    Quiet,
    Workers,
    _client,
    _console,
    _emit,
    _plan_gate,
    _progress,
    _table,
    app,
)
from clusterops.cli.options import Apply, StateDir, Yes
from clusterops.cli.vault_options import kv_connection


def _load_desired(state: Path, mount: str | None) -> Any:
    import os

    from clusterops.kv.desired import load_desired

    return load_desired(state, env=os.environ, read_stdin=sys.stdin.read, mount_override=mount)


class _PlanCommand(TyperCommand):
    """With --detailed-exitcode (Terraform's contract: 2 means drift) a malformed command line exits 1."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except TyperException as err:  # click's UsageError family (vendored by typer)
            if "--detailed-exitcode" in args:
                err.exit_code = 1
            raise


def _journals(state_dir: str | None) -> Path:
    """KV apply journals live in STATE_DIR/kv-runs (as a playbook's kv.apply writes them)."""
    from clusterops.kv.apply_journal import default_journal_dir

    return Path(state_dir).expanduser() / "kv-runs" if state_dir else default_journal_dir()


def _render_plan(plan: Any, fmt: str) -> None:
    def table() -> None:
        t = _table("path", "action", "at version", "keys added", "removed", "changed", "metadata")
        for i in plan.items:
            meta = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in i.metadata.items())
            state = "" if i.live_state in ("live", "absent") else f" (latest {i.live_state})"
            t.add_row(
                i.path,
                i.action + state,
                str(i.version),
                ", ".join(i.added),
                ", ".join(i.removed),
                ", ".join(i.changed),
                meta,
            )
        c = _console()
        c.print(t)
        s = plan.summary()
        c.print(
            f"{plan.mount}/: {s['create']} to create, {s['update']} to update, {s['unchanged']} in sync "
            "(compared by keyed hashes; no value shown)",
            highlight=False,
        )

    _emit(plan.to_dict(), fmt, table)


@app.command("plan", cls=_PlanCommand)
@kv_connection
def plan_(
    ctx: typer.Context,
    state: Annotated[Path, typer.Argument(help="The desired-state YAML.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Save the plan (for `kv apply --plan`).", show_default=False)
    ] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Terraform's exit codes instead: 0 in sync, 2 drift, 1 error (usage too)."
        ),
    ] = False,
    mount: Mount = None,
    workers: Workers = 16,
    fmt: Fmt = "table",
) -> None:
    """What `kv apply` would change, compared by keyed hashes; no value is printed.

    Exit 0 in sync, 1 drift (as findings), 2 usage, input, connection or auth; with --detailed-exitcode,
    Terraform's `plan -detailed-exitcode` contract (0 in sync, 2 drift, 1 any error).
    """
    from clusterops.errors import ClusterOpsError
    from clusterops.kv.sync import plan as make_plan
    from clusterops.kv.sync import save_plan

    try:
        desired = _load_desired(state, mount)
        with _client(ctx, workers=workers) as client:
            result = make_plan(client, desired, workers=workers)
        if output is not None:
            save_plan(result, output)
    except ClusterOpsError as err:
        if not detailed_exitcode:
            raise
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    _render_plan(result, fmt)
    if result.drift:
        raise typer.Exit(2 if detailed_exitcode else 1)


@app.command()
@kv_connection
def apply(
    ctx: typer.Context,
    state: Annotated[Path, typer.Argument(help="The desired-state YAML.")],
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="A plan saved by `kv plan -o`: write exactly it, or refuse (exit 1) if the desired values, "
            "metadata, address, namespace or the server moved since.",
        ),
    ] = None,
    state_dir: StateDir = None,
    mount: Mount = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Make the server match the desired state. Every write uses cas at the plan's version.

    Before writing: with --plan, a check that the desired state, address and namespace are the ones planned
    (keyed digests); a capability pre-flight (sys/capabilities-self); a check that no path or planned metadata
    field moved since the plan. Any failing writes nothing. A journal makes `kv undo RUN` possible.
    Exit 0 done, 1 a conflict or failure (the journal says what was written), 2 usage/auth/connection.
    """
    from clusterops.kv.sync import apply_plan, check_binding, load_plan
    from clusterops.kv.sync import plan as make_plan

    saved = load_plan(plan_file) if plan_file is not None else None
    desired = _load_desired(state, mount)
    folder = _journals(state_dir)
    with _client(ctx, workers=workers) as client:
        if saved is not None:  # the reviewed plan, exactly: refused (exit 1) if anything it binds differs
            check_binding(saved, desired, address=client.settings.address, namespace=client.settings.namespace or "")
            chosen = saved
        else:
            chosen = make_plan(client, desired, workers=workers)
        if not chosen.drift:
            typer.echo("in sync: nothing to apply")
            return

        def note_run(run_id: str) -> None:
            typer.echo(f"run {run_id}: journal in {folder}", err=True)

        with _progress("applying", quiet) as progress:
            report = apply_plan(
                client, desired, chosen, journal_dir=folder, workers=workers, progress=progress, on_journal=note_run
            )
    doc = report.to_dict()

    def table() -> None:
        t = _table("path", "status", "new version", "message")
        for r in report.results:
            t.add_row(r.path, r.status, "-" if r.new_version is None else str(r.new_version), r.message)
        c = _console()
        c.print(t)
        c.print(
            f"run {report.run_id}: {report.count('written')} written, {report.count('conflict')} conflict(s), "
            f"{report.count('failed')} failed, {report.count('skipped')} not started; undo with "
            f"`clusterops kv undo {report.run_id}`",
            highlight=False,
        )

    _emit(doc, fmt, table)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@kv_connection
def undo(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="The run id printed by `kv apply` (or its journal file).")],
    state_dir: StateDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also undo paths whose run-written version or metadata changed since.")
    ] = False,
    apply: Apply = False,
    yes: Yes = False,
    fmt: Fmt = "table",
) -> None:
    """Put back what an apply run changed: prior data as a new version (history kept), prior metadata.

    Only at the run's address and namespace (else refused, exit 1), and only versions and metadata the
    journal proves the run wrote; anything else is reported, not touched (exit 1). Shows the plan and
    changes nothing; --apply undoes after a confirmation (or --yes), reading the journal and the secrets
    again first: if the undo would differ from the plan shown, it refuses (exit 1) and undoes nothing.
    """
    from clusterops.kv.apply_journal import NOT_DONE, execute_undo, plan_undo, undo_document

    folder = _journals(state_dir)
    with _client(ctx) as client:
        _journal, plan = plan_undo(client, run, folder, force=force)
        acting = sum(1 for s in plan.steps if s.acts)
        question = (
            f"undo run {plan.run_id} on {acting} path(s) in {plan.mount}/ on {plan.address} "
            f"(namespace {plan.namespace or '(root)'})?"
        )
        if not _plan_gate(plan.to_dict(), plan.lines(), fmt, apply=apply, yes=yes, question=question):
            raise typer.Exit(1 if plan.refused else 0)
        journal, results = execute_undo(client, plan)
    doc = undo_document(journal.run_id, results)

    def table() -> None:
        t = _table("path", "undo", "message")
        for r in results:
            t.add_row(r.path, r.action, r.message)
        _console().print(t)

    _emit({"plan": plan.to_dict(), "result": doc}, fmt, table)
    if any(r.action in NOT_DONE for r in results):
        raise typer.Exit(1)
