"""Loading a playbook: YAML -> JSON Schema validation (line and schema path per error) ->
semantic checks -> a typed `Playbook`. Nothing runs until all of this passed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from clusterops.durations import parse_duration
from clusterops.errors import ConfigError, UsageError
from clusterops.playbook.template import PLACEHOLDER, lookup, placeholders
from clusterops.yamlsource import Locator, dotted, load_yaml

ACTIONS = (
    "consul.check", "consul.gate", "consul.snapshot", "consul.upgrade", "vault.upgrade", "validate.consul",
    "validate.vault",
    "kv.plan", "kv.apply", "kv.diff", "kv.copy", "exec", "pause", "confirm",
)  # fmt: skip
BUILTINS = ("run_id", "playbook_dir", "state_dir", "steps")


class PlaybookInvalid(ConfigError):
    """One or more schema or semantic errors; the message lists each with its line."""


@dataclass(frozen=True)
class StepSpec:
    id: str
    action: str
    args: Any
    name: str = ""
    when: str | bool | None = None
    timeout: str | float | None = None
    handler: bool = False
    on_failure: str = "abort"
    handlers: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class Playbook:
    path: Path
    name: str
    description: str
    inventory: str | None
    vars: dict[str, Any]
    consul: dict[str, Any]
    vault: dict[str, Any]
    steps: tuple[StepSpec, ...]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.path.parent

    def step(self, step_id: str) -> StepSpec:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def sequence(self) -> list[StepSpec]:
        return [s for s in self.steps if not s.handler]


@cache
def schema() -> dict[str, Any]:
    text = resources.files("clusterops.playbook").joinpath("schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def load_playbook(path: str | Path, extra_vars: dict[str, str] | None = None) -> Playbook:
    import jsonschema

    path = Path(path)
    data, loc = load_yaml(path)
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (loc.line(list(e.absolute_path)) or 0, e.message))
    problems = []
    for err in errors:
        where = list(err.absolute_path)
        schema_path = "/".join(str(p) for p in err.absolute_schema_path)
        line = loc.line(where)
        problems.append(f"{at(path, line)}: {dotted(where) or '(top)'}: {_short(err)} [schema: {schema_path}]")
    if problems:
        raise PlaybookInvalid(
            f"{len(problems)} error(s); nothing was run:\n  " + "\n  ".join(problems), path=None, line=None
        )
    assert isinstance(data, dict)
    steps: list[StepSpec] = []
    for i, raw in enumerate(data["steps"]):
        present = [a for a in ACTIONS if a in raw]
        line = loc.line(["steps", i])
        if len(present) != 1:
            found = ", ".join(present) or "none"
            problems.append(f"{at(path, line)}: steps[{i}] ({raw['id']}): needs exactly one action, found {found}")
            continue
        on_failure = raw.get("on_failure", "abort")
        handlers: tuple[str, ...] = ()
        if isinstance(on_failure, dict):
            handlers = tuple(on_failure["run"])
            on_failure = on_failure.get("then", "abort")
        steps.append(
            StepSpec(
                id=raw["id"], action=present[0], args=raw[present[0]], name=raw.get("name", ""), when=raw.get("when"),
                timeout=raw.get("timeout"), handler=bool(raw.get("handler", False)), on_failure=on_failure,
                handlers=handlers, line=line,
            )
        )  # fmt: skip
    ids = [s.id for s in steps]
    for s in steps:
        if ids.count(s.id) > 1:
            problems.append(f"{at(path, s.line)}: step id {s.id!r} is used more than once")
        for h in s.handlers:
            if h not in ids:
                problems.append(f"{at(path, s.line)}: {s.id}: on_failure runs unknown step {h!r}")
            elif not next(x for x in steps if x.id == h).handler:
                problems.append(f"{at(path, s.line)}: {s.id}: on_failure step {h!r} must be marked `handler: true`")
    variables = {**(data.get("vars") or {}), **(extra_vars or {})}
    for i, raw in enumerate(data["steps"]):
        for name in sorted(placeholders(raw)):
            root = name.split(".", 1)[0]
            if root not in variables and root not in BUILTINS:
                problems.append(f"{at(path, loc.line(['steps', i]))}: {raw['id']}: undefined variable {{{{ {name} }}}}")
    if data.get("inventory"):
        for name in placeholders(data["inventory"]):
            if name not in variables:
                problems.append(f"{at(path, loc.line(['inventory']))}: inventory: undefined variable {{{{ {name} }}}}")
    if not problems:
        problems += _check_substituted(data, variables, validator, path, loc)
    if problems:
        raise PlaybookInvalid(f"{len(problems)} error(s); nothing was run:\n  " + "\n  ".join(problems))
    return Playbook(
        path=path.resolve(),
        name=data["name"],
        description=data.get("description", ""),
        inventory=data.get("inventory"),
        vars=variables,
        consul=dict(data.get("consul") or {}),
        vault=dict(data.get("vault") or {}),
        steps=tuple(steps),
        raw=data,
    )


DURATIONS = {
    "consul.gate": ("stable_window", "stable_for", "timeout", "interval"),
    "consul.upgrade": ("gate_timeout", "stable_window"),
    "vault.upgrade": ("gate_timeout", "stable_window"),
}


def _check_substituted(
    data: dict[str, Any], variables: dict[str, Any], validator: Any, path: Path, loc: Locator
) -> list[str]:
    """Validate the steps again with the user's variables (vars: and --var) substituted, and parse
    their durations, so a bad value fails here with its line instead of halfway through a run.
    Built-in variables (run_id, steps.X.status, ...) are known only while running: left as they are."""
    problems: list[str] = []
    rendered = [partial_render(raw, variables) for raw in data["steps"]]
    for err in validator.iter_errors({**data, "steps": rendered}):
        where = list(err.absolute_path)
        if where[:1] != ["steps"]:
            continue
        problems.append(f"{at(path, loc.line(where))}: {dotted(where)}: {_short(err)} (after substituting variables)")
    if problems:
        return problems
    for i, raw in enumerate(rendered):
        action = next(a for a in ACTIONS if a in raw)
        fields: list[tuple[list[str | int], Any]] = [(["steps", i, "timeout"], raw.get("timeout"))]
        if isinstance(raw[action], dict):
            fields += [(["steps", i, action, k], raw[action].get(k)) for k in DURATIONS.get(action, ())]
        for where, value in fields:
            if value is None or placeholders(value):
                continue
            try:
                seconds = parse_duration(str(value), name=dotted(where))
            except UsageError as err:
                problems.append(f"{at(path, loc.line(where))}: {err.message}")
                continue
            if not 0 <= seconds < 10 * 365 * 86400:
                problems.append(f"{at(path, loc.line(where))}: {dotted(where)}: {value!r} is not a usable duration")
    return problems


def partial_render(value: Any, variables: dict[str, Any]) -> Any:
    """`render` for the placeholders whose root is a user variable; the others stay as written."""
    if isinstance(value, str):
        known = [n for n in placeholders(value) if n.split(".", 1)[0] in variables]
        if not known:
            return value
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole and whole.group(1) in known:
            return lookup(whole.group(1), variables)
        return PLACEHOLDER.sub(
            lambda m: str(lookup(m.group(1), variables)) if m.group(1) in known else m.group(0), value
        )
    if isinstance(value, list):
        return [partial_render(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: partial_render(v, variables) for k, v in value.items()}
    return value


def at(path: Path, line: int | None) -> str:
    """`file:line`, or just `file` when the line is unknown (an empty document)."""
    return f"{path}:{line}" if line else str(path)


def _short(err: Any) -> str:
    message = str(err.message)
    described = err.schema.get("description") if isinstance(err.schema, dict) else None
    if err.validator in ("anyOf", "oneOf") and described:
        message = f"{err.instance!r} is not valid: expected {described[0].lower()}{described[1:].rstrip('.')}"
    return message if len(message) < 200 else message[:197] + "..."
