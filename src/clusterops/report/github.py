"""Findings as GitHub Actions workflow commands (annotations on the PR)."""

from __future__ import annotations

from typing import TextIO

from clusterops.findings import Report, Severity

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: Report, stream: TextIO, *, fail_on: Severity = Severity.ERROR) -> None:
    for f in report.findings:
        props = []
        if f.file:
            props.append(f"file={_escape_property(f.file)}")
            if f.line:
                props.append(f"line={f.line}")
        props.append(f"title={_escape_property(f'{f.rule_id} {f.subject}')}")
        message = f.message + (f"\nremedy: {f.remedy}" if f.remedy else "")
        stream.write(f"::{_COMMAND[f.severity]} {','.join(props)}::{_escape_data(message)}\n")
