"""`clusterops`: the entry point, the command groups, and the one place exit codes are decided.

Exit codes: 0 ok; 1 findings at or above --fail-on, a failed gate, a refused plan or a CAS
conflict; 2 usage, unreadable input, connection, auth or permission errors, and any unexpected
error (never 1, which scripts read as "findings"); 130 interrupted. A traceback is printed only
with the global `--debug` (or CLUSTEROPS_DEBUG=1).
Command modules import their heavy libraries inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
import typer.main

from clusterops import __version__
from clusterops.cli import consul as consul_cli
from clusterops.cli import kv as kv_cli
from clusterops.cli import lab as lab_cli
from clusterops.cli import preflight as preflight_cli
from clusterops.cli import run as run_cli
from clusterops.cli import snapshot as snapshot_cli
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
consul_cli.app.add_typer(snapshot_cli.app, name="snapshot")  # `consul snapshot restore-test`
app.add_typer(consul_cli.app, name="consul")
app.add_typer(validate_cli.app, name="validate")
app.add_typer(kv_cli.app, name="kv")
app.add_typer(preflight_cli.app, name="facts")
app.add_typer(vault_cli.app, name="vault")
app.command("run")(run_cli.run)


_debug = {"on": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clusterops {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected error."),
) -> None:
    """Safe rolling Consul server upgrades, address validation and Vault KV v2 management."""
    if debug:
        _debug["on"] = True


def _where(err: BaseException) -> str:
    """The innermost clusterops frame of a traceback, as `clusterops/module.py:line` (no values)."""
    import clusterops

    base = Path(clusterops.__file__).resolve().parent
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(base)]
    if not ours:
        return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{Path(ours[-1].filename).resolve().relative_to(base.parent)}:{ours[-1].lineno}"


def _unexpected(err: Exception) -> int:
    """An error we did not anticipate: a short message and exit 2; the traceback only with --debug.
    The exception's own text is shown only with --debug too: it may quote a value from a file."""
    if _debug["on"]:
        traceback.print_exception(err, file=sys.stderr)
    typer.echo(
        f"error: unexpected {type(err).__name__} at {_where(err)}: a bug in clusterops, please report it "
        "(`clusterops --debug ...` shows the traceback)",
        err=True,
    )
    return 2


@functools.cache
def _command() -> Callable[..., Any]:
    """The click command behind `app`, built once (typer rebuilds it on every call otherwise)."""
    return typer.main.get_command(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code; never show a traceback for a user error.

    Typer (standalone mode) handles --help, usage errors (exit 2) and typer.Exit; everything of
    ours arrives here as a ClusterOpsError and leaves as its exit code and a one-paragraph message;
    anything else is a bug and leaves as exit 2 (see `_unexpected`).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    _debug["on"] = "--debug" in args[:1] or os.environ.get("CLUSTEROPS_DEBUG", "") not in ("", "0")
    try:
        _command()(args=args, prog_name="clusterops")
    except SystemExit as done:
        cause = getattr(done.__context__, "__cause__", None)
        if isinstance(cause, EOFError):  # typer turns a stray EOFError into "Aborted!" and exit 1
            return _unexpected(cause)
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except ClusterOpsError as err:
        typer.echo(f"error: {err}", err=True)
        return err.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as err:  # noqa: BLE001 - the one place an unexpected error becomes exit 2
        return _unexpected(err)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
