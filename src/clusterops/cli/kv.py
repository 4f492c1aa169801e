"""`clusterops kv`: Vault / OpenBao KV v2 versions, trees, redacted diffs, backup and declarative sync.

Values are hidden by default (shown as keyed hashes, `hmac:...`): `--show-values` reveals them, and
`get --field K` prints the one field asked for. Connection options go before the command:
`clusterops kv --namespace team-a get secret/app/db`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand
from typer.exceptions import TyperException

from clusterops.cli.vault_options import (
    Address,
    CaCert,
    CaPath,
    ClientCert,
    ClientKey,
    Namespace,
    SkipVerify,
    TokenFile,
    VaultOptions,
    other_client,
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

Fmt = Annotated[str, typer.Option("--format", "-f", help="table, json or yaml.")]
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
    typer.Option("--to-token-file", help="Token file for --to-addr (default: the same token).", show_default=False),
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
) -> None:
    """Vault/OpenBao KV v2 management. Values are never shown unless asked for (--show-values, get --field)."""
    ctx.obj = VaultOptions(address, token_file, namespace, ca_cert, ca_path, client_cert, client_key, tls_skip_verify)


# -- helpers --------------------------------------------------------------------------------


def _opts(ctx: typer.Context) -> VaultOptions:
    obj = ctx.find_object(VaultOptions)
    return obj if obj is not None else VaultOptions()


@contextmanager
def _client(ctx: typer.Context, *, workers: int = 16) -> Iterator[VaultClient]:
    client = vault_client(_opts(ctx), pool_size=max(8, workers))
    try:
        yield client
    finally:
        client.close()


def _ref(client: VaultClient, path: str, mount: str | None, kv_version: int | None) -> SecretRef:
    if kv_version not in (None, 1, 2):
        raise typer.BadParameter("use 1 or 2", param_hint="--kv-version")
    return client.resolve(path, mount=mount, kv_version=kv_version)


def _check_fmt(fmt: str, allowed: tuple[str, ...] = ("table", "json", "yaml")) -> None:
    if fmt not in allowed:
        raise typer.BadParameter(f"use {', '.join(allowed)}", param_hint="--format")


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


def _hidden(value: Any, redactor: Any) -> str:
    return f"<hidden {redactor.digest(value)}>"


# -- parity: get / put / patch / delete / undelete / destroy / rollback / list / subkeys ------


@app.command()
def get(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    version: Annotated[int | None, typer.Option("--version", help="A version (default: the latest).")] = None,
    field: Annotated[str | None, typer.Option("--field", help="Print only this field's value, raw.")] = None,
    show_values: ShowValues = False,
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """Read a secret (a version of it). Values are shown as keyed hashes unless --show-values or --field."""
    from clusterops.errors import NotFound
    from clusterops.kv import ops
    from clusterops.kv.redact import Redactor

    _check_fmt(fmt)
    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        sv = ops.get(client, ref, version=version)
    if field is not None:
        if sv.data is None or field not in sv.data:
            raise NotFound(f"{ref} v{sv.version} has no field {field!r}")
        value = sv.data[field]
        sys.stdout.write(value if isinstance(value, str) else json.dumps(value))
        sys.stdout.flush()
        return
    redactor = Redactor.from_env()
    shown = {k: (v if show_values else redactor.digest(v)) for k, v in (sv.data or {}).items()}
    doc = {
        "path": str(ref),
        "version": sv.version,
        "state": sv.info.state,
        "created_time": sv.info.created_time,
        "deletion_time": sv.info.deletion_time,
        "destroyed": sv.info.destroyed,
        "custom_metadata": dict(sv.custom_metadata),
        "data": shown if sv.data is not None else None,
        "values": "shown" if show_values else "hidden (keyed hashes)",
    }

    def table() -> None:
        c = _console()
        c.print(f"{ref}  version {sv.version}  {sv.info.state}  created {sv.info.created_time or '-'}", highlight=False)
        if sv.custom_metadata:
            c.print("custom_metadata: " + ", ".join(f"{k}={v}" for k, v in sv.custom_metadata.items()), highlight=False)
        if sv.data is None:
            c.print(f"(version {sv.version} is {sv.info.state}: no data)")
            return
        t = _table("key", "value")
        for k, v in sorted((sv.data or {}).items()):
            t.add_row(k, (v if isinstance(v, str) else json.dumps(v)) if show_values else _hidden(v, redactor))
        c.print(t)

    _emit(doc, fmt, table)


def _write_doc(result: Any) -> dict[str, Any]:
    return {"path": str(result.ref), "version": result.version, "created_time": result.created_time}


@app.command()
def put(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    data: Annotated[list[str], typer.Argument(help="KEY=VALUE, KEY=@FILE, KEY=- (stdin), @FILE.json or -.")],
    cas: Annotated[int | None, typer.Option("--cas", help="Write only if the current version is this (0: absent).")] = (
        None
    ),
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """Write a new version. Prefer KEY=@FILE or KEY=- to KEY=VALUE: argv is visible to other users."""
    from clusterops.kv import ops

    _check_fmt(fmt)
    values = ops.parse_data_args(data, sys.stdin)
    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        result = ops.put(client, ref, values, cas=cas)
    _emit(_write_doc(result), fmt, lambda: typer.echo(f"{ref}: wrote version {result.version}"))


@app.command()
def patch(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    data: Annotated[list[str] | None, typer.Argument(help="KEY=VALUE, KEY=@FILE, KEY=-, @FILE.json or -.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Remove this key (repeatable).")] = None,
    cas: Annotated[int | None, typer.Option("--cas", help="Patch only if the current version is this.")] = None,
    method: Annotated[str, typer.Option("--method", help="auto (PATCH, else read+write with cas), patch or rw.")] = (
        "auto"
    ),
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """Merge keys into the latest version with a real HTTP PATCH; falls back to read-modify-write guarded by cas."""
    from clusterops.kv import ops

    _check_fmt(fmt)
    values = ops.parse_data_args(data or [], sys.stdin)
    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        result = ops.patch(client, ref, values, remove=remove or [], cas=cas, method=method)
    doc = {**_write_doc(result.write), "method": result.method}
    _emit(doc, fmt, lambda: typer.echo(f"{ref}: wrote version {result.write.version} (by {result.method})"))


@app.command()
def delete(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    versions: Annotated[str | None, typer.Option("--versions", help="Soft-delete these versions (1,2,...).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Every secret below PATH.")] = False,
    all_versions: Annotated[
        bool, typer.Option("--all", help="With -r: delete every version and the metadata (not recoverable).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With -r: do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With -r: only print the plan.")] = False,
    mount: Mount = None,
    kv_version: KvVersion = None,
    workers: Workers = 16,
    quiet: Quiet = False,
) -> None:
    """Soft-delete the latest version (or --versions); with -r, plan a recursive delete, show it, then confirm."""
    from clusterops.kv import ops, tree

    with _client(ctx, workers=workers) as client:
        ref = _ref(client, path, mount, kv_version)
        if not recursive:
            if all_versions or dry_run:
                raise typer.BadParameter("--all and --dry-run go with --recursive")
            ops.delete(client, ref, ops.parse_versions(versions))
            typer.echo(f"{ref}: deleted " + (f"versions {versions}" if versions else "the latest version"))
            return
        if versions:
            raise typer.BadParameter("--versions does not go with --recursive")
        plan = tree.plan_delete(client, ref, mode="all" if all_versions else "soft", workers=workers)
        what = "EVERY VERSION AND THE METADATA of" if all_versions else "the latest version of"
        typer.echo(f"plan: delete {what} {len(plan.steps)} secret(s) below {ref}:")
        for step in plan.steps:
            typer.echo(f"  {tree.join(ref, step.path)}  (current version {step.current_version})")
        if dry_run:
            return
        if not yes:
            if not sys.stdin.isatty():
                raise typer.BadParameter("stdin is not a terminal: confirm with --yes", param_hint="--yes")
            typer.confirm(f"delete {len(plan.steps)} secret(s)?", abort=True)
        with _progress("deleting", quiet) as progress:
            failed = tree.execute_delete(client, ref, plan, workers=workers, progress=progress)
    for p, msg in failed:
        typer.echo(f"failed: {p}: {msg}", err=True)
    typer.echo(f"deleted {len(plan.steps) - len(failed)} of {len(plan.steps)} secret(s)")
    if failed:
        raise typer.Exit(1)


def _versions_command(kind: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
        versions: Annotated[str, typer.Option("--versions", help="Versions, e.g. 1,2.")],
        mount: Mount = None,
        kv_version: KvVersion = None,
    ) -> None:
        from clusterops.kv import ops

        with _client(ctx) as client:
            ref = _ref(client, path, mount, kv_version)
            ops.require_v2(ref, kind)
            getattr(client, f"{kind}_versions")(ref, ops.parse_versions(versions))
        typer.echo(f"{ref}: {kind}d versions {versions}" if kind != "destroy" else f"{ref}: destroyed {versions}")

    command.__doc__ = {
        "undelete": "Restore soft-deleted versions.",
        "destroy": "Permanently remove the data of versions (not recoverable).",
    }[kind]
    return command


app.command("undelete")(_versions_command("undelete"))
app.command("destroy")(_versions_command("destroy"))


@app.command()
def rollback(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    version: Annotated[int, typer.Option("--version", help="The version whose data becomes the new latest.")],
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """Write version N's data as a new version (cas = the current version)."""
    from clusterops.kv import ops

    _check_fmt(fmt)
    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        result = ops.rollback(client, ref, version)
    _emit(
        {**_write_doc(result), "from_version": version},
        fmt,
        lambda: typer.echo(f"{ref}: rolled back to v{version} as version {result.version}"),
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/ or MOUNT/FOLDER, or FOLDER with --mount.")],
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """One level of keys (folders end in /)."""
    from clusterops.kv import ops

    _check_fmt(fmt)
    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        keys = ops.list_keys(client, ref)
    _emit(keys, fmt, lambda: typer.echo("\n".join(keys)))


@app.command()
def subkeys(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    version: Annotated[int | None, typer.Option("--version")] = None,
    depth: Annotated[int | None, typer.Option("--depth", help="How deep to descend (0: all).")] = None,
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """Key names of a version without their values (subkeys endpoint)."""
    from clusterops.kv import ops

    _check_fmt(fmt)
    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        ops.require_v2(ref, "subkeys")
        sk = client.subkeys(ref, version=version, depth=depth)
    doc = {"path": str(ref), "version": sk.version, "subkeys": dict(sk.subkeys)}
    _emit(doc, fmt, lambda: typer.echo(json.dumps(doc, indent=2)))


# -- metadata --------------------------------------------------------------------------------


def _metadata_doc(meta: Any) -> dict[str, Any]:
    return {
        "path": str(meta.ref),
        "current_version": meta.current_version,
        "oldest_version": meta.oldest_version,
        "max_versions": meta.max_versions,
        "cas_required": meta.cas_required,
        "delete_version_after": meta.delete_version_after,
        "custom_metadata": dict(meta.custom_metadata),
        "created_time": meta.created_time,
        "updated_time": meta.updated_time,
        "versions": {
            str(v.version): {
                "created_time": v.created_time,
                "deletion_time": v.deletion_time,
                "destroyed": v.destroyed,
                "state": v.state,
            }
            for v in meta.versions
        },
    }


@metadata_app.command("get")
def metadata_get(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    mount: Mount = None,
    fmt: Fmt = "table",
) -> None:
    """Settings, custom metadata and the state of every version."""
    from clusterops.kv import ops

    _check_fmt(fmt)
    with _client(ctx) as client:
        meta = ops.metadata_get(client, _ref(client, path, mount, None))
    doc = _metadata_doc(meta)

    def table() -> None:
        c = _console()
        for k in ("path", "current_version", "oldest_version", "max_versions", "cas_required", "delete_version_after"):
            c.print(f"{k:22} {doc[k]}", highlight=False)
        c.print(f"{'custom_metadata':22} {doc['custom_metadata']}", highlight=False)
        t = _table("version", "state", "created", "deleted")
        for v in meta.versions:
            t.add_row(str(v.version), v.state, v.created_time, v.deletion_time or "-")
        c.print(t)

    _emit(doc, fmt, table)


MaxVersions = Annotated[int | None, typer.Option("--max-versions", help="Versions kept (0: the mount's default).")]
CasRequired = Annotated[
    bool | None, typer.Option("--cas-required/--no-cas-required", help="Require cas on writes.", show_default=False)
]
DeleteAfter = Annotated[
    str | None, typer.Option("--delete-version-after", help="Soft-delete versions after this long (0s: never).")
]
CustomMeta = Annotated[list[str] | None, typer.Option("--custom-metadata", help="KEY=VALUE (repeatable).")]


@metadata_app.command("put")
def metadata_put(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    max_versions: MaxVersions = None,
    cas_required: CasRequired = None,
    delete_version_after: DeleteAfter = None,
    custom_metadata: CustomMeta = None,
    mount: Mount = None,
) -> None:
    """Set the fields given, and only those (custom metadata given replaces the whole map). Creates the key."""
    from clusterops.kv import ops

    fields = ops.metadata_fields(
        max_versions=max_versions,
        cas_required=cas_required,
        delete_version_after=delete_version_after,
        custom_metadata=ops.parse_pairs(custom_metadata, "--custom-metadata") if custom_metadata else None,
    )
    with _client(ctx) as client:
        ref = _ref(client, path, mount, None)
        ops.require_v2(ref, "metadata")
        client.write_metadata(ref, fields)
    typer.echo(f"{ref}: metadata written ({', '.join(sorted(fields)) or 'no fields: key created'})")


@metadata_app.command("patch")
def metadata_patch(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    max_versions: MaxVersions = None,
    cas_required: CasRequired = None,
    delete_version_after: DeleteAfter = None,
    custom_metadata: CustomMeta = None,
    remove_custom_metadata: Annotated[
        list[str] | None, typer.Option("--remove-custom-metadata", help="Remove this custom key (repeatable).")
    ] = None,
    mount: Mount = None,
) -> None:
    """Merge-PATCH the metadata: custom keys given are added or changed, the others kept."""
    from clusterops.errors import UsageError
    from clusterops.kv import ops

    custom: dict[str, Any] = dict(ops.parse_pairs(custom_metadata or [], "--custom-metadata"))
    for key in remove_custom_metadata or []:
        custom[key] = None
    fields = ops.metadata_fields(
        max_versions=max_versions, cas_required=cas_required, delete_version_after=delete_version_after
    )
    if custom:
        fields["custom_metadata"] = custom
    if not fields:
        raise UsageError("nothing to patch: give at least one field")
    with _client(ctx) as client:
        ref = _ref(client, path, mount, None)
        ops.require_v2(ref, "metadata")
        client.patch_metadata(ref, fields)
    typer.echo(f"{ref}: metadata patched ({', '.join(sorted(fields))})")


@metadata_app.command("delete")
def metadata_delete(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    mount: Mount = None,
) -> None:
    """Delete every version and the metadata of one secret (not recoverable)."""
    from clusterops.kv import ops

    with _client(ctx) as client:
        ref = _ref(client, path, mount, None)
        ops.require_v2(ref, "metadata")
        client.delete_metadata(ref)
    typer.echo(f"{ref}: every version and the metadata deleted")


# -- history and diff ------------------------------------------------------------------------


@app.command()
def history(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    mount: Mount = None,
    fmt: Fmt = "table",
) -> None:
    """Every version: created, deleted, destroyed, and the key names each live version added, removed or changed."""
    from clusterops.kv.history import read_history

    _check_fmt(fmt)
    with _client(ctx) as client:
        h = read_history(client, _ref(client, path, mount, None))
    doc = {
        "path": str(h.metadata.ref),
        "current_version": h.metadata.current_version,
        "versions": [
            {
                "version": e.info.version,
                "state": e.info.state,
                "current": e.current,
                "created_time": e.info.created_time,
                "deletion_time": e.info.deletion_time,
                "destroyed": e.info.destroyed,
                "compared_to": e.compared_to,
                "added": list(e.added),
                "removed": list(e.removed),
                "changed": list(e.changed),
            }
            for e in h.entries
        ],
    }

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
    workers: Workers = 16,
    fmt: Fmt = "table",
) -> None:
    """Per-key added / removed / changed / unchanged between two versions, two paths or two servers.

    Values are compared by keyed hashes (HMAC-SHA256; key from CLUSTEROPS_REDACT_KEY or random per run).
    """
    from clusterops.kv.compare import diff_secrets, diff_trees

    _check_fmt(fmt)
    opts = _opts(ctx)
    with _client(ctx, workers=workers) as left:
        right = other_client(opts, to_addr, to_token_file, to_namespace) if to_addr else left
        try:
            lref = left.resolve(path)
            rref = right.resolve(other or path)
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


@app.command("tree")
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

    _check_fmt(fmt)
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
    force: bool,
    to_addr: str | None,
    to_token_file: str | None,
    to_namespace: str | None,
    workers: int,
    quiet: bool,
    fmt: str,
) -> None:
    from clusterops.kv.tree import copy_tree

    _check_fmt(fmt)
    with _client(ctx, workers=workers) as client:
        dst_client = (
            other_client(_opts(ctx), to_addr, to_token_file, to_namespace, pool_size=workers) if to_addr else client
        )
        try:
            sref = client.resolve(src)
            dref = dst_client.resolve(dst)
            with _progress("moving" if move else "copying", quiet) as progress:
                report = copy_tree(
                    client,
                    sref,
                    dst_client,
                    dref,
                    all_versions=all_versions,
                    overwrite=force,
                    move=move,
                    workers=workers,
                    progress=progress,
                )
        finally:
            if dst_client is not client:
                dst_client.close()
    doc = {
        "source": report.source,
        "destination": report.destination,
        "moved": move,
        "secrets": [
            {"path": r.path, "versions_written": r.versions_written, "notes": list(r.notes)} for r in report.results
        ],
        "errors": [{"path": p, "error": m} for p, m in report.errors],
    }

    def table() -> None:
        verb = "moved" if move else "copied"
        for r in report.results:
            for note in r.notes:
                typer.echo(f"note: {r.path or '(the secret)'}: {note}")
        for p, m in report.errors:
            typer.echo(f"failed: {p}: {m}", err=True)
        typer.echo(
            f"{verb} {len(report.results)} secret(s) "
            f"({sum(r.versions_written for r in report.results)} version(s)) from {report.source} "
            f"to {report.destination}; {len(report.errors)} failed"
        )

    _emit(doc, fmt, table)
    if report.errors:
        raise typer.Exit(1)


