"""`clusterops kv`: History of a secret's versions and redacted diffs (versions, paths, servers)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from clusterops.cli.kv._app import (
    Fmt,
    Mount,
    ShowValues,
    ToAddr,
    ToNamespace,
    ToTokenFile,
    Workers,
    _client,
    _console,
    _emit,
    _opts,
    _ref,
    _table,
    app,
)
from clusterops.cli.vault_options import kv_connection, other_client


@app.command()
@kv_connection
def history(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    mount: Mount = None,
    fmt: Fmt = "table",
) -> None:
    """Every version: created, deleted, destroyed, and the key names each live version added, removed or changed."""
    from clusterops.kv.history import read_history

    with _client(ctx) as client:
        h = read_history(client, _ref(client, path, mount, None))
    doc = h.to_dict()

    def table() -> None:
        t = _table("version", "state", "created", "deleted", "keys added", "removed", "changed")
        for e in h.entries:
            mark = "*" if e.current else ""
            t.add_row(
                f"{e.info.version}{mark}",
                e.info.state,
                e.info.created_time,
                e.info.deletion_time or "-",
                ", ".join(e.added),
                ", ".join(e.removed),
                ", ".join(e.changed),
            )
        c = _console()
        c.print(t)
        c.print(f"{h.metadata.ref}: current version {h.metadata.current_version} (*)", highlight=False)

    _emit(doc, fmt, table)


@app.command()
@kv_connection
def diff(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH (the left side); a trailing / compares subtrees.")],
    other: Annotated[str | None, typer.Argument(help="Another path for the right side (default: PATH).")] = None,
    from_version: Annotated[int | None, typer.Option("--from", help="Left version (default: the one before --to).")] = (
        None
    ),
    to_version: Annotated[int | None, typer.Option("--to", help="Right version (default: the latest).")] = None,
    to_addr: ToAddr = None,
    to_token_file: ToTokenFile = None,
    to_namespace: ToNamespace = None,
    show_values: ShowValues = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when the sides differ.")] = False,
    mount: Mount = None,
    workers: Workers = 16,
    fmt: Fmt = "table",
) -> None:
    """Per-key added / removed / changed / unchanged between two versions, two paths or two servers.

    Values are compared by keyed hashes (HMAC-SHA256; key from CLUSTEROPS_REDACT_KEY or random per run).
    """
    from clusterops.kv.compare import diff_secrets, diff_trees

    opts = _opts(ctx)
    with _client(ctx, workers=workers) as left:
        right = other_client(opts, to_addr, to_token_file, to_namespace) if to_addr else left
        try:
            lref = left.resolve(path, mount=mount)
            rref = right.resolve(other or path, mount=mount)
            if path.endswith("/"):
                result: Any = diff_trees(left, lref, right, rref, workers=workers)
            else:
                result = diff_secrets(
                    left,
                    lref,
                    right,
                    rref,
                    from_version=from_version,
                    to_version=to_version,
                    one_secret=other is None and not to_addr,
                )
        finally:
            if right is not left:
                right.close()
    doc = result.to_dict(show_values=show_values)

    def table() -> None:
        from clusterops.kv.diff import TreeDiff

        c = _console()
        secrets = result.secrets if isinstance(result, TreeDiff) else (result,)
        if isinstance(result, TreeDiff):
            for p in result.only_left:
                c.print(f"only in {result.left}: {p}", highlight=False)
            for p in result.only_right:
                c.print(f"only in {result.right}: {p}", highlight=False)
        for s in secrets:
            if isinstance(result, TreeDiff) and not s.changed:
                continue
            c.print(f"--- {s.left} ({s.left_state})\n+++ {s.right} ({s.right_state})", highlight=False)
            t = _table("key", "change", "left", "right")
            for k in s.keys:
                lv = json.dumps(k.left_value) if show_values and k.left is not None else (k.left or "-")
                rv = json.dumps(k.right_value) if show_values and k.right is not None else (k.right or "-")
                t.add_row(k.key, str(k.change), lv, rv)
            c.print(t)
        c.print("differ" if result.changed else "identical", highlight=False)

    _emit(doc, fmt, table)
    if exit_code and result.changed:
        raise typer.Exit(1)


# -- trees -----------------------------------------------------------------------------------
