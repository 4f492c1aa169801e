"""Findings as SARIF 2.1.0 (GitHub code scanning and other SARIF consumers)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from clusterops import __version__
from clusterops.findings import Report, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def document(report: Report) -> dict[str, Any]:
    rules = {r.id: r for r in report.rules}
    ids = sorted(rules) + sorted({f.rule_id for f in report.findings} - set(rules))
    driver_rules = []
    for rid in ids:
        r = rules.get(rid)
        entry: dict[str, Any] = {"id": rid}
        if r is not None:
            entry["shortDescription"] = {"text": r.summary}
            if r.doc:
                entry["fullDescription"] = {"text": r.doc}
            entry["defaultConfiguration"] = {"level": _LEVEL[r.severity]}
            if r.remedy:
                entry["help"] = {"text": r.remedy}
        driver_rules.append(entry)
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": ids.index(f.rule_id),
            "level": _LEVEL[f.severity],
            "message": {"text": f"{f.subject}: {f.message}" + (f" Remedy: {f.remedy}" if f.remedy else "")},
        }
        if f.file:
            loc: dict[str, Any] = {"artifactLocation": {"uri": f.file}}
            if f.line:
                loc["region"] = {"startLine": f.line}
            result["locations"] = [{"physicalLocation": loc}]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "clusterops", "version": __version__, "rules": driver_rules}},
                "results": results,
            }
        ],
    }


def render(report: Report, stream: TextIO, *, fail_on: Severity = Severity.ERROR) -> None:
    json.dump(document(report), stream, indent=2)
    stream.write("\n")
