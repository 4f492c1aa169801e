"""The least-privilege Vault/OpenBao policy of each `clusterops kv` command on given paths, as data.

A KV v2 mount splits one secret over several API paths (`data/`, `metadata/`, `delete/`,
`undelete/`, `destroy/`); each command touches only some of them, with one capability each.
Facts checked on OpenBao 2.6/2.7 with tokens that carry exactly the printed policy and no
`default` policy (`tests/integration/test_tls_acl.py`):

- Finding the mount (`sys/internal/ui/mounts/PATH`, as `vault kv` does) needs no stanza of its
  own: the server answers for a mount the token holds any capability on.
- LIST on a folder is checked against the folder's path with its trailing slash.
- Writing a new secret needs `create`, a new version of an existing one `update`: `put` asks for both.

PATH is MOUNT/REL (the mount is the first segment unless `--mount` says otherwise); a PATH ending
in `/` is a folder. KV v1 mounts have no sub-paths: the capability applies to MOUNT/REL itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterops.errors import UsageError

# command -> ((KV v2 sub-path, capabilities, why), ...); "*" in a sub-path means "the folder"
_V2: dict[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    "get": (("data", ("read",), "read a version"),),
    "put": (("data", ("create", "update"), "write a version (create: a new secret, update: a new version)"),),
    "patch": (
        (
            "data",
            ("patch",),
            "HTTP PATCH of the latest version (without it, --method auto falls back to read + update with cas)",
        ),
    ),
    "delete": (("data", ("delete",), "soft-delete the latest version"),),
    "delete-versions": (("delete", ("update",), "soft-delete given versions"),),
    "undelete": (("undelete", ("update",), "restore soft-deleted versions"),),
    "destroy": (("destroy", ("update",), "destroy versions"),),
    "list": (("metadata*", ("list",), "list one folder"),),
    "subkeys": (("subkeys", ("read",), "key names without values"),),
    "metadata get": (("metadata", ("read",), "settings and the state of every version"),),
    "metadata put": (("metadata", ("create", "update"), "write settings (create: a new key)"),),
    "metadata patch": (("metadata", ("patch",), "merge-patch settings"),),
    "metadata delete": (("metadata", ("delete",), "delete every version and the metadata"),),
    "history": (("metadata", ("read",), "the list of versions"), ("data", ("read",), "each version")),
    "rollback": (
        ("metadata", ("read",), "the current version"),
        ("data", ("read", "update"), "read the old version, write it as the newest (with cas)"),
    ),
}
# KV v1 has one path per secret: the capabilities of the same commands
_V1: dict[str, tuple[tuple[str, ...], str]] = {
    "get": (("read",), "read the secret"),
    "put": (("create", "update"), "write the secret"),
    "delete": (("delete",), "delete the secret"),
    "list": (("list",), "list one folder"),
}


@dataclass(frozen=True)
class Stanza:
    path: str  # the policy path, e.g. secret/data/app/db
    capabilities: tuple[str, ...]
    why: str

    @property
    def hcl(self) -> str:
        caps = ", ".join(f'"{c}"' for c in self.capabilities)
        return f'path "{self.path}" {{\n  capabilities = [{caps}]\n}}'


def commands() -> list[str]:
    return list(_V2)


def _split(path: str, mount: str | None) -> tuple[str, str, bool]:
    folder = path.endswith("/")
    clean = path.strip().strip("/")
    if mount:
        return mount.strip("/"), clean, folder
    if "/" not in clean and not folder:
        raise UsageError(f"{path!r}: give MOUNT/PATH (e.g. secret/app/db), or --mount")
    head, _, rest = clean.partition("/")
    return head, rest, folder


def stanzas(command: str, paths: list[str], *, mount: str | None = None, kv_version: int = 2) -> list[Stanza]:
    """The policy stanzas `clusterops kv COMMAND PATH...` needs; the same path's capabilities merged."""
    if not paths:
        raise UsageError("give at least one PATH")
    table = _V2 if kv_version == 2 else _V1
    if command not in table:
        raise UsageError(f"no KV v{kv_version} policy for {command!r}; commands: {', '.join(table)}")
    merged: dict[str, tuple[list[str], list[str]]] = {}

    def add(policy_path: str, caps: tuple[str, ...], why: str) -> None:
        have, whys = merged.setdefault(policy_path, ([], []))
        have += [c for c in caps if c not in have]
        if why not in whys:
            whys.append(why)

    for raw in paths:
        mnt, rel, folder = _split(raw, mount)
        if kv_version == 1:
            caps, why = _V1[command]
            add(f"{mnt}/{rel}/" if command == "list" else f"{mnt}/{rel}", caps, why)
            continue
        for sub, caps, why in _V2[command]:
            if sub == "metadata*":
                add(f"{mnt}/metadata/{rel}/" if rel else f"{mnt}/metadata/", caps, why)
            else:
                if folder or not rel:
                    raise UsageError(f"{raw!r} is a folder; `kv {command}` takes a secret's path")
                add(f"{mnt}/{sub}/{rel}", caps, why)
    return [Stanza(p, tuple(caps), "; ".join(whys)) for p, (caps, whys) in merged.items()]


def render(command: str, paths: list[str], *, mount: str | None = None, kv_version: int = 2) -> str:
    lines = [f"# clusterops kv {command} {' '.join(paths)}: least-privilege policy (KV v{kv_version})"]
    for stanza in stanzas(command, paths, mount=mount, kv_version=kv_version):
        lines += ["", f"# {stanza.why}", stanza.hcl]
    return "\n".join(lines) + "\n"
