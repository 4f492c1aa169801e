"""Go-style durations ("250ms", "1m30s", "10s") as Consul's API and our CLI options use them."""

from __future__ import annotations

import re

from clusterops.errors import UsageError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str, *, name: str = "duration") -> float:
    """Seconds in a Go duration; a bare number means seconds. Raises UsageError when malformed."""
    value = text.strip()
    if not value:
        raise UsageError(f"{name}: empty duration")
    try:
        return float(value)
    except ValueError:
        pass
    sign = -1.0 if value.startswith("-") else 1.0
    body = value.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(body):
        m = _PART.match(body, pos)
        if not m:
            raise UsageError(f"{name}: {text!r} is not a duration (use e.g. 500ms, 10s, 5m, 1h30m)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s".replace(".0s", "s")
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"
