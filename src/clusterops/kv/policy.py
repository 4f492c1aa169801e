"""The policy a `kv` command needs: what `vault kv -output-policy` answers (and gets wrong for KV v2,
hashicorp/vault#18559), as data and as HCL.

Pure: a command name, the resolved paths and a few flags in, `Rule`s out. The same rules name the
capability in our AuthError messages and can feed a least-privilege check (`sys/capabilities-self`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clusterops.errors import UsageError
from clusterops.kv.model import SecretRef


@dataclass(frozen=True)
class Rule:
    path: str  # an ACL path, namespace-relative: secret/data/app, secret/metadata/app/*
    capabilities: tuple[str, ...]


def _api(ref: SecretRef, kind: str, *, tree: bool = False) -> list[str]:
    base = ref.path.strip("/")
    if ref.kv_version != 2:
        kind = ""
    head = "/".join(p for p in (ref.mount, kind) if p)
    exact = f"{head}/{base}" if base else head
    if not tree:
        return [exact]
    return [exact, f"{exact}/*"] if base else [f"{head}/*"]


def _rules(paths: Iterable[str], *caps: str) -> list[Rule]:
    return [Rule(p, tuple(caps)) for p in paths]


COMMANDS = (
    "get", "put", "patch", "delete", "undelete", "destroy", "rollback", "list", "subkeys",
    "metadata get", "metadata put", "metadata patch", "metadata delete", "history", "diff",
    "tree", "search", "copy", "move", "export", "import", "enable-versioning",
)  # fmt: skip


def rules_for(
    command: str,
    ref: SecretRef,
    *,
    dst: SecretRef | None = None,
    recursive: bool = False,
    versions: bool = False,
    all_versions: bool = False,
    method: str = "auto",
) -> list[Rule]:
    """The ACL rules `command` needs on `ref` (and `dst` for copy/move). Unknown commands are a UsageError."""
    c = command
    out: list[Rule] = []
    if c == "get" or c == "diff":
        out += _rules(_api(ref, "data", tree=recursive), "read")
        if recursive:
            out += _rules(_api(ref, "metadata", tree=True), "list")
    elif c == "put":
        out += _rules(_api(ref, "data"), "create", "update")
    elif c == "patch":
        out += _rules(_api(ref, "data"), "patch") if method == "patch" else []
        out += _rules(_api(ref, "data"), "read", "update") if method == "rw" else []
        out += _rules(_api(ref, "data"), "patch", "read", "update") if method == "auto" else []
    elif c == "delete" and recursive:
        out += _rules(_api(ref, "metadata", tree=True), "list", "read", *(("delete",) if all_versions else ()))
        if not all_versions:
            out += _rules(_api(ref, "data", tree=True), "delete")
    elif c == "delete":
        out += _rules(_api(ref, "delete"), "update") if versions else _rules(_api(ref, "data"), "delete")
    elif c in ("undelete", "destroy"):
        out += _rules(_api(ref, c), "update")
    elif c == "rollback":
        out += _rules(_api(ref, "metadata"), "read") + _rules(_api(ref, "data"), "read", "update")
    elif c == "list":
        out += _rules(_api(ref, "metadata"), "list")
    elif c == "subkeys":
        out += _rules(_api(ref, "subkeys"), "read")
    elif c == "metadata get":
        out += _rules(_api(ref, "metadata"), "read")
    elif c == "metadata put":
        out += _rules(_api(ref, "metadata"), "create", "update")
    elif c == "metadata patch":
        out += _rules(_api(ref, "metadata"), "patch")
    elif c == "metadata delete":
        out += _rules(_api(ref, "metadata"), "delete")
    elif c == "history":
        out += _rules(_api(ref, "metadata"), "read") + _rules(_api(ref, "data"), "read")
    elif c == "tree":
        out += _rules(_api(ref, "metadata", tree=True), "list", "scan")
    elif c in ("search", "export", "copy", "move"):
        out += _rules(_api(ref, "metadata", tree=True), "list", "read", *(("delete",) if c == "move" else ()))
        out += _rules(_api(ref, "data", tree=True), "read")
        if c in ("copy", "move"):
            if dst is None:
                raise UsageError(f"{c} needs a destination")
            out += _import_rules(dst)
    elif c == "import":
        out += _import_rules(ref)
    elif c == "enable-versioning":
        out += [Rule(f"sys/mounts/{ref.mount}/tune", ("update",))]
    else:
        raise UsageError(f"no policy known for {command!r}; one of: {', '.join(COMMANDS)}")
    return merge(out)


def _import_rules(dst: SecretRef) -> list[Rule]:
    return (
        _rules(_api(dst, "metadata", tree=True), "create", "read", "update")
        + _rules(_api(dst, "data", tree=True), "create", "update")
        + _rules(_api(dst, "delete", tree=True), "update")
        + _rules(_api(dst, "destroy", tree=True), "update")
    )


def merge(rules: Sequence[Rule]) -> list[Rule]:
    """One rule per path, capabilities in a stable order."""
    order = ("create", "read", "update", "patch", "delete", "list", "scan", "sudo")
    by_path: dict[str, set[str]] = {}
    for r in rules:
        by_path.setdefault(r.path, set()).update(r.capabilities)
    return [
        Rule(p, tuple(sorted(caps, key=lambda c: order.index(c) if c in order else len(order))))
        for p, caps in by_path.items()
    ]


def to_hcl(rules: Sequence[Rule]) -> str:
    blocks = []
    for r in rules:
        caps = ", ".join(f'"{c}"' for c in r.capabilities)
        blocks.append(f'path "{r.path}" {{\n  capabilities = [{caps}]\n}}')
    return "\n\n".join(blocks) + "\n"
