"""`clusterops kv`: Backup: keygen, export with full history (encrypted), import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from clusterops.cli.kv._app import (
    Fmt,
    Force,
    Mount,
    Quiet,
    Workers,
    _client,
    _emit,
    _plan_gate,
    _progress,
    app,
)
from clusterops.cli.options import Apply, Yes, format_option
from clusterops.cli.vault_options import kv_connection

KeyFile = Annotated[
    str | None,
    typer.Option(
        "--key-file", help="Fernet key file (`kv keygen`) (env: CLUSTEROPS_EXPORT_KEY_FILE).", show_default=False
    ),
]


def _key(key_file: str | None) -> bytes | None:
    import os

    from clusterops.kv.backup import KEY_ENV, read_key

    chosen = key_file or os.environ.get(KEY_ENV)
    return read_key(chosen) if chosen else None


@app.command()
def keygen(path: Annotated[Path, typer.Argument(help="Where to write the new key (mode 0600).")]) -> None:
    """Make a key for encrypted exports (Fernet: AES-128-CBC + HMAC-SHA256). Keep it apart from the exports."""
    from clusterops.kv.backup import _fernet, new_key
    from clusterops.kv.backup import keygen as make_key

    _fernet(new_key())  # fails early with the install hint if `cryptography` is missing
    make_key(path)
    typer.echo(f"wrote a new export key to {path} (mode 0600)")


@app.command("export")
@kv_connection
def export_(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH: a secret or a subtree.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The export file (mode 0600).")] = None,
    key_file: KeyFile = None,
    plaintext: Annotated[bool, typer.Option("--plaintext", help="Write values unencrypted (explicit opt-in).")] = False,
    out_format: Annotated[str, format_option("yaml", "json")] = "yaml",
    latest_only: Annotated[bool, typer.Option("--latest-only", help="Only the current version of each.")] = False,
    mount: Mount = None,
    workers: Workers = 16,
    quiet: Quiet = False,
) -> None:
    """Export a subtree with its full history (versions, states, settings, custom metadata).

    The file holds secret values, so it is encrypted with --key-file unless --plaintext is given.
    """
    from clusterops.errors import UsageError
    from clusterops.kv.backup import PrivateFile, stream_export

    key = _key(key_file)
    if key is None and not plaintext:
        raise UsageError(
            "an export holds secret values: give --key-file (see `clusterops kv keygen`) or, knowingly, --plaintext"
        )
    if output is None and key is None:
        raise UsageError("a plaintext export goes to a file: give --output")
    target = PrivateFile(output) if output is not None else None  # an unwritable path fails here, before any read
    try:
        with _client(ctx, workers=workers) as client:
            ref = client.resolve(path, mount=mount)
            with _progress("exporting", quiet) as progress:
                summary = stream_export(
                    client,
                    ref,
                    target.stream if target is not None else sys.stdout.buffer,
                    fmt=out_format,
                    key=key,
                    all_versions=not latest_only,
                    workers=workers,
                    progress=progress,
                )
        if target is not None:
            target.commit()
        else:
            sys.stdout.buffer.flush()
    finally:
        if target is not None:
            target.discard()
    for p, msg in summary.errors:
        typer.echo(f"failed: {p}: {msg}", err=True)
    typer.echo(
        f"exported {summary.secrets} secret(s), {summary.version_count} version(s) from {ref}"
        + (f" to {output}" if output else "")
        + (" (encrypted)" if key else " (PLAINTEXT)")
        + (
            f"; {summary.unreadable_versions} deleted/destroyed version(s) had no readable data"
            if summary.unreadable_versions
            else ""
        ),
        err=output is None,
    )
    if summary.errors:
        raise typer.Exit(1)


@app.command("import")
@kv_connection
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An export (encrypted or not).")],
    dest: Annotated[str, typer.Argument(help="MOUNT/PATH to restore under.")],
    key_file: KeyFile = None,
    force: Force = False,
    apply: Apply = False,
    yes: Yes = False,
    mount: Mount = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Restore an export: every version in order (with cas), states, settings, custom metadata.

    Shows the plan (which secrets and versions land where, what exists there, what cannot be preserved:
    timestamps, and version numbers where they shift) and changes nothing; --apply imports after a
    confirmation (or --yes), reading the destination again first: if it changed since the plan was
    read, it refuses (exit 1) and writes nothing.
    """
    from clusterops.errors import ConfigError
    from clusterops.kv.backup import execute_import, load_export, plan_import

    try:
        blob = file.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=str(file)) from err
    doc = load_export(blob, key=_key(key_file), where=str(file))
    with _client(ctx, workers=workers) as client:
        ref = client.resolve(dest, mount=mount)
        plan = plan_import(client, ref, doc, file=str(file), overwrite=force, workers=workers)
        todo = len(plan.items) - len(plan.refused)
        question = f"import {todo} secret(s) to {plan.destination}?"
        if not _plan_gate(plan.to_dict(), plan.lines(), fmt, apply=apply, yes=yes, question=question):
            raise typer.Exit(1 if plan.refused else 0)
        with _progress("importing", quiet) as progress:
            report = execute_import(client, plan, doc, workers=workers, progress=progress)
    out: dict[str, Any] = report.to_dict()

    def table() -> None:
        for p, notes in out["notes"].items():
            for n in notes:
                typer.echo(f"note: {p}: {n}")
        for p, m in report.errors:
            typer.echo(f"failed: {p}: {m}", err=True)
        typer.echo(
            f"imported {out['imported']} secret(s), {out['versions_written']} version(s) into {report.destination}; "
            f"{len(report.errors)} failed"
        )
        for item in report.not_preserved:
            typer.echo(f"not preserved: {item}")

    _emit({"plan": plan.to_dict(), "result": out}, fmt, table)
    if report.errors:
        raise typer.Exit(1)


# -- declarative sync ------------------------------------------------------------------------
