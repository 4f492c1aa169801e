"""The `vault kv` parity operations, over the adapter, for KV v2 (and the few that make sense on v1).

Each returns a typed result; none prints. Input parsing for data arguments (`k=v`, `k=@file`,
`k=-`, `@file.json`, `-`) lives here too, so the CLI only parses argv.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from clusterops.errors import AuthError, CasConflict, ConfigError, NotFound, UsageError
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretMetadata, SecretRef, SecretVersion, VersionInfo, WriteResult
from clusterops.yamlsource import load_yaml_text


def _load_mapping(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value, _ = load_yaml_text(text, where)
        except ConfigError as err:  # names the line YAML stopped at
            raise ConfigError("is neither JSON nor YAML", path=where, line=err.line) from None
    if not isinstance(value, dict):
        raise ConfigError("must hold a JSON or YAML object of key: value", path=where)
    return {str(k): v for k, v in value.items()}


def _text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"is not UTF-8 text (byte {err.start + 1} of {len(raw)}): a KV value is a string; "
            "store binary data base64-encoded",
            path=where,
        ) from None


def _read_file(path: str) -> str:
    """The file's bytes as text, exactly: no newline stripped or translated (PEM and OpenSSH keys keep theirs)."""
    try:
        raw = Path(path).expanduser().read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=path) from err
    return _text(raw, path)


def _read_stdin(stdin: TextIO) -> str:
    """All of stdin, exactly: read as bytes where possible (text mode would translate CRLF)."""
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        return _text(buffer.read(), "<stdin>")
    try:
        return stdin.read()
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text: a KV value is a string", path="<stdin>") from None


def parse_data_args(args: Sequence[str], stdin: TextIO) -> dict[str, Any]:
    """Data as `vault kv put` takes it: `k=v`, `k=@file` (file content), `k=-` (stdin), `@file` or `-` (a JSON object).

    `k=@file` and `k=-` keep the bytes exactly, trailing newlines included, as `vault kv put` does.

    Values given as `k=v` sit in argv, which other users of the machine can read: prefer `k=@file` or `k=-`.
    """
    out: dict[str, Any] = {}
    stdin_used = False
    for position, arg in enumerate(args, start=1):
        if arg == "-" or (arg.startswith("@") and "=" not in arg):
            if arg == "-":
                if stdin_used:
                    raise UsageError("stdin can be read only once")
                stdin_used = True
                out.update(_load_mapping(_read_stdin(stdin), "<stdin>"))
            else:
                out.update(_load_mapping(_read_file(arg[1:]), arg[1:]))
            continue
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise UsageError(
                f"data argument {position} has no '=' (not shown: it may be a value); "
                "use KEY=VALUE, KEY=@FILE, KEY=-, @FILE or -"
            )
        if value == "-":
            if stdin_used:
                raise UsageError("stdin can be read only once")
            stdin_used = True
            out[key] = _read_stdin(stdin)
        elif value.startswith("@"):
            out[key] = _read_file(value[1:])
        else:
            out[key] = value
    return out


def parse_versions(raw: str | None) -> list[int]:
    if not raw:
        return []
    try:
        versions = [int(v) for v in raw.replace(" ", "").split(",") if v]
    except ValueError:
        raise UsageError(f"--versions takes numbers separated by commas, not {raw!r}") from None
    if any(v <= 0 for v in versions):
        raise UsageError("versions start at 1")
    return versions


def require_v2(ref: SecretRef, what: str) -> None:
    if ref.kv_version != 2:
        raise UsageError(f"{what} needs a KV v2 mount; {ref.mount}/ is KV v{ref.kv_version}")


# -- reads -------------------------------------------------------------------------------------


def get(client: VaultClient, ref: SecretRef, *, version: int | None = None) -> SecretVersion:
    if ref.kv_version == 1:
        if version:
            raise UsageError(f"{ref.mount}/ is KV v1: it keeps no versions")
        return SecretVersion(ref, VersionInfo(0), client.v1_read(ref))
    return client.read_version(ref, version)


def list_keys(client: VaultClient, ref: SecretRef) -> list[str]:
    keys = client.list_folder(ref)
    if not keys:
        raise NotFound(f"nothing to list at {ref}")
    return keys


# -- writes ------------------------------------------------------------------------------------


