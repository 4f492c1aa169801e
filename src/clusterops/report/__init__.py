"""Renderers of a findings `Report`: one module per format, each `render(report, stream, fail_on)`."""

from __future__ import annotations

from importlib import import_module
from typing import TextIO

from clusterops.errors import UsageError
from clusterops.findings import Report, Severity

FORMATS = {"table": "table", "json": "jsonfmt", "junit": "junit", "sarif": "sarif", "github": "github"}


def render(report: Report, fmt: str, stream: TextIO, *, fail_on: Severity = Severity.ERROR) -> None:
    module = FORMATS.get(fmt)
    if module is None:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    import_module(f"clusterops.report.{module}").render(report, stream, fail_on=fail_on)
