"""Declarative sync: plan (compare by keyed hashes) and apply (check-and-set at the plan's versions).

read_live(client, desired)  -> LiveSecret per desired path (current version, keyed hashes of data)
make_plan(desired, live)    -> SyncPlan (pure): create / update / unchanged, key names that differ,
                               metadata fields that differ; no value anywhere
check_binding(saved, ...)   -> a saved plan applies only to what was reviewed: same address, namespace
                               and mount, and every desired value and metadata setting equal to the
                               planned one (compared by keyed digests, see below); else UnsafePlan
preflight(client, plan)     -> the API paths the token cannot write (sys/capabilities-self)
apply_plan(...)             -> every write uses cas = the version seen at plan time; if any path (or a
                               metadata field the plan changes) moved since the plan, nothing is
                               written; a journal of prior versions is written before the first write,
                               and each write's new version right after it (see `clusterops.kv.apply_journal`)

The binding. A plan holds, for every desired path, an HMAC-SHA256 of each desired value and of each
managed metadata setting, under a random key made for that plan alone. The saved plan file (0600)
holds that key, so whoever can read the file can test a guessed value against it (as with any
keyed hash whose key is at hand); it never holds a value, and nothing printed holds the key.
KV v2 has no check-and-set on metadata: a metadata field is re-read right before it is written and
the write refused if it moved, and a path whose data also changes gets its metadata written only
after its cas data write won. Two applies changing only the metadata of one path at the same instant
can still both write (the server offers no way to prevent it); see the README.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from clusterops.durations import parse_duration
from clusterops.errors import AuthError, CasConflict, ClusterOpsError, ConfigError, NotFound, UnsafePlan, UsageError
from clusterops.kv.client import VaultClient
from clusterops.kv.desired import METADATA_FIELDS, DesiredState
from clusterops.kv.model import SecretRef
from clusterops.kv.pool import DEFAULT_WORKERS, Progress, run_bounded
from clusterops.kv.redact import Redactor
from clusterops.yamlsource import Locator, PathPart, dotted, load_yaml_text

PLAN_FORMAT = "clusterops-kv-plan/2"
_PARTS = ("data", "metadata")
_LINE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LiveSecret:
    path: str
    current_version: int  # 0: no such secret
    state: str  # live, deleted, destroyed, absent
    hashes: Mapping[str, str] | None  # keyed hashes of the latest data; None when not readable
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanItem:
    path: str
    action: str  # create, update, unchanged
    version: int  # the version seen at plan time: the cas of the write
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    metadata: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (live, desired)
    live_state: str = "live"

    @property
    def writes_data(self) -> bool:
        return self.action == "create" or bool(self.added or self.removed or self.changed) or self.live_state != "live"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "action": self.action,
            "version": self.version,
            "live_state": self.live_state,
            "keys": {"added": list(self.added), "removed": list(self.removed), "changed": list(self.changed)},
            "metadata": {k: {"live": a, "desired": b} for k, (a, b) in self.metadata.items()},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PlanItem:
        keys = raw.get("keys") or {}
        return cls(
            path=str(raw["path"]),
            action=str(raw["action"]),
            version=int(raw["version"]),
            added=tuple(keys.get("added") or ()),
            removed=tuple(keys.get("removed") or ()),
            changed=tuple(keys.get("changed") or ()),
            metadata={k: (v.get("live"), v.get("desired")) for k, v in (raw.get("metadata") or {}).items()},
            live_state=str(raw.get("live_state") or "live"),
        )


def same_address(a: str, b: str) -> bool:
    """Two server addresses name the same server: scheme and host compared without case, default ports."""
    from urllib.parse import urlsplit

    def norm(url: str) -> tuple[str, str, int | None, str]:
        u = urlsplit(url.strip())
        port = u.port or {"http": 80, "https": 443}.get(u.scheme.lower())
        return u.scheme.lower(), (u.hostname or "").lower(), port, u.path.rstrip("/")

    return norm(a) == norm(b)


def norm_namespace(ns: str | None) -> str:
    return (ns or "").strip().strip("/")


def bind_digests(key: bytes, data: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Keyed digests of every desired value and metadata setting of one path (no value in the result)."""
    r = Redactor(key)
    return {"data": r.digest_map(data), "metadata": r.digest_map(metadata)}


