"""`clusterops`: the entry point, the command groups, and the one place exit codes are decided.

Exit codes: 0 ok; 1 findings at or above --fail-on, a failed gate, a refused plan or a CAS
conflict; 2 usage, unreadable input, connection, auth or permission errors; 130 interrupted.
Command modules import their heavy libraries inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from clusterops import __version__
from clusterops.cli import consul as consul_cli
from clusterops.cli import kv as kv_cli
from clusterops.cli import lab as lab_cli
from clusterops.cli import run as run_cli
from clusterops.cli import validate as validate_cli
from clusterops.cli import vault as vault_cli
from clusterops.errors import ClusterOpsError

app = typer.Typer(
    name="clusterops",
    help="Safe rolling Consul server upgrades, address validation and Vault KV v2 management.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(lab_cli.app, name="lab")
app.add_typer(consul_cli.app, name="consul")
app.add_typer(validate_cli.app, name="validate")
app.add_typer(kv_cli.app, name="kv")
app.add_typer(vault_cli.app, name="vault")
app.command("run")(run_cli.run)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clusterops {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Safe rolling Consul server upgrades, address validation and Vault KV v2 management."""


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code; never show a traceback for a user error.

    Typer (standalone mode) handles --help, usage errors (exit 2) and typer.Exit; everything of
    ours arrives here as a ClusterOpsError and leaves as its exit code and a one-paragraph message.
    """
    try:
        app(args=argv, prog_name="clusterops")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except ClusterOpsError as err:
        typer.echo(f"error: {err}", err=True)
        return err.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
