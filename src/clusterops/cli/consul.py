"""`clusterops consul`: not yet available."""

from __future__ import annotations

import typer

app = typer.Typer(help="(consul: not yet available)", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Not yet available."""