@dataclass(frozen=True)
class SyncPlan:
    mount: str
    items: tuple[PlanItem, ...]
    created: str = ""
    address: str = ""
    namespace: str = ""
    key: bytes = field(default=b"", repr=False)  # the per-plan binding key: only in the saved file
    bound: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict, repr=False)

    @property
    def changes(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.action != "unchanged")

    @property
    def drift(self) -> bool:
        return bool(self.changes)

    def to_dict(self, *, binding: bool = False) -> dict[str, Any]:
        """The plan as printed; with `binding`, as saved for `kv apply --plan` (key and digests)."""
        doc = {
            "format": PLAN_FORMAT,
            "mount": self.mount,
            "address": self.address,
            "namespace": self.namespace,
            "created": self.created,
            "drift": self.drift,
            "summary": self.summary(),
            "items": [i.to_dict() for i in self.items],
        }
        if binding:
            doc["binding"] = {
                "key": base64.b64encode(self.key).decode(),
                "paths": {p: {k: dict(v) for k, v in d.items()} for p, d in self.bound.items()},
            }
        return doc

    def summary(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "unchanged": 0}
        for i in self.items:
            out[i.action] += 1
        return out

    @classmethod
    def from_dict(
        cls, raw: Any, where: str = "plan", *, line: Callable[[Keys], int | None] = lambda keys: None
    ) -> SyncPlan:
        """A saved plan, its shape checked first; `line` maps a key path to its line in the file."""

        def bad(keys: Keys, message: str) -> ConfigError:
            return ConfigError(f"{dotted(keys)}: {message}" if keys else message, path=where, line=line(keys))

        if not isinstance(raw, Mapping) or raw.get("format") != PLAN_FORMAT:
            raise bad((), f"is not a clusterops plan (format {PLAN_FORMAT} expected)")
        raw_items = raw.get("items") or []
        if not isinstance(raw_items, list):
            raise bad(("items",), "must be a list of planned paths")
        items = tuple(_plan_item(i, ("items", n), bad) for n, i in enumerate(raw_items))
        binding = raw.get("binding") or {}
        if not isinstance(binding, Mapping):
            raise bad(("binding",), "must be an object with `key` and `paths`")
        try:
            key = base64.b64decode(str(binding.get("key") or ""), validate=True)
        except ValueError:
            raise bad(("binding", "key"), "is not base64") from None
        if len(key) < 16:
            raise bad(("binding",), "has no binding key: save plans with `kv plan -o FILE`")
        paths = binding.get("paths") or {}
        if not isinstance(paths, Mapping):
            raise bad(("binding", "paths"), "must map each path to its digests")
        bound: dict[str, Mapping[str, Mapping[str, str]]] = {}
        for p, d in paths.items():
            if not isinstance(d, Mapping):
                raise bad(("binding", "paths", p), "must be an object with `data` and `metadata`")
            parts: dict[str, Mapping[str, str]] = {}
            for part in _PARTS:
                digests = d.get(part) or {}
                if not isinstance(digests, Mapping) or not all(isinstance(v, str) for v in digests.values()):
                    raise bad(("binding", "paths", p, part), "must map each name to its digest (a string)")
                parts[part] = {str(k): v for k, v in digests.items()}
            bound[str(p)] = parts
        return cls(
            str(raw.get("mount") or ""),
            items,
            str(raw.get("created") or ""),
            str(raw.get("address") or ""),
            str(raw.get("namespace") or ""),
            key,
            bound,
        )


Keys = tuple[PathPart, ...]
_ACTIONS = ("create", "update", "unchanged")


