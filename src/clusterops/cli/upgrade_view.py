"""Rendering of `consul upgrade`: the plan as a table, progress as lines or JSON events."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

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


def show_plan(plan: Plan, fmt: str, document: Callable[[Plan], Any], render: Callable[[Plan], None]) -> NoReturn:
    """A dry run's answer: the plan as JSON or as the product's table; exit 0 when it may go, 1 when refused."""
    if fmt == "json":
        typer.echo(json.dumps(document(plan), indent=2))
    else:
        render(plan)
    raise typer.Exit(0 if plan.ok else 1)


def render_report(report: dict[str, Any], *, product: str = "", leader: str = "leader") -> None:
    """A finished run, one line per server. Consul's and Vault's runs make the same report; a Vault
    run calls its leader the active node (`product="vault "`, `leader="active"`)."""
    changes = "leader changes" if leader == "leader" else f"{leader}-node changes"
    typer.echo(
        f"{product}upgrade {report['status']}: run {report['run_id']}, {changes} {report['leader_changes']}, "
        f"{report['elapsed'] or 0:.1f}s"
    )
    for s in report["steps"]:
        gate = s.get("gate") or {}
        took = s.get("t_total")
        typer.echo(
            f"  {s['server']:<10} {s['status']:<8} "
            + (f"{took:6.1f}s  " if took else "")
            + (f"FT {gate.get('failure_tolerance')} {leader} {gate.get(leader)}" if gate else "")
        )


class LiveView:
    """A live per-server table for a person at a terminal, fed by the upgrade's events."""

    def __init__(self) -> None:
        from rich.live import Live

        from clusterops.report.table import console

        self.order: list[str] = []
        self.rows: dict[str, dict[str, str]] = {}
        self.started: dict[str, float] = {}
        self.header = "starting"
        self.live = Live(self.render(), console=console(), refresh_per_second=4)

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.live.update(self.render())
        self.live.stop()

    def _row(self, server: str) -> dict[str, str]:
        if server not in self.rows:
            self.order.append(server)
            self.rows[server] = {"status": "pending", "detail": "", "time": ""}
        return self.rows[server]

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        server = event.get("server")
        if kind == "start":
            for name in event["steps"]:
                self._row(name)
            self.header = f"upgrade to {event['target']}: baseline failure tolerance {event['baseline_ft']}"
        elif kind == "snapshot":
            self.header += f"; snapshot at index {event['index']}"
        elif kind == "reorder":  # whoever leads now goes last
            rest = [n for n in self.order if n not in event["order"]]
            self.order = rest + [n for n in event["order"] if n in self.rows]
            self.header += f"; order changed: {event['reason']}"
        elif kind == "interrupted":
            self.header += "; stopped on request at a safe point (--resume continues)"
        elif kind == "leader-moved":
            self._row(str(server))["detail"] = f"leads now: {event['reason']}"
        elif kind == "waiting" and not server:
            name = str(event.get("what", "")).split(" ")[0]
            if name in self.rows and self.rows[name]["status"] in ("gating", "starting"):
                self.rows[name]["detail"] = str(event.get("reason", ""))
        elif server:
            row = self._row(server)
            if kind == "stopping":
                self.started[server] = event["t"]
            status = {"done-server": "done", "server-failed": "FAILED", "skip": "skipped", "leader-step": "leader"}
            row["status"] = status.get(kind, kind)
            row["detail"] = str(event.get("reason") or event.get("how") or "")
            if server in self.started:
                row["time"] = f"{event['t'] - self.started[server]:.1f}s"
        self.live.update(self.render())

    def render(self) -> Any:
        from rich.table import Table

        table = Table(title=self.header)
        for col in ("server", "status", "detail", "time"):
            table.add_column(col)
        for name in self.order:
            row = self.rows[name]
            table.add_row(name, row["status"], row["detail"], row["time"])
        return table
