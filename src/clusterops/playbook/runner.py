"""Run a playbook: plan (read-only) or apply with a journal, so --resume never redoes a finished step.

Per step: `when` (skip if false), the arguments rendered with variables (shell-quoted in an
`exec` command), the action with its `timeout` as a deadline it honours (see `actions`: no step is
ever left running in the background), then `on_failure`: abort (default), continue, or run named
handler steps first. Steps run one at a time in this thread: a handler or the next step starts
only after the previous action has returned.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterops.durations import parse_duration
from clusterops.errors import ClusterOpsError, UsageError
from clusterops.journal import Journal, default_state_dir
from clusterops.playbook.actions import ACTIONS, DEADLINE_AWARE, Outcome, RunContext
from clusterops.playbook.model import Playbook, StepSpec, at
from clusterops.playbook.template import evaluate, render, shell_command

JOURNAL_KIND = "playbook"


@dataclass(frozen=True)
class StepResult:
    id: str
    action: str
    status: str  # ok, failed, skipped, not-run, done-earlier
    summary: str
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    handler: bool = False


@dataclass(frozen=True)
class RunReport:
    playbook: str
    name: str
    mode: str
    run_id: str
    status: str  # ok, failed
    steps: tuple[StepResult, ...]
    journal: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "ok" else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "name": self.name,
            "mode": self.mode,
            "run_id": self.run_id,
            "status": self.status,
            "journal": self.journal,
            "steps": [s.__dict__ for s in self.steps],
        }


def journal_key(pb: Playbook) -> str:
    digest = hashlib.sha256(json.dumps(pb.vars, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{pb.path}|{digest}"


class Runner:
    def __init__(
        self,
        pb: Playbook,
        *,
        apply: bool,
        resume: bool = False,
        assume_yes: bool = False,
        interactive: bool = False,
        state_dir: Path | None = None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.pb = pb
        self.apply = apply
        self.resume = resume
        self.state_dir = state_dir or default_state_dir()
        self.log = log
        self.journal: Journal | None = None
        if apply:
            key = journal_key(pb)
            self.journal = Journal.latest_unfinished(self.state_dir, kind=JOURNAL_KIND, key=key) if resume else None
            if resume and self.journal is None:
                raise UsageError(f"no unfinished run of {pb.path} (with these vars) in {self.state_dir / JOURNAL_KIND}")
            if self.journal is None:
                params = {"playbook": str(pb.path), "vars": {k: str(v) for k, v in pb.vars.items()}}
                self.journal = Journal.create(
                    self.state_dir, kind=JOURNAL_KIND, key=key, params=params, steps=[s.id for s in pb.steps]
                )
            else:
                known = {s["id"] for s in self.journal.steps()}
                wanted = {s.id for s in pb.steps}
                if known != wanted:
                    change = "; ".join(
                        f"{what}: {', '.join(sorted(ids))[:200]}"
                        for what, ids in (("added", wanted - known), ("removed", known - wanted))
                        if ids
                    )
                    raise UsageError(
                        f"{pb.path}: its steps changed since run {self.journal.run_id} ({change}; journal "
                        f"{self.journal.path}); "
                        "a resumed run needs the same steps, so start a new one with --apply"
                    )
                self.journal.set(status="running")
        run_id = self.journal.run_id if self.journal else "plan-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.ctx = RunContext(
            playbook=pb, state_dir=self.state_dir, run_id=run_id, assume_yes=assume_yes, interactive=interactive,
            resuming=resume, log=log,
        )  # fmt: skip
        self.results: dict[str, StepResult] = {}

    def variables(self) -> dict[str, Any]:
        return {
            **self.pb.vars,
            "run_id": self.ctx.run_id,
            "playbook_dir": str(self.pb.directory),
            "state_dir": str(self.state_dir),
            "steps": {sid: {"status": r.status} for sid, r in self.results.items()},
        }

    def run_step(self, step: StepSpec) -> StepResult:
        if self.journal is not None:
            earlier = self.journal.step(step.id)
            if earlier["status"] in ("ok", "skipped"):
                result = StepResult(
                    step.id, step.action, earlier["status"], "done in an earlier attempt", handler=step.handler
                )
                self.log(f"= {step.id}: {result.summary}")
                return result
        variables = self.variables()
        try:
            if step.when is not None and not evaluate(step.when, variables):
                result = StepResult(
                    step.id, step.action, "skipped", f"when: {step.when} is false", handler=step.handler
                )
                self._record(step, result)
                return result
            args = shell_command(step.args, variables) if step.action == "exec" else render(step.args, variables)
            timeout = (
                parse_duration(str(render(step.timeout, variables)), name="timeout")
                if step.timeout is not None
                else None
            )
        except UsageError as err:  # a value known only now (steps.X.status, run_id): name where it is
            raise UsageError(f"{at(self.pb.path, step.line)}: {step.id}: {err.message}") from None
        verb = "running" if self.apply else "planning"
        self.log(f"> {step.id} ({step.action}): {verb}")
        if self.journal is not None:
            self.journal.mark(step.id, "running")
        started = time.monotonic()
        self.ctx.deadline = None if timeout is None else started + timeout
        try:
            outcome = ACTIONS[step.action](self.ctx, args, self.apply)
        except ClusterOpsError as err:
            outcome = Outcome("failed", str(err).replace("\n", " "))
        finally:
            self.ctx.deadline = None
        took = time.monotonic() - started
        if timeout is not None and took > timeout and step.action not in DEADLINE_AWARE and outcome.status == "ok":
            outcome = Outcome("failed", f"{outcome.summary}; but it took {took:.1f}s, past its timeout of {timeout:g}s")
        result = StepResult(
            step.id, step.action, outcome.status, outcome.summary, took, outcome.details, step.handler,
        )  # fmt: skip
        self._record(step, result)
        return result

    def _record(self, step: StepSpec, result: StepResult) -> None:
        self.results[step.id] = result
        mark = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}.get(result.status, result.status)
        would = "" if self.apply else " (plan)"
        self.log(f"  {step.id}: {mark}{would}: {result.summary}")
        if self.journal is not None:
            self.journal.mark(step.id, result.status, summary=result.summary, seconds=round(result.seconds, 3))

    def run(self) -> RunReport:
        """Run every step; the journal never stays "running" (Ctrl-C leaves it "aborted", an
        unexpected error "failed"; both resumable)."""
        try:
            return self._run()
        except BaseException as err:
            if self.journal is not None and self.journal.status == "running":
                interrupted = isinstance(err, KeyboardInterrupt)
                self.journal.finish("aborted" if interrupted else "failed", error=type(err).__name__)
            raise

    def _run(self) -> RunReport:
        ordered: list[StepResult] = []
        failed = False
        sequence = self.pb.sequence
        for index, step in enumerate(sequence):
            result = self.run_step(step)
            ordered.append(result)
            if result.status != "failed":
                continue
            failed = True
            for handler_id in step.handlers:
                ordered.append(self.run_step(self.pb.step(handler_id)))
            if step.on_failure == "continue" and self.apply:
                continue
            if self.apply:
                for rest in sequence[index + 1 :]:
                    ordered.append(StepResult(rest.id, rest.action, "not-run", f"not run: {step.id} failed"))
                break
        status = "failed" if failed else "ok"
        if self.journal is not None:
            self.journal.finish("failed" if failed else "done")
        return RunReport(
            playbook=str(self.pb.path), name=self.pb.name, mode="apply" if self.apply else "plan",
            run_id=self.ctx.run_id, status=status, steps=tuple(ordered),
            journal=str(self.journal.path) if self.journal else None,
        )  # fmt: skip


def junit(report: RunReport) -> str:
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name=f"clusterops run {report.name} ({report.mode})")
    failures = skipped = 0
    for s in report.steps:
        case = ET.SubElement(suite, "testcase", classname=f"playbook.{report.name}", name=f"{s.id} ({s.action})")
        case.set("time", f"{s.seconds:.3f}")
        if s.status == "failed":
            failures += 1
            ET.SubElement(case, "failure", message=s.summary[:500]).text = s.summary
        elif s.status in ("skipped", "not-run"):
            skipped += 1
            ET.SubElement(case, "skipped", message=s.summary[:500])
        findings = s.details.get("findings") if isinstance(s.details, dict) else None
        if findings:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{f['severity']} {f['rule']} {f['subject']}: {f['message']}" for f in findings
            )
    suite.set("tests", str(len(report.steps)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
