"""Secret paths: the one place that checks their segments and turns them into request paths.

A secret's name is text, not a URL: `app#old`, `db?tmp`, `50%`, `%41`, `a b` and `café` are all
valid names, and each must reach the server as itself. Written into a URL unencoded, `#` and `?`
end the path (so `app#old` would address `app`) and `%41` is decoded to `A`. `encode` percent-encodes
each segment the way the official `vault` / `bao` CLI does (Go's `url.URL` path escaping: letters,
digits, `-_.~` and `$&+,/:;=@` stay, every other byte of the UTF-8 form becomes `%XX`), keeping the
`/` separators. The server decodes it back to exactly the name given.

`check` refuses what is never a secret name and could only move a request somewhere else: `..` and
`.` segments (also percent-encoded, e.g. `%2e%2e`), and empty segments inside a path (`a//b`). A
leading or trailing `/` is allowed (a trailing one names a folder). Every request path is built by
`api_path` (or `sys_path`), which does both, so nothing reaches the server unchecked.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from clusterops.errors import UsageError

# Go's url.shouldEscape(c, encodePath) keeps these besides letters, digits and `-_.~` (which
# Python's quote always keeps); `/` is the separator.
_GO_PATH_SAFE = "/$&+,:;=@"


def _decoded_forms(segment: str) -> set[str]:
    """The segment and what it decodes to, repeatedly (`%252e` -> `%2e` -> `.`)."""
    forms = {segment}
    current = segment
    for _ in range(4):
        nxt = unquote(current)
        if nxt == current:
            break
        forms.add(nxt)
        current = nxt
    return forms


def bad_segment(path: str) -> str | None:
    """Why `path` is not a usable secret path, or None. Leading and trailing slashes are allowed."""
    inner = path.strip("/")
    if not inner:
        return None
    for segment in inner.split("/"):
        if segment == "":
            return "has an empty segment ('//')"
        forms = _decoded_forms(segment)
        if ".." in forms:
            return f"has a '..' segment ({segment!r})" if segment != ".." else "has a '..' segment"
        if "." in forms:
            return f"has a '.' segment ({segment!r})" if segment != "." else "has a '.' segment"
    return None


def check(path: str, *, what: str = "path") -> str:
    """`path` itself when every segment is a real name; else a UsageError naming the path and why."""
    why = bad_segment(path)
    if why is not None:
        raise UsageError(f"{what} {path!r} {why}: refusing it (it could address another secret)")
    return path


def encode(path: str) -> str:
    """Percent-encode each segment as the `vault`/`bao` CLI does; `/` separators are kept."""
    return quote(path, safe=_GO_PATH_SAFE)


def api_path(mount: str, kind: str, path: str) -> str:
    """`/v1/<mount>/<kind>/<path>` (kind "" for KV v1), every part checked and encoded."""
    mount = check(mount.strip("/"), what="mount")
    path = check(path, what="path").strip("/")
    parts = [encode(mount)]
    if kind:
        parts.append(kind)
    if path:
        parts.append(encode(path))
    return "/v1/" + "/".join(parts)


def sys_path(prefix: str, path: str) -> str:
    """`/v1/<prefix>/<path>` for system endpoints that take a secret path (e.g. sys/internal/ui/mounts)."""
    path = check(path, what="path").strip("/")
    return f"/v1/{prefix.strip('/')}/{encode(path)}" if path else f"/v1/{prefix.strip('/')}"
