"""A crash-safe journal of a long operation's steps (rolling upgrades, playbook runs).

Every change is written atomically and privately (`clusterops.atomicfile.write_private`).
`--resume` reads it back: a step marked done is never redone, a step that was in progress is
finished or checked by its owner, never forgotten.

Layout of one journal (JSON):
    {"run_id", "kind", "key", "status": running|done|failed|aborted, "created", "updated",
     "params": {...}, "steps": [{"id", "status", "started", "finished", "data": {...}}]}
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterops.atomicfile import write_private
from clusterops.errors import ConfigError, UsageError
from clusterops.settings import state_dir
from clusterops.yamlsource import PathPart, dotted

FINAL = ("done", "failed", "aborted")


def default_state_dir() -> Path:
    """The one state directory (`clusterops.settings.state_dir`); journals go under it by kind."""
    return state_dir()


@dataclass
class Journal:
    path: Path
    doc: dict[str, Any] = field(default_factory=dict)

    # -- creation and lookup ------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, *, kind: str, key: str, params: dict[str, Any], steps: list[str]) -> Journal:
        run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
        now = time.time()
        doc = {
            "run_id": run_id,
            "kind": kind,
            "key": key,
            "status": "running",
            "created": now,
            "updated": now,
            "params": params,
            "steps": [{"id": s, "status": "pending", "started": None, "finished": None, "data": {}} for s in steps],
        }
        journal = cls(directory / kind / f"{run_id}.json", doc)
        journal.save()
        return journal

    @classmethod
    def load(cls, path: Path) -> Journal:
        """Read and check a journal; a malformed one raises ConfigError naming the file and line."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"no journal at {path}") from None
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read this journal: {reason}", path=str(path)) from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"not valid JSON ({err.msg}); it was not written by clusterops, or was damaged",
                path=str(path),
                line=err.lineno,
            ) from None
        except ValueError as err:  # e.g. a number too long to convert
            raise ConfigError(f"not valid JSON ({err})", path=str(path)) from None
        except RecursionError:
            raise ConfigError("nested too deeply to be a journal", path=str(path)) from None
        problem = journal_problem(doc)
        if problem is not None:
            keys, message = problem
            raise ConfigError(
                f"{dotted(keys) or '(top)'}: {message}; this is not a clusterops journal, or it was damaged "
                "(move it out of the way to start afresh)",
                path=str(path),
                line=_json_line(text, keys),
            )
        return cls(path, doc)

    @classmethod
    def latest_unfinished(cls, directory: Path, *, kind: str, key: str) -> Journal | None:
        folder = directory / kind
        if not folder.is_dir():
            return None
        for path in sorted(folder.glob("*.json"), reverse=True):
            journal = cls.load(path)  # a damaged journal is an error, never silently skipped
            if journal.doc.get("key") == key and journal.status not in ("done",):
                return journal
        return None

    @classmethod
    def find(cls, directory: Path, *, kind: str, run_id: str) -> Journal:
        path = directory / kind / f"{run_id}.json"
        if not path.exists():
            raise UsageError(f"no {kind} run {run_id!r} in {directory / kind}")
        return cls.load(path)

    # -- state --------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return str(self.doc["run_id"])

    @property
    def status(self) -> str:
        return str(self.doc["status"])

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.doc.get("params") or {})

    def step(self, step_id: str) -> dict[str, Any]:
        for step in self.doc["steps"]:
            if step["id"] == step_id:
                return dict(step)
        raise KeyError(step_id)

    def steps(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self.doc["steps"]]

    def save(self) -> None:
        self.doc["updated"] = time.time()
        write_private(self.path, json.dumps(self.doc, indent=2, sort_keys=False))

    def mark(self, step_id: str, status: str, **data: Any) -> None:
        """Record a step's new status (and data) durably before anything else happens."""
        now = time.time()
        for step in self.doc["steps"]:
            if step["id"] == step_id:
                if step.get("started") is None and status != "pending":
                    step["started"] = now
                if status in FINAL or status == "skipped":
                    step["finished"] = now
                step["status"] = status
                step.setdefault("data", {}).update(data)
                break
        else:
            raise KeyError(step_id)
        self.save()

    def set(self, **values: Any) -> None:
        self.doc.update(values)
        self.save()

    def finish(self, status: str, **values: Any) -> None:
        self.doc["status"] = status
        self.doc.update(values)
        self.save()


_STATUSES = ("running", "done", "failed", "aborted")


def journal_problem(doc: Any) -> tuple[list[PathPart], str] | None:
    """The first thing wrong with a journal document (where, what), or None: the fields every reader
    relies on. Owners may add their own fields; those are not checked here."""
    if not isinstance(doc, dict):
        return [], f"a journal is a JSON object, not {type(doc).__name__}"
    for key in ("run_id", "kind", "key", "status"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            return [key], "missing or not a non-empty string"
    if doc["status"] not in _STATUSES:
        return ["status"], f"{doc['status']!r} is not one of {', '.join(_STATUSES)}"
    if "params" in doc and not isinstance(doc["params"], dict):
        return ["params"], "must be a JSON object"
    steps = doc.get("steps")
    if not isinstance(steps, list):
        return ["steps"], "missing or not a list of steps"
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            return ["steps", i], "each step is a JSON object with id, status and data"
        for key in ("id", "status"):
            if not isinstance(step.get(key), str) or not step[key]:
                return ["steps", i, key], "missing or not a non-empty string"
        if step["id"] in seen:
            return ["steps", i, "id"], f"step {step['id']!r} appears twice"
        seen.add(step["id"])
        if not isinstance(step.get("data", {}), dict):
            return ["steps", i, "data"], "must be a JSON object"
        for key in ("started", "finished"):
            value = step.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                return ["steps", i, key], "must be a time in seconds or null"
    return None


def _json_line(text: str, keys: list[PathPart]) -> int:
    """The line of `keys` in a JSON text (JSON is YAML, so the YAML locator finds it), or None."""
    from clusterops.yamlsource import load_yaml_text

    try:
        _, locator = load_yaml_text(text, "<journal>")
        line = locator.line(keys)
    except ConfigError:  # valid JSON that YAML refuses (a character YAML does not allow in a string)
        line = None
    if line is not None:
        return line
    if keys and isinstance(keys[0], str):  # the top-level key's own line, else the document's start
        at = text.find(f'"{keys[0]}"')
        if at >= 0:
            return text.count("\n", 0, at) + 1
    return 1
