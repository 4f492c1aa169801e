"""Rendering of `consul upgrade`: the plan as a table, progress as lines or JSON events."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer

from clusterops.consul.upgrade.plan import Plan


def render_plan(plan: Plan) -> None:
    from rich.table import Table

    from clusterops.report.table import console

    table = Table(title=f"upgrade to {plan.target}: leader {plan.leader or 'NONE'}, {plan.voters} voters")
    for col in ("#", "server", "role", "from", "to", "action", "before", "during", "after"):
        table.add_column(col)
    for i, s in enumerate(plan.steps, 1):
        table.add_row(
            str(i), s.server, s.role, s.from_version, s.to_version, s.action, str(s.before), str(s.during), str(s.after)
        )
    out = console()
    out.print(table)
    if plan.refusals:
        out.print("[red]refused[/]: pre-flight failed; nothing will be touched")
        for f in plan.refusals:
            out.print(f"  [{f.rule_id}] {f.subject}: {f.message}", highlight=False)
            if f.remedy:
                out.print(f"      remedy: {f.remedy}", highlight=False)
    else:
        out.print(f"pre-flight ok; {len(plan.todo)} server(s) to upgrade, followers first, the leader last")


class EventPrinter:
    """Progress for a person (one line per change) or JSON lines for machines."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.start = time.monotonic()

    def __call__(self, event: dict[str, Any]) -> None:
        if self.fmt == "json":
            sys.stdout.write(json.dumps(event, default=str) + "\n")
            sys.stdout.flush()
            return
        kind = event["event"]
        if kind == "done":
            return
        t = f"{time.monotonic() - self.start:6.1f}s"
        detail = {k: v for k, v in event.items() if k not in ("event", "t", "run_id")}
        text = " ".join(f"{k}={v}" for k, v in detail.items())
        typer.echo(f"[{t}] {kind:<13} {text}", err=False)


def render_report(report: dict[str, Any]) -> None:
    typer.echo(
        f"upgrade {report['status']}: run {report['run_id']}, leader changes {report['leader_changes']}, "
        f"{report['elapsed'] or 0:.1f}s"
    )
    for s in report["steps"]:
        gate = s.get("gate") or {}
        took = s.get("t_total")
        typer.echo(
            f"  {s['server']:<10} {s['status']:<8} "
            + (f"{took:6.1f}s  " if took else "")
            + (f"FT {gate.get('failure_tolerance')} leader {gate.get('leader')}" if gate else "")
        )
