"""`clusterops kv policy`: the least-privilege Vault/OpenBao policy of a KV command on given paths."""

from __future__ import annotations

from typing import Annotated

import typer

from clusterops.cli.kv._app import KvVersion, Mount, app


@app.command()
def policy(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            help="COMMAND PATH... (e.g. `get secret/app/db`, `metadata get secret/app/db`, `list secret/app/`)."
        ),
    ] = None,
    mount: Mount = None,
    kv_version: KvVersion = None,
) -> None:
    """Print the least-privilege policy (HCL) a kv command needs on the given paths; with none, the commands.

    Works offline: the mount is PATH's first segment unless --mount, and KV v2 unless --kv-version 1."""
    from clusterops.kv import policy as kv_policy

    args = list(words or [])
    if not args:
        typer.echo("kv commands with a policy: " + ", ".join(kv_policy.commands()))
        typer.echo("usage: clusterops kv policy COMMAND PATH...")
        return
    command = args.pop(0)
    if command == "metadata" and args:
        command = f"metadata {args.pop(0)}"
    typer.echo(kv_policy.render(command, args, mount=mount, kv_version=kv_version or 2).rstrip())
