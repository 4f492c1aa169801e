"""A crash-safe journal of a long operation's steps (rolling upgrades, playbook runs).

Every change is written atomically and privately (`clusterops.atomicfile.write_private`).
`--resume` reads it back: a step marked done is never redone, a step that was in progress is
finished or checked by its owner, never forgotten.

Layout of one journal (JSON):
    {"run_id", "kind", "key", "status": running|done|failed|aborted, "created", "updated",
     "params": {...}, "steps": [{"id", "status", "started", "finished", "data": {...}}], "events": [...]}
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterops.atomicfile import write_private
from clusterops.errors import UsageError

FINAL = ("done", "failed", "aborted")


def default_state_dir() -> Path:
    env = os.environ.get("CLUSTEROPS_STATE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "clusterops"


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
            "events": [],
        }
        journal = cls(directory / kind / f"{run_id}.json", doc)
        journal.save()
        return journal

    @classmethod
    def load(cls, path: Path) -> Journal:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"no journal at {path}") from None
        except ValueError as err:
            raise UsageError(
                f"the journal {path} is not valid JSON ({err}); it was not written by clusterops"
            ) from None
        return cls(path, doc)

    @classmethod
    def latest_unfinished(cls, directory: Path, *, kind: str, key: str) -> Journal | None:
        folder = directory / kind
        if not folder.is_dir():
            return None
        for path in sorted(folder.glob("*.json"), reverse=True):
            try:
                journal = cls.load(path)
            except UsageError:
                continue
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
                if step["started"] is None and status != "pending":
                    step["started"] = now
                if status in FINAL or status == "skipped":
                    step["finished"] = now
                step["status"] = status
                step["data"].update(data)
                break
        else:
            raise KeyError(step_id)
        self.save()

    def set(self, **values: Any) -> None:
        self.doc.update(values)
        self.save()

    def event(self, kind: str, **data: Any) -> None:
        self.doc["events"].append({"t": time.time(), "event": kind, **data})
        self.save()

    def finish(self, status: str, **values: Any) -> None:
        self.doc["status"] = status
        self.doc.update(values)
        self.save()
