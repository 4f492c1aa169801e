"""The desired-state file of `kv plan` / `kv apply`.

    mount: secret                 # the KV v2 mount every path below lives in
    secrets:
      app/db:
        data:
          username: app                   # a literal (allowed, never required)
          password: {env: DB_PASSWORD}    # from an environment variable
          tls_key: {file: ./tls.key}      # from a file (relative to this YAML), trailing newline kept off
          api_token: {stdin: api_token}   # from a YAML/JSON object read once from stdin
          pin: 0123                       # the string "0123": see "Values are strings" below
        metadata:                         # optional; only the fields given are managed
          max_versions: 5
          cas_required: true
          delete_version_after: 0s
          custom_metadata: {owner: team-a}

Values never need to sit in the YAML in clear text. A missing variable or file is an error naming
the path, the key and the source, never the value.

Values are strings. YAML 1.1 would read `pin: 0123` as 83, `yes` as true, `1.10` as 1.1, `0x1F` as
31 and `2024-01-01` as a date; for a secret that is always wrong, so every plain scalar here is loaded
as the string written. A value that is another JSON type must be asked for with an explicit tag
(`port: !!int 5432`, `debug: !!bool true`). An empty value or `~`/`null` is refused with its line
(write '' for an empty string). Metadata fields keep their own types: `max_versions` a whole number,
`cas_required` true or false, `delete_version_after` a duration. Every error names the file and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusterops.durations import parse_duration
from clusterops.errors import ConfigError, UsageError
from clusterops.yamlsource import Locator, PathPart, load_yaml_text

METADATA_FIELDS = ("max_versions", "cas_required", "delete_version_after", "custom_metadata")


@dataclass(frozen=True)
class DesiredSecret:
    path: str
    data: Mapping[str, Any] = field(repr=False)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredState:
    mount: str
    secrets: tuple[DesiredSecret, ...]
    source: str = ""

    def paths(self) -> list[str]:
        return [s.path for s in self.secrets]


_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_KEEP_IMPLICIT = ("tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")


class StringLoader(_BASE_LOADER):  # type: ignore[valid-type,misc]
    """A safe loader whose plain scalars are strings: no implicit int, float, bool or timestamp.

    Null stays recognised only so that an empty value can be refused with its line; explicit tags
    (`!!int 5`) still build the type asked for."""


StringLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag in _KEEP_IMPLICIT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_WHOLE = re.compile(r"^[0-9]+$")


def _json_value(value: Any, keys: tuple[PathPart, ...], loc: Locator) -> Any:
    """A secret value as JSON will carry it; refuse what YAML alone can produce (null, dates, ...)."""
    if value is None:
        raise loc.error(keys, "has no value (write '' for an empty string)")
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_json_value(v, (*keys, i), loc) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _json_value(v, (*keys, k), loc) for k, v in value.items()}
    raise loc.error(keys, f"a {type(value).__name__} is not a JSON value; quote it to keep it a string")


def _metadata(meta: Any, keys: tuple[PathPart, ...], loc: Locator) -> dict[str, Any]:
    if not isinstance(meta, dict) or set(meta) - set(METADATA_FIELDS):
        raise loc.error(keys, f"metadata takes only {', '.join(METADATA_FIELDS)}")
    out: dict[str, Any] = {}
    for name, value in meta.items():
        at = (*keys, name)
        if value is None:
            raise loc.error(at, "has no value")
        if name == "max_versions":
            if isinstance(value, bool) or not (isinstance(value, int) or _WHOLE.match(str(value))):
                raise loc.error(at, f"{value!r} is not a whole number")
            out[name] = int(value)
        elif name == "cas_required":
            text = str(value).lower()
            if text not in ("true", "false"):
                raise loc.error(at, f"{value!r} is not true or false")
            out[name] = text == "true"
        elif name == "delete_version_after":
            try:
                parse_duration(str(value), name=name)
            except UsageError as err:
                raise loc.error(at, err.message) from None
            out[name] = str(value)
        else:  # custom_metadata
            if not isinstance(value, dict):
                raise loc.error(at, "must map names to strings")
            for k, v in value.items():
                if v is None or isinstance(v, dict | list):
                    raise loc.error((*at, k), "must be a string")
            out[name] = {str(k): str(v) for k, v in value.items()}
    return out


def load_desired(
    path: Path,
    *,
    env: Mapping[str, str],
    read_stdin: Callable[[], str],
    mount_override: str | None = None,
) -> DesiredState:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=where) from err
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=where) from None
    raw, loc = load_yaml_text(text, where, loader=StringLoader)
    if loc.lines.get(()) is None:
        loc.lines[()] = 1  # an empty document: a whole-file error points at its start
    if not isinstance(raw, dict):
        raise loc.error((), "must be a mapping with `mount` and `secrets`")
    unknown = set(raw) - {"mount", "secrets"}
    if unknown:
        raise loc.error(
            (str(sorted(unknown, key=str)[0]),), f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}"
        )
    mount = str(mount_override or raw.get("mount") or "").strip("/")
    if not mount:
        raise ConfigError("names no `mount` (or pass --mount)", path=where, line=loc.line(("mount",)))
    secrets_raw = raw.get("secrets") or {}
    if not isinstance(secrets_raw, dict):
        raise loc.error(("secrets",), "`secrets` must map paths to {data, metadata}")
    stdin_cache: list[dict[str, Any]] = []

    def from_stdin(name: str, label: str, keys: tuple[PathPart, ...]) -> Any:
        if not stdin_cache:
            text = read_stdin()
            try:
                value = json.loads(text)  # JSON keeps its own types
            except ValueError:
                try:
                    value = yaml.load(text, Loader=StringLoader)  # a SafeLoader subclass
                except yaml.YAMLError:
                    raise ConfigError(
                        "stdin is neither a JSON nor a YAML object", path=where, line=loc.line(keys)
                    ) from None
            if not isinstance(value, dict):
                raise ConfigError(
                    "stdin must hold a JSON or YAML object of name: value", path=where, line=loc.line(keys)
                )
            stdin_cache.append(value)
        if name not in stdin_cache[0]:
            raise ConfigError(f"{label}: stdin has no entry {name!r}", path=where, line=loc.line(keys))
        got = stdin_cache[0][name]
        if got is None:
            raise ConfigError(f"{label}: stdin entry {name!r} has no value", path=where, line=loc.line(keys))
        return got

    def resolve(value: Any, label: str, keys: tuple[PathPart, ...]) -> Any:
        if not isinstance(value, dict):
            return _json_value(value, keys, loc)
        if set(value) == {"env"}:
            name = str(value["env"])
            if name not in env:
                raise loc.error(keys, f"{label}: the environment variable {name} is not set")
            return env[name]
        if set(value) == {"file"}:
            target = (path.parent / str(value["file"])).expanduser()
            try:
                return target.read_text(encoding="utf-8").rstrip("\n")
            except OSError as err:
                raise loc.error(keys, f"{label}: cannot read {target}: {err.strerror}") from None
            except UnicodeDecodeError:
                raise loc.error(keys, f"{label}: {target} is not UTF-8 text") from None
        if set(value) == {"stdin"}:
            return from_stdin(str(value["stdin"]), label, keys)
        if set(value) == {"value"}:
            return _json_value(value["value"], (*keys, "value"), loc)
        raise loc.error(keys, f"{label}: a value is a literal or one of {{env: NAME}}, {{file: PATH}}, {{stdin: NAME}}")

    seen: dict[str, str] = {}  # one secret, one entry: `app` and `/app/` would plan two rows and write one
    for rel in secrets_raw:
        name = str(rel).strip("/")
        if name in seen:
            first = seen[name]
            raise loc.error(
                ("secrets", rel),
                f"names the same secret as {first!r} (line {loc.line(('secrets', first))}); keep one entry",
            )
        seen[name] = rel
    secrets: list[DesiredSecret] = []
    for rel, spec in sorted(secrets_raw.items(), key=lambda kv: str(kv[0])):
        at: tuple[PathPart, ...] = ("secrets", rel)
        name = str(rel).strip("/")
        if not name or any(seg in ("", ".", "..") for seg in name.split("/")):
            raise loc.error(at, f"{name!r} is not a secret path (no empty, '.' or '..' segments)")
        if not isinstance(spec, dict) or not isinstance(spec.get("data", {}), dict):
            raise loc.error(at, "expected {data: {...}, metadata: {...}}")
        extra = set(spec) - {"data", "metadata"}
        if extra:
            raise loc.error(at, f"unknown key(s) {', '.join(sorted(map(str, extra)))}")
        data = {str(k): resolve(v, f"{name}:{k}", (*at, "data", k)) for k, v in (spec.get("data") or {}).items()}
        meta = _metadata(spec.get("metadata") or {}, (*at, "metadata"), loc)
        secrets.append(DesiredSecret(name, data, meta))
    return DesiredState(mount, tuple(secrets), where)
