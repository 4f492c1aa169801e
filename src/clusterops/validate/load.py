"""Load server configs the way the servers load them, keeping the file and line of every value.

Consul (`agent/config`): a NODE argument is a file or a directory. A directory is read non-recursively in
byte order of the names; only `*.hcl` and `*.json` files are read (others are reported and skipped) and
empty files are skipped. Each file is decoded as Consul does (Go HCL1 into a map, then mapstructure with
the weak-slice hook; JSON with encoding/json):

- keys match case-insensitively, an exact match winning; unknown keys are reported with the closest key;
- in one HCL file a repeated scalar keeps the last value, repeated lists are concatenated, and a repeated
  block that is not a list of blocks fails ("'ports' expected a map, got 'slice'"); in JSON the last
  duplicate key wins;
- a one-element list is accepted for a scalar; a string is refused for a list; types are strict
  (mapstructure without weak typing: "expected type 'int', got unconvertible type 'string'").

Files are then merged in order: scalars from later files win, lists are appended, blocks merge key by key.
`start_join` entries are appended to `retry_join` as Consul does.

Vault / OpenBao (`command/server/config.go`): each CONFIG argument is a file or directory (`*.hcl`, `*.json`);
several files merge as `-config` does (listeners appended, a later storage replaces an earlier one, later
non-empty addresses win). Listeners are read from the AST, so two `listener "tcp"` blocks stay two.
Env vars of the server (from the facts, or this process with --live) override as the server does:
`BAO_*` then `VAULT_*` for API_ADDR (then REDIRECT_ADDR, ADVERTISE_ADDR), CLUSTER_ADDR, RAFT_NODE_ID, RAFT_PATH.

Syntax errors raise `ConfigError` with file and line; decoding problems become `Problem`s (findings).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterops.errors import ConfigError
from clusterops.validate.consul_keys import KeyTree
from clusterops.validate.consul_releases import (
    IGNORED_REMOVED,
    NEWEST,
    Deprecation,
    Version,
    deprecations_for,
    keys_for,
    patch_added,
    removed_later,
    why_unknown,
)
from clusterops.validate.hclparse import Item, Lit, Node, Obj, Seq, SyntaxProblem, parse, plain


@dataclass(frozen=True)
class Loc:
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""


@dataclass(frozen=True)
class Setting:
    value: Any
    loc: Loc


@dataclass(frozen=True)
class Problem:
    """Something found while loading that becomes a finding of rule `rule`."""

    rule: str
    message: str
    loc: Loc


@dataclass(frozen=True)
class ConsulNode:
    """One Consul agent's merged config: dotted lowercase keys -> Setting; list keys -> settings per item."""

    source: str
    files: tuple[str, ...]
    settings: Mapping[str, Setting]
    lists: Mapping[str, tuple[Setting, ...]]
    problems: tuple[Problem, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        s = self.settings.get(key)
        return default if s is None else s.value

    def has(self, key: str) -> bool:
        return key in self.settings

    def loc(self, key: str) -> Loc:
        s = self.settings.get(key)
        if s is not None:
            return s.loc
        items = self.lists.get(key)
        if items:
            return items[0].loc
        return Loc(self.files[-1] if self.files else self.source)

    def list(self, key: str) -> tuple[Setting, ...]:
        return self.lists.get(key, ())

    @property
    def name(self) -> str:
        """node_name, else the config file's stem or directory name."""
        node_name = self.get("node_name")
        if isinstance(node_name, str) and node_name.strip():
            return node_name.strip()
        return source_stem(self.source)


def source_stem(source: str) -> str:
    p = Path(source)
    if p.suffix in (".hcl", ".json"):
        stem = p.stem
        return p.parent.name if stem in ("config", "consul", "server", "vault", "bao") and p.parent.name else stem
    return p.name


# -- reading files -------------------------------------------------------------------------------


def config_files(path: str | Path) -> tuple[list[Path], list[Path]]:
    """The files a server reads for this argument, in order, and the ones it skips."""
    p = Path(path)
    if p.is_dir():
        try:
            entries = sorted(p.iterdir(), key=lambda e: e.name.encode())
        except OSError as err:
            raise ConfigError(f"cannot read directory: {err.strerror or err}", path=str(p)) from None
        read: list[Path] = []
        skipped: list[Path] = []
        subdirs: list[str] = []
        for e in entries:
            if e.is_dir():
                subdirs.append(e.name)
                continue
            (read if e.suffix in (".hcl", ".json") else skipped).append(e)
        if not read:
            why = f"0 of {len(skipped)} file(s) end in .hcl or .json"
            if subdirs:
                shown = ", ".join(subdirs[:5]) + (", ..." if len(subdirs) > 5 else "")
                why += (
                    f"; it holds {len(subdirs)} sub-directories ({shown}), which are not read: "
                    "pass each node's directory"
                )
            raise ConfigError(f"no config file read from this directory ({why})", path=str(p))
        return read, skipped
    if p.is_file():
        if p.suffix not in (".hcl", ".json"):
            raise ConfigError("file has unknown extension; it must be .hcl or .json", path=str(p))
        return [p], []
    raise ConfigError("no such file or directory", path=str(p))


def read_config(path: Path) -> Obj | None:
    """Parse one file; None for an empty file (servers skip those)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text ({err.reason})", path=str(path)) from None
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror or err}", path=str(path)) from None
    return parse_text(text, str(path), json_format=path.suffix == ".json")


def parse_text(text: str, name: str, *, json_format: bool) -> Obj | None:
    if not text.strip():
        return None
    try:
        return parse(text, json_format=json_format)
    except SyntaxProblem as err:
        raise ConfigError(err.message, path=name, line=err.line or None) from None
    except RecursionError:
        raise ConfigError("nested too deeply", path=name) from None


# -- Consul decoding -----------------------------------------------------------------------------

_GO_TYPE = {"str": "string", "int": "int", "bool": "bool", "float": "float64", "list": "[]string"}


def _go_type_of(node: Node, json_mode: bool) -> str:
    if isinstance(node, Seq):
        return "[]interface {}"
    if isinstance(node, Obj):
        return "map[string]interface {}" if json_mode else "[]map[string]interface {}"
    v = node.value
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "float64" if json_mode else "int"
    if isinstance(v, float):
        return "float64"
    if v is None:
        return "null"
    return "string"


def _go_value(node: Node) -> str:
    v = plain(node)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def _closest(key: str, candidates: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(key.lower(), list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


@dataclass
class _ConsulAcc:
    settings: dict[str, Setting] = field(default_factory=dict)
    lists: dict[str, list[Setting]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    release: str = NEWEST
    patch: int | None = None
    unknown_rule: str = "VC002"
    deprecated: dict[str, Deprecation] = field(default_factory=dict)


def _scalar_ok(kind: str, value: Any) -> Any:
    """The decoded value, or raise TypeError when mapstructure would refuse it."""
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError


def _resolve_key(item_key: str, siblings: set[str], schema: KeyTree) -> str | None:
    if item_key in schema:
        return item_key
    low = item_key.lower()
    if low in schema and low not in siblings:
        return low
    return None


def _decode_consul(obj: Obj, schema: KeyTree, prefix: str, file: str, acc: _ConsulAcc, *, json_mode: bool) -> None:
    items = list(obj.items)
    if json_mode:  # encoding/json into a map: the last duplicate key wins
        last: dict[str, Item] = {}
        for it in items:
            last[it.keys[0]] = it
        items = [it for it in items if last[it.keys[0]] is it]
    siblings = {it.keys[0] for it in items}
    blocks_seen: set[str] = set()
    for item in items:
        loc = Loc(file, item.line)
        key = _resolve_key(item.keys[0], siblings, schema)
        shown = prefix + item.keys[0]
        if key is None and not prefix and item.keys[0] in IGNORED_REMOVED:
            # builder.go: md.Unused "acl_enforce_version_8" only warns (removed in 1.8, still tolerated)
            acc.problems.append(
                Problem("VC026", f"config key {json.dumps(item.keys[0])} is deprecated and should be removed", loc)
            )
            continue
        if key is None:
            why = why_unknown((prefix + item.keys[0]).lower(), acc.release)
            hint = None if why else _closest(item.keys[0], [k for k in schema if k != "*"])
            near = f" ({why})" if why else f" (did you mean {prefix}{hint}?)" if hint else ""
            acc.problems.append(Problem(acc.unknown_rule, f"invalid config key {shown}{near}", loc))
            continue
        full = prefix + key
        late = patch_added(full, Version(acc.release, acc.patch))
        if late is not None and late[0]:
            acc.problems.append(Problem(acc.unknown_rule, f"invalid config key {shown} ({late[1]})", loc))
            continue
        if late is not None:
            acc.problems.append(Problem("VC029", late[1], loc))
        dep = acc.deprecated.get(full)
        if dep is not None:
            acc.problems.append(Problem("VC026", dep.message, loc))
        gone = removed_later(full, acc.release)
        if gone is not None:
            acc.problems.append(Problem("VC026", gone, loc))
        value: Node = item.value
        if len(item.keys) > 1:  # `key "label" { ... }` is `key = { label = { ... } }`
            value = Obj((Item(item.keys[1:], item.value, item.line),), item.line)
        spec = schema[key]
        if spec is None:  # free-form map or opaque definition: keep it, later items overlay
            acc.settings[full] = Setting(plain(value), loc)
            continue
        if isinstance(spec, dict):
            repeatable = spec.get("*") == "repeatable"
            objs: list[Obj] = []
            if isinstance(value, Obj):
                objs = [value]
            elif isinstance(value, Seq) and all(isinstance(v, Obj) for v in value.items):
                objs = [v for v in value.items if isinstance(v, Obj)]
                if len(objs) > 1 and not repeatable:
                    acc.problems.append(Problem("VC001", f"'{full}' expected a map, got 'slice'", loc))
                    continue
            else:
                acc.problems.append(
                    Problem("VC001", f"'{full}' expected a map, got '{_go_type_of(value, json_mode)}'", loc)
                )
                continue
            if key in blocks_seen and not repeatable and not json_mode:
                acc.problems.append(Problem("VC001", f"'{full}' expected a map, got 'slice'", loc))
                continue
            blocks_seen.add(key)
            for o in objs:
                _decode_consul(o, spec, full + ".", file, acc, json_mode=json_mode)
            continue
        if spec == "list":
            if not isinstance(value, Seq):
                acc.problems.append(
                    Problem(
                        "VC001",
                        f"'{full}': source data must be an array or slice, got {_go_type_of(value, json_mode)}",
                        loc,
                    )
                )
                continue
            entries: list[Setting] = []
            for n, elem in enumerate(value.items):
                if isinstance(elem, Lit) and isinstance(elem.value, str):
                    entries.append(Setting(elem.value, Loc(file, elem.line)))
                else:
                    acc.problems.append(
                        Problem(
                            "VC001",
                            f"'{full}[{n}]' expected type 'string', got unconvertible type "
                            f"'{_go_type_of(elem, json_mode)}', value: '{_go_value(elem)}'",
                            Loc(file, elem.line),
                        )
                    )
            if json_mode:
                acc.lists[full] = entries
            else:
                acc.lists.setdefault(full, []).extend(entries)
            continue
        scalar = value
        if isinstance(value, Seq) and len(value.items) == 1:  # decode.HookWeakDecodeFromSlice
            scalar = value.items[0]
        elif isinstance(value, Seq) and not value.items:
            continue
        if isinstance(scalar, Lit) and scalar.value is None:
            continue  # JSON null: the key stays unset (Consul accepts it)
        try:
            if not isinstance(scalar, Lit):
                raise TypeError
            decoded = _scalar_ok(spec, scalar.value)
        except TypeError:
            acc.problems.append(
                Problem(
                    "VC001",
                    f"'{full}' expected type '{_GO_TYPE.get(spec, spec)}', got unconvertible type "
                    f"'{_go_type_of(scalar, json_mode)}', value: '{_go_value(scalar)}'",
                    loc,
                )
            )
            continue
        acc.settings[full] = Setting(decoded, loc)


def load_consul(
    path: str | Path, *, release: str = NEWEST, patch: int | None = None, unknown_keys: str = "error"
) -> ConsulNode:
    """One agent's config (a file or a config directory), merged as the agent merges it.

    `release` is the Consul release line whose key set decodes the files (`consul_releases`), `patch` the
    target's patch number when known (keys a later patch release added are then refused or warned about);
    `unknown_keys="warn"` reports unknown keys as VC027 (a warning) instead of VC002 (an error).
    """
    files, skipped = config_files(path)
    merged = _ConsulAcc()
    for s in skipped:
        merged.problems.append(
            Problem(
                "VC024",
                f"skipping file {s}, extension must be .hcl or .json, or config format must be set",
                Loc(str(s)),
            )
        )
    used: list[str] = []
    for f in files:
        obj = read_config(f)
        if obj is None:
            continue
        used.append(str(f))
        acc = _ConsulAcc(
            release=release,
            patch=patch,
            unknown_rule="VC027" if unknown_keys == "warn" else "VC002",
            deprecated=deprecations_for(release),
        )
        _decode_consul(obj, keys_for(release), "", str(f), acc, json_mode=f.suffix == ".json")
        merged.settings.update(acc.settings)
        for k, v in acc.lists.items():
            merged.lists.setdefault(k, []).extend(v)
        merged.problems.extend(acc.problems)
    for old, new in (("start_join", "retry_join"), ("start_join_wan", "retry_join_wan")):
        if old in merged.lists:
            merged.lists.setdefault(new, []).extend(merged.lists.pop(old))
    return ConsulNode(
        source=str(path),
        files=tuple(used),
        settings=dict(merged.settings),
        lists={k: tuple(v) for k, v in merged.lists.items()},
        problems=tuple(merged.problems),
    )


# -- Vault / OpenBao -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    type: str | None
    address: Setting | None
    cluster_address: Setting | None
    tls_disable: bool
    tls_cert_file: str | None
    tls_key_file: str | None
    loc: Loc


@dataclass(frozen=True)
class RetryJoin:
    leader_api_addr: str | None
    auto_join: str | None
    auto_join_scheme: str | None
    loc: Loc


@dataclass(frozen=True)
class Storage:
    type: str
    config: Mapping[str, Setting]
    retry_join: tuple[RetryJoin, ...]
    loc: Loc


@dataclass(frozen=True)
class VaultNode:
    source: str
    files: tuple[str, ...]
    listeners: tuple[Listener, ...]
    storage: Storage | None
    ha_storage: Storage | None
    settings: Mapping[str, Setting]
    problems: tuple[Problem, ...] = ()
    service_registration: Setting | None = None  # its type, where it was declared

    def get(self, key: str, default: Any = None) -> Any:
        s = self.settings.get(key)
        return default if s is None else s.value

    def loc(self, key: str) -> Loc:
        s = self.settings.get(key)
        return s.loc if s is not None else Loc(self.files[-1] if self.files else self.source)

    @property
    def node_id(self) -> str | None:
        if self.storage is None:
            return None
        s = self.storage.config.get("node_id")
        return str(s.value) if s is not None and s.value not in (None, "") else None

    @property
    def name(self) -> str:
        return self.node_id or source_stem(self.source)


_TRUE = ("1", "t", "true", "yes", "on")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    return str(value).strip().lower() in _TRUE


def _lit_str(node: Node) -> Any:
    if isinstance(node, Seq) and len(node.items) == 1:
        node = node.items[0]
    return node.value if isinstance(node, Lit) else plain(node)


def _flat_obj(obj: Obj, file: str) -> dict[str, Setting]:
    out: dict[str, Setting] = {}
    for it in obj.items:
        if len(it.keys) == 1 and not isinstance(it.value, Obj):
            out[it.keys[0]] = Setting(_lit_str(it.value), Loc(file, it.line))
    return out


def _blocks(item: Item) -> list[tuple[str | None, Obj, int]]:
    """(label, body, line) for `listener "tcp" {}`, `listener { tcp {} }`, `listener = [{...}]`, JSON forms."""
    if len(item.keys) > 1:
        label = item.keys[1]
        body = item.value
        for extra in reversed(item.keys[2:]):
            body = Obj((Item((extra,), body, item.line),), item.line)
        return [(label, body, item.line)] if isinstance(body, Obj) else []
    value = item.value
    out: list[tuple[str | None, Obj, int]] = []
    objs = (
        [value]
        if isinstance(value, Obj)
        else [v for v in value.items if isinstance(v, Obj)]
        if isinstance(value, Seq)
        else []
    )
    for o in objs:
        # `listener { tcp { ... } }` / JSON {"listener": {"tcp": {...}}}: one key whose value is an object
        if (
            o.items
            and all(isinstance(i.value, Obj | Seq) and len(i.keys) == 1 for i in o.items)
            and not any(i.keys[0] in ("address", "type", "path", "cluster_address") for i in o.items)
        ):
            for inner in o.items:
                if isinstance(inner.value, Obj):
                    out.append((inner.keys[0], inner.value, inner.line))
                elif isinstance(inner.value, Seq):
                    out.extend((inner.keys[0], v, v.line) for v in inner.value.items if isinstance(v, Obj))
        else:
            out.append((None, o, o.line))
    return out


def _listener(label: str | None, body: Obj, file: str, line: int) -> Listener:
    conf = _flat_obj(body, file)
    ltype = label or (str(conf["type"].value) if "type" in conf else None)
    return Listener(
        type=ltype.lower() if ltype else None,
        address=conf.get("address"),
        cluster_address=conf.get("cluster_address"),
        tls_disable=_as_bool(conf["tls_disable"].value) if "tls_disable" in conf else False,
        tls_cert_file=str(conf["tls_cert_file"].value) if "tls_cert_file" in conf else None,
        tls_key_file=str(conf["tls_key_file"].value) if "tls_key_file" in conf else None,
        loc=Loc(file, line),
    )


def _storage(label: str | None, body: Obj, file: str, line: int) -> Storage:
    conf = _flat_obj(body, file)
    joins: list[RetryJoin] = []
    for it in body.items:
        if it.keys[0] != "retry_join":
            continue
        for _lbl, o, ln in _blocks(it):
            c = _flat_obj(o, file)
            joins.append(
                RetryJoin(
                    leader_api_addr=str(c["leader_api_addr"].value) if "leader_api_addr" in c else None,
                    auto_join=str(c["auto_join"].value) if "auto_join" in c else None,
                    auto_join_scheme=str(c["auto_join_scheme"].value) if "auto_join_scheme" in c else None,
                    loc=Loc(file, ln),
                )
            )
    stype = label or (str(conf["type"].value) if "type" in conf else "")
    return Storage(type=stype.lower(), config=conf, retry_join=tuple(joins), loc=Loc(file, line))


_VAULT_ADDR_KEYS = ("api_addr", "cluster_addr")


def load_vault(
    path: str | Path, env: Mapping[str, str] | None = None, env_source: tuple[str, Mapping[str, int]] | None = None
) -> VaultNode:
    """`env_source`: (facts file, line of each variable) so that findings on env values point at the facts."""
    files, _skipped = config_files(path)
    listeners: list[Listener] = []
    storage: Storage | None = None
    ha_storage: Storage | None = None
    settings: dict[str, Setting] = {}
    problems: list[Problem] = []
    used: list[str] = []
    service_registration: Setting | None = None
    for f in files:
        obj = read_config(f)
        if obj is None:
            continue
        used.append(str(f))
        file = str(f)
        seen_storage: int | None = None
        for item in obj.items:
            key = item.keys[0]
            if key == "listener":
                listeners.extend(_listener(lbl, body, file, ln) for lbl, body, ln in _blocks(item))
            elif key in ("storage", "backend", "ha_storage", "ha_backend"):
                blocks = _blocks(item)
                if key in ("storage", "backend"):
                    if seen_storage is not None or len(blocks) > 1:
                        problems.append(Problem("VV022", f'only one "{key}" block is permitted', Loc(file, item.line)))
                    seen_storage = item.line
                    if blocks:
                        storage = _storage(*blocks[-1][:2], file, blocks[-1][2])
                elif blocks:
                    ha_storage = _storage(*blocks[-1][:2], file, blocks[-1][2])
            elif key == "service_registration":
                for lbl, body, ln in _blocks(item):
                    conf = _flat_obj(body, file)
                    stype = lbl or (str(conf["type"].value) if "type" in conf else "")
                    service_registration = Setting(stype.lower(), Loc(file, ln))
            elif len(item.keys) == 1 and not isinstance(item.value, Obj):
                value = _lit_str(item.value)
                if key in _VAULT_ADDR_KEYS and value in (None, ""):
                    continue  # a later empty address does not override
                settings[key] = Setting(value, Loc(file, item.line))
    env = env or {}

    def env_value(*names: str) -> tuple[str, str] | None:
        for name in names:
            for prefix in ("BAO_", "VAULT_"):
                v = env.get(prefix + name)
                if v:
                    return prefix + name, v
        return None

    def env_loc(name: str) -> Loc:
        if env_source is not None:
            return Loc(env_source[0], env_source[1].get(name))
        return Loc(used[-1] if used else str(path))  # the process environment (--live): the config file

    api = env_value("API_ADDR", "REDIRECT_ADDR", "ADVERTISE_ADDR")
    if api:
        settings["api_addr"] = Setting(api[1], env_loc(api[0]))
    cluster = env_value("CLUSTER_ADDR")
    if cluster:
        settings["cluster_addr"] = Setting(cluster[1], env_loc(cluster[0]))
    if storage is not None and storage.type == "raft":
        conf = dict(storage.config)
        node_id = env_value("RAFT_NODE_ID")
        if node_id:
            conf["node_id"] = Setting(node_id[1], env_loc(node_id[0]))
        raft_path = env_value("RAFT_PATH")
        if raft_path:
            conf["path"] = Setting(raft_path[1], env_loc(raft_path[0]))
        storage = Storage(storage.type, conf, storage.retry_join, storage.loc)
    return VaultNode(
        source=str(path),
        files=tuple(used),
        listeners=tuple(listeners),
        storage=storage,
        ha_storage=ha_storage,
        settings=settings,
        problems=tuple(problems),
        service_registration=service_registration,
    )