def put(client: VaultClient, ref: SecretRef, data: Mapping[str, Any], *, cas: int | None = None) -> WriteResult:
    if ref.kv_version == 1:
        if cas is not None:
            raise UsageError(f"{ref.mount}/ is KV v1: it has no check-and-set")
        client.v1_write(ref, data)
        return WriteResult(ref, 0)
    return client.write(ref, data, cas=cas)


@dataclass(frozen=True)
class PatchResult:
    write: WriteResult
    method: str  # "patch" (HTTP PATCH) or "rw" (read, merge, write with cas)


def patch(
    client: VaultClient,
    ref: SecretRef,
    changes: Mapping[str, Any],
    *,
    remove: Sequence[str] = (),
    cas: int | None = None,
    method: str = "auto",
) -> PatchResult:
    """Merge `changes` into the latest version; `remove` drops keys.

    `auto` sends an HTTP PATCH (needs only the `patch` capability) and falls back to read-modify-write
    when the token may not patch; the write then carries cas = the version just read (or the caller's
    cas, which must match it), so a concurrent writer is never overwritten.
    """
    require_v2(ref, "patch")
    if method not in ("auto", "patch", "rw"):
        raise UsageError("--method is auto, patch or rw")
    merge: dict[str, Any] = dict(changes)
    for key in remove:
        merge[key] = None
    if not merge:
        raise UsageError("nothing to patch: give KEY=VALUE data or --remove KEY")
    if method in ("auto", "patch"):
        try:
            return PatchResult(client.patch(ref, merge, cas=cas), "patch")
        except AuthError:
            if method == "patch":
                raise
    current = client.read_version(ref)
    if current.data is None:
        raise NotFound(f"{ref}: the latest version (v{current.version}) is {current.info.state}; nothing to patch")
    if cas is not None and cas != current.version:
        raise CasConflict(f"{ref}: --cas {cas} but the current version is {current.version}; nothing was written")
    merged = merge_patch(current.data, merge)
    return PatchResult(client.write(ref, merged, cas=current.version), "rw")


def merge_patch(target: Mapping[str, Any], patch_: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch, as the server's PATCH applies it: objects merge recursively, null removes.

    The read-modify-write fallback uses it, so `patch` means the same with or without the patch capability.
    """
    out = dict(target)
    for key, value in patch_.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping):
            base = out.get(key)
            out[key] = merge_patch(base if isinstance(base, Mapping) else {}, value)
        else:
            out[key] = value
    return out


def rollback(client: VaultClient, ref: SecretRef, version: int) -> WriteResult:
    """Write version N's data as a new version, with cas = the current version (like `vault kv rollback`)."""
    require_v2(ref, "rollback")
    if version < 1:
        raise UsageError(f"--version {version}: versions start at 1")
    meta = client.read_metadata(ref)
    if version == meta.current_version:
        raise UsageError(f"{ref}: version {version} is already the current version")
    old = client.read_version(ref, version)
    if old.data is None:
        raise UsageError(f"{ref}: version {version} is {old.info.state}; it cannot be rolled back to")
    return client.write(ref, old.data, cas=meta.current_version)


def delete(client: VaultClient, ref: SecretRef, versions: Sequence[int] = ()) -> None:
    if ref.kv_version == 1:
        if versions:
            raise UsageError(f"{ref.mount}/ is KV v1: it keeps no versions")
        client.v1_delete(ref)
    elif versions:
        client.delete_versions(ref, list(versions))
    else:
        client.delete_latest(ref)


# -- metadata ----------------------------------------------------------------------------------


def metadata_fields(
    *,
    max_versions: int | None = None,
    cas_required: bool | None = None,
    delete_version_after: str | None = None,
    custom_metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Only the fields given: the server keeps the others (unlike hvac's update_metadata)."""
    fields: dict[str, Any] = {}
    if max_versions is not None:
        if max_versions < 0:
            raise UsageError("--max-versions must be 0 (the mount's default) or more")
        fields["max_versions"] = max_versions
    if cas_required is not None:
        fields["cas_required"] = cas_required
    if delete_version_after is not None:
        fields["delete_version_after"] = delete_version_after
    if custom_metadata is not None:
        fields["custom_metadata"] = dict(custom_metadata)
    return fields


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} takes KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def metadata_get(client: VaultClient, ref: SecretRef) -> SecretMetadata:
    require_v2(ref, "metadata")
    return client.read_metadata(ref)
