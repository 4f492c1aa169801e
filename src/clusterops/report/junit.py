"""Findings as JUnit XML: one test case per rule (and subject), failed when at or above fail_on."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from clusterops.findings import Report, Severity


def render(report: Report, stream: TextIO, *, fail_on: Severity = Severity.ERROR) -> None:
    suite = ET.Element("testsuite", name=report.tool)
    failures = 0
    cases = 0
    fired = {f.rule_id for f in report.findings}
    for f in report.findings:
        cases += 1
        where = f" ({f.file}:{f.line})" if f.file and f.line else (f" ({f.file})" if f.file else "")
        case = ET.SubElement(suite, "testcase", classname=f"{report.tool}.{f.rule_id}", name=f"{f.subject}{where}")
        text = f"{f.message}\nremedy: {f.remedy}" if f.remedy else f.message
        if f.severity.rank >= fail_on.rank:
            failures += 1
            el = ET.SubElement(case, "failure", type=f.severity.value, message=f"{f.rule_id}: {f.message}")
            el.text = text
        else:
            ET.SubElement(case, "system-out").text = f"{f.severity.value}: {text}"
    for rule in report.rules:
        if rule.id not in fired:
            cases += 1
            ET.SubElement(suite, "testcase", classname=f"{report.tool}.{rule.id}", name=rule.summary)
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    ET.indent(suite)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ET.tostring(suite, encoding="unicode"))
    stream.write("\n")
