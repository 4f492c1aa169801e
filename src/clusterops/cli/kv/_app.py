"""The `clusterops kv` app, its shared options and helpers; the commands live in the sibling modules.

`clusterops kv`: Vault / OpenBao KV v2 versions, trees, redacted diffs, backup and declarative sync.

Values are hidden by default (shown as keyed hashes, `hmac:...`): `--show-values` reveals them, and
`get --field K` prints the one field asked for. Connection options go before or after the command:
`clusterops kv --namespace team-a get secret/app/db` = `clusterops kv get secret/app/db --namespace team-a`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clusterops.cli.options import DOC_FORMATS, format_option
from clusterops.cli.vault_options import (
    Address,
    CaCert,
    CaPath,
    ClientCert,
    ClientKey,
    Namespace,
    OutputPolicy,
    SkipVerify,
    TokenFile,
    VaultOptions,
    vault_client,
)

if TYPE_CHECKING:
    from clusterops.kv.client import VaultClient
    from clusterops.kv.model import SecretRef

app = typer.Typer(
    help="Vault/OpenBao KV v2: versions, trees, redacted diffs, backup, declarative sync.", no_args_is_help=True
)
metadata_app = typer.Typer(help="Per-secret settings and custom metadata.", no_args_is_help=True)
app.add_typer(metadata_app, name="metadata")

Fmt = Annotated[str, format_option(*DOC_FORMATS)]
Mount = Annotated[
    str | None, typer.Option("--mount", "-m", help="The KV mount; PATH is then relative to it.", show_default=False)
]
KvVersion = Annotated[
    int | None,
    typer.Option("--kv-version", help="Skip detection: the mount's KV version (1 or 2).", show_default=False),
]
ShowValues = Annotated[bool, typer.Option("--show-values", help="Print secret values (hidden by default).")]
Workers = Annotated[int, typer.Option("--workers", help="Concurrent requests for bulk operations.", min=1, max=128)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
ToAddr = Annotated[
    str | None, typer.Option("--to-addr", help="Another server for the right/destination side.", show_default=False)
]
ToTokenFile = Annotated[
    str | None,
    typer.Option(
        "--to-token-file",
        help="Token file for --to-addr, required there (env: CLUSTEROPS_TO_TOKEN_FILE, CLUSTEROPS_TO_TOKEN).",
        show_default=False,
    ),
]
ToNamespace = Annotated[
    str | None, typer.Option("--to-namespace", help="Namespace on the right/destination side.", show_default=False)
]


@app.callback()
def main(
    ctx: typer.Context,
    address: Address = None,
    token_file: TokenFile = None,
    namespace: Namespace = None,
    ca_cert: CaCert = None,
    ca_path: CaPath = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    tls_skip_verify: SkipVerify = False,
    output_policy: OutputPolicy = False,
) -> None:
    """Vault/OpenBao KV v2 management. Values are never shown unless asked for (--show-values, get --field)."""
    ctx.obj = VaultOptions(
        address, token_file, namespace, ca_cert, ca_path, client_cert, client_key, tls_skip_verify, output_policy
    )


# -- helpers --------------------------------------------------------------------------------


def _opts(ctx: typer.Context) -> VaultOptions:
    obj = ctx.find_object(VaultOptions)
    return obj if obj is not None else VaultOptions()


@contextmanager
def _client(ctx: typer.Context, *, workers: int = 16) -> Iterator[VaultClient]:
    client = vault_client(_opts(ctx), pool_size=max(8, workers))
    try:
        if _opts(ctx).output_policy and ctx.command.name != "policy":
            _print_policy(ctx, client)
            raise typer.Exit(0)
        yield client
    finally:
        client.close()


def _print_policy(ctx: typer.Context, client: VaultClient) -> None:
    """`--output-policy`: the policy this command would need (`kv policy`'s), from its own arguments; nothing is done.

    Only the mount is looked up (as `vault kv` does); the commands that `kv policy` does not know
    (tree commands) are a usage error rather than a guess.
    """
    from clusterops.errors import UsageError
    from clusterops.kv import policy as kv_policy

    p = ctx.params
    parent = ctx.parent.info_name if ctx.parent is not None else ""
    command = f"metadata {ctx.command.name}" if parent == "metadata" else str(ctx.command.name)
    if command == "delete" and p.get("versions"):
        command = "delete-versions"
    if command not in kv_policy.commands() or p.get("recursive"):
        raise UsageError(
            f"--output-policy knows the single-secret commands ({', '.join(kv_policy.commands())}), not {command!r}"
        )
    ref = client.resolve(str(p.get("path") or ""), mount=p.get("mount"), kv_version=p.get("kv_version"))
    typer.echo(kv_policy.render(command, [ref.path], mount=ref.mount, kv_version=ref.kv_version), nl=False)


def _ref(client: VaultClient, path: str, mount: str | None, kv_version: int | None) -> SecretRef:
    if kv_version not in (None, 1, 2):
        raise typer.BadParameter("use 1 or 2", param_hint="--kv-version")
    return client.resolve(path, mount=mount, kv_version=kv_version)


def _emit(doc: Any, fmt: str, table: Callable[[], None]) -> None:
    if fmt == "json":
        typer.echo(json.dumps(doc, indent=2, sort_keys=False, default=str))
    elif fmt == "yaml":
        import yaml

        typer.echo(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).rstrip("\n"))
    else:
        table()


def _console() -> Any:
    from clusterops.report.table import console

    return console()


def _table(*columns: str) -> Any:
    from rich.table import Table

    t = Table()
    for c in columns:
        t.add_column(c, overflow="fold")
    return t


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        f"[bold]{label}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True)
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _plan_gate(doc: dict[str, Any], lines: list[str], fmt: str, *, apply: bool, yes: bool, question: str) -> bool:
    """The changes convention of the kv commands that change many secrets (copy, move, import, undo, delete -r):
    show the plan; act only with --apply, after a confirmation on a terminal or with --yes. True: go on.

    Without --apply, the plan is the output (`-f json`: its document) and nothing changes. With --apply,
    a table shows it on stdout before the question; a document format keeps stdout for the one final
    document (`{"plan": ..., "result": ...}`), and the plan goes to stderr for the person confirming.
    """
    from clusterops.cli.options import confirm_apply

    text = "\n".join(lines)
    if not apply:
        _emit(doc, fmt, lambda: typer.echo(text))
        typer.echo("plan only: nothing was changed; rerun with --apply to make these changes", err=fmt != "table")
        return False
    if fmt == "table":
        typer.echo(text)
    elif not yes and sys.stdin.isatty():
        typer.echo(text, err=True)
    confirm_apply(question, yes=yes)
    return True


def _hidden(value: Any, redactor: Any) -> str:
    return f"<hidden {redactor.digest(value)}>"


# -- parity: get / put / patch / delete / undelete / destroy / rollback / list / subkeys ------


AllVersions = Annotated[
    bool, typer.Option("--all-versions", help="Replay every version (and its state), not only the latest.")
]
Force = Annotated[bool, typer.Option("--force", help="Add versions on top of existing destination secrets.")]
