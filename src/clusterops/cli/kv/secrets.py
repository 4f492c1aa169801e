"""`clusterops kv`: parity with `vault kv` (get, put, patch, delete, undelete, destroy, rollback, list,
subkeys, metadata)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from clusterops.cli.kv._app import (
    Fmt,
    KvVersion,
    Mount,
    Quiet,
    ShowValues,
    Workers,
    _client,
    _console,
    _emit,
    _hidden,
    _plan_gate,
    _progress,
    _ref,
    _table,
    app,
    metadata_app,
)
from clusterops.cli.vault_options import kv_connection


@app.command()
@kv_connection
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
    doc = sv.to_dict(None if show_values else redactor.digest)

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


WriteField = Annotated[
    str | None, typer.Option("--field", help="Print only this field of the answer (version, created_time), raw.")
]


def _emit_write(doc: dict[str, Any], fmt: str, field: str | None, table: Callable[[], None]) -> None:
    """What a write prints: one raw field (`--field version`, as `bao kv put -field`), or the whole answer."""
    if field is not None:
        from clusterops.errors import UsageError

        if field not in doc:
            raise UsageError(f"--field {field!r}: the answer has {', '.join(sorted(doc))}")
        sys.stdout.write(str(doc[field]))
        sys.stdout.flush()
        return
    _emit(doc, fmt, table)


@app.command()
@kv_connection
def put(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    data: Annotated[list[str], typer.Argument(help="KEY=VALUE, KEY=@FILE, KEY=- (stdin), @FILE.json or -.")],
    cas: Annotated[int | None, typer.Option("--cas", help="Write only if the current version is this (0: absent).")] = (
        None
    ),
    mount: Mount = None,
    kv_version: KvVersion = None,
    field: WriteField = None,
    fmt: Fmt = "table",
) -> None:
    """Write a new version. Prefer KEY=@FILE or KEY=- to KEY=VALUE: argv is visible to other users."""
    from clusterops.kv import ops

    values = ops.parse_data_args(data, sys.stdin)
    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        result = ops.put(client, ref, values, cas=cas)
    _emit_write(result.to_dict(), fmt, field, lambda: typer.echo(f"{ref}: wrote version {result.version}"))


@app.command()
@kv_connection
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
    field: WriteField = None,
    fmt: Fmt = "table",
) -> None:
    """Merge keys into the latest version with a real HTTP PATCH; falls back to read-modify-write guarded by cas."""
    from clusterops.kv import ops

    values = ops.parse_data_args(data or [], sys.stdin)
    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        result = ops.patch(client, ref, values, remove=remove or [], cas=cas, method=method)
    doc = {**result.write.to_dict(), "method": result.method}
    _emit_write(
        doc, fmt, field, lambda: typer.echo(f"{ref}: wrote version {result.write.version} (by {result.method})")
    )


@app.command()
@kv_connection
def delete(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    versions: Annotated[str | None, typer.Option("--versions", help="Soft-delete these versions (1,2,...).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Every secret below PATH.")] = False,
    all_versions: Annotated[
        bool, typer.Option("--all", help="With -r: delete every version and the metadata (not recoverable).")
    ] = False,
    apply: Annotated[bool, typer.Option("--apply", help="With -r: delete (default: only show the plan).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With -r --apply: do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", hidden=True, help="Deprecated: the default with -r.")] = False,
    mount: Mount = None,
    kv_version: KvVersion = None,
    workers: Workers = 16,
    quiet: Quiet = False,
    fmt: Fmt = "table",
) -> None:
    """Soft-delete the latest version (or --versions), as `vault kv delete`. With -r: show the plan of a
    recursive delete; --apply deletes (after a confirmation, or --yes)."""
    from clusterops.kv import ops, tree

    with _client(ctx, workers=workers) as client:
        ref = _ref(client, path, mount, kv_version)
        if not recursive:
            if all_versions or dry_run or apply:
                raise typer.BadParameter("--all, --apply and --dry-run go with --recursive")
            ops.delete(client, ref, ops.parse_versions(versions))
            said = f"{ref}: deleted " + (f"versions {versions}" if versions else "the latest version")
            doc = {"path": str(ref), "deleted": ops.parse_versions(versions) or "latest"}
            _emit(doc, fmt, lambda: typer.echo(said))
            return
        if versions:
            raise typer.BadParameter("--versions does not go with --recursive")
        plan = tree.plan_delete(client, ref, mode="all" if all_versions else "soft", workers=workers)
        what = "EVERY VERSION AND THE METADATA of" if all_versions else "the latest version of"
        on = f"on {client.settings.address} (namespace {(client.settings.namespace or '').strip('/') or '(root)'})"
        lines = [f"plan: delete {what} {len(plan.steps)} secret(s) below {ref} {on}:"]
        lines += [f"  {tree.join(ref, s.path)}  (current version {s.current_version})" for s in plan.steps]
        secrets = [{"path": str(tree.join(ref, s.path)), "current_version": s.current_version} for s in plan.steps]
        plan_doc: dict[str, Any] = {
            "command": "delete",
            "path": str(ref),
            "address": client.settings.address,
            "namespace": (client.settings.namespace or "").strip("/"),
            "mode": "every version and the metadata" if all_versions else "the latest version",
            "secrets": secrets,
        }
        question = f"delete {len(plan.steps)} secret(s)?"
        if not _plan_gate(plan_doc, lines, fmt, apply=apply and not dry_run, yes=yes, question=question):
            return
        with _progress("deleting", quiet) as progress:
            failed = tree.execute_delete(client, ref, plan, workers=workers, progress=progress)
    result = {"deleted": len(plan.steps) - len(failed), "failed": [{"path": p, "error": m} for p, m in failed]}

    def table() -> None:
        for p, msg in failed:
            typer.echo(f"failed: {p}: {msg}", err=True)
        typer.echo(f"deleted {len(plan.steps) - len(failed)} of {len(plan.steps)} secret(s)")

    _emit({"plan": plan_doc, "result": result}, fmt, table)
    if failed:
        raise typer.Exit(1)


def _versions_command(kind: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
        versions: Annotated[str, typer.Option("--versions", help="Versions, e.g. 1,2.")],
        mount: Mount = None,
        kv_version: KvVersion = None,
        fmt: Fmt = "table",
    ) -> None:
        from clusterops.kv import ops

        with _client(ctx) as client:
            ref = _ref(client, path, mount, kv_version)
            ops.require_v2(ref, kind)
            numbers = ops.parse_versions(versions)
            getattr(client, f"{kind}_versions")(ref, numbers)
        said = f"{ref}: {kind}d versions {versions}" if kind != "destroy" else f"{ref}: destroyed {versions}"
        _emit(
            {"path": str(ref), f"{kind}d" if kind != "destroy" else "destroyed": numbers}, fmt, lambda: typer.echo(said)
        )

    command.__doc__ = {
        "undelete": "Restore soft-deleted versions.",
        "destroy": "Permanently remove the data of versions (not recoverable).",
    }[kind]
    return command


app.command("undelete")(kv_connection(_versions_command("undelete")))
app.command("destroy")(kv_connection(_versions_command("destroy")))


@app.command()
@kv_connection
def rollback(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    version: Annotated[int, typer.Option("--version", help="The version whose data becomes the new latest.", min=1)],
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """Write version N's data as a new version (cas = the current version)."""
    from clusterops.kv import ops

    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        result = ops.rollback(client, ref, version)
    _emit(
        {**result.to_dict(), "from_version": version},
        fmt,
        lambda: typer.echo(f"{ref}: rolled back to v{version} as version {result.version}"),
    )


