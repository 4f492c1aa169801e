"""`clusterops run PLAYBOOK`: plan (the default), apply, or resume a YAML runbook."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from clusterops.cli.options import StateDir, format_option


def _print_schema(value: bool) -> None:
    """`--schema`: eager, so it works without a PLAYBOOK argument."""
    if not value:
        return
    from clusterops.playbook.model import schema as playbook_schema

    typer.echo(json.dumps(playbook_schema(), indent=2))
    raise typer.Exit(0)


def run(
    playbook: Annotated[
        Path, typer.Argument(metavar="PLAYBOOK", help="The playbook YAML (see `clusterops run --schema`).")
    ],
    plan: Annotated[bool, typer.Option("--plan", help="Show every step and what it would do (the default).")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Run the steps, journaled.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last unfinished run.")] = False,
    var: Annotated[list[str] | None, typer.Option("--var", help="Set a variable: NAME=VALUE (repeatable).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Answer yes to confirm steps.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write the JSON report here.")] = None,
    junit_file: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    fmt: Annotated[str, format_option("table", "json", aliases={"text": "table"})] = "table",
    state_dir: StateDir = None,
    schema: Annotated[
        bool,
        typer.Option(
            "--schema", help="Print the playbook JSON Schema and exit.", is_eager=True, callback=_print_schema
        ),
    ] = False,
) -> None:
    """Run a playbook of checks, gates, upgrades, validation and KV changes. Exit 0 ok, 1 a step failed, 2 invalid."""
    from clusterops.atomicfile import write_private
    from clusterops.playbook.model import load_playbook
    from clusterops.playbook.runner import Runner, junit

    if sum((plan, apply, resume)) > 1:
        raise typer.BadParameter("choose one of --plan, --apply, --resume", param_hint="--plan")
    extra: dict[str, str] = {}
    for item in var or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--var")
        extra[name] = value
    pb = load_playbook(playbook, extra)
    quiet = fmt == "json"
    runner = Runner(
        pb,
        apply=apply or resume,
        resume=resume,
        assume_yes=yes,
        interactive=sys.stdin.isatty(),
        state_dir=Path(state_dir) if state_dir else None,
        log=(lambda line: None) if quiet else (lambda line: typer.echo(line)),
    )
    result = runner.run()
    doc = result.to_dict()
    if report is not None:
        write_private(report, json.dumps(doc, indent=2, default=str) + "\n")
    if junit_file is not None:
        write_private(junit_file, junit(result))
    if quiet:
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        counts = {s: sum(1 for r in result.steps if r.status == s) for s in ("ok", "failed", "skipped", "not-run")}
        typer.echo(
            f"{pb.name}: {result.mode} {result.status.upper()} - "
            + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            + (f"; journal {result.journal}" if result.journal else "")
        )
    raise typer.Exit(result.exit_code)
