"""`clusterops consul snapshot`: prove a snapshot restores before you need it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from clusterops.cli.options import format_option

if TYPE_CHECKING:
    from clusterops.consul.restore_test import RestoreReport
    from clusterops.consul.snapshot import SnapshotInfo

app = typer.Typer(help="Consul snapshots: prove one restores.", no_args_is_help=True)


@app.command("restore-test")
def restore_test(
    file: Annotated[Path, typer.Argument(help="A snapshot saved by `consul snapshot save` or the upgrade.")],
    consul_version: Annotated[
        str | None,
        typer.Option("--consul-version", help="The Consul to restore into (default: the newest lab Consul, 1.14.11)."),
    ] = None,
    fmt: Annotated[str, format_option("table", "json", aliases={"text": "table"})] = "table",
) -> None:
    """Restore FILE into a throwaway one-server lab of that version and report what it holds, or the
    exact restore error. Exit 0 restored, 1 it did not restore (or is damaged), 2 unreadable / no binary."""
    from clusterops.consul.restore_test import DEFAULT_VERSION
    from clusterops.consul.restore_test import restore_test as run_test

    log = (lambda line: None) if fmt == "json" else (lambda line: typer.echo(line, err=True))
    report = run_test(file, consul_version=consul_version or DEFAULT_VERSION, log=log)
    if fmt == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        render(report)
    raise typer.Exit(report.exit_code)


def render(report: RestoreReport, say: Callable[[str], None] = typer.echo) -> None:
    if report.inspection is not None:
        i = report.inspection
        say(f"{report.file}: {i.bytes} bytes, index {i.index}, term {i.term}, sha256 {i.sha256[:16]}...")
    if report.inspection_error:
        say(f"DAMAGED: {report.inspection_error}")
    if not report.restored:
        say(f"RESTORE FAILED into Consul {report.consul_version}: {report.error}")
        return
    more = len(report.kv_keys) - 10
    keys = ", ".join(report.kv_keys[:10]) + (f" (+{more} more)" if more > 0 else "")
    say(
        f"RESTORED into Consul {report.consul_version} in {report.seconds:.1f}s: index {report.index}, "
        f"{len(report.kv_keys)} KV key(s){': ' + keys if keys else ''}; "
        f"{len(report.services)} catalog service(s): {', '.join(report.services) or '-'}"
    )


def check_restores(version: str, *, as_json: bool = False) -> Callable[[SnapshotInfo], None]:
    """For `consul upgrade --restore-test`: restore the fresh snapshot into a throwaway `version`
    server and report it (a `restore-test` event with -f json); refuse (UnsafePlan, exit 1) to go
    on when it does not restore."""

    def check(info: SnapshotInfo) -> None:
        from clusterops.consul.restore_test import restore_test as run_test
        from clusterops.errors import UnsafePlan

        report = run_test(info.path, consul_version=version, log=lambda line: typer.echo(line, err=True))
        if as_json:
            typer.echo(json.dumps({"event": "restore-test", **report.to_dict()}, default=str))
        else:
            render(report)
        if not report.ok:
            raise UnsafePlan(
                f"the pre-upgrade snapshot {info.path} does not restore into Consul {version}: "
                f"{report.error or report.inspection_error}; no server was touched"
            )

    return check