def _plan_item(raw: Any, at: Keys, bad: Callable[[Keys, str], ConfigError]) -> PlanItem:
    """One planned path, its shape checked before it is read (every error names the item)."""
    if not isinstance(raw, Mapping):
        raise bad(at, "must be an object with `path`, `action` and `version`")
    for name in ("path", "action", "version"):
        if name not in raw:
            raise bad(at, f"has no `{name}`")
    if not isinstance(raw["path"], str) or not raw["path"]:
        raise bad((*at, "path"), "must be a secret path")
    if raw["action"] not in _ACTIONS:
        raise bad((*at, "action"), f"must be one of {', '.join(_ACTIONS)}")
    version = raw["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise bad((*at, "version"), "must be a whole number")
    if not isinstance(raw.get("live_state") or "", str):
        raise bad((*at, "live_state"), "must be a string")
    keys = raw.get("keys") or {}
    if not isinstance(keys, Mapping):
        raise bad((*at, "keys"), "must be an object with `added`, `removed` and `changed`")
    for name in ("added", "removed", "changed"):
        names = keys.get(name) or []
        if not isinstance(names, list) or not all(isinstance(k, str) for k in names):
            raise bad((*at, "keys", name), "must be a list of key names")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not all(isinstance(v, Mapping) for v in metadata.values()):
        raise bad((*at, "metadata"), "must map each field to {live, desired}")
    return PlanItem.from_dict(raw)


# -- reading the live side -------------------------------------------------------------------


def read_live(
    client: VaultClient,
    desired: DesiredState,
    redactor: Redactor,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> list[LiveSecret]:
    mount = client.mount_info(desired.mount)
    if mount.kv_version != 2 or mount.mount != desired.mount:
        raise UsageError(f"{desired.mount}/ must be a KV v2 mount (found KV v{mount.kv_version} at {mount.mount}/)")

    def one(rel: str) -> LiveSecret:
        ref = SecretRef(desired.mount, rel, 2)
        try:
            meta = client.read_metadata(ref)
        except NotFound:
            return LiveSecret(rel, 0, "absent", None)
        if meta.current_version == 0:
            return LiveSecret(rel, 0, "absent", None, meta.settings())
        got = client.read_version(ref, meta.current_version)
        hashes = redactor.digest_map(got.data) if got.data is not None else None
        state = "live" if got.data is not None else got.info.state
        return LiveSecret(rel, meta.current_version, state, hashes, meta.settings())

    outcomes = run_bounded(desired.paths(), one, workers=workers, progress=progress)
    for o in outcomes:
        if o.error is not None:
            raise o.error
    return [o.result for o in outcomes if o.result is not None]


# -- the plan (pure) -------------------------------------------------------------------------


def _same_setting(name: str, live: Any, want: Any) -> bool:
    if name == "delete_version_after":
        return parse_duration(str(live or "0s"), name=name) == parse_duration(str(want or "0s"), name=name)
    if name == "custom_metadata":
        return dict(live or {}) == dict(want or {})
    if name == "max_versions":
        return int(live or 0) == int(want or 0)
    if name == "cas_required":
        return bool(live) == bool(want)
    return bool(live == want)


def make_plan(
    desired: DesiredState, live: list[LiveSecret], redactor: Redactor, *, address: str = "", namespace: str = ""
) -> SyncPlan:
    by_path = {lv.path: lv for lv in live}
    items: list[PlanItem] = []
    for want in desired.secrets:
        lv = by_path.get(want.path) or LiveSecret(want.path, 0, "absent", None)
        meta_diff = {
            name: (lv.settings.get(name), want.metadata[name])
            for name in METADATA_FIELDS
            if name in want.metadata and not _same_setting(name, lv.settings.get(name), want.metadata[name])
        }
        if lv.state == "absent":
            items.append(
                PlanItem(want.path, "create", lv.current_version, tuple(sorted(want.data)), (), (), meta_diff, "absent")
            )
            continue
        desired_hashes = redactor.digest_map(want.data)
        live_hashes = dict(lv.hashes or {})
        added = tuple(sorted(set(desired_hashes) - set(live_hashes)))
        removed = tuple(sorted(set(live_hashes) - set(desired_hashes)))
        changed = tuple(sorted(k for k in desired_hashes if k in live_hashes and desired_hashes[k] != live_hashes[k]))
        if lv.hashes is None:  # latest version deleted or destroyed: its data must be written again
            added = tuple(sorted(want.data))
        item = PlanItem(want.path, "update", lv.current_version, added, removed, changed, meta_diff, lv.state)
        if not item.writes_data and not meta_diff:
            item = PlanItem(want.path, "unchanged", lv.current_version, live_state=lv.state)
        items.append(item)
    key = secrets.token_bytes(32)
    bound = {w.path: bind_digests(key, w.data, w.metadata) for w in desired.secrets}
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return SyncPlan(desired.mount, tuple(items), created, address, norm_namespace(namespace), key, bound)


def plan(
    client: VaultClient, desired: DesiredState, *, workers: int = DEFAULT_WORKERS, progress: Progress | None = None
) -> SyncPlan:
    redactor = Redactor.from_env()
    live = read_live(client, desired, redactor, workers=workers, progress=progress)
    return make_plan(
        desired, live, redactor, address=client.settings.address, namespace=client.settings.namespace or ""
    )


def binding_differences(saved: SyncPlan, desired: DesiredState, *, address: str, namespace: str) -> list[str]:
    """Why `saved` does not describe what applying `desired` at address/namespace would write (pure).

    Each reason names the place, the path and the key, never a value."""
    why: list[str] = []
    if not same_address(saved.address, address):
        why.append(f"the plan was made against {saved.address}, not {address}")
    if norm_namespace(saved.namespace) != norm_namespace(namespace):
        why.append(
            f"the plan was made in namespace {norm_namespace(saved.namespace) or '(root)'}, "
            f"not {norm_namespace(namespace) or '(root)'}"
        )
    if saved.mount != desired.mount:
        why.append(f"the plan is for mount {saved.mount}/, the desired state names {desired.mount}/")
    now = {w.path: bind_digests(saved.key, w.data, w.metadata) for w in desired.secrets}
    for p in sorted(set(saved.bound) - set(now)):
        why.append(f"{p}: planned, no longer in the desired state")
    for p in sorted(set(now) - set(saved.bound)):
        why.append(f"{p}: in the desired state, not in the plan")
    for p in sorted(set(now) & set(saved.bound)):
        for part, label in (("data", "key"), ("metadata", "metadata field")):
            was, is_ = saved.bound[p].get(part, {}), now[p][part]
            for k in sorted(set(was) | set(is_)):
                if k not in is_:
                    why.append(f"{p}: {label} {k} was planned, is no longer desired")
                elif k not in was:
                    why.append(f"{p}: {label} {k} is desired, was not planned")
                elif was[k] != is_[k]:
                    why.append(f"{p}: {label} {k} differs from the planned value")
    return why


def check_binding(saved: SyncPlan, desired: DesiredState, *, address: str, namespace: str) -> None:
    """Refuse (UnsafePlan, nothing written) a saved plan that does not bind what would be written."""
    why = binding_differences(saved, desired, address=address, namespace=namespace)
    if why:
        more = f" (and {len(why) - 10} more)" if len(why) > 10 else ""
        raise UnsafePlan(
            f"the saved plan does not match what would be written; nothing was written: {'; '.join(why[:10])}{more}",
            hint="run `clusterops kv plan -o FILE` again and review the new plan",
        )


def save_plan(plan_: SyncPlan, path: Path) -> None:
    from clusterops.atomicfile import write_private

    write_private(path, (json.dumps(plan_.to_dict(binding=True), indent=1) + "\n").encode())


def load_plan(path: Path) -> SyncPlan:
    """A saved plan; every error names the file and line (the line of the item or field at fault)."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=where) from err
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=where) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"is not JSON: {err.msg.removesuffix(' at')} (column {err.colno})", path=where, line=err.lineno
        ) from None
    except RecursionError:
        raise ConfigError("is nested too deeply to read", path=where, line=1) from None
    return SyncPlan.from_dict(raw, where, line=_json_lines(text, where))


def _json_lines(text: str, where: str) -> Callable[[Keys], int | None]:
    """Key path -> line in a JSON text, worked out on the first error only (JSON is YAML to the line finder)."""
    found: list[Locator] = []

    def line(keys: Keys) -> int | None:
        if not found:
            try:
                found.append(load_yaml_text(text, where, loader=_LINE_LOADER)[1])
            except (ClusterOpsError, ValueError, TypeError):
                found.append(Locator(where))
        return found[0].line(keys) or 1

    return line


# -- pre-flight ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Denied:
    api_path: str
    needs: str
    has: tuple[str, ...]


def required_capabilities(plan_: SyncPlan) -> dict[str, str]:
    """API path -> the capability each planned write needs."""
    need: dict[str, str] = {}
    for item in plan_.changes:
        if item.writes_data:
            need[f"{plan_.mount}/data/{item.path}"] = "create" if item.version == 0 else "update"
        if item.metadata:
            need[f"{plan_.mount}/metadata/{item.path}"] = "update"
    return need


def preflight(client: VaultClient, plan_: SyncPlan) -> list[Denied]:
    need = required_capabilities(plan_)
    if not need:
        return []
    have = client.capabilities(sorted(need))
    denied: list[Denied] = []
    for api_path, cap in sorted(need.items()):
        caps: set[str] = set(have.get(api_path, []))
        ok = "root" in caps or cap in caps or (cap == "update" and "create" in caps and "update" in caps)
        if "deny" in caps or not ok:
            denied.append(Denied(api_path, cap, tuple(sorted(caps))))
    return denied


# -- apply -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult:
    path: str
    status: str  # written, conflict, failed, skipped, unchanged
    new_version: int | None = None
    message: str = ""


@dataclass(frozen=True)
class ApplyReport:
    run_id: str
    journal: str
    results: tuple[ItemResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status in ("written", "unchanged") for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def to_dict(self) -> dict[str, Any]:
        """The `kv apply` document."""
        return {
            "run": self.run_id,
            "journal": self.journal,
            "ok": self.ok,
            "results": [
                {"path": r.path, "status": r.status, "new_version": r.new_version, "message": r.message}
                for r in self.results
            ],
        }


def _metadata_moved(item: PlanItem, settings: Mapping[str, Any]) -> list[str]:
    """The metadata fields the plan changes whose live value is no longer the one seen at plan time."""
    return [
        name for name, (planned_live, _want) in item.metadata.items()
        if not _same_setting(name, settings.get(name), planned_live)
    ]  # fmt: skip


def check_fresh(client: VaultClient, plan_: SyncPlan, *, workers: int = DEFAULT_WORKERS) -> list[str]:
    """Why the server no longer looks as planned: for every changing path, a current version that moved
    or a metadata field the plan changes that someone else changed since."""

    def now(item: PlanItem) -> list[str]:
        try:
            meta = client.read_metadata(SecretRef(plan_.mount, item.path, 2))
            version, settings = meta.current_version, meta.settings()
        except NotFound:
            version, settings = 0, {}
        why = [f"{item.path} (planned v{item.version}, now v{version})"] if version != item.version else []
        why += [f"{item.path} metadata {name} changed" for name in _metadata_moved(item, settings)]
        return why

    outcomes = run_bounded(list(plan_.changes), now, workers=workers)
    moved: list[str] = []
    for o in outcomes:
        if o.error is not None:
            raise o.error
        moved.extend(o.result or [])
    return moved


def apply_plan(
    client: VaultClient,
    desired: DesiredState,
    plan_: SyncPlan,
    *,
    journal_dir: Path,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
    on_journal: Callable[[str], None] | None = None,
) -> ApplyReport:
    """Write the plan's changes with cas at the plan's versions. Raises before writing anything when the token
    lacks a capability (AuthError) or a path or a metadata field it changes moved since the plan (CasConflict).

    `on_journal` is called once the journal exists, after every check and before the first write."""
    from clusterops.kv.apply_journal import ApplyJournal, ApplyJournalEntry

    if desired.mount != plan_.mount:
        raise UsageError(f"the plan is for mount {plan_.mount}/ but the desired state names {desired.mount}/")
    wanted = {s.path: s for s in desired.secrets}
    missing = [i.path for i in plan_.changes if i.path not in wanted]
    if missing:
        raise UsageError(f"the plan changes paths the desired state no longer has: {', '.join(missing[:5])}")
    denied = preflight(client, plan_)
    if denied:
        lines = "; ".join(f"{d.api_path} needs {d.needs!r} (has {', '.join(d.has) or 'none'})" for d in denied[:20])
        raise AuthError(f"the token cannot write {len(denied)} path(s); nothing was written: {lines}")
    moved = check_fresh(client, plan_, workers=workers)
    if moved:
        raise CasConflict(
            f"{len(moved)} change(s) since the plan; nothing was written: {', '.join(moved[:20])}",
            hint="run `clusterops kv plan` again and review the new plan",
        )
    changes = plan_.changes
    entries = [
        ApplyJournalEntry(
            item.path,
            item.version,
            item.live_state,
            {k: live for k, (live, _want) in item.metadata.items()},
            writes_data=item.writes_data,
            written_settings={k: wanted[item.path].metadata[k] for k in item.metadata},
        )
        for item in changes
    ]
    journal = ApplyJournal.start(journal_dir, client, plan_.mount, entries)
    if on_journal is not None:
        on_journal(journal.run_id)

    def one(item: PlanItem) -> ItemResult:
        want = wanted[item.path]
        ref = SecretRef(plan_.mount, item.path, 2)
        new_version: int | None = None
        if item.writes_data:
            new_version = client.write(ref, want.data, cas=item.version).version
            journal.mark(item.path, "written", new_version)  # durable before anything else
        if item.metadata:
            # KV v2 has no cas on metadata: written only after this path's cas data write won (if any),
            # and only if nobody changed the fields since the plan (re-read right before the write).
            moved_fields = _metadata_moved(item, client.read_metadata(ref).settings())
            if moved_fields:
                raise CasConflict(
                    f"{item.path}: metadata {', '.join(moved_fields)} changed since the plan; metadata not written"
                    + (f" (data written as v{new_version})" if new_version else ""),
                )
            client.write_metadata(ref, {k: want.metadata[k] for k in item.metadata})
            journal.mark(item.path, "written", new_version, metadata_written=True)
        return ItemResult(item.path, "written", new_version)

    outcomes = run_bounded(list(changes), one, workers=workers, progress=progress, stop_on_error=True)
    results: list[ItemResult] = [ItemResult(i.path, "unchanged") for i in plan_.items if i.action == "unchanged"]
    for o in outcomes:
        if o.result is not None:
            results.append(o.result)
        elif o.skipped:
            results.append(ItemResult(o.item.path, "skipped", message="not started after an earlier failure"))
        else:
            err = o.error
            status = "conflict" if isinstance(err, CasConflict) else "failed"
            msg = err.message if isinstance(err, ClusterOpsError) else type(err).__name__
            journal.mark(o.item.path, status)
            results.append(ItemResult(o.item.path, status, journal.entries[o.item.path].new_version, msg))
    journal.finish("complete" if all(r.status in ("written", "unchanged") for r in results) else "incomplete")
    return ApplyReport(journal.run_id, str(journal.path), tuple(sorted(results, key=lambda r: r.path)))
