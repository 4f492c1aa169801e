"""Shamir unseal keys: read them from a file, give them to a node until it is unsealed.

The key file is either the JSON that `sys/init` answered (the lab writes `keys_base64` and
`threshold`, mode 0600) or plain text with one base64 key per line. Keys go only into request
bodies; never into argv, messages or logs.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from clusterops.errors import ConfigError, UsageError
from clusterops.vault.client import RaftClient


def read_unseal_keys(path: str | os.PathLike[str]) -> list[str]:
    """The keys in `path`; refuses a file that others can read (it unseals the whole cluster)."""
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read the unseal key file {p}: {err.strerror}") from err
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(
            f"the unseal key file {p} is readable by others (mode {stat.S_IMODE(mode):o})",
            hint=f"chmod 600 {p}",
        )
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise ConfigError(f"not valid JSON ({err.msg})", path=str(p), line=err.lineno) from err
        keys = (data.get("keys_base64") or data.get("keys") or []) if isinstance(data, dict) else []
    else:
        keys = [line.strip() for line in stripped.splitlines() if line.strip() and not line.startswith("#")]
    if not keys or not all(isinstance(k, str) for k in keys):
        raise ConfigError("holds no unseal keys (expected keys_base64 in JSON, or one key per line)", path=str(p))
    return [str(k) for k in keys]


def unseal(client: RaftClient, node: str, keys: list[str]) -> bool:
    """Give keys to `node` until it reports unsealed; True when it is. Stops early once unsealed."""
    status = client.seal_status(node)
    if not status.get("sealed", True):
        return True
    for key in keys:
        answer = client.unseal(node, key)
        if not answer.get("sealed", True):
            return True
    return False
