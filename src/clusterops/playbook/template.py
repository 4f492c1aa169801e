"""`{{ name }}` substitution and `when` conditions: deliberately small, no code execution.

A value is a string with `{{ var }}` placeholders (in an `exec` command each value is
shell-quoted); `steps.<id>.status` names an earlier step's
outcome (ok, failed, skipped). A `when` is true/false after substitution, or `A == B` / `A != B`,
optionally prefixed with `not`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from clusterops.errors import UsageError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


def lookup(name: str, variables: Mapping[str, Any]) -> Any:
    node: Any = variables
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise UsageError(f"undefined variable {{{{ {name} }}}}; define it under vars: or pass --var {name}=...")
        node = node[part]
    return node


def render(value: Any, variables: Mapping[str, Any], *, quote: Callable[[str], str] | None = None) -> Any:
    """Substitute placeholders in strings, recursively in lists and mappings. A string that is
    exactly one placeholder keeps the variable's type (so numbers stay numbers). With `quote`
    (e.g. `shlex.quote` for shell commands) every substituted value is quoted, always a string."""
    if isinstance(value, str):
        if quote is not None:
            return PLACEHOLDER.sub(lambda m: quote(str(lookup(m.group(1), variables))), value)
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return lookup(whole.group(1), variables)
        return PLACEHOLDER.sub(lambda m: str(lookup(m.group(1), variables)), value)
    if isinstance(value, list):
        return [render(v, variables, quote=quote) for v in value]
    if isinstance(value, dict):
        return {k: render(v, variables, quote=quote) for k, v in value.items()}
    return value


def shell_command(args: Any, variables: Mapping[str, Any]) -> Any:
    """An `exec` step's arguments: `command` and `plan_command` with every value shell-quoted (one
    word each, so a --var cannot inject a command), the rest rendered as usual."""
    if isinstance(args, str):
        return render(args, variables, quote=shlex.quote)
    if isinstance(args, dict):
        return {
            k: render(v, variables, quote=shlex.quote if k in ("command", "plan_command") else None)
            for k, v in args.items()
        }
    return render(args, variables)


def placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return {m.group(1) for m in PLACEHOLDER.finditer(value)}
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    return set()


def truthy(value: Any, what: str = "when") -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{what}: {value!r} is not true or false")


def evaluate(condition: Any, variables: Mapping[str, Any]) -> bool:
    if isinstance(condition, bool):
        return condition
    text = str(render(str(condition), variables)).strip()
    negate = False
    if text.lower().startswith("not "):
        negate, text = True, text[4:].strip()
    for op in ("==", "!="):
        if op in text:
            left, right = (p.strip().strip("'\"") for p in text.split(op, 1))
            result = (left == right) if op == "==" else (left != right)
            return result != negate
    return truthy(text, f"when: {condition!r}") != negate