AllVersions = Annotated[
    bool, typer.Option("--all-versions", help="Replay every version (and its state), not only the latest.")
]
Force = Annotated[bool, typer.Option("--force", help="Add versions on top of existing destination secrets.")]


@app.command()
def copy(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="MOUNT/PATH: a secret or a subtree.")],
    dst: Annotated[str, typer.Argument(help="MOUNT/PATH of the copy.")],
    all_versions: AllVersions = False,
    force: Force = False,
    to_addr: ToAddr = None,
    to_token_file: ToTokenFile = None,
    to_namespace: ToNamespace = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Copy a secret or subtree (latest version, or --all-versions with states and custom metadata)."""
    _copy_or_move(
        ctx, src, dst, move=False, all_versions=all_versions, force=force, to_addr=to_addr,
        to_token_file=to_token_file, to_namespace=to_namespace, workers=workers, quiet=quiet, fmt=fmt,
    )  # fmt: skip


@app.command()
def move(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="MOUNT/PATH: a secret or a subtree.")],
    dst: Annotated[str, typer.Argument(help="MOUNT/PATH of the destination.")],
    all_versions: AllVersions = False,
    force: Force = False,
    to_addr: ToAddr = None,
    to_token_file: ToTokenFile = None,
    to_namespace: ToNamespace = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Copy, then delete each source secret whose copy succeeded (not atomic: a failed path stays at the source)."""
    _copy_or_move(
        ctx, src, dst, move=True, all_versions=all_versions, force=force, to_addr=to_addr,
        to_token_file=to_token_file, to_namespace=to_namespace, workers=workers, quiet=quiet, fmt=fmt,
    )  # fmt: skip


