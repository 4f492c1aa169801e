"""Findings as a table for a person at a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.table import Table

from clusterops.findings import Report, Severity

_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def console(stream: TextIO | None = None) -> Console:
    """A rich console that does not squeeze tables to 80 columns when output is not a terminal."""
    tty = (stream or sys.stdout).isatty()
    return Console(file=stream, width=None if tty else 200)


def render(report: Report, stream: TextIO, *, fail_on: Severity = Severity.ERROR) -> None:
    out = console(stream)
    if report.summary:
        out.print(report.summary, highlight=False)
    if not report.findings:
        out.print("no findings", style="green")
        return
    table = Table(show_lines=False)
    for col in ("severity", "rule", "subject", "where", "message", "remedy"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
        table.add_row(f"[{_STYLE[f.severity]}]{f.severity.value}[/]", f.rule_id, f.subject, where, f.message, f.remedy)
    out.print(table)
    failing = len(report.at_or_above(fail_on))
    out.print(f"{len(report.findings)} finding(s), {failing} at or above {fail_on.value}", highlight=False)
