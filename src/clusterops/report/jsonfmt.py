"""Findings as one JSON document (stable field names)."""

from __future__ import annotations

import json
from typing import TextIO

from clusterops.findings import Report, Severity


def document(report: Report, *, fail_on: Severity = Severity.ERROR) -> dict[str, object]:
    return {
        "tool": report.tool,
        "summary": report.summary,
        "fail_on": fail_on.value,
        "exit_code": report.exit_code(fail_on),
        "counts": {s.value: sum(1 for f in report.findings if f.severity is s) for s in Severity},
        "findings": [f.to_dict() for f in report.findings],
    }


def render(report: Report, stream: TextIO, *, fail_on: Severity = Severity.ERROR) -> None:
    json.dump(document(report, fail_on=fail_on), stream, indent=2)
    stream.write("\n")