@app.command()
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

    _check_fmt(fmt)
    with _client(ctx, workers=workers) as client:
        ref = _ref(client, path, mount, None)
        with _progress("searching", quiet) as progress:
            result = run_search(client, ref, key_pattern=key, value_pattern=value, workers=workers, progress=progress)
    doc: dict[str, Any] = {
        "root": result.root,
        "searched": result.searched,
        "hits": [{"path": str(ref.child(h.path)), "key": h.key, "matched": h.matched} for h in result.hits],
        "unreadable": list(result.unreadable),
    }

    def table() -> None:
        t = _table("path", "key", "matched on")
        for h in doc["hits"]:
            t.add_row(h["path"], h["key"], h["matched"])
        c = _console()
        c.print(t)
        c.print(f"{len(result.hits)} match(es) in {result.searched} secret(s)", highlight=False)

    _emit(doc, fmt, table)


# -- backup ----------------------------------------------------------------------------------

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
def export_(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH: a secret or a subtree.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The export file (mode 0600).")] = None,
    key_file: KeyFile = None,
    plaintext: Annotated[bool, typer.Option("--plaintext", help="Write values unencrypted (explicit opt-in).")] = False,
    out_format: Annotated[str, typer.Option("--format", "-f", help="yaml or json.")] = "yaml",
    latest_only: Annotated[bool, typer.Option("--latest-only", help="Only the current version of each.")] = False,
    workers: Workers = 16,
    quiet: Quiet = False,
) -> None:
    """Export a subtree with its full history (versions, states, settings, custom metadata).

    The file holds secret values, so it is encrypted with --key-file unless --plaintext is given.
    """
    from clusterops.errors import UsageError
    from clusterops.kv.backup import encrypt, export_tree, serialize, write_export

    _check_fmt(out_format, ("yaml", "json"))
    key = _key(key_file)
    if key is None and not plaintext:
        raise UsageError(
            "an export holds secret values: give --key-file (see `clusterops kv keygen`) or, knowingly, --plaintext"
        )
    if output is None and key is None:
        raise UsageError("a plaintext export goes to a file: give --output")
    with _client(ctx, workers=workers) as client:
        ref = client.resolve(path)
        with _progress("exporting", quiet) as progress:
            doc = export_tree(client, ref, all_versions=not latest_only, workers=workers, progress=progress)
    if output is None:
        sys.stdout.buffer.write(encrypt(serialize(doc, out_format), key) if key else b"")
    else:
        write_export(doc, output, fmt=out_format, key=key)
    for p, msg in doc.errors:
        typer.echo(f"failed: {p}: {msg}", err=True)
    typer.echo(
        f"exported {len(doc.records)} secret(s), {doc.version_count} version(s) from {ref}"
        + (f" to {output}" if output else "")
        + (" (encrypted)" if key else " (PLAINTEXT)")
        + (
            f"; {doc.unreadable_versions} deleted/destroyed version(s) had no readable data"
            if doc.unreadable_versions
            else ""
        ),
        err=output is None,
    )
    if doc.errors:
        raise typer.Exit(1)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An export (encrypted or not).")],
    dest: Annotated[str, typer.Argument(help="MOUNT/PATH to restore under.")],
    key_file: KeyFile = None,
    force: Force = False,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Restore an export: every version in order (with cas), states, settings, custom metadata.

    Reports what cannot be preserved: timestamps, and version numbers where they shift.
    """
    from clusterops.errors import ConfigError
    from clusterops.kv.backup import import_tree, load_export

    _check_fmt(fmt)
    try:
        blob = file.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=str(file)) from err
    doc = load_export(blob, key=_key(key_file), where=str(file))
    with _client(ctx, workers=workers) as client:
        ref = client.resolve(dest)
        with _progress("importing", quiet) as progress:
            report = import_tree(client, ref, doc, overwrite=force, workers=workers, progress=progress)
    out: dict[str, Any] = {
        "destination": report.destination,
        "imported": len(report.results),
        "versions_written": sum(r.versions_written for r in report.results),
        "not_preserved": list(report.not_preserved),
        "notes": {r.path: list(r.notes) for r in report.results if r.notes},
        "errors": [{"path": p, "error": m} for p, m in report.errors],
    }

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

    _emit(out, fmt, table)
    if report.errors:
        raise typer.Exit(1)


# -- declarative sync ------------------------------------------------------------------------


class _PlanCommand(TyperCommand):
    """`kv plan` exits 2 for drift, so a malformed command line must exit 1 (error), not click's usual 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except TyperException as err:  # click's UsageError family (vendored by typer)
            err.exit_code = 1
            raise


