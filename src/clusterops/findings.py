"""Findings and rules as data, shared by `consul check`, gates and `validate`.

A `Rule` has a stable id (never reused), a severity, a one-line summary and a remedy template. A
check yields `Finding`s; a finding is never an exception. The same `Report` renders as a table,
JSON, JUnit, SARIF or GitHub annotations (`clusterops.report`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    remedy: str = ""
    doc: str = ""


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    subject: str
    message: str
    remedy: str = ""
    file: str | None = None
    line: int | None = None
    summary: str = ""

    @classmethod
    def of(cls, rule: Rule, subject: str, message: str, *, remedy: str | None = None, **where: object) -> Finding:
        return cls(
            rule_id=rule.id,
            severity=rule.severity,
            subject=subject,
            message=message,
            remedy=rule.remedy if remedy is None else remedy,
            summary=rule.summary,
            file=where.get("file"),  # type: ignore[arg-type]
            line=where.get("line"),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule_id,
            "severity": self.severity.value,
            "subject": self.subject,
            "message": self.message,
            "remedy": self.remedy,
        }
        if self.file:
            out["file"] = self.file
        if self.line:
            out["line"] = self.line
        return out


@dataclass(frozen=True)
class Report:
    """What a check produced: findings, the rules that ran, and a one-line summary."""

    tool: str
    findings: tuple[Finding, ...]
    rules: tuple[Rule, ...] = ()
    summary: str = ""
    subjects: tuple[str, ...] = field(default=())

    def at_or_above(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity.rank >= severity.rank]

    def exit_code(self, fail_on: Severity = Severity.ERROR) -> int:
        return 1 if self.at_or_above(fail_on) else 0


def catalog(rules: Iterable[Rule]) -> dict[str, Rule]:
    """Index rules by id; duplicate ids are a programming error caught by the catalog tests."""
    out: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in out:
            raise ValueError(f"duplicate rule id {rule.id}")
        out[rule.id] = rule
    return out
