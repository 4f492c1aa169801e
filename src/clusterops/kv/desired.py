"""The desired-state file of `kv plan` / `kv apply`.

    mount: secret                 # the KV v2 mount every path below lives in
    secrets:
      app/db:
        data:
          username: app                   # a literal (allowed, never required)
          password: {env: DB_PASSWORD}    # from an environment variable
          tls_key: {file: ./tls.key}      # from a file (relative to this YAML), trailing newline kept off
          api_token: {stdin: api_token}   # from a YAML/JSON object read once from stdin
        metadata:                         # optional; only the fields given are managed
          max_versions: 5
          cas_required: true
          delete_version_after: 0s
          custom_metadata: {owner: team-a}

Values never need to sit in the YAML in clear text. A missing variable or file is an error naming
the path, the key and the source, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusterops.errors import ConfigError

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


def load_desired(
    path: Path,
    *,
    env: Mapping[str, str],
    read_stdin: Callable[[], str],
    mount_override: str | None = None,
) -> DesiredState:
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=where) from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError("is not valid YAML", path=where, line=(mark.line + 1) if mark else None) from None
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping with `mount` and `secrets`", path=where)
    unknown = set(raw) - {"mount", "secrets"}
    if unknown:
        raise ConfigError(f"unknown top-level key(s): {', '.join(sorted(unknown))}", path=where)
    mount = str(mount_override or raw.get("mount") or "").strip("/")
    if not mount:
        raise ConfigError("names no `mount` (or pass --mount)", path=where)
    secrets_raw = raw.get("secrets") or {}
    if not isinstance(secrets_raw, dict):
        raise ConfigError("`secrets` must map paths to {data, metadata}", path=where)
    stdin_cache: list[dict[str, Any]] = []

    def from_stdin(name: str, label: str) -> Any:
        if not stdin_cache:
            text = read_stdin()
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = yaml.safe_load(text)
                except yaml.YAMLError:
                    raise ConfigError("stdin is neither a JSON nor a YAML object", path=where) from None
            if not isinstance(value, dict):
                raise ConfigError("stdin must hold a JSON or YAML object of name: value", path=where)
            stdin_cache.append(value)
        if name not in stdin_cache[0]:
            raise ConfigError(f"{label}: stdin has no entry {name!r}", path=where)
        return stdin_cache[0][name]

    def resolve(value: Any, label: str) -> Any:
        if not isinstance(value, dict):
            return value
        if set(value) == {"env"}:
            name = str(value["env"])
            if name not in env:
                raise ConfigError(f"{label}: the environment variable {name} is not set", path=where)
            return env[name]
        if set(value) == {"file"}:
            target = (path.parent / str(value["file"])).expanduser()
            try:
                return target.read_text(encoding="utf-8").rstrip("\n")
            except OSError as err:
                raise ConfigError(f"{label}: cannot read {target}: {err.strerror}", path=where) from None
        if set(value) == {"stdin"}:
            return from_stdin(str(value["stdin"]), label)
        if set(value) == {"value"}:
            return value["value"]
        raise ConfigError(
            f"{label}: a value is a literal or one of {{env: NAME}}, {{file: PATH}}, {{stdin: NAME}}", path=where
        )

    secrets: list[DesiredSecret] = []
    for rel, spec in sorted(secrets_raw.items()):
        rel = str(rel).strip("/")
        if not isinstance(spec, dict) or not isinstance(spec.get("data", {}), dict):
            raise ConfigError(f"secret {rel}: expected {{data: {{...}}, metadata: {{...}}}}", path=where)
        extra = set(spec) - {"data", "metadata"}
        if extra:
            raise ConfigError(f"secret {rel}: unknown key(s) {', '.join(sorted(extra))}", path=where)
        data = {str(k): resolve(v, f"{rel}:{k}") for k, v in (spec.get("data") or {}).items()}
        meta = spec.get("metadata") or {}
        if not isinstance(meta, dict) or set(meta) - set(METADATA_FIELDS):
            raise ConfigError(f"secret {rel}: metadata takes only {', '.join(METADATA_FIELDS)}", path=where)
        if "custom_metadata" in meta:
            meta = {**meta, "custom_metadata": {str(k): str(v) for k, v in (meta["custom_metadata"] or {}).items()}}
        if "delete_version_after" in meta:
            meta = {**meta, "delete_version_after": str(meta["delete_version_after"])}
        secrets.append(DesiredSecret(rel, data, dict(meta)))
    return DesiredState(mount, tuple(secrets), where)