def _load_desired(state: Path, mount: str | None) -> Any:
    import os

    from clusterops.kv.desired import load_desired

    return load_desired(state, env=os.environ, read_stdin=sys.stdin.read, mount_override=mount)


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
def plan_(
    ctx: typer.Context,
    state: Annotated[Path, typer.Argument(help="The desired-state YAML.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the plan (for `kv apply --plan`).")] = None,
    mount: Mount = None,
    workers: Workers = 16,
    fmt: Fmt = "table",
) -> None:
    """What `kv apply` would change, compared by keyed hashes; no value is printed.

    Exit codes (unlike the rest of the CLI, for CI drift gates): 0 in sync, 2 drift, 1 error.
    """
    from clusterops.errors import ClusterOpsError
    from clusterops.kv.sync import plan as make_plan
    from clusterops.kv.sync import save_plan

    try:
        _check_fmt(fmt)
        desired = _load_desired(state, mount)
        with _client(ctx, workers=workers) as client:
            result = make_plan(client, desired, workers=workers)
        if out is not None:
            save_plan(result, out)
    except ClusterOpsError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except typer.BadParameter as err:
        typer.echo(f"error: {err.format_message()}", err=True)
        raise typer.Exit(1) from None
    _render_plan(result, fmt)
    raise typer.Exit(2 if result.drift else 0)