@app.command("list")
@kv_connection
def list_(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/ or MOUNT/FOLDER, or FOLDER with --mount.")],
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """One level of keys (folders end in /)."""
    from clusterops.kv import ops

    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        keys = ops.list_keys(client, ref)
    _emit(keys, fmt, lambda: typer.echo("\n".join(keys)))


@app.command()
@kv_connection
def subkeys(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    version: Annotated[int | None, typer.Option("--version", help="A version (default: the latest).")] = None,
    depth: Annotated[int | None, typer.Option("--depth", help="How deep to descend (0: all).")] = None,
    mount: Mount = None,
    kv_version: KvVersion = None,
    fmt: Fmt = "table",
) -> None:
    """Key names of a version without their values (subkeys endpoint)."""
    from clusterops.kv import ops

    with _client(ctx) as client:
        ref = _ref(client, path, mount, kv_version)
        ops.require_v2(ref, "subkeys")
        sk = client.subkeys(ref, version=version, depth=depth)
    doc = sk.to_dict()
    _emit(doc, fmt, lambda: typer.echo(json.dumps(doc, indent=2)))


# -- metadata --------------------------------------------------------------------------------


@metadata_app.command("get")
@kv_connection
def metadata_get(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    mount: Mount = None,
    fmt: Fmt = "table",
) -> None:
    """Settings, custom metadata and the state of every version."""
    from clusterops.kv import ops

    with _client(ctx) as client:
        meta = ops.metadata_get(client, _ref(client, path, mount, None))
    doc = meta.to_dict()

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
@kv_connection
def metadata_put(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    max_versions: MaxVersions = None,
    cas_required: CasRequired = None,
    delete_version_after: DeleteAfter = None,
    custom_metadata: CustomMeta = None,
    mount: Mount = None,
    fmt: Fmt = "table",
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
    said = f"{ref}: metadata written ({', '.join(sorted(fields)) or 'no fields: key created'})"
    _emit({"path": str(ref), "written": sorted(fields)}, fmt, lambda: typer.echo(said))


@metadata_app.command("patch")
@kv_connection
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
    fmt: Fmt = "table",
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
    said = f"{ref}: metadata patched ({', '.join(sorted(fields))})"
    _emit({"path": str(ref), "patched": sorted(fields)}, fmt, lambda: typer.echo(said))


@metadata_app.command("delete")
@kv_connection
def metadata_delete(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="MOUNT/PATH, or PATH with --mount.")],
    mount: Mount = None,
    fmt: Fmt = "table",
) -> None:
    """Delete every version and the metadata of one secret (not recoverable)."""
    from clusterops.kv import ops

    with _client(ctx) as client:
        ref = _ref(client, path, mount, None)
        ops.require_v2(ref, "metadata")
        client.delete_metadata(ref)
    _emit(
        {"path": str(ref), "deleted": "every version and the metadata"},
        fmt,
        lambda: typer.echo(f"{ref}: every version and the metadata deleted"),
    )


# -- history and diff ------------------------------------------------------------------------


@app.command("enable-versioning")
@kv_connection
def enable_versioning(
    ctx: typer.Context,
    mount: Annotated[str, typer.Argument(help="The KV v1 mount to upgrade to KV v2 (one-way).")],
    fmt: Fmt = "table",
) -> None:
    """Upgrade a KV v1 mount to v2 in place (`vault kv enable-versioning`); the mount is busy while it upgrades."""
    with _client(ctx) as client:
        name = client.enable_versioning(mount)
    _emit(
        {"mount": name, "kv_version": 2},
        fmt,
        lambda: typer.echo(f"{name}/: versioning enabled (KV v2); the upgrade runs on the server, reads wait for it"),
    )
