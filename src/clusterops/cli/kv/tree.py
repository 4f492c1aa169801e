"""`clusterops kv`: Trees: recursive list, copy and move of subtrees (a plan, then --apply), search."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from clusterops.cli.kv._app import (
    AllVersions,
    Fmt,
    Force,
    KvVersion,
    Mount,
    Quiet,
    ToAddr,
    ToNamespace,
    ToTokenFile,
    Workers,
    _client,
    _console,
    _emit,
    _opts,
    _plan_gate,
    _progress,
    _ref,
    _table,
    app,
)
from clusterops.cli.options import Apply, Yes
from clusterops.cli.vault_options import kv_connection, other_client


@app.command("tree")
@kv_connection
def tree_(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/ or MOUNT/FOLDER.")],
    mount: Mount = None,
    kv_version: KvVersion = None,
    workers: Workers = 16,
    fmt: Fmt = "table",
) -> None:
    """Every secret below PATH (recursive list; OpenBao SCAN when allowed, else LIST level by level)."""
    from clusterops.kv.tree import walk

    with _client(ctx, workers=workers) as client:
        ref = _ref(client, path, mount, kv_version)
        paths = walk(client, ref, workers=workers)
    full = [str(ref.child(p)) for p in paths]
    _emit(full, fmt, lambda: typer.echo("\n".join(full) if full else f"(nothing below {ref})"))


def _copy_or_move(
    ctx: typer.Context,
    src: str,
    dst: str,
    *,
    move: bool,
    all_versions: bool,
    allow_history_loss: bool = False,
    force: bool,
    to_addr: str | None,
    to_token_file: str | None,
    to_namespace: str | None,
    workers: int,
    quiet: bool,
    fmt: str,
    apply: bool,
    yes: bool,
    mount: str | None = None,
) -> None:
    from clusterops.kv.copymove import execute_copy, plan_copy

    with _client(ctx, workers=workers) as client:
        dst_client = (
            other_client(_opts(ctx), to_addr, to_token_file, to_namespace, pool_size=workers) if to_addr else client
        )
        try:
            sref = client.resolve(src, mount=mount)
            dref = dst_client.resolve(dst, mount=mount)
            plan = plan_copy(
                client, sref, dst_client, dref, all_versions=all_versions, overwrite=force, move=move,
                allow_history_loss=allow_history_loss, workers=workers,
            )  # fmt: skip
            todo = len(plan.items) - len(plan.refused)
            question = f"{plan.command} {todo} secret(s) to {plan.destination}?"
            if not _plan_gate(plan.to_dict(), plan.lines(), fmt, apply=apply, yes=yes, question=question):
                raise typer.Exit(1 if plan.refused else 0)
            with _progress("moving" if move else "copying", quiet) as progress:
                report = execute_copy(client, dst_client, plan, workers=workers, progress=progress)
        finally:
            if dst_client is not client:
                dst_client.close()

    def table() -> None:
        verb = "moved" if move else "copied"
        for r in report.results:
            for note in r.notes:
                typer.echo(f"note: {r.path or '(the secret)'}: {note}")
        for p, m in report.errors:
            typer.echo(f"failed: {p or '(the secret)'}: {m}", err=True)
        typer.echo(
            f"{verb} {len(report.results)} secret(s) "
            f"({sum(r.versions_written for r in report.results)} version(s)) from {report.source} "
            f"to {report.destination}; {len(report.errors)} failed"
        )

    _emit({"plan": plan.to_dict(), "result": report.to_dict()}, fmt, table)
    if report.errors:
        raise typer.Exit(1)


@app.command()
@kv_connection
def copy(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="MOUNT/PATH: a secret or a subtree.")],
    dst: Annotated[str, typer.Argument(help="MOUNT/PATH of the copy.")],
    all_versions: AllVersions = False,
    force: Force = False,
    to_addr: ToAddr = None,
    to_token_file: ToTokenFile = None,
    to_namespace: ToNamespace = None,
    apply: Apply = False,
    yes: Yes = False,
    mount: Mount = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Copy a secret or subtree (latest version, or --all-versions with states and custom metadata).

    Shows the plan (which secrets and versions, where, what exists there; -f json for scripts) and changes
    nothing; --apply copies after a confirmation (or --yes), reading both sides again first: if either
    changed since the plan was read, it refuses (exit 1) and copies nothing.
    """
    _copy_or_move(
        ctx, src, dst, move=False, all_versions=all_versions, force=force, to_addr=to_addr,
        to_token_file=to_token_file, to_namespace=to_namespace, workers=workers, quiet=quiet, fmt=fmt, mount=mount,
        apply=apply, yes=yes,
    )  # fmt: skip


@app.command()
@kv_connection
def move(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="MOUNT/PATH: a secret or a subtree.")],
    dst: Annotated[str, typer.Argument(help="MOUNT/PATH of the destination.")],
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Every version, states and metadata: the default for a move.")
    ] = True,
    latest_only: Annotated[
        bool,
        typer.Option("--latest-only", help="Move only the latest version: the older ones are LOST with the source."),
    ] = False,
    allow_history_loss: Annotated[
        bool,
        typer.Option(
            "--allow-history-loss",
            help="Also move secrets whose soft-deleted versions cannot be read (their data is lost).",
        ),
    ] = False,
    force: Force = False,
    to_addr: ToAddr = None,
    to_token_file: ToTokenFile = None,
    to_namespace: ToNamespace = None,
    apply: Apply = False,
    yes: Yes = False,
    mount: Mount = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Copy every version, then delete each source secret whose copy succeeded (not atomic).

    Shows the plan and changes nothing; --apply moves after a confirmation (or --yes), reading both sides
    again first (changed since the plan: refused, exit 1, nothing moved). A source secret that changes
    while it is moved, or has soft-deleted versions whose data cannot be carried, stays at the source and
    is reported (exit 1). A destination that is or overlaps the source is refused.
    """
    _copy_or_move(
        ctx, src, dst, move=True, all_versions=all_versions and not latest_only,
        allow_history_loss=allow_history_loss or latest_only, force=force, to_addr=to_addr,
        to_token_file=to_token_file, to_namespace=to_namespace, workers=workers, quiet=quiet, fmt=fmt, mount=mount,
        apply=apply, yes=yes,
    )  # fmt: skip


@app.command()
@kv_connection
def search(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/ or MOUNT/FOLDER to search below.")],
    key: Annotated[str | None, typer.Option("--key", help="Regular expression on key names.")] = None,
    value: Annotated[str | None, typer.Option("--value", help="Regular expression on values.")] = None,
    mount: Mount = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Find secrets by key name or value pattern; prints path and key, never the value."""
    from clusterops.kv.tree import search as run_search

    with _client(ctx, workers=workers) as client:
        ref = _ref(client, path, mount, None)
        with _progress("searching", quiet) as progress:
            result = run_search(client, ref, key_pattern=key, value_pattern=value, workers=workers, progress=progress)
    doc: dict[str, Any] = result.to_dict(ref)

    def table() -> None:
        t = _table("path", "key", "matched on")
        for h in doc["hits"]:
            t.add_row(h["path"], h["key"], h["matched"])
        c = _console()
        c.print(t)
        c.print(f"{len(result.hits)} match(es) in {result.searched} secret(s)", highlight=False)

    _emit(doc, fmt, table)