@app.command()
def apply(
    ctx: typer.Context,
    state: Annotated[Path, typer.Argument(help="The desired-state YAML.")],
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="A plan saved by `kv plan --out`: write only if nothing moved since.")
    ] = None,
    journal_dir: Annotated[
        Path | None,
        typer.Option("--journal-dir", help="Where run journals go (default: ~/.local/state/clusterops/kv-runs)."),
    ] = None,
    mount: Mount = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Make the server match the desired state. Every write uses cas at the plan's version.

    Before writing: a capability pre-flight (sys/capabilities-self) and a check that no path moved since
    the plan; either failing writes nothing. A journal of prior versions makes `kv undo RUN` possible.
    Exit 0 done, 1 a conflict or failure (the journal says what was written), 2 usage/auth/connection.
    """
    from clusterops.kv.journal import default_journal_dir
    from clusterops.kv.sync import apply_plan, choose_saved_plan, load_plan
    from clusterops.kv.sync import plan as make_plan

    _check_fmt(fmt)
    desired = _load_desired(state, mount)
    folder = journal_dir or default_journal_dir()
    with _client(ctx, workers=workers) as client:
        fresh = make_plan(client, desired, workers=workers)
        chosen = fresh if plan_file is None else choose_saved_plan(load_plan(plan_file), fresh, client.settings.address)
        if not chosen.drift:
            typer.echo("in sync: nothing to apply")
            return

        def note_run(run_id: str) -> None:
            typer.echo(f"run {run_id}: journal in {folder}", err=True)

        with _progress("applying", quiet) as progress:
            report = apply_plan(
                client, desired, chosen, journal_dir=folder, workers=workers, progress=progress, on_journal=note_run
            )
    doc = {
        "run": report.run_id,
        "journal": report.journal,
        "ok": report.ok,
        "results": [
            {"path": r.path, "status": r.status, "new_version": r.new_version, "message": r.message}
            for r in report.results
        ],
    }

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
def undo(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="The run id printed by `kv apply` (or its journal file).")],
    journal_dir: Annotated[Path | None, typer.Option("--journal-dir", help="Where run journals are.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Also undo paths changed after the run.")] = False,
    fmt: Fmt = "table",
) -> None:
    """Put back what an apply run changed: prior data as a new version (history kept), prior metadata."""
    from clusterops.kv.journal import default_journal_dir, undo_run

    _check_fmt(fmt)
    folder = journal_dir or default_journal_dir()
    with _client(ctx) as client:
        journal, results = undo_run(client, run, folder, force=force)
    doc = {
        "run": journal.run_id,
        "results": [{"path": r.path, "action": r.action, "message": r.message} for r in results],
    }

    def table() -> None:
        t = _table("path", "undo", "message")
        for r in results:
            t.add_row(r.path, r.action, r.message)
        _console().print(t)

    _emit(doc, fmt, table)
    if any(r.action in ("skipped", "failed") for r in results):
        raise typer.Exit(1)
